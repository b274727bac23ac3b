"""Properties as the JSON text of the store's rows: `encode_props` and `decode_props`.

Every row holds its properties as compact JSON with sorted keys, UTF-8 as it is; a
relationship keeps that text in memory too and is decoded when read, so encoding and decoding
are on the hot path of every load and every read of relationships.

Speed, measured on the properties of a relationship (an involvement, a report):
- encoding: msgspec writes the same text as `json` three times faster (0.44 against 1.28 us;
  see docs/benchmarks.md). It writes floats its own way (1e16, not 1e+16; NaN as null), so
  properties holding a float (an event's lat/lon) keep to `json`, through the C encoder of
  `json.encoder.c_make_encoder` made once: `JSONEncoder.encode` builds a new one on every
  call, a third of its cost.
- decoding: the C scanner of `json.scanner.c_make_scanner`, called directly without
  `json.loads`'s wrappers, costs half as much.
Both hooks are private to CPython. Where one is missing (another Python, or a CPython built
without `_json`), the same text is written and read by the public `json` functions
(`JSONEncoder.encode`, `json.loads`): slower, the same results.
"""

from __future__ import annotations

import json
import json.encoder
import json.scanner
import sys
from collections.abc import Callable, Iterable
from typing import Any, TypeAlias

import msgspec

from graph.model import Props, Value

# What this store's rows hold: a JSON object of property values (`graph.model.Value`).
Decoded: TypeAlias = dict[str, Value]

# One encoder for every write: `json.dumps` with options builds a new one on each call.
_ENCODER = json.JSONEncoder(ensure_ascii=False, sort_keys=True, separators=(",", ":"))

# The decoder's C scanner: (text, index) -> (value, index past it); StopIteration when there
# is no value at the index.
_Scan: TypeAlias = Callable[[str, int], tuple[Decoded, int]]
_MAKE_SCANNER: Any = getattr(json.scanner, "c_make_scanner", None)
_SCAN: _Scan | None = _MAKE_SCANNER(json.JSONDecoder()) if _MAKE_SCANNER is not None else None

# The encoder's C core: (value, indent level) -> the text in pieces. Without the check for
# circular references, which flat property values cannot have.
_Encode: TypeAlias = Callable[[Props, int], Iterable[str]]
_MAKE_ENCODER: Any = getattr(json.encoder, "c_make_encoder", None)
_C_ENCODE: _Encode | None = (
    _MAKE_ENCODER(
        None, _ENCODER.default, json.encoder.encode_basestring, None, ":", ",", True, False, True
    )
    if _MAKE_ENCODER is not None
    else None
)

# msgspec's encoder: the same text as `_ENCODER` (keys sorted, compact, UTF-8 as it is) but
# for floats. Lists hold strings only (`graph.model.Value`).
_FAST_ENCODE: Callable[[Props], bytes] = msgspec.json.Encoder(order="sorted").encode


def decode_props(text: str) -> Decoded:
    """The properties in JSON this store wrote: the decoder's C scanner called directly;
    anything else, or an error, goes through `json.loads`."""
    value: Decoded
    if _SCAN is not None:
        try:
            value, end = _SCAN(text, 0)
        except StopIteration:
            value = json.loads(text)
            return value
        if end == len(text):
            return value
    value = json.loads(text)
    return value


def encode_props(props: Props) -> str:
    """The JSON text of `props`: compact, keys sorted, UTF-8 as it is."""
    if float not in map(type, props.values()):
        try:
            return _FAST_ENCODE(props).decode()
        except (TypeError, ValueError, OverflowError):  # what json may still write, or fail on
            pass
    if _C_ENCODE is None:
        return _ENCODER.encode(props)
    return "".join(_C_ENCODE(props, 0))


def intern_keys(props: Decoded) -> Decoded:
    """`props` with its property names shared with every other node's (json.loads makes new
    strings for the names of every object it decodes)."""
    intern = sys.intern
    return {intern(k): v for k, v in props.items()}
