"""OCI hooks: run with the container state as JSON on stdin, in order, with a timeout."""

from __future__ import annotations

from pycri.runtime.oci.errors import RuntimeError_
from pycri.runtime.oci.lazylog import get_logger

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

log = get_logger(__name__)


class HookFailed(RuntimeError_):
    pass


def run(spec: dict[str, Any], kind: str, state: dict[str, Any], *, strict: bool = True) -> None:
    """Run the `kind` hooks; a failure raises when `strict`, else it is logged."""
    import json
    import subprocess

    hooks = (spec.get("hooks") or {}).get(kind) or []
    payload = json.dumps(state).encode()
    for i, h in enumerate(hooks):
        args = h.get("args") or [h["path"]]
        env = dict(e.split("=", 1) for e in h.get("env") or () if "=" in e)
        try:
            res = subprocess.run(args, executable=h["path"], input=payload, env=env,
                                 capture_output=True, timeout=h.get("timeout"), check=False)
        except subprocess.TimeoutExpired:
            err = f"{kind} hook #{i} `{h['path']}`: timed out after {h.get('timeout')}s"
        except OSError as exc:
            err = f"{kind} hook #{i} `{h['path']}`: {exc.strerror or exc}"
        else:
            if res.returncode == 0:
                continue
            detail = (res.stderr or res.stdout).decode(errors="replace").strip()
            err = f"{kind} hook #{i} `{h['path']}`: exit status {res.returncode}" + (
                f": {detail}" if detail else "")
        if strict:
            raise HookFailed(err)
        log.warning("hook failed kind=%s error=%s", kind, err)


def has(spec: dict[str, Any], *kinds: str) -> bool:
    hooks = spec.get("hooks") or {}
    return any(hooks.get(k) for k in kinds)
