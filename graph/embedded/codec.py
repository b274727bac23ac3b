"""Properties as the JSON text of the store's rows: `encode_props` and `decode_props`.

Every row holds its properties as compact JSON with sorted keys, UTF-8 as it is; a
relationship keeps that text in memory too and is decoded when read, so encoding and decoding
are on the hot path of every load, every start and every read of relationships.

- Encoding: msgspec writes the same text as `json` three times faster (0.44 against 1.28 us a
  relationship; docs/benchmarks.md). It writes floats its own way (1e16, not 1e+16; NaN as
  null), so properties holding a float (an event's lat/lon) keep to one `json.JSONEncoder`.
  (Its private C core, `json.encoder.c_make_encoder`, made once, was used here too: it saved
  0.2% of the instructions of a bulk load of 10,000 events, as only events hold floats, so
  the public `JSONEncoder.encode` does it now.)
- Decoding: the decoder's C scanner, `json.scanner.c_make_scanner`, private to CPython,
  called directly without `json.loads`'s wrappers. Why it stays: opening a store of 10,000
  events and reading all its relationships (`dump`) takes 17% more instructions without it
  (8.97 G against 7.69 G, cachegrind). Where it is missing (another Python, or a CPython
  built without its `_json` module), `json.loads` reads the same text: slower, the same
  values.
"""

from __future__ import annotations

import json
import json.scanner
import sys
from collections.abc import Callable
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
    return _ENCODER.encode(props)


def intern_keys(props: Decoded) -> Decoded:
    """`props` with its property names shared with every other node's (json.loads makes new
    strings for the names of every object it decodes)."""
    intern = sys.intern
    return {intern(k): v for k, v in props.items()}
