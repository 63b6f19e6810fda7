"""CNI specification versions: parsing, comparison and negotiation."""

from __future__ import annotations

from collections.abc import Iterable

# Every version this invoker can speak, oldest first.
SUPPORTED_VERSIONS: tuple[str, ...] = (
    "0.1.0",
    "0.2.0",
    "0.3.0",
    "0.3.1",
    "0.4.0",
    "1.0.0",
    "1.1.0",
)
LATEST = SUPPORTED_VERSIONS[-1]


def parse(version: str) -> tuple[int, int, int]:
    """Parse `major.minor.patch` (missing parts read as 0); ValueError if malformed."""
    parts = version.strip().split(".")
    if not 1 <= len(parts) <= 3 or not all(p.isdigit() for p in parts):
        raise ValueError(f"parse CNI version `{version}`: not major.minor.patch")
    nums = [int(p) for p in parts] + [0] * (3 - len(parts))
    return nums[0], nums[1], nums[2]


def at_least(version: str, minimum: str) -> bool:
    return parse(version) >= parse(minimum)


def is_supported(version: str) -> bool:
    try:
        return parse(version) in {parse(v) for v in SUPPORTED_VERSIONS}
    except ValueError:
        return False


def negotiate(declared: str, alternatives: Iterable[str] = ()) -> str:
    """The version to use for a config: the highest of `cniVersions` we support,
    else `cniVersion` itself (1.1's way to let old runtimes keep working)."""
    usable = [v for v in alternatives if isinstance(v, str) and is_supported(v)]
    if usable:
        return max(usable, key=parse)
    return declared


def supports_check(version: str) -> bool:
    return at_least(version, "0.4.0")


def supports_status_and_gc(version: str) -> bool:
    return at_least(version, "1.1.0")
