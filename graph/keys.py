"""Identity keys and stable ids.

A node is found again through its identity keys: the normalised forms of its name and aliases
(entities, outlets, places) or the fingerprints of the event it stands for. Node ids derive from
the key that created the node, so reloading the same data gives the same ids (usable in URLs).
"""

from __future__ import annotations

import functools
import hashlib
import re
import unicodedata
from collections.abc import Iterable

_NON_WORD = re.compile(r"[\W_]+", re.UNICODE)
_SPACE = re.compile(r"\s+")


@functools.lru_cache(maxsize=1 << 16)  # the same names recur in thousands of records
def normalise(text: str) -> str:
    """The comparison form of a name: NFKC, case-folded, punctuation and spacing folded.

    `Censor.NET` and `Censor.net`, `Al-Jazeera` and `Al Jazeera` compare equal. A name made only
    of punctuation or symbols keeps its case-folded, space-folded text so it still has a key.
    """
    folded = unicodedata.normalize("NFKC", text).casefold()
    words = _NON_WORD.sub(" ", folded).strip()
    return words or _SPACE.sub(" ", folded).strip()


def digest(*parts: str) -> str:
    """A short, stable hex digest of `parts`."""
    joined = "\x1f".join(parts).encode("utf-8")
    return hashlib.blake2b(joined, digest_size=8).hexdigest()


def node_id(prefix: str, key: str) -> str:
    """The stable id of a node created for identity key `key`, e.g. `ev_3f2a...`."""
    return f"{prefix}_{digest(key)}"


def entity_keys(entity_type: str, names: Iterable[str]) -> list[str]:
    """Identity keys of an entity of `entity_type` known by `names` (name first), deduplicated."""
    return _unique(f"entity:{entity_type}:{normalise(n)}" for n in names)


def outlet_keys(names: Iterable[str]) -> list[str]:
    """Identity keys of an outlet known by `names` (name first), deduplicated."""
    return _unique(f"outlet:{normalise(n)}" for n in names)


def country_key(country: str) -> str:
    return f"country:{normalise(country)}"


def place_key(place: str, country: str | None) -> str:
    """A place is its name within its country: Moscow, Russia and Moscow, Idaho are two places."""
    return f"place:{normalise(country or '')}:{normalise(place)}"


def event_external_key(external_id: str) -> str:
    return f"event:id:{external_id.strip()}"


def event_participants_key(day: str, category: str, participant_ids: Iterable[str]) -> str:
    return f"event:participants:{day}:{category}:{','.join(sorted(set(participant_ids)))}"


def event_summary_key(day: str, category: str, summary: str) -> str:
    return f"event:summary:{day}:{category}:{digest(normalise(summary))}"


def event_record_key(record_key: str) -> str:
    """The identity key of one record without `event.id` (the matcher's `Mention.record_key`):
    owned by the event the record describes, so a reload finds that event again."""
    return f"event:record:{record_key}"


def match_prefix(block: str) -> str:
    """What an event indexed under the matcher's blocking key `block` is found by
    (`GraphStore.lookup_key_prefixes`). Blocking keys are normalised text: no `#` in them."""
    return f"match:{block}#"


def match_key(block: str, event_id: str) -> str:
    """The identity key by which `event_id` is indexed under blocking key `block`."""
    return f"match:{block}#{event_id}"


MERGED = "merged:"  # the keys `merged_key` makes: a merged-away id, owned by its survivor


def merged_key(node_id: str) -> str:
    """The identity key by which a node merged away (by the loader or an editor) still finds
    its survivor: owned by the survivor, re-owned with its other keys when it merges in turn,
    so a chain of merges ends at the node that holds everything now (share links survive)."""
    return f"{MERGED}{node_id}"


def story_id(outlet_id: str, slug: str) -> str:
    return node_id("st", f"story:{outlet_id}:{slug.strip()}")


def _unique(keys: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(keys))
