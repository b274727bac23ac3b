"""The response cache: answers to anonymous queries kept in this process's memory, each dropped
as soon as a committed write changes something it read (docs/site.md).

- **What is kept**: the answer (status, headers, body) of a query, GET or POST, sent without an
  Authorization header (an editor's or an admin's answer is never kept, nor served from here),
  that selects no heavy field (those answer within a time budget, `api.forward.HEAVY_FIELDS`),
  is not a mutation or a subscription, and answered 200 without any error. The key is the
  query text (or the persisted query its hash names), its variables, its operation name and
  the Accept header (the media type of the answer); a locale is an argument, so it is in the
  key too.
- **What it read**: while a kept answer is made, its context reads through `Recording`, which
  notes the nodes whose properties it read (`get_nodes`) and the nodes whose relationships of
  a type and direction it read (`edges`, an event page's neighbourhood). Any other read (a
  listing, a total, a key lookup, a search, a track record: what a write to any node may
  change) makes the answer *wide*.
- **Dropped exactly by the change log**: the cache reads the store's change log
  (`GraphStore.changes`) up to what this process's reads include (`read_position`) before it
  answers anything, and notes, for each thing read, the latest entry that changed it: an entry
  changes the properties of a node it wrote or deleted, and the relationships (of that type,
  that way) of an end of a relationship it wrote or removed; a wide answer is changed by any
  entry, and one that writes a setting (the policy) changes everything. A kept answer carries
  the entry its reads include; when it is asked, it is answered only if no later entry changed
  anything it read (a look-up per thing read, skipped when no entry came since it was last
  checked), else dropped then and made again. So a new report by an outlet drops the page of
  the event reported, not every page showing that outlet's name; a write costs a look-up per
  thing it touched however many answers read it; and a load's batch touching every kept page
  frees nothing at once (its answers go when next asked, or to make room: dropping 10,000
  answers as the batch came held a worker's loop over 100 ms). An answer made while a write
  committed is kept only if the entries it might have missed touch nothing it read. So a kept
  answer is always the answer the query would get now, and a page is never stale after a
  write. Things read are remembered with their entry up to `CHANGED` of them; past that they
  are forgotten at once and the answers seen before are made again.
- **Kept from the second time it is asked, when kept answers are not asked again**: of the
  kept answers that ended (found changed when asked, evicted for room, made again), the cache counts
  the share that were answered from it at least once (over a window of about `USEFUL_WINDOW`
  ended answers). While that share is `USEFUL_SHARE` or more (or too few ended to tell), every
  answer is kept from its first asking. Below it, kept answers are mostly pages asked once in a
  long while (the tail of a large site's traffic, a crawler, 100,000 pages asked in turn):
  keeping each of them cost a tenth more CPU than answering it (parsing the request for its
  key, noting its reads, copying its body, indexing it), and each write then had them to drop,
  for hits that never came. Then a request whose bytes (its body or query string, and its
  Accept header) are asked for the first time passes by the cache as if there were none
  (nothing parsed, its reads not noted, its answer not kept, no cache header, counted
  `first`), and is kept from its second asking (CDNs admit so: "cache on second hit";
  TinyLFU's doorkeeper). The digests asked are remembered up to `SEEN` of them (then
  forgotten all at once), and a kept answer dropped by a write is kept again at its next miss
  (its request's key is remembered among the aliases).
- **Bounded**: by the bytes of the bodies kept (`AppConfig.response_cache_bytes`, cachetools'
  LRU with a size function), the least recently used dropped first. Hits, misses, answers
  stored, evictions and invalidations are counted (`/metrics`:
  `newsgraph_response_cache_total{outcome}`).

Each process of `serve --workers` has a cache of its own and follows the log itself; the
workers also share the answers they keep (`api.shared_answers`), each checking what it finds
there as it checks its own.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from itertools import repeat
from typing import Any, NamedTuple, cast

import msgspec
from cachetools import LRUCache
from starlette.datastructures import Headers, QueryParams
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.config import MAX_JSON_DEPTH
from api.forward import CHANGE_HEADER, asks_heavy, asks_mutation
from api.metrics import Metrics, operation_of
from api.shared_answers import Kept, SharedAnswers
from graph.model import Direction, Edge, Node, Rel
from graph.seen import SeenBefore
from graph.store import (
    Change,
    ChangeLogTruncated,
    EventNeighbourhood,
    GraphStore,
    PagePart,
    PageReading,
    StoreError,
)
from loaders.records import nested_deeper_than

# The scope's state key under which a kept answer's reads are noted (`api.app.get_context`).
READS = "newsgraph.response_cache_reads"
# The scope's state key under which `api.delivery.Cacheable` notes the `read_position` it read.
POSITION = "newsgraph.read_position"
# A POST's body and its JSON, parsed here (the scope state's key)
POSTED = "newsgraph.posted"
# The header naming whether the answer came from the cache ("hit") or was made ("miss").
CACHE_HEADER = "x-newsgraph-cache"
# Requests remembered byte for byte, so that asking again parses nothing (`Cached._lookup`).
ALIASES = 100_000
# Requests (their bytes' digests) remembered as asked (`ResponseCache.admit`); forgotten all at
# once past this many.
SEEN = 200_000
# Kept answers ended (dropped, evicted, made again) over which the share answered from the
# cache is counted (halved past it), the fewest from which it decides, and the share below
# which an answer is kept only from its second asking (`ResponseCache.admit`).
USEFUL_WINDOW = 2_000
USEFUL_MIN = 200
USEFUL_SHARE = 0.1
# Things read remembered with the latest change log entry touching each
# (`ResponseCache._changed`); past this many they are forgotten at once, and the answers seen
# before are made again.
CHANGED = 250_000
# Headers of an answer not kept: they belong to one request.
PER_REQUEST = frozenset({b"set-cookie", CACHE_HEADER.encode(), CHANGE_HEADER.encode()})
# The scope's state key under which `Cached` notes the body of the kept answer it answered
# with (`api.hit_lane` records what the app made of it).
HIT_BODY = "newsgraph.response_cache_hit"
_MISS = (CACHE_HEADER.encode(), b"miss")


# What an answer read: a node's properties (its id), or a node's relationships of one type in
# one direction (id, type and direction in one string, `edges_read`).
Read = str
_REL_NAMES: dict[Rel | str, str] = {rel: rel.value for rel in Rel}


def node_read(node_id: str) -> Read:
    """What reading a node's properties reads (see `touched`)."""
    return node_id


def edges_read(node_id: str, rel: Rel | str, direction: str) -> Read:
    """What reading a node's `rel` relationships in `direction` reads (see `touched`)."""
    return node_id + _edges_suffix(rel, direction)


def _edges_suffix(rel: Rel | str, direction: str) -> str:
    return f"\x1f{_REL_NAMES.get(rel) or rel}\x1f{direction}"


@dataclass(slots=True)
class Reads:
    """What one answer read (`node_read`, `edges_read`), or everything (`wide`); whether GraphQL
    answered it, and with errors."""

    ids: set[Read] = field(default_factory=set)
    wide: bool = False
    answered: bool = False  # GraphQL ran and answered (`api.app.process_result`)
    errors: bool = False


class Recording:
    """A store that notes what is read through it into `reads` (see the module): the keyed
    reads by id, anything else as wide."""

    def __init__(self, store: GraphStore, reads: Reads) -> None:
        self._store = store
        self._reads = reads
        self.reads_from_memory = store.reads_from_memory

    def get_nodes(self, ids: Sequence[str]) -> dict[str, Node]:
        self._reads.ids.update(ids)  # node_read(id) is the id
        return self._store.get_nodes(ids)

    def edges(self, ids: Sequence[str], rel: Rel, direction: Direction) -> dict[str, list[Edge]]:
        self._note_edges(ids, rel, direction)
        return self._store.edges(ids, rel, direction)

    def linked(self, ids: Sequence[str], rel: Rel, direction: Direction) -> dict[str, list[str]]:
        self._note_edges(ids, rel, direction)  # the other ends of the same relationships
        return self._store.linked(ids, rel, direction)

    def _note_edges(self, ids: Sequence[str], rel: Rel, direction: Direction) -> None:
        suffix = _edges_suffix(rel, direction)
        self._reads.ids.update([i + suffix for i in ids])  # edges_read

    def __getattr__(self, name: str) -> Any:
        found = getattr(self._store, name)
        if not callable(found):
            return found
        reads = self._reads

        def read(*args: Any, **kwargs: Any) -> Any:
            reads.wide = True  # a read that no node id bounds
            return found(*args, **kwargs)

        return read


class RecordingPages(Recording):
    """`Recording` of a store that reads an event page's neighbourhood at once (Neo4j)."""

    def read_event_neighbourhood(
        self, event_id: str, parts: frozenset[PagePart]
    ) -> EventNeighbourhood:
        found = cast(PageReading, self._store).read_event_neighbourhood(event_id, parts)
        reads = self._reads.ids
        reads.add(node_read(event_id))
        reads.update(node_read(i) for i in found.nodes)
        reads.update(edges_read(i, rel, direction) for i, rel, direction in found.edges)
        return found


def recording(store: GraphStore, reads: Reads) -> GraphStore:
    """`store`, its reads noted into `reads`."""
    kind = RecordingPages if isinstance(store, PageReading) else Recording
    return cast(GraphStore, kind(store, reads))


def touched(change: Change) -> frozenset[Read] | None:
    """What a change log entry changed, as reads name it: the properties of each node written
    or deleted, and each relationship written or removed in the lists of both its ends (a
    node's relationships removed with it are among `unlinked`); None when it may change any
    answer (a setting: the policy)."""
    if change.settings:
        return None
    ids: set[Read] = {node_read(i) for i in (*change.nodes, *change.deleted)}
    for src, rel, dst, _ in (*change.relationships, *change.unlinked):
        ids.add(edges_read(src, rel, "out"))
        ids.add(edges_read(dst, rel, "in"))
    return frozenset(ids)


class Entry(NamedTuple):
    status: int
    headers: tuple[tuple[bytes, bytes], ...]
    body: bytes
    ids: tuple[Read, ...] | None  # None: wide

    @property
    def size(self) -> int:
        return _size(self)


# What the LRU keeps of an `Entry` (`api.shared_answers.Kept`, as the workers share it): the
# plain tuple and the change log entry up to which it is known to be the answer (`seen`, then
# the latest entry it was checked against). Plain tuples of bytes, strings and ints are not
# tracked by the cyclic garbage collector, whose full collections otherwise walked every kept
# answer (docs/benchmarks.md, session 10).


def _size(kept: Entry | Kept) -> int:
    """The bytes an answer counts for in the LRU: its body and about what the rest takes."""
    return len(kept[2]) + 200


class _Entries(LRUCache[str, Kept]):
    """The LRU of kept answers, calling `evicted` for each one dropped to make room."""

    def __init__(self, maxsize: int, evicted: Callable[[str], None]) -> None:
        super().__init__(maxsize=maxsize, getsizeof=_size)
        self._evicted = evicted

    def popitem(self) -> tuple[str, Kept]:
        key, kept = super().popitem()
        self._evicted(key)
        return key, kept


class ResponseCache:
    """Kept answers by key, each with the change log entry up to which it is known to be the
    answer; the change log entry up to which the log was read (`position`); and, for each
    thing read, the latest entry that changed it (`_changed`), against which an answer is
    checked when it is asked (module docstring)."""

    def __init__(
        self,
        store: GraphStore,
        max_bytes: int,
        metrics: Metrics | None = None,
        shared: SharedAnswers | None = None,
    ) -> None:
        self.store = store
        self.metrics = metrics
        # the answers the workers of `serve --workers` share (api.shared_answers), if any
        self.shared = shared
        self._counters: dict[str, Any] = {}  # each outcome's counter (prometheus' `labels`)
        self._entries = _Entries(max_bytes, self._evicted)
        # the entry up to which the log was read; None before the first look (no I/O before
        # the app runs)
        self.position: int | None = None
        self._changed: dict[Read, int] = {}  # each thing read -> the latest entry touching it
        self._latest = 0  # the latest entry read (an answer seen up to it needs no check)
        # answers seen before this entry cannot be checked (an entry touching everything, or
        # `_changed` forgotten past CHANGED): they are made again
        self._floor = 0
        self._seen = SeenBefore(SEEN)  # requests' digests asked before (`admit`)
        self._hit: set[str] = set()  # kept answers answered from here since they were kept
        self._ended = 0.0  # kept answers that ended, over the window (`_end`)
        self._useful = 0.0  # of those, the ones answered from here at least once
        # told of each kept answer that ends (its key; None: all of them), for what is kept
        # beside the answers (`api.hit_lane`'s records)
        self.on_end: Callable[[str | None], None] | None = None

    @property
    def size(self) -> int:
        """The bytes the kept answers take (as `Entry.size` counts them)."""
        return int(self._entries.currsize)

    def __len__(self) -> int:
        return len(self._entries)

    # -- following the change log -----------------------------------------------------------

    async def follow(self, head: int | None = None) -> int:
        """Read the change log up to what this process's reads include (`head`, when the
        caller read it already), and return that entry."""
        store = self.store
        if store.reads_from_memory:
            head = store.read_position() if head is None else head
            if self.position is None or head > self.position:
                self._apply(head, self._read_changes)
            return head
        if head is None:
            head = await asyncio.to_thread(store.read_position)
        if self.position is None or head > self.position:
            at = self.position
            if at is None:
                self._apply(head, lambda after: [])
            else:
                try:
                    found = await asyncio.to_thread(self._read_changes, at)
                except ChangeLogTruncated:
                    self._restart(head)
                    return head
                self._apply(head, lambda after: [c for c in found if c.seq > after])
        return head

    def absorb(self, changes: Sequence[Change]) -> None:
        """Consecutive entries this process's memory shows from now on, decoded already (the
        follower's, `api.follow`): noted as `follow` would, without reading the log again
        on the event loop (a load's batch, read and decoded there, held a worker 300-400 ms
        beside the load). A run that does not follow `position` is left to `follow`."""
        position = self.position
        if position is None or not changes or changes[0].seq > position + 1:
            return
        if changes[-1].seq > position:
            self._apply(changes[-1].seq, lambda after: [c for c in changes if c.seq > after])

    def _read_changes(self, after: int) -> list[Change]:
        found: list[Change] = []
        while True:
            page = self.store.changes(after, 1000)
            found += page
            if len(page) < 1000:
                return found
            after = page[-1].seq

    def _apply(self, head: int, read: Callable[[int], list[Change]]) -> None:
        if self.position is None:
            self.position = self._latest = self._floor = head  # nothing kept yet
            return
        try:
            changes = read(self.position)
        except ChangeLogTruncated:
            self._restart(head)
            return
        for change in changes:
            if change.seq > self.position:
                # nothing kept: nothing to check later (an answer being made now, seen
                # before it, is made again), so nothing noted (a load beside a server no
                # page was asked of: what each batch touched was a look-up per row)
                self._note(change.seq, touched(change) if self._entries else None)
                self.position = change.seq
        self.position = max(self.position, head)

    def _note(self, seq: int, ids: Iterable[Read] | None) -> None:
        """Entry `seq` touched `ids` (None: everything). A look-up per thing touched, however
        many answers read it: a batch touching every kept page frees nothing here (its
        answers go when next asked, or to make room), so it never holds the event loop for
        the answers it ends."""
        self._latest = seq
        changed = self._changed
        if ids is None or len(changed) >= CHANGED:
            # everything, or more things than remembered: no answer seen before can be checked
            self._floor = seq
            changed.clear()
            return
        for read in ids:
            changed[read] = seq

    def _restart(self, head: int) -> None:
        """The log no longer holds the entries after `position` (truncated while this process
        looked at nothing, `GraphStore.changes`): what they changed is unknown, so every kept
        answer goes, and the cache goes on from `head`, as a reader that far behind reads the
        store afresh."""
        self._drop_all()
        self.position = head if self.position is None else max(self.position, head)
        self._latest = self._floor = self.position
        self._changed.clear()

    def clear(self) -> None:
        self._clear_kept()

    def _drop_all(self) -> None:
        """Every kept answer dropped at once (counted as invalidated, and as ended for
        `admit`)."""
        dropped = len(self._entries)
        self._count("invalidation", dropped)
        self._end(dropped, len(self._hit))
        self._clear_kept()

    def _clear_kept(self) -> None:
        # A new LRU rather than `clear()`, which pops the answers one by one through `popitem`
        # (each counted as an eviction).
        self._entries = _Entries(int(self._entries.maxsize), self._evicted)
        self._hit.clear()
        if self.on_end is not None:
            self.on_end(None)

    def _current(self, kept: Kept) -> bool:
        """Whether a kept answer is the answer here now: seen at an entry this process's reads
        include (one made by another worker may be ahead), and no entry after it touched
        anything it read."""
        seen = kept[4]
        if self.position is None or seen > self.position:
            return False
        if seen >= self._latest:
            return True
        if seen < self._floor:
            return False
        reads = kept[3]
        if reads is None:  # it read what any write may change
            return False
        # the latest entry touching any of its reads (map and max loop in C: a page reads ~100)
        return max(map(self._changed.get, reads, repeat(0)), default=0) <= seen

    # -- answers ----------------------------------------------------------------------------

    def get(self, key: str) -> Entry | None:
        """The answer to `key` if one kept here or by another worker is the answer now
        (counted a hit), else None (counted a miss; one a write changed is dropped)."""
        kept = self._checked(key, drop=True)
        if kept is None and self.shared is not None:
            kept = self._from_shared(key)
        if kept is None:
            self._count("miss")
            return None
        self.answered(key)
        return Entry._make(kept[:4])

    def current(self, key: str) -> Entry | None:
        """The answer kept here for `key` if it is the answer now, nothing counted or dropped
        (`answered` counts it once it is used; `get` drops it when it is not current)."""
        kept = self._checked(key, drop=False)
        return None if kept is None else Entry._make(kept[:4])

    def answered(self, key: str) -> None:
        """The answer kept for `key` was answered from here."""
        self._count("hit")
        self._hit.add(key)

    def _checked(self, key: str, drop: bool) -> Kept | None:
        """The answer kept here for `key` if it is current; one that is not, dropped when
        `drop` (and counted an invalidation)."""
        entries = self._entries
        kept = entries.get(key)
        if kept is None or kept[4] >= self._latest:
            return kept
        if self._current(kept):  # checked up to the latest entry: the next asking needs none
            kept = entries[key] = (*kept[:4], self._latest)
            return kept
        if drop:
            del entries[key]
            self._forget(key)
            self._count("invalidation")
        return None

    def _from_shared(self, key: str) -> Kept | None:
        """An answer another worker made (or this one, before its memory dropped it), if it
        is the answer here now: made at an entry this process's reads include, and checked
        as this process's own are. Kept here from then on."""
        assert self.shared is not None
        found = self.shared.get(key)
        if found is None or not self._current(found) or _size(found) > self._entries.maxsize:
            return None
        kept: Kept = (*found[:4], max(found[4], self._latest))
        self._entries[key] = kept
        self._count("shared")
        return kept

    def admit(self, alias: str) -> bool:
        """Whether a request whose bytes digest to `alias` is to be looked up (and its answer
        kept): while kept answers are asked again, always; else not the first time its bytes
        are asked (module docstring), which is counted (`first`)."""
        if self._seen.again(alias):
            return True
        if self._ended < USEFUL_MIN or self._useful >= USEFUL_SHARE * self._ended:
            return True
        self._count("first")
        return False

    def _end(self, ended: int, useful: int) -> None:
        """`ended` kept answers ended, `useful` of them answered from here at least once."""
        self._ended += ended
        self._useful += useful
        if self._ended >= USEFUL_WINDOW:  # the older half of the window forgotten
            self._ended /= 2
            self._useful /= 2

    def keep(self, key: str, entry: Entry, seen: int) -> bool:
        """Keep an answer whose reads include the change log entry `seen`, unless an entry
        after it that was read already touched what it read (or is too far back to tell)."""
        kept: Kept = (*entry, seen)
        # not kept when the log is not read up to its reads yet (made again next time)
        if not self._current(kept) or entry.size > self._entries.maxsize:
            return False
        entries = self._entries
        if entries.pop(key, None) is not None:
            self._forget(key)
        entries[key] = kept
        self._count("stored")
        if self.shared is not None:
            self.shared.put(key, kept)
        return True

    def _evicted(self, key: str) -> None:
        self._forget(key)
        self._count("eviction")

    def _forget(self, key: str) -> None:
        """A kept answer ended (dropped, evicted, replaced): whether it was of use."""
        if self.on_end is not None:
            self.on_end(key)
        hit = self._hit
        if key in hit:
            hit.discard(key)
            self._end(1, 1)
        else:
            self._end(1, 0)

    def _count(self, outcome: str, n: int = 1) -> None:
        if self.metrics is not None and n:
            counter = self._counters.get(outcome)
            if counter is None:
                counter = self._counters[outcome] = self.metrics.response_cache.labels(outcome)
            counter.inc(n)


# -- the ASGI layer ---------------------------------------------------------------------------


# The JSON a key is the digest of: objects' keys sorted, so that equal requests give one key.
_KEY_TEXT = msgspec.json.Encoder(order="sorted").encode


def request_key(query: str, variables: object, operation: object, accept: str | None) -> str:
    """The key of an answer: what decides it, for the anonymous."""
    return hashlib.sha256(_KEY_TEXT([query, variables, operation, accept or ""])).hexdigest()


class Cached:
    """The GraphQL route, its anonymous queries answered from `cache` when it holds them."""

    def __init__(
        self,
        app: ASGIApp,
        cache: ResponseCache,
        persisted: Callable[[str], str | None],
        max_body: int,
    ) -> None:
        self.app = app
        self.cache = cache
        self.persisted = persisted  # the query kept under a hash, if any (api.delivery)
        self.max_body = max_body
        # requests' bytes (digested) to their keys: only requests the cache may answer
        self._aliases: LRUCache[str, str] = LRUCache(maxsize=ALIASES)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or Headers(scope=scope).get("authorization") is not None:
            await self.app(scope, receive, send)
            return
        asked, receive = await self._request(scope, receive)
        if asked is None:
            await self.app(scope, receive, send)
            return
        cache = self.cache
        try:  # the entry a GET's validator was read at already (api.delivery), if any
            seen = await cache.follow(scope.get("state", {}).get(POSITION))
        except StoreError:  # the log cannot be read now: answered as if there were no cache
            await self.app(scope, receive, send)
            return
        entry = cache.get(asked)
        if entry is not None:
            await _answer(entry, cache.position or seen, send)
            state = scope.setdefault("state", {})
            state[HIT_BODY] = entry.body
            if cache.metrics is not None:
                cache.metrics.note(state, "query")
            return
        reads = Reads()
        state = scope.setdefault("state", {})
        state[READS] = reads
        state[POSITION] = seen  # what the answer's reads include at least (its policy too)
        start: Message | None = None
        chunks: list[bytes] = []

        async def keeping(message: Message) -> None:
            nonlocal start
            if message["type"] == "http.response.start":
                start = message
                headers = [*message.get("headers", []), _MISS]
                message = {**message, "headers": headers}
            elif message["type"] == "http.response.body":
                chunks.append(message.get("body", b""))
            await send(message)

        await self.app(scope, receive, keeping)
        if start is None or start["status"] != 200 or not reads.answered or reads.errors:
            return
        headers = tuple((k, v) for k, v in start.get("headers", []) if k.lower() not in PER_REQUEST)
        ids = None if reads.wide else tuple(reads.ids)
        cache.keep(asked, Entry(200, headers, b"".join(chunks), ids), seen)

    async def _request(self, scope: Scope, receive: Receive) -> tuple[str | None, Receive]:
        """The key of a request the cache may answer, or None; and the `receive` to pass on
        (a POST's body read here is given again)."""
        headers = Headers(scope=scope)
        accept = headers.get("accept")
        if scope["method"] == "GET":
            raw = scope.get("query_string", b"")
            alias, known = self._lookup(b"G", raw, accept)
            if known is not None or alias is None:
                return known, receive
            params = QueryParams(raw)
            fields: dict[str, Any] = {k: params.get(k) for k in ("query", "operationName")}
            try:
                for name in ("variables", "extensions"):
                    text = params.get(name)
                    fields[name] = _json(text) if text is not None else None
            except ValueError:
                return None, receive
            return self._keep_alias(alias, self._keyed(fields, accept)), receive
        if scope["method"] != "POST":
            return None, receive
        media = (headers.get("content-type") or "").split(";")[0].strip().lower()
        if media != "application/json":  # the app answers anything else (a 4xx, multipart)
            return None, receive
        declared = headers.get("content-length", "")
        if not declared.isdigit() or int(declared) > self.max_body:
            return None, receive
        body, receive = await read_body(receive, self.max_body)
        if body is None:
            return None, receive
        alias, known = self._lookup(b"P", body, accept)
        if known is not None or alias is None:
            return known, receive
        try:
            posted = _json(body.decode("utf-8"))
        except ValueError:
            return None, receive
        if not isinstance(posted, dict):
            return None, receive
        # parsed as the app parses it (api.fastlane reads it rather than parse it again)
        scope.setdefault("state", {})[POSTED] = (body, posted)
        return self._keep_alias(alias, self._keyed(posted, accept)), receive

    def known(self, alias: str) -> str | None:
        """The key of the request whose bytes and Accept header digest to `alias`
        (`raw_key`), if it was keyed before."""
        return self._aliases.get(alias)

    def _lookup(
        self, method: bytes, raw: bytes, accept: str | None
    ) -> tuple[str | None, str | None]:
        """(the digest of a request's bytes, and its key when they were seen before, so that
        a hit parses nothing); the digest is None when the cache passes the request by (its
        bytes asked for the first time while kept answers are not asked again: `admit`)."""
        alias = raw_key(method, raw, accept)
        known = self._aliases.get(alias)
        if known is None and not self.cache.admit(alias):
            return None, None
        return alias, known

    def _keep_alias(self, alias: str, key: str | None) -> str | None:
        """Remember that the request whose bytes (body or query string) and Accept header
        digest to `alias` has `key`, so that asking again parses nothing."""
        if key is not None:
            self._aliases[alias] = key
        return key

    def _keyed(self, fields: dict[str, Any], accept: str | None) -> str | None:
        query, operation = fields.get("query"), fields.get("operationName")
        variables = fields.get("variables")
        if query is None:
            persisted = (fields.get("extensions") or {}).get("persistedQuery")
            digest = persisted.get("sha256Hash") if isinstance(persisted, dict) else None
            query = self.persisted(digest.lower()) if isinstance(digest, str) else None
        if not isinstance(query, str) or (operation is not None and not isinstance(operation, str)):
            return None
        if variables is not None and not isinstance(variables, dict):
            return None
        if operation_of(query, operation) != "query" or asks_mutation(query, operation):
            return None
        if asks_heavy(query, operation):
            return None
        return request_key(query, variables or {}, operation, accept)


def raw_key(method: bytes, raw: bytes, accept: str | None) -> str:
    """The digest of a request's bytes (`method` b"P" and its body, or b"G" and its query
    string) and its Accept header: its alias."""
    digest = hashlib.sha256(method)
    digest.update(raw)
    digest.update(b"\x1f" + (accept or "").encode())
    return digest.hexdigest()


def _json(text: str) -> Any:
    if nested_deeper_than(text, MAX_JSON_DEPTH):
        raise ValueError("nested too deep")
    return json.loads(text)


async def read_body(receive: Receive, limit: int) -> tuple[bytes | None, Receive]:
    """The request's body, if at most `limit` bytes, and a `receive` giving it again (then
    what follows); None and a `receive` giving what was read, then the rest, when longer."""
    chunks: list[bytes] = []
    size = 0
    more = True
    while more:
        message = await receive()
        if message["type"] != "http.request":
            return None, _again([message], receive)
        chunk = message.get("body", b"")
        chunks.append(chunk)
        size += len(chunk)
        more = bool(message.get("more_body", False))
        if size > limit and more:
            read: list[Message] = [
                {"type": "http.request", "body": c, "more_body": True} for c in chunks
            ]
            return None, _again(read, receive)
    body = b"".join(chunks)
    if size > limit:
        return None, _again([{"type": "http.request", "body": body, "more_body": False}], receive)
    return body, _again([{"type": "http.request", "body": body, "more_body": False}], receive)


def _again(messages: list[Message], receive: Receive) -> Receive:
    left = list(messages)

    async def again() -> Message:
        if left:
            return left.pop(0)
        return await receive()

    return again


async def _answer(entry: Entry, position: int, send: Send) -> None:
    headers = [
        *entry.headers,
        (CHANGE_HEADER.encode(), str(position).encode()),
        (CACHE_HEADER.encode(), b"hit"),
    ]
    await send({"type": "http.response.start", "status": entry.status, "headers": headers})
    await send({"type": "http.response.body", "body": entry.body})
