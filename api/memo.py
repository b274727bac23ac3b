"""Kept fragments: the answer to a selection on one object, reused by the next request that
selects the same on the same object while nothing it read has changed.

A page made again after a write is mostly what it was: a report added to an event with 200
leaves 200 reports' answers as they were, yet the whole page was made again (7 ms for the
bench's hottest page, against 0.1 ms for a kept page; docs/benchmarks.md, issue 17). The
planned executor (`api.compiled`) keeps the answer to a *pure* selection (no argument anywhere
in it) on an object of a *memoised* type (`memoised`, below), per process, and answers the same
selection on the same object from it when it is still the answer:

- **the same object**: the object's `memo_key()` gives its identity and a *version* (the
  properties it was built from), compared by equality;
- **the same reads**: every read the selection's resolvers made goes through the request's
  loaders (`api.dataloaders.Immediate`), which note it on the request's `Tape` with the value
  read; before a kept answer is used, each of its reads is made again through this request's
  loaders and must find an equal value (so the reads are also noted again where the response
  cache notes what a page read: a page answered with kept fragments is dropped by the writes
  that change them as a page made whole is);
- **the same request**: only anonymous requests on a store that reads from memory use kept
  fragments (a type's fields may show editors more: `Report.retraction`); a read that is not
  through the loaders (`RequestContext.read`, `call`) marks the fragment *foreign* and it is
  not kept; a type is memoised only when its fields read nothing else of the request (the
  policy, a time budget, the store directly).

Only what a page made again gains from is kept: an object in a list of at least
`api.compiled.KEEP_FROM` (a page of a few reports is made whole in well under a millisecond),
from the second time its fragment is made (`Fragments.admit`: a page asked once keeps nothing).
A kept answer is shared by every response that uses it and is never changed afterwards (the
executor builds new dicts around it; the answer is encoded, not edited). The store holds up to
`FRAGMENTS` answers, the least recently used dropped first: the hot pages, made again after
each write, keep theirs.
`tests/test_memo.py` compares answers made with kept fragments to answers made afresh, after
writes to what they read.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Hashable
from typing import Any, NamedTuple, TypeVar

from graph.seen import SeenBefore

# How many fragments a process keeps by default (`AppConfig.kept_fragments`): about 1.7 KB
# each, measured with what their reads hold (docs/changes.md).
FRAGMENTS = 10_000

# The fragments made once remembered (by hash), to keep one from its second making.
SEEN = 100_000

# A read the fragment made: the loader's kind (`RequestContext.loader_of`), the key, the value.
Read = tuple[Hashable, Hashable, Any]

T = TypeVar("T")

_MEMOISED: set[type] = set()
_LOADER_ONLY: set[type] = set()


def loader_only(cls: type[T]) -> type[T]:
    """Mark a GraphQL object type whose fields without arguments read the store only through
    the request's loaders and depend on nothing else of the request (not the policy, not a
    time budget) but whether its caller is anonymous: it may be answered inside a kept
    fragment. A selection reaching any type not so marked is never kept."""
    _LOADER_ONLY.add(cls)
    return cls


def memoised(cls: type[T]) -> type[T]:
    """Mark a `loader_only` GraphQL object type whose pure selections' answers are kept
    (module docstring); it defines `memo_key`."""
    if not callable(getattr(cls, "memo_key", None)):
        raise TypeError(f"{cls.__name__} is memoised but has no memo_key()")
    _MEMOISED.add(cls)
    return loader_only(cls)


def is_loader_only(cls: object) -> bool:
    return cls in _LOADER_ONLY


def is_memoised(cls: object) -> bool:
    return cls in _MEMOISED


class Tape:
    """A request's record of the reads made through its loaders while a fragment is made
    (`entries` is None when none is being made), and whether a read went around them."""

    __slots__ = ("entries", "foreign")

    def __init__(self) -> None:
        self.entries: list[Read] | None = None
        self.foreign = False

    def went_around(self) -> None:
        """A read not through the loaders: no fragment being made now may be kept."""
        if self.entries is not None:
            self.foreign = True


class Fragment(NamedTuple):
    version: object
    answer: Any
    reads: tuple[Read, ...]


class Fragments:
    """The kept fragments of one app, by (selection, object identity), the least recently
    used dropped past `size` (an OrderedDict: its look-up and move are in C, where a page
    made again looks up hundreds)."""

    def __init__(self, size: int = FRAGMENTS) -> None:
        self._kept: OrderedDict[tuple[object, Hashable], Fragment] = OrderedDict()
        self._size = size
        self._seen = SeenBefore(SEEN)
        self.reused = 0
        self.made = 0

    def admit(self, key: tuple[object, Hashable]) -> bool:
        """Whether a fragment made now is to be kept: from the second time it is made (pages
        made once, a crawl or the tail, would churn the store for nothing: +9% CPU a page and
        twice the collector's pauses, 6,000 pages each asked once)."""
        return self._seen.again(hash(key))  # its hash: no selection held alive by it

    def get(self, key: tuple[object, Hashable]) -> Fragment | None:
        found = self._kept.get(key)
        if found is not None:
            self._kept.move_to_end(key)
        return found

    def keep(self, key: tuple[object, Hashable], fragment: Fragment) -> None:
        kept = self._kept
        kept[key] = fragment
        kept.move_to_end(key)
        if len(kept) > self._size:
            kept.popitem(last=False)

    def drop(self, key: tuple[object, Hashable]) -> None:
        self._kept.pop(key, None)

    def __len__(self) -> int:
        return len(self._kept)
