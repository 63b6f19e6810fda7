"""Media types of manifests and layers, and choosing this node's platform from an index."""

from __future__ import annotations

import platform as _platform
from dataclasses import dataclass
from typing import Any

from pycri.cri.errors import FailedPrecondition, NotFound

OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER = "application/vnd.oci.image.layer.v1.tar"
OCI_LAYER_GZIP = "application/vnd.oci.image.layer.v1.tar+gzip"
OCI_LAYER_ZSTD = "application/vnd.oci.image.layer.v1.tar+zstd"
OCI_LAYER_NONDIST = "application/vnd.oci.image.layer.nondistributable.v1.tar"
OCI_LAYER_NONDIST_GZIP = "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip"
DOCKER_MANIFEST_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_CONFIG = "application/vnd.docker.container.image.v1+json"
DOCKER_LAYER_GZIP = "application/vnd.docker.image.rootfs.diff.tar.gzip"
DOCKER_LAYER_FOREIGN = "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip"
DOCKER_SCHEMA1 = "application/vnd.docker.distribution.manifest.v1+json"
DOCKER_SCHEMA1_SIGNED = "application/vnd.docker.distribution.manifest.v1+prettyjws"

INDEXES = frozenset({OCI_INDEX, DOCKER_MANIFEST_LIST})
MANIFESTS = frozenset({OCI_MANIFEST, DOCKER_MANIFEST})
SCHEMA1 = frozenset({DOCKER_SCHEMA1, DOCKER_SCHEMA1_SIGNED})
ACCEPT = ", ".join([OCI_INDEX, DOCKER_MANIFEST_LIST, OCI_MANIFEST, DOCKER_MANIFEST])

GZIP_LAYERS = frozenset(
    {OCI_LAYER_GZIP, OCI_LAYER_NONDIST_GZIP, DOCKER_LAYER_GZIP, DOCKER_LAYER_FOREIGN}
)
ZSTD_LAYERS = frozenset({OCI_LAYER_ZSTD})
PLAIN_LAYERS = frozenset({OCI_LAYER, OCI_LAYER_NONDIST})


def compression_of(media_type: str) -> str:
    """`gzip`, `zstd` or `none` for a layer media type; FailedPrecondition for anything else."""
    if media_type in GZIP_LAYERS:
        return "gzip"
    if media_type in ZSTD_LAYERS:
        return "zstd"
    if media_type in PLAIN_LAYERS:
        return "none"
    raise FailedPrecondition(f"unpack layer: unsupported layer media type `{media_type}`")


_ARCH_ALIASES = {
    "x86_64": "amd64",
    "amd64": "amd64",
    "aarch64": "arm64",
    "arm64": "arm64",
    "armv7l": "arm",
    "armv6l": "arm",
    "i386": "386",
    "i686": "386",
    "ppc64le": "ppc64le",
    "s390x": "s390x",
    "riscv64": "riscv64",
}


@dataclass(frozen=True)
class Platform:
    os: str
    architecture: str
    variant: str = ""

    def __str__(self) -> str:
        text = f"{self.os}/{self.architecture}"
        return f"{text}/{self.variant}" if self.variant else text

    @classmethod
    def parse(cls, text: str) -> Platform:
        parts = text.split("/")
        if len(parts) not in (2, 3) or not all(parts):
            raise ValueError(f"parse platform `{text}`: want os/arch[/variant]")
        return cls(parts[0], parts[1], parts[2] if len(parts) == 3 else "")

    def matches(self, other: dict[str, Any]) -> bool:
        if other.get("os") != self.os or other.get("architecture") != self.architecture:
            return False
        default = _default_variant(self.architecture)
        want = self.variant or default
        got = other.get("variant", "") or default
        return bool(want == got)


def _default_variant(arch: str) -> str:
    return {"arm64": "v8", "arm": "v7"}.get(arch, "")


def host_platform() -> Platform:
    machine = _platform.machine()
    arch = _ARCH_ALIASES.get(machine, machine)
    variant = {"armv7l": "v7", "armv6l": "v6"}.get(machine, "")
    return Platform("linux", arch, variant)


def choose_manifest(index: dict[str, Any], want: Platform, ref: str) -> dict[str, Any]:
    """The descriptor in an index that fits `want`; NotFound when none does."""
    candidates = [
        d
        for d in index.get("manifests", [])
        if d.get("mediaType", OCI_MANIFEST) in MANIFESTS
        and (d.get("platform") is None or want.matches(d["platform"]))
    ]
    # Entries with a platform beat entries without one (attestations carry none).
    candidates.sort(key=lambda d: d.get("platform") is None)
    if not candidates:
        offered = ", ".join(
            str(Platform(p.get("os", "?"), p.get("architecture", "?"), p.get("variant", "")))
            for p in (d.get("platform", {}) for d in index.get("manifests", []))
        )
        raise NotFound(f"pull image `{ref}`: no manifest for platform {want} (index has {offered})")
    chosen: dict[str, Any] = candidates[0]
    return chosen
