"""`pyrunc features`: what this runtime supports, in the runtime-spec features shape."""

from __future__ import annotations

from typing import Any

from pycri.runtime.oci import mountopts, namespaces, spec


def features() -> dict[str, Any]:
    try:
        from pycri.runtime.oci.capabilities import ALL_CAPABILITIES as caps
    except ImportError:
        caps = []
    seccomp_enabled = True
    try:
        import pycri.runtime.oci.seccomp  # noqa: F401
    except ImportError:
        seccomp_enabled = False
    return {
        "ociVersionMin": "1.0.0",
        "ociVersionMax": "1.2.0",
        "hooks": list(spec.HOOK_KINDS),
        "mountOptions": sorted(set(mountopts._FLAGS) | set(mountopts.PROPAGATION)
                               | {"tmpcopyup"}),
        "linux": {
            "namespaces": list(namespaces.FLAGS),
            "capabilities": caps,
            "cgroup": {"v1": True, "v2": True, "systemd": False, "systemdUser": False},
            "seccomp": {"enabled": seccomp_enabled},
            "apparmor": {"enabled": False},
            "selinux": {"enabled": False},
            "intelRdt": {"enabled": False},
            "mountExtensions": {"idmap": {"enabled": False}},
        },
        "annotations": {"io.github.pycri.runtime": "pyrunc"},
    }
