"""Image references: parse and normalise the way docker and containerd spell them.

`busybox` means `docker.io/library/busybox:latest`; a first path component with a dot, a
colon or the name `localhost` is a registry host; a reference may carry a tag, a digest or
both (the digest wins when fetching, the tag is still recorded).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from pycri.cri.errors import InvalidArgument

DEFAULT_DOMAIN = "docker.io"
LEGACY_DEFAULT_DOMAIN = "index.docker.io"
OFFICIAL_REPO_PREFIX = "library/"
DEFAULT_TAG = "latest"
MAX_NAME_LENGTH = 255

_COMPONENT = re.compile(r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*")
_DOMAIN = re.compile(
    r"(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?"
    r"(?:\.[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)*"
    r"|\[[0-9a-fA-F:.]+\])"
    r"(?::[0-9]+)?"
)
_TAG = re.compile(r"[\w][\w.-]{0,127}")
_DIGEST = re.compile(r"[a-z0-9]+(?:[.+_-][a-z0-9]+)*:[a-zA-Z0-9=_-]+")
_HEX64 = re.compile(r"[a-f0-9]{64}")


@dataclass(frozen=True)
class Reference:
    """A normalised reference: `domain/path[:tag][@digest]`."""

    domain: str
    path: str
    tag: str = ""
    digest: str = ""

    @property
    def name(self) -> str:
        """The repository name with its domain, e.g. `docker.io/library/busybox`."""
        return f"{self.domain}/{self.path}"

    @property
    def object(self) -> str:
        """What to ask the registry for: the digest when known, else the tag."""
        return self.digest or self.tag

    def tagged(self) -> str:
        """`name:tag`, or "" for a digest-only reference."""
        return f"{self.name}:{self.tag}" if self.tag else ""

    def with_digest(self, digest: str) -> str:
        """`name@digest`: the RepoDigest form."""
        return f"{self.name}@{digest}"

    def __str__(self) -> str:
        text = self.name
        if self.tag:
            text += f":{self.tag}"
        if self.digest:
            text += f"@{self.digest}"
        return text


def is_image_id(text: str) -> bool:
    """True for a bare image ID (`sha256:<hex>` or 64 hex chars), which is never a name."""
    if text.startswith("sha256:"):
        text = text[len("sha256:") :]
    return bool(_HEX64.fullmatch(text))


def validate_digest(digest: str) -> str:
    """Check `algorithm:hex`; sha256 must have 64 lowercase hex digits."""
    if not _DIGEST.fullmatch(digest):
        raise InvalidArgument(f"parse digest `{digest}`: invalid format")
    algorithm, _, hexpart = digest.partition(":")
    if algorithm == "sha256" and not _HEX64.fullmatch(hexpart):
        raise InvalidArgument(f"parse digest `{digest}`: sha256 needs 64 lowercase hex digits")
    if algorithm not in ("sha256", "sha512"):
        raise InvalidArgument(f"parse digest `{digest}`: unsupported algorithm `{algorithm}`")
    return digest


def parse(text: str) -> Reference:
    """Parse and normalise a reference; InvalidArgument names what is wrong."""
    if not text:
        raise InvalidArgument("parse image reference: empty reference")
    if text != text.strip():
        raise InvalidArgument(f"parse image reference `{text}`: surrounding whitespace")
    if _HEX64.fullmatch(text):
        raise InvalidArgument(
            f"parse image reference `{text}`: a 64-hex string is an image ID, not a repository"
        )
    remainder, digest = text, ""
    if "@" in remainder:
        remainder, _, digest = remainder.partition("@")
        validate_digest(digest)
    domain, path = _split_domain(remainder, text)
    tag = ""
    last = path.rsplit("/", 1)[-1]
    if ":" in last:
        path, _, tag = path.rpartition(":")
        if not _TAG.fullmatch(tag):
            raise InvalidArgument(f"parse image reference `{text}`: invalid tag `{tag}`")
    if not path:
        raise InvalidArgument(f"parse image reference `{text}`: empty repository name")
    if any(c.isupper() for c in path):
        raise InvalidArgument(f"parse image reference `{text}`: repository name must be lowercase")
    for component in path.split("/"):
        if not _COMPONENT.fullmatch(component):
            raise InvalidArgument(
                f"parse image reference `{text}`: invalid path component `{component}`"
            )
    if domain == DEFAULT_DOMAIN and "/" not in path:
        path = OFFICIAL_REPO_PREFIX + path
    if len(domain) + 1 + len(path) > MAX_NAME_LENGTH:
        raise InvalidArgument(
            f"parse image reference `{text}`: repository name longer than {MAX_NAME_LENGTH}"
        )
    if not tag and not digest:
        tag = DEFAULT_TAG
    return Reference(domain=domain, path=path, tag=tag, digest=digest)


def _split_domain(remainder: str, text: str) -> tuple[str, str]:
    first, sep, rest = remainder.partition("/")
    if sep and ("." in first or ":" in first or first == "localhost" or first != first.lower()):
        if not _DOMAIN.fullmatch(first):
            raise InvalidArgument(f"parse image reference `{text}`: invalid registry `{first}`")
        domain = DEFAULT_DOMAIN if first == LEGACY_DEFAULT_DOMAIN else first
        return domain, rest
    return DEFAULT_DOMAIN, remainder


def familiar(name: str) -> str:
    """The short form docker prints (`busybox:latest`) for a normalised name."""
    prefix = f"{DEFAULT_DOMAIN}/"
    if name.startswith(prefix):
        name = name[len(prefix) :]
        if name.startswith(OFFICIAL_REPO_PREFIX) and "/" not in name[len(OFFICIAL_REPO_PREFIX) :]:
            name = name[len(OFFICIAL_REPO_PREFIX) :]
    return name
