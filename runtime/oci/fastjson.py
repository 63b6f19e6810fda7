"""JSON for pyrunc's hot calls through CPython's `_json` accelerator directly.

`import json` pulls in `re` and `enum` (~4 ms per CLI call, more than `start` itself
needs); the C scanner and encoder behind it need neither. Falls back to `json` where
`_json` is missing (other interpreters) or for what the C encoder does not do (indent).
"""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

_WS = " \t\n\r"


class _Context:
    """The attributes `_json.make_scanner` reads from a json.JSONDecoder."""

    strict = True
    object_hook = None
    object_pairs_hook = None
    parse_float = float
    parse_int = int
    parse_constant = float  # NaN, Infinity, -Infinity


def loads(data: bytes | str) -> Any:
    text = data.decode() if isinstance(data, bytes) else data
    try:
        from _json import make_scanner
    except ImportError:
        import json

        return json.loads(text)
    scan = make_scanner(_Context)  # type: ignore[arg-type]  # duck-typed context object
    start = len(text) - len(text.lstrip(_WS))
    try:
        obj, end = scan(text, start)
    except StopIteration as exc:
        raise ValueError(f"invalid JSON at offset {exc.value}") from None
    if text[end:].strip(_WS):
        raise ValueError(f"extra data after JSON at offset {end}")
    return obj


def dumps(obj: Any) -> str:
    try:
        from _json import encode_basestring_ascii, make_encoder
    except ImportError:
        import json

        return json.dumps(obj)

    def default(o: Any) -> Any:
        raise TypeError(f"Object of type {type(o).__name__} is not JSON serializable")

    encode = make_encoder({}, default, encode_basestring_ascii, None, ": ", ", ", False,
                          False, True)
    return "".join(encode(obj, 0))
