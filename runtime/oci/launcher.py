"""Write the fast `pyrunc` launcher: an executable that starts the interpreter without
`site` and maps the `pycri` package by hand.

A console-script entry point pays ~12 ms per call before `main` runs (site, .pth
files, the editable-install finder); containerd's shim calls the runtime 3+ times per
container. pyrunc needs nothing outside the standard library and pycri, so:

    python -m pycri.runtime.oci.launcher /usr/local/bin/pyrunc
"""

from __future__ import annotations

import os
import sys

_TEMPLATE = """#!{python} -SE
# pyrunc launcher written by pycri.runtime.oci.launcher: no site or PYTHON* vars.
import sys
m = type(sys)("pycri")
m.__path__ = [{root!r}]
sys.modules["pycri"] = m
from pycri.runtime.oci.cli import exit_fast, main
exit_fast(main())
"""


def package_root() -> str:
    """The folder holding api/ cri/ runtime/ cni/ (what `pycri` maps to)."""
    import pycri.runtime

    return os.path.dirname(os.path.abspath(next(iter(pycri.runtime.__path__))))


def script(python: str | None = None, root: str | None = None) -> str:
    return _TEMPLATE.format(python=python or sys.executable, root=root or package_root())


def install(path: str, python: str | None = None, root: str | None = None) -> None:
    tmp = f"{path}.{os.getpid()}.tmp"
    with open(tmp, "w") as f:
        f.write(script(python, root))
    os.chmod(tmp, 0o755)
    os.rename(tmp, path)


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print("usage: python -m pycri.runtime.oci.launcher PATH", file=sys.stderr)
        return 2
    install(args[0])
    return 0


if __name__ == "__main__":
    sys.exit(main())
