"""The List* filters of CRI: id and pod id by prefix, state exactly, labels as a selector."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any


def matches(flt: Any, *, record_id: str, labels: Callable[[], Mapping[str, str]],
            sandbox_id: str = "", state: Any = None) -> bool:
    """True when the record passes `flt` (None passes all). Labels are read only if needed."""
    if flt is None:
        return True
    if flt.id and not record_id.startswith(flt.id):
        return False
    wanted_pod = getattr(flt, "pod_sandbox_id", "")
    if wanted_pod and not sandbox_id.startswith(wanted_pod):
        return False
    if state is not None and _has(flt, "state") and flt.state.state != state:
        return False
    if not flt.label_selector:
        return True
    have = labels()
    return all(have.get(k) == v for k, v in flt.label_selector.items())


def _has(message: Any, field: str) -> bool:
    try:
        return bool(message.HasField(field))
    except ValueError:
        return False
