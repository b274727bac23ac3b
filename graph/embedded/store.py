"""The embedded store: the graph in memory on networkx, made durable in one SQLite file
(`graph.embedded.fileformat`), shared by any number of processes: one writes at a time,
every one reads from its own memory and follows the change log (`graph.embedded.changelog`).

Every `write` is one SQLite transaction (WAL journal, synchronous FULL), begun with SQLite's
write lock (`BEGIN IMMEDIATE`: a second writer waits for it). It first applies what other
processes committed since this one last looked (`catch_up`), so it always builds on the
latest graph; then memory changes: the batch (and what `derive` computes from it) is applied
to the in-memory graph, the rows it changed are written (`graph.embedded.rows`), the change
log gains its entry, and the transaction commits. If anything fails before the commit, the
transaction rolls back and the rows the write touched are read again from the file, so memory
never keeps a batch the file lacks; until then, reads in this process see the batch being
written. A process killed at any point leaves the file at the last committed batch, and a
restart or a follower reads exactly that.

A store opened `read_only` never writes: it reads the file once, then `catch_up` applies each
committed write whole, between reads (docs/changes.md).
"""

from __future__ import annotations

import contextlib
import gc
import heapq
import itertools
import logging
import sqlite3
import sys
import threading
from bisect import bisect_left, bisect_right
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import replace
from datetime import datetime, timedelta
from pathlib import Path

from graph.embedded import changelog, fileformat, rates, rows
from graph.embedded import search as index
from graph.embedded.around import InMemory
from graph.embedded.changelog import Pending
from graph.embedded.codec import Decoded, decode_props, encode_props
from graph.embedded.directory import (
    Directory,
    EventOrders,
    EventTally,
    OutletTracks,
    near_page,
    sorted_positions,
)
from graph.embedded.geocells import GeoCells
from graph.embedded.geocells import point as geo_point
from graph.embedded.memory import (
    EDGE_NAMES,
    EdgeData,
    EventKey,
    Neighbours,
    NodeData,
    edge_name,
    new_event_index,
    new_graph,
    new_record_index,
)
from graph.embedded.near import NearListings
from graph.embedded.rows import Dirty
from graph.embedded.views import Without
from graph.model import (
    Direction,
    Edge,
    EdgeId,
    EdgeWrite,
    Label,
    Node,
    NodeWrite,
    Props,
    Rel,
    Value,
    WriteBatch,
    apply_write,
    strings,
    timestamp,
)
from graph.search import SEARCHABLE, IndexedDoc, Lookup, document
from graph.seen import SeenBefore
from graph.store import (
    ALL_MONTHS,
    DIRECTORY_NEAR,
    EVERYTHING,
    MATCH,
    TRACK,
    Change,
    Derive,
    EventFilter,
    EventPage,
    EventQuery,
    EventTallies,
    Months,
    NodeQuery,
    PendingChanges,
    StoreError,
    TallyKey,
    TrackRecord,
    admits_around,
    check_prefixes,
    outlet_tier,
    tally_key,
)

log = logging.getLogger(__name__)

# A change writing or removing this many nodes and relationships (a loader's batch, an entity
# merged away) forgets every listing kept near a node rather than reasoning about each
# (`_forget_near`): a bulk batch touches most hubs anyway.
FORGET_ALL_FROM = 2000

# A write adding this many nodes and relationships (a loader's batch) moves what the store holds
# out of the garbage collector's sight; smaller writes leave the collector alone.
FREEZE_AFTER = 1000
# Relationships' properties `edges` keeps decoded, by their JSON text, from the second time
# they are read; past this many all are forgotten at once (about 1 KB each: the reports of the
# pages made again after each write to them). Kept from the first reading, pages asked once
# (a crawl, the tail) filled it for nothing: +13% CPU a page and 40 times the collector's
# pauses over 6,000 pages each asked once. The hashes of texts read once: up to DECODED_SEEN.
DECODED_EDGES = 20_000
DECODED_SEEN = 100_000
# A writer that indexed this many search documents since it opened (a bulk load) merges the
# search index into one segment as it closes: FTS5's 'optimize', 0.7 s at 100k events; a
# query then reads one b-tree per term instead of one per segment (docs/search.md).
TIDY_AFTER = 5000


class EmbeddedStore:
    """The default store: a data directory holding `graph.sqlite3`. `read_only`: this process
    only reads (and follows what writers commit); `write` refuses."""

    # Reads answer from memory, in microseconds: the API reads at once instead of batching
    # (`api.dataloaders`). Not part of the `GraphStore` protocol; other stores lack it.
    reads_from_memory = True

    def __init__(self, directory: Path, read_only: bool = False) -> None:
        self.directory = directory
        self.read_only = read_only
        self._db: sqlite3.Connection | None = None
        # read-only, for `fetch_changes` in a worker thread (never inside this one's writes)
        self._fetch_db: sqlite3.Connection | None = None
        # read-only, for the search index's reads from any thread, one at a time
        self._search_db: sqlite3.Connection | None = None
        self._searching = threading.Lock()
        self._indexed = 0  # search documents this process wrote since it opened (`close`)
        # the change log entry memory is at: every entry up to it is applied, none after
        self._seq = 0
        self._graph = new_graph()
        self._keys: dict[str, str] = {}
        self._key_rows: dict[str, int] = {}  # key -> rowid of its row
        self._next_node = self._next_edge = self._next_key = 1  # the next rows' rowids
        self._owned: dict[str, set[str]] = {}  # node id -> the keys it owns
        # The matcher's keys (`match:{blocking key}#{event}`) by prefix (up to the last `#`):
        # prefix -> {owner: how many of its keys with that prefix it owns}. Answers
        # `lookup_key_prefixes` in the time its owners take, never by a scan.
        self._match: dict[str, dict[str, int]] = {}
        self._settings: dict[str, str] = {}
        # (occurred_on, id) of every event: listings walk it in order from a cursor.
        self._events = new_event_index()
        # each event's key in `_events`, the same tuple: a listing near a node built from it
        # reads one small table where the events' own properties are scattered over memory
        self._event_keys: dict[str, EventKey] = {}
        # The ids of the editorial records (submissions, the log), which `find_nodes` lists:
        # few among hundreds of thousands of nodes.
        self._records = new_record_index()
        # Every order of the directories (`list_nodes`), whole and per filter value.
        self._directory = Directory()
        self._tally = EventTally()  # events by (category, confidence rank)
        self._orders = EventOrders()  # events in each order but occurred_on
        self._tracks = OutletTracks()  # outlets' track records, from the events' `track`
        # the events adjacent to a node, sorted (`_near_events`), and directory listings near a
        # node (`_near_listing`): built on demand, forgotten by the changes that touch them
        self._near = NearListings()
        # the events with coordinates by cell (`GeoCells`): what a box or near filter reads
        # (built on first use, then told of every event indexed, moved or unindexed)
        self._located: GeoCells | None = None
        self._mutated = False  # memory changed inside the open transaction
        # Counts the changes to what reads see (writes that changed something, reloads): a
        # cache of answers is good while it stays the same. Not part of the `GraphStore`
        # protocol.
        self.version = 0
        # rowid -> the properties of a relationship the open write decoded or wrote, so that
        # its `derive` and later staging read them without decoding their JSON again
        self._fresh: dict[int, dict[str, Value]] = {}
        # relationships' properties decoded by `edges`, by their JSON text: a page made again
        # reads the same hundreds of reports (shared by every reader: `Props` is read-only);
        # and the hashes of the texts read once (`DECODED_EDGES`)
        self._decoded_edges: dict[str, Decoded] = {}
        self._decoded_seen = SeenBefore(DECODED_SEEN)
        # the latest change log entries, decoded (`changes` right after applying them)
        self._recent = changelog.Recent()

    def __repr__(self) -> str:
        if self.read_only:
            return f"EmbeddedStore({str(self.directory)!r}, read_only=True)"
        return f"EmbeddedStore({str(self.directory)!r})"

    # -- lifecycle ---------------------------------------------------------------------------

    def setup(self) -> None:
        if self._db is not None:
            return
        if not self.read_only:
            try:
                self.directory.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise StoreError(
                    f"cannot create the data directory {self.directory}: {exc}"
                ) from exc
        try:
            self._db = fileformat.connect(self.directory, self.read_only)
            if not self.read_only:
                rates.create(self._db)
            self._read_all()
            if not self.read_only and fileformat.stale_search(self._db):
                self._fill_search_index(self._db)
        except BaseException:
            self.close()
            raise

    def close(self) -> None:
        if self._db is not None:
            if self._indexed >= TIDY_AFTER:
                self._tidy(self._db)
            self._db.close()
            self._db = None
        if self._fetch_db is not None:
            self._fetch_db.close()
            self._fetch_db = None
        with self._searching:
            if self._search_db is not None:
                self._search_db.close()
                self._search_db = None
        # Emptied rather than just dropped: the graph's objects are frozen (`rows.read_all`),
        # so only reference counting frees them, and networkx's cached views make a cycle.
        self._graph.clear()
        self._graph = new_graph()
        self._keys, self._owned, self._settings, self._events = {}, {}, {}, new_event_index()
        self._event_keys = {}
        self._match = {}
        self._records = new_record_index()
        self._directory = Directory()
        self._tally, self._orders, self._tracks = EventTally(), EventOrders(), OutletTracks()
        self._key_rows = {}
        self._recent.clear()
        self._changed()
        self._located = None

    def _tidy(self, db: sqlite3.Connection) -> None:
        """After a bulk load: the search index merged into one segment (`search.tidy`); a
        failure is logged, never raised (the writes are committed already)."""
        self._indexed = 0
        try:
            self._begin_write(db)
            index.tidy(db)
            db.execute("COMMIT")
        except (sqlite3.Error, StoreError) as exc:
            log.warning("%s: merging the search index failed (%s)", self.directory, exc)
            with contextlib.suppress(sqlite3.Error):
                if db.in_transaction:
                    db.execute("ROLLBACK")

    def _read_all(self) -> None:
        """Read the whole file into memory (`graph.embedded.rows.read_all`) and the change log
        entry it is at, in one snapshot."""
        self._changed()
        self._located = None
        self._recent.clear()
        self.version += 1
        db = self._conn()
        # The collector stays off while millions of objects are made, then leaves them alone
        # for good (`gc.freeze`): they live as long as the store and hold no cycles. The
        # indices built from the rows (directories, orders, track records) are frozen with
        # them: left to the collector, a full collection walked every entry of their sorted
        # lists (330,000 at 100k events: 20 ms a collection, every second or so, in every
        # worker; docs/benchmarks.md).
        with _collector_off():
            self._read_indexed(db)
        gc.freeze()

    def _read_indexed(self, db: sqlite3.Connection) -> None:
        with changelog.snapshot(db):
            contents = rows.read_all(db)
            self._seq = changelog.last_seq(db)
        self._graph, self._events, self._records = (
            contents.graph,
            contents.events,
            contents.records,
        )
        self._event_keys = {key[1]: key for key in self._events.irange()}
        self._keys, self._key_rows, self._owned = contents.keys, contents.key_rows, contents.owned
        self._match = {}
        for key, owner in self._keys.items():
            if key.startswith(MATCH):
                self._index_match(key, owner, 1)
        self._settings = contents.settings
        self._directory, self._tally, self._orders = Directory(), EventTally(), EventOrders()
        self._tracks = OutletTracks()
        self._directory.fill(
            (
                (node_id, data["label"], data["props"])
                for node_id, data in self._graph._node.items()
                if "label" in data
            ),
            self._tally,
            self._orders,
            self._tracks,
        )
        self._next_node = contents.next_node
        self._next_edge = contents.next_edge
        self._next_key = contents.next_key

    def _conn(self) -> sqlite3.Connection:
        if self._db is None:
            raise StoreError("the store is not open: call setup() first")
        return self._db

    # -- writes ------------------------------------------------------------------------------

    def write(self, batch: WriteBatch, derive: Derive | None = None) -> None:
        db = self._conn()
        if self.read_only:
            raise StoreError(
                f"the store {self.directory} was opened read-only here; writes go through a "
                "process that opened it to write"
            )
        # The write lock first (another process's write finishes before), then what others
        # committed meanwhile, so the derived batch reads the latest graph. Memory changes
        # first and the rows it changed are written once, at the end (an event the batch
        # writes and `derive` rates again is one row write); a failure rolls back and reads
        # the touched rows again.
        self._begin_write(db)
        self._mutated = False
        dirty = Dirty()
        changed = False
        try:
            self._absorb(changelog.fetch(db, self._seq))
            created, levels = list(batch.created), list(batch.level_changes)
            changed = self._apply(batch, dirty)
            if derive is not None:
                derived = derive(self)
                created += derived.created
                levels += derived.level_changes
                changed = self._apply(derived, dirty) or changed
            if changed:
                rows.write_dirty(db, dirty, self._graph._node)
                docs = self._search_docs(dirty)
                index.update(db, docs)
                self._indexed += len(docs)
                entry = changelog.entry_of(dirty, created, levels)
                at = changelog.append(db, self._seq + 1, entry)
            db.execute("COMMIT")
        except sqlite3.Error as exc:  # a full disk, an I/O error
            self._roll_back(db, dirty)
            raise StoreError(
                f"the write to the store {self.directory} failed and nothing of it was "
                f"stored: {exc}"
            ) from exc
        except BaseException:
            self._roll_back(db, dirty)
            raise
        finally:
            self._fresh = {}
            if self._mutated:
                self.version += 1
        if changed:
            self._seq += 1
            self._recent.wrote(self._seq, at, entry)
        big = len(dirty.new_nodes) + len(dirty.new_edges) >= FREEZE_AFTER
        if changed and big and gc.isenabled():
            # What a bulk write added lives as long as the store: keep the collector off it
            # too (after collecting the young garbage, so that none of it is frozen with it).
            # Not after small writes: a server's editorial writes come between requests, and
            # old garbage frozen then would never be collected. A caller that turned the
            # collector off does this itself when its own garbage is gone (a bulk load:
            # `loaders.jsonl`); here, the batch being written is still alive.
            gc.collect(1)
            gc.freeze()

    def _begin_write(self, db: sqlite3.Connection) -> None:
        try:
            db.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) and "busy" not in str(exc):
                raise StoreError(f"cannot write to the store {self.directory}: {exc}") from exc
            raise StoreError(
                f"another process has been writing to the store {self.directory} for "
                f"{fileformat.WRITE_WAIT_SECONDS:.0f} s and this write could not start; try "
                "again when it has finished"
            ) from exc

    def _roll_back(self, db: sqlite3.Connection, dirty: Dirty) -> None:
        """After a failed write: roll the transaction back (SQLite may have done so already,
        on a full disk or an I/O error) and bring memory back to what the file holds."""
        try:
            if db.in_transaction:
                db.execute("ROLLBACK")
        except sqlite3.Error:
            log.exception("rolling back a failed write failed too")
        if not self._mutated:
            return
        try:
            self._absorb(changelog.restore(db, dirty, self._seq))
            self._changed()  # rare: every listing kept near a node built again, not reasoned
        except Exception:
            log.exception("reading back the rows of a failed write failed; reading the store again")
            try:
                self._reload()
            except Exception:
                # Memory can no longer be trusted to match the file: close rather than serve it.
                log.exception("the store %s cannot be read; closing it", self.directory)
                self.close()

    def catch_up(self) -> int:
        self._absorb(changelog.fetch(self._conn(), self._seq))
        return self._seq

    def pending_bytes(self) -> int:
        return changelog.pending_bytes(self._fetching(), self._seq)

    def fetch_changes(self) -> Pending:
        return changelog.fetch(self._fetching(), self._seq)

    def _fetching(self) -> sqlite3.Connection:
        """The connection the follower's thread reads the change log with."""
        self._conn()
        if self._fetch_db is None:
            self._fetch_db = fileformat.connect(self.directory, read_only=True, any_thread=True)
        return self._fetch_db

    def apply_changes(self, pending: PendingChanges) -> int:
        if not isinstance(pending, Pending) or pending.base != self._seq:
            return self.catch_up()
        self._absorb(pending)
        return self._seq

    def last_change(self) -> int:
        return changelog.last_seq(self._conn())

    def read_position(self) -> int:
        return self._seq

    def changes(self, after: int, limit: int = 1000) -> list[Change]:
        return changelog.read(self._conn(), after, limit, self._recent)

    def _absorb(self, pending: Pending) -> None:
        """Apply what the file holds and memory lacks (`changelog.fetch`, or the rows a failed
        write touched, `changelog.restore`): removals first, then the rows as they are."""
        self._recent.read(pending.changes)
        if pending.rebuild:
            log.warning(
                "%s: this process fell behind the change log's retention; reading the store again",
                self.directory,
            )
            self._reload()
            return
        if not pending.touches():
            self._seq = max(self._seq, pending.last)
            return
        # The collector stays off meanwhile (a bulk batch makes tens of thousands of objects,
        # each allocation counting toward a collection), as in `_read_all`: a quarter of the
        # time of applying a batch of a load that merged popular entities.
        with _collector_off() as enabled:
            self._apply_pending(pending)
        if len(pending.nodes) + len(pending.edges) >= FREEZE_AFTER and enabled:
            gc.collect(1)  # as after a bulk write (`write`)
            gc.freeze()

    def _apply_pending(self, pending: Pending) -> None:
        self.version += 1
        graph = self._graph
        attrs, succ, pred = graph._node, graph._succ, graph._pred
        written = ((src, kind, dst, key) for _, src, kind, dst, key, _ in pending.edges)
        self._forget_near(
            len(pending.nodes)
            + len(pending.edges)
            + len(pending.deleted_nodes)
            + len(pending.deleted_edges),
            itertools.chain(
                pending.deleted_nodes,
                (end for e in pending.deleted_edges for end in (e[0], e[2])),
                _new_edge_ends(written, succ),
            ),
            itertools.chain(
                ((i, None, {}) for i in pending.deleted_nodes),
                ((i, label, props) for _, i, label, props in pending.nodes),
            ),
        )
        # networkx's dictionaries are changed directly, as `add_edge` and `remove_node` would
        # change them but without their checks: a bulk batch names tens of thousands of
        # relationships (an entity merged away moves all of its involvements), and every
        # request waits while they are applied. succ[u][v] and pred[v][u] are one dictionary.
        for node_id in pending.deleted_nodes:
            old = attrs.pop(node_id, None)
            if old is None:
                continue
            self._unindex(node_id, old)
            for other in succ.pop(node_id, {}):
                into = pred.get(other)
                if into is not None:
                    into.pop(node_id, None)
            for other in pred.pop(node_id, {}):
                out = succ.get(other)
                if out is not None:
                    out.pop(node_id, None)
        for src, kind, dst, key in pending.deleted_edges:
            out = succ.get(src)
            between = out.get(dst) if out is not None else None
            if between is None or between.pop(edge_name(kind, key), None) is None:
                continue
            if not between and out is not None:  # the last relationship between the two
                del out[dst]
                del pred[dst][src]
        for key in pending.deleted_keys:
            self._drop_key(key)
        for row, node_id, label, props in pending.nodes:  # ids interned when read
            self._place_node(node_id, label, props, row)
        for row, src, kind, dst, key, text in pending.edges:
            out = succ.get(src)
            into = pred.get(dst)
            if out is None or into is None:  # an end that is not a node becomes one
                for end in (src, dst):
                    if end not in attrs:
                        succ[end], pred[end] = {}, {}
                        attrs[end] = {}  # type: ignore[typeddict-item]
                out, into = succ[src], pred[dst]
            parallel = out.get(dst)
            if parallel is None:
                parallel = out[dst] = into[src] = {}
            parallel[edge_name(kind, key)] = {"type": kind, "rkey": key, "json": text, "row": row}
        for row, key, owner in pending.keys:
            if self._keys.get(key) != owner:
                self._drop_key(key)
                self._keys[key] = owner
                self._owned.setdefault(owner, set()).add(key)
                if key.startswith(MATCH):
                    self._index_match(key, owner, 1)
            self._key_rows[key] = row
        for name, value in pending.settings.items():
            if value is None:
                self._settings.pop(name, None)
            else:
                self._settings[name] = value
        self._next_node = max(self._next_node, pending.top_node + 1)
        self._next_edge = max(self._next_edge, pending.top_edge + 1)
        self._next_key = max(self._next_key, pending.top_key + 1)
        self._seq = max(self._seq, pending.last)

    def _drop_key(self, key: str) -> None:
        """Forget `key` and its owner, if it has one."""
        owner = self._keys.pop(key, None)
        self._key_rows.pop(key, None)
        if owner is None:
            return
        owned = self._owned.get(owner)
        if owned is not None:
            owned.discard(key)
            if not owned:
                del self._owned[owner]
        if key.startswith(MATCH):
            self._index_match(key, owner, -1)

    def _apply(self, batch: WriteBatch, dirty: Dirty) -> bool:
        """Apply `batch` to memory, noting in `dirty` the rows to write; False if it changes
        nothing."""
        graph = self._graph
        attrs, succ, pred = graph._node, graph._succ, graph._pred
        gone = {i for i in batch.deletes if i in attrs}
        unlinked = [
            u
            for u in dict.fromkeys(batch.unlinks)
            if u[0] not in gone
            and u[2] not in gone
            and graph.has_edge(u[0], u[2], edge_name(u[1], u[3]))
        ]
        nodes = self._stage_nodes(batch.nodes, gone)
        edges = self._stage_edges(batch.edges, nodes, gone, set(unlinked))
        keys = self._stage_keys(batch, gone, nodes)
        settings = {k: v for k, v in batch.settings.items() if self._settings.get(k) != v}
        if not (gone or unlinked or nodes or edges or keys or settings):
            return False
        self._mutated = True
        self._forget_near(
            len(gone) + len(unlinked) + len(nodes) + len(edges),
            itertools.chain(
                gone,
                (end for u in unlinked for end in (u[0], u[2])),
                _new_edge_ends(edges, succ),
            ),
            itertools.chain(
                ((i, None, {}) for i in gone), ((i, *node) for i, node in nodes.items())
            ),
        )
        for node_id in gone:
            old = attrs[node_id]
            self._unindex(node_id, old)
            for other, between in succ[node_id].items():
                for edge in between.values():
                    dirty.drop_edge(edge["row"], (node_id, edge["type"], other, edge["rkey"]))
            for other, between in pred[node_id].items():
                for edge in between.values():
                    dirty.drop_edge(edge["row"], (other, edge["type"], node_id, edge["rkey"]))
            if "row" in old:
                dirty.drop_node(old["row"], node_id)
            graph.remove_node(node_id)
        for src, kind, dst, key in unlinked:
            name = edge_name(kind, key)
            dirty.drop_edge(succ[src][dst][name]["row"], (src, kind, dst, key))
            graph.remove_edge(src, dst, name)
        for node_id, (label, props) in nodes.items():
            self._put_node(node_id, label, props, dirty)
        intern = sys.intern
        for (src, kind, dst, key), props in edges.items():
            src, dst, key = intern(src), intern(dst), intern(key)
            text = encode_props(props)
            name = edge_name(kind, key)
            out = succ[src]
            parallel = out.get(dst)
            if parallel is None:
                parallel = out[dst] = pred[dst][src] = {}
            data = parallel.get(name)
            if data is None:
                row = self._next_edge
                self._next_edge += 1
                data = parallel[name] = {"type": kind, "rkey": key, "json": text, "row": row}
                dirty.new_edges.add(row)
            else:
                data["json"] = text
            dirty.edges[data["row"]] = (src, dst, data)
            self._fresh[data["row"]] = props
        for key, owner in keys.items():
            previous = self._keys.pop(key, None)
            matching = key.startswith(MATCH)
            if previous is not None:
                self._owned[previous].discard(key)
                if matching:
                    self._index_match(key, previous, -1)
            if owner is not None:
                key = intern(key)
                self._keys[key] = owner
                if matching:
                    self._index_match(key, owner, 1)
                self._owned.setdefault(owner, set()).add(key)
                known = self._key_rows.get(key)
                if known is None:
                    known = self._key_rows[key] = self._next_key
                    self._next_key += 1
                    dirty.new_keys.add(known)
                dirty.keys[known] = (key, owner)
            elif key in self._key_rows:
                dirty.drop_key(self._key_rows.pop(key), key)
        self._settings.update(settings)
        dirty.settings.update(settings)
        return True

    def _index_match(self, key: str, owner: str, change: int) -> None:
        """Count `owner` in (1) or out (-1) of the owners of `key`'s prefix."""
        prefix = key[: key.rfind("#") + 1]
        owners = self._match.setdefault(prefix, {})
        count = owners.get(owner, 0) + change
        if count > 0:
            owners[owner] = count
        else:
            owners.pop(owner, None)
            if not owners:
                del self._match[prefix]

    def _stage_keys(
        self, batch: WriteBatch, gone: set[str], nodes: dict[str, tuple[Label, dict[str, Value]]]
    ) -> dict[str, str | None]:
        """Every key whose owner changes: the new owner, or None when the key is dropped."""
        owners: dict[str, str | None] = {}
        for node_id in gone:
            owners.update(dict.fromkeys(self._owned.get(node_id, ()), None))
        owners.update(batch.rekeys)
        for key, claimant in batch.keys.items():
            current = owners[key] if key in owners else self._keys.get(key)
            if current is None:
                owners[key] = claimant
        for key, new_owner in owners.items():
            if (
                new_owner is not None
                and new_owner not in nodes
                and (new_owner not in self._graph or new_owner in gone)
            ):
                raise StoreError(f"key {key!r} names node {new_owner!r}, which does not exist")
        return {k: o for k, o in owners.items() if self._keys.get(k) != o}

    def _reload(self) -> None:
        self._graph.clear()
        self._graph, self._events = new_graph(), new_event_index()
        self._event_keys = {}
        self._read_all()

    def _changed(self) -> None:
        """Forget what was derived from the graph: call before replacing it (a reload); a
        change to it calls `_forget_near`."""
        self._near.clear()
        self._graph.__networkx_cache__.clear()

    def _forget_near(
        self,
        size: int,
        ends: Iterable[str],
        moved: Iterable[tuple[str, Label | None, Mapping[str, Value]]],
    ) -> None:
        """Before a change to the graph writing or removing `size` nodes and relationships:
        forget the listings kept near nodes that it may make wrong (`graph.embedded.near`):
        those of `ends`, whose relationships it adds or removes, and those near each node of
        `moved` (id, label, new properties; label None when it goes) whose place in them may
        change: a node that goes, an event whose day changes, a node of a directory listed near
        another. `ends` and `moved` are read only when some listing is kept (a process serving
        event pages keeps none) and the change is under `FORGET_ALL_FROM` (past it, all are
        forgotten at once)."""
        self._graph.__networkx_cache__.clear()
        near = self._near
        if not near:
            return
        if size >= FORGET_ALL_FROM:
            near.clear()
            return
        near.forget(ends)
        graph = self._graph
        attrs, succ, pred = graph._node, graph._succ, graph._pred
        for node_id, label, props in moved:
            old = attrs.get(node_id)
            if old is None:
                continue  # a new node: in no listing but through its relationships (`ends`)
            old_label = old.get("label")
            if label is None or label is not old_label:
                near.forget((node_id, *succ.get(node_id, ()), *pred.get(node_id, ())))
            elif label is Label.EVENT:
                if old["props"].get("occurred_on") != props.get("occurred_on"):
                    near.forget((*succ.get(node_id, ()), *pred.get(node_id, ())))
            elif (listed := DIRECTORY_NEAR.get(label)) is not None:
                near.forget((succ if listed[1] == "out" else pred).get(node_id, ()))

    def _stage_nodes(
        self, writes: Sequence[NodeWrite], gone: set[str]
    ) -> dict[str, tuple[Label, dict[str, Value]]]:
        """The merged properties of every node the writes change (unchanged ones left out)."""
        staged: dict[str, tuple[Label, dict[str, Value]]] = {}
        attrs = self._graph._node
        for write in writes:
            current: Props | None
            if write.id in staged:
                label, current = staged[write.id]
            elif write.id in attrs and write.id not in gone:
                data = attrs[write.id]
                label, current = data["label"], data["props"]
            else:
                label, current = write.label, None
            if label != write.label:
                raise StoreError(f"node {write.id} is a {label}, not a {write.label}")
            staged[write.id] = (label, apply_write(current, write.change))
        return {
            i: (label, props)
            for i, (label, props) in staged.items()
            if i not in attrs or i in gone or attrs[i]["props"] != props
        }

    def _stage_edges(
        self,
        writes: Sequence[EdgeWrite],
        nodes: dict[str, tuple[Label, dict[str, Value]]],
        gone: set[str],
        unlinked: set[EdgeId],
    ) -> dict[EdgeId, dict[str, Value]]:
        staged: dict[EdgeId, dict[str, Value]] = {}
        stored: dict[EdgeId, dict[str, Value]] = {}  # as they are now, for those that exist
        attrs = self._graph._node
        adjacency = self._graph._succ if not gone else Without(self._graph._succ, gone)
        for write in writes:
            for end in (write.src, write.dst):
                if end not in nodes and (end not in attrs or end in gone):
                    raise StoreError(
                        f"{write.type} relationship names node {end!r}, which does not exist"
                    )
            edge_id = (write.src, write.type, write.dst, write.discriminator)
            current: Props | None = staged.get(edge_id)
            if current is None and edge_id not in unlinked:
                data = (
                    adjacency.get(write.src, {})
                    .get(write.dst, {})
                    .get(edge_name(write.type, write.discriminator))
                )
                if data is not None:
                    decoded = self._fresh.get(data["row"])
                    if decoded is None:
                        decoded = self._fresh[data["row"]] = decode_props(data["json"])
                    current = stored[edge_id] = decoded
            staged[edge_id] = apply_write(current, write.change)
        unchanged = []
        for edge_id, props in staged.items():
            if edge_id in stored and stored[edge_id] == props:
                unchanged.append(edge_id)
        for edge_id in unchanged:
            del staged[edge_id]
        return staged

    def _put_node(self, node_id: str, label: Label, props: dict[str, Value], dirty: Dirty) -> None:
        row, new = self._place_node(node_id, label, props, None)
        if new:
            dirty.new_nodes.add(row)
        dirty.nodes[row] = node_id

    def _place_node(
        self, node_id: str, label: Label, props: dict[str, Value], row: int | None
    ) -> tuple[int, bool]:
        """Memory's node `node_id` set to `props`, with the indexes beside it: a node new to
        memory gets `row` (None: the next rowid, for a row to insert); a known one keeps its
        own unless `row` is given (a row read from the file). Its row, and whether it is
        new."""
        graph = self._graph
        attrs = graph._node
        data = attrs.get(node_id)
        if data is None or "row" not in data:
            node_id = sys.intern(node_id)
            if node_id not in attrs:
                graph._succ[node_id], graph._pred[node_id] = {}, {}
            if row is None:
                row = self._next_node
                self._next_node += 1
            attrs[node_id] = {"label": label, "props": props, "row": row}
            if label in self._records:
                self._records[label].add(node_id)
            elif label is Label.EVENT:
                self._index_event(node_id, props)
            self._directory.add(node_id, label, props)
            new = True
        else:
            if label is Label.EVENT:
                self._reindex_event(node_id, data["props"], props)
            self._directory.replace(node_id, label, data["props"], props)
            data["props"] = props
            if row is None:
                row = data["row"]
            else:
                data["row"] = row
            new = False
        return row, new

    def _index_event(self, node_id: str, props: Props) -> None:
        """An event into the indexes kept beside the graph: by day, the tally, the other
        orders and the outlets' track records."""
        self._events.add(key := (props.get("occurred_on") or "", node_id))
        self._event_keys[node_id] = key
        self._tally.add(props)
        self._orders.add(node_id, props)
        self._tracks.add(props)
        if self._located is not None:
            self._located.added(key, props)

    def _reindex_event(self, node_id: str, old: Props, new: Props) -> None:
        """An event's indexes moved from its `old` properties to its `new` ones: only those
        whose properties changed (a load rewrites an event for each record it gains)."""
        before, after = str(old.get("occurred_on") or ""), str(new.get("occurred_on") or "")
        if before != after:
            self._events.discard((before, node_id))
            self._events.add(key := (new.get("occurred_on") or "", node_id))
            self._event_keys[node_id] = key
        if old.get("category") != new.get("category") or old.get("confidence_rank") != new.get(
            "confidence_rank"
        ):
            self._tally.discard(old)
            self._tally.add(new)
        self._orders.move(node_id, old, new)
        if old.get(TRACK) != new.get(TRACK) or before[:7] != after[:7]:
            self._tracks.discard(old)
            self._tracks.add(new)
        if self._located is not None:
            self._located.moved((before, node_id), old, (after, node_id), new)

    def _unindex_event(self, node_id: str, props: Props) -> None:
        """An event with these properties out of the indexes `_index_event` put it in."""
        self._events.discard(key := (props.get("occurred_on") or "", node_id))
        self._event_keys.pop(node_id, None)
        self._tally.discard(props)
        self._orders.discard(node_id, props)
        self._tracks.discard(props)
        if self._located is not None:
            self._located.removed(key, props)

    def _unindex(self, node_id: str, old: NodeData) -> None:
        """A node being removed out of the indexes kept beside the graph."""
        if "label" not in old:  # an end of a relationship only
            return
        label = old["label"]
        if label is Label.EVENT:
            self._unindex_event(node_id, old["props"])
        elif label in self._records:
            self._records[label].discard(node_id)
        else:
            self._directory.discard(node_id, label, old["props"])

    # -- reads -------------------------------------------------------------------------------

    def get_nodes(self, ids: Sequence[str]) -> dict[str, Node]:
        attrs = self._graph._node
        found: dict[str, Node] = {}
        for node_id in ids:
            data = attrs.get(node_id)
            if data is not None:
                found[node_id] = Node(node_id, data["label"], data["props"])
        return found

    def lookup_keys(self, keys: Sequence[str]) -> dict[str, str]:
        owner = self._keys.get
        return {k: o for k in keys if (o := owner(k)) is not None}

    def lookup_key_prefixes(self, prefixes: Sequence[str]) -> dict[str, list[str]]:
        check_prefixes(prefixes)
        index = self._match
        return {p: sorted(owners) if (owners := index.get(p)) else [] for p in prefixes}

    def write_count(self) -> int | None:
        return self.version

    def keys_of(self, ids: Sequence[str]) -> dict[str, list[str]]:
        return {i: sorted(self._owned.get(i, ())) for i in ids}

    def edges(self, ids: Sequence[str], rel: Rel, direction: Direction) -> dict[str, list[Edge]]:
        graph = self._graph
        adjacency = graph._succ if direction == "out" else graph._pred
        fresh = self._fresh
        decoded_edges = self._decoded_edges
        result: dict[str, list[Edge]] = {}
        for node_id in ids:
            found: list[tuple[str, str, EdgeData]] = []
            for other, parallel in adjacency.get(node_id, {}).items():
                for data in parallel.values():
                    if data["type"] is rel or data["type"] == rel:
                        found.append((other, data["rkey"], data))
            found.sort(key=lambda item: item[:2])
            props: list[Decoded] = []
            for _, _, d in found:
                text = d["json"]
                decoded = fresh.get(d["row"]) if fresh else None
                if decoded is None:
                    decoded = decoded_edges.get(text)
                    if decoded is None:
                        decoded = decode_props(text)
                        self._keep_decoded(text, decoded)
                props.append(decoded)
            if direction == "out":
                edges = [
                    Edge(node_id, rel, o, k, p) for (o, k, _), p in zip(found, props, strict=True)
                ]
            else:
                edges = [
                    Edge(o, rel, node_id, k, p) for (o, k, _), p in zip(found, props, strict=True)
                ]
            result[node_id] = edges
        return result

    def linked(self, ids: Sequence[str], rel: Rel, direction: Direction) -> dict[str, list[str]]:
        adjacency = self._graph._succ if direction == "out" else self._graph._pred
        rel = Rel(rel)  # the graph holds the members: compared by identity
        unkeyed = EDGE_NAMES[rel]  # the name of a relationship without a key
        result: dict[str, list[str]] = {}
        for node_id in ids:
            found: list[str] = []
            for other, parallel in adjacency.get(node_id, {}).items():
                if unkeyed in parallel:
                    found.append(other)
                    continue
                for data in parallel.values():
                    if data["type"] is rel:
                        found.append(other)
                        break
            found.sort()
            result[node_id] = found
        return result

    def _keep_decoded(self, text: str, decoded: Decoded) -> None:
        """Keep a relationship's properties decoded from the second time they are read (see
        `DECODED_EDGES`)."""
        # by its hash (kept by the str, the graph's own text): no text held alive by it
        if not self._decoded_seen.again(hash(text)):
            return
        kept = self._decoded_edges
        if len(kept) >= DECODED_EDGES:
            kept.clear()
        kept[text] = decoded

    def query_events(self, query: EventQuery) -> EventPage:
        """Walks the events in order from the cursor, and stops one past the page: all events,
        or those adjacent to the filter's entity (events involving it) or outlet (events it
        reported), whichever of them is fewer, checking the other by adjacency."""
        if query.order_by != "occurred_on":
            return self._query_events_by(query)
        flt = query.filter
        after = _window_start(flt, query.after, query.newest_first)
        ends = _ends(flt)  # (node, direction of its events)
        ordered: Iterator[EventKey]
        others: list[Neighbours] = self._any_of(flt)
        if not ends and (flt.box is not None or flt.near is not None):
            # a box or near filter: the events of the cells it covers (`GeoCells`)
            walk = self._geo_cells().walk(flt, after, query.newest_first, query.first)
            return self._area_page(walk, flt, others, query.first)
        reporters = self._reporters(flt) if not ends else None
        if reporters is not None:  # the events of the outlets of the filter's tiers or groups
            lists = self._near_events([(outlet, "out") for outlet in reporters])
            ordered = _distinct(_merged(lists, after, query.newest_first))
        elif not ends:
            if query.newest_first:
                ordered = self._events.irange(maximum=after, inclusive=(True, False), reverse=True)
            else:
                ordered = self._events.irange(minimum=after, inclusive=(False, True))
        else:
            ordered = _merged([self._fewest(ends, others)], after, query.newest_first)
        return self._page(_window_end(ordered, flt, query.newest_first), flt, others, query.first)

    def track_records(
        self, outlet_ids: Sequence[str], months: Months = ALL_MONTHS
    ) -> dict[str, TrackRecord]:
        return {i: self._tracks.get(i, months) for i in outlet_ids}

    def _any_of(self, flt: EventFilter) -> list[Neighbours]:
        """For `any_entities`: the events involving one of them (one set to check against)."""
        if not flt.any_entities:
            return []
        pred = self._graph._pred
        events: Neighbours = {}
        for entity in flt.any_entities:
            events.update(pred.get(entity, {}))
        return [events]

    def _query_events_by(self, query: EventQuery) -> EventPage:
        """`query_events` in an order but `occurred_on` (`EventOrders`): its index walked from
        the cursor, or the entity's or outlet's events sorted."""
        flt = query.filter
        attrs = self._graph._node
        walk: Iterable[tuple[str, str]]
        others: list[Neighbours] = []
        ends = [self._neighbours(node, direction) for node, direction in _ends(flt)]
        if ends:
            ends.sort(key=len)
            near = ((i, attrs[i]["props"]) for i in ends[0] if attrs[i].get("label") is Label.EVENT)
            walk, others = sorted_positions(query, near), ends[1:]
        else:
            walk = self._orders.walk(query)
        others += self._any_of(flt)
        return self._page(walk, flt, others, query.first)

    def _page(
        self,
        walk: Iterable[tuple[Value, str]],
        flt: EventFilter,
        others: list[Neighbours],
        first: int,
    ) -> EventPage:
        """The first `first` events of `walk` that the filter admits and that are in every one
        of `others` (checked by adjacency), and whether one more follows."""
        return self._area_page(((key, False) for key in walk), flt, others, first)

    def _area_page(
        self,
        walk: Iterable[tuple[EventKey, bool]],
        flt: EventFilter,
        others: list[Neighbours],
        first: int,
    ) -> EventPage:
        """`_page` for the events of the cells a box or near filter covers (`GeoCells.walk`):
        one known to be inside the area is checked by the rest of the filter only."""
        attrs = self._graph._node
        rest = replace(flt, box=None, near=None) if flt.box or flt.near else flt
        page: list[Node] = []
        around = InMemory(self._graph, self._fresh, flt) if flt.around else None
        for (_, event_id), inside in walk:
            props = attrs[event_id]["props"]
            if (
                (rest if inside else flt).admits(props)
                and all(event_id in o for o in others)
                and (around is None or admits_around(flt, event_id, props, around))
            ):
                if len(page) == first:
                    return EventPage(page, has_next=True)
                page.append(Node(event_id, Label.EVENT, props))
        return EventPage(page, has_next=False)

    def _fewest(
        self, ends: list[tuple[str, Direction]], others: list[Neighbours]
    ) -> list[EventKey]:
        """The sorted events of the end with the fewest; the other ends' neighbours are added
        to `others`, to check by adjacency."""
        nears = self._near_events(ends)
        fewest = sorted(range(len(ends)), key=lambda i: len(nears[i]))
        for i in fewest[1:]:
            others.append(self._neighbours(*ends[i]))
        return nears[fewest[0]]

    def _neighbours(self, node: str, direction: Direction) -> Neighbours:
        """The nodes at the other end of `node`'s incoming ("in") or outgoing relationships."""
        return (self._graph._pred if direction == "in" else self._graph._succ).get(node, {})

    def count_events(self, filter: EventFilter, cap: int) -> int:
        if filter == EVERYTHING:
            return min(len(self._events), cap)
        tallied = self._tally.count(filter)
        if tallied is not None:
            return min(tallied, cap)
        if filter.entity is not None and filter == EventFilter(entity=filter.entity):
            # one entity's events, counted without sorting them (the loader weighs the two
            # sides of a merge so: `services.resolve`)
            attrs = self._graph._node
            near = self._graph._pred.get(filter.entity, {})
            return min(sum(1 for i in near if attrs[i].get("label") is Label.EVENT), cap)
        count = 0
        for _ in self._matching(filter):
            count += 1
            if count >= cap:
                break
        return count

    def tally_events(self, filter: EventFilter, cap: int) -> EventTallies:
        counts: dict[TallyKey, int] = {}
        events = 0
        for props in self._matching(filter):
            if events == cap:
                return EventTallies(counts, events, capped=True)
            key = tally_key(props)
            counts[key] = counts.get(key, 0) + 1
            events += 1
        return EventTallies(counts, events, capped=False)

    def _matching(self, filter: EventFilter) -> Iterator[Props]:
        """The properties of the events `filter` matches, in (occurred_on, id) order: the
        fewest of its entities' and outlet's events, else the date window's (all, without
        dates), checked one by one."""
        ends = _ends(filter)
        walk: Iterable[EventKey]
        others: list[Neighbours] = self._any_of(filter)
        reporters = self._reporters(filter) if not ends else None
        if ends:
            walk = self._fewest(ends, others)
        elif reporters is not None:
            lists = self._near_events([(outlet, "out") for outlet in reporters])
            walk = _distinct(_merged(lists, None, newest_first=False))
        else:
            # the date window's events only: the index is in (occurred_on, id) order
            low = (filter.date_from, "") if filter.date_from is not None else None
            high = (filter.date_to + "\uffff", "") if filter.date_to is not None else None
            walk = self._events.irange(minimum=low, maximum=high)
        attrs = self._graph._node
        around = InMemory(self._graph, self._fresh, filter) if filter.around else None
        for _, event_id in walk:
            props = attrs[event_id]["props"]
            if (
                filter.admits(props)
                and all(event_id in o for o in others)
                and (around is None or admits_around(filter, event_id, props, around))
            ):
                yield props

    def _reporters(self, flt: EventFilter) -> list[str] | None:
        """For a filter by tier (else by group): the outlets of those tiers (groups), whose
        events hold every event it admits, when they report fewer than half the events
        (counted by their relationships, stories included); None otherwise: a walk of every
        event costs less."""
        if not flt.tiers and not flt.groups:
            return None
        attrs, succ = self._graph._node, self._graph._succ
        found: list[str] = []
        reach = 0
        for outlet in self._directory.ids(Label.OUTLET, "name"):
            outlet_props = attrs[outlet]["props"]
            if (
                outlet_tier(outlet_props) in flt.tiers
                if flt.tiers
                else outlet_props.get("group") in flt.groups
            ):
                found.append(outlet)
                reach += len(succ.get(outlet, ()))
        return found if reach < len(self._events) // 2 else None

    def _geo_cells(self) -> GeoCells:
        """The events with coordinates by cell, built now if not yet, or again after a bulk
        write (`GeoCells.stale`)."""
        if self._located is None or self._located.stale:
            attrs = self._graph._node
            located = (
                (key, *at)
                for key in self._events.irange()
                if (at := geo_point(attrs[key[1]]["props"])) is not None
            )
            self._located = GeoCells(located)
        return self._located

    def _near_events(self, ends: list[tuple[str, Direction]]) -> list[list[EventKey]]:
        """For each (node, "in" | "out"), the (occurred_on, id) of the events at the other end
        of its incoming or outgoing relationships, sorted; kept until a change may make it
        wrong (`_forget_near`)."""
        found: list[list[EventKey]] = []
        keys = self._event_keys
        for node, direction in ends:
            near = self._near.events(node, direction)
            if near is None:
                adjacency = self._graph._pred if direction == "in" else self._graph._succ
                near = sorted(k for i in adjacency.get(node, ()) if (k := keys.get(i)) is not None)
                self._near.keep_events(node, direction, near)
            found.append(near)
        return found

    def find_nodes(
        self,
        label: Label,
        where: Mapping[str, str],
        order_by: str,
        first: int,
        after: tuple[str, str] | None = None,
    ) -> list[Node]:
        attrs = self._graph._node
        ids: Iterable[str] = self._records.get(label, attrs)
        found: list[tuple[str, str, Props]] = []
        for node_id in ids:
            data = attrs[node_id]
            if data["label"] is not label:
                continue
            props = data["props"]
            if all(props.get(name) == value for name, value in where.items()):
                position = (str(props.get(order_by) or ""), node_id)
                if after is None or position > after:
                    found.append((*position, props))
        found.sort(key=lambda item: item[:2])
        return [Node(node_id, label, props) for _, node_id, props in found[:first]]

    def list_nodes(self, query: NodeQuery) -> list[Node]:
        query.check()
        if query.near is None:
            return self._directory.page(query, self._graph._node)
        return near_page(query, self._near_listing(query), self._graph._node)

    def count_nodes(self, query: NodeQuery) -> int:
        query.check()
        if query.near is None:
            return self._directory.count(query, self._graph._node)
        return len(self._near_listing(query))

    def _near_listing(self, query: NodeQuery) -> list[tuple[str, str]]:
        """The (order value, id) of the nodes `query` lists near its node, sorted; kept until
        a change may make it wrong (`_forget_near`), as `_near_events` keeps events (an
        outlet's stories at 100,000 events: thousands, walked and sorted at each asking
        before)."""
        key = (query.near or "", query.label, query.order_by, query.where)
        found = self._near.listing(key)
        if found is None:
            found = sorted(
                (str(props[query.order_by]), node_id)
                for node_id, props in self._near_nodes(query)
                if query.admits(props)
            )
            self._near.keep_listing(key, found)
        return found

    def _near_nodes(self, query: NodeQuery) -> Iterator[tuple[str, Props]]:
        """The nodes of `query.label` linked to `query.near` by the label's `DIRECTORY_NEAR`
        relationship, with their properties."""
        rel, direction, near_label = DIRECTORY_NEAR[query.label]
        graph = self._graph
        attrs = graph._node
        near = attrs.get(query.near or "")
        if near is None or near.get("label") is not near_label:
            return
        # seen from the `near` node, the relationship points the other way
        adjacency = graph._pred if direction == "out" else graph._succ
        for other, parallel in adjacency.get(query.near or "", {}).items():
            data = attrs.get(other)
            if (
                data is not None
                and data.get("label") is query.label
                and any(e["type"] is rel for e in parallel.values())
            ):
                yield other, data["props"]

    # -- the search index (graph.embedded.search) -------------------------------------------

    def _fill_search_index(self, db: sqlite3.Connection) -> None:
        """Fill the index of a file migrated from format 3 from the graph, in one write."""
        self._begin_write(db)
        try:
            attrs = self._graph._node
            docs = (
                doc
                for node_id, data in attrs.items()
                if data.get("label") in SEARCHABLE
                and (doc := self._search_doc(node_id, data["label"], data["props"])) is not None
            )
            index.rebuild(db, docs)
            db.execute(fileformat.SEARCH_BUILT)
            db.execute("COMMIT")
        except BaseException:
            if db.in_transaction:
                db.execute("ROLLBACK")
            raise

    def _search_docs(self, dirty: Dirty) -> dict[str, IndexedDoc | None]:
        """The search documents a write's rows change: of the nodes it wrote or removed, and
        of both ends of the relationships it wrote or removed (an event's claims, a named
        node's popularity); None for a node that is gone."""
        ids: dict[str, None] = dict.fromkeys(dirty.nodes.values())
        ids.update(dict.fromkeys(dirty.dead_nodes.values()))
        for src, dst, _ in dirty.edges.values():
            ids[src] = ids[dst] = None
        for src, _, dst, _ in dirty.dead_edges.values():
            ids[src] = ids[dst] = None
        attrs = self._graph._node
        docs: dict[str, IndexedDoc | None] = {}
        for node_id in ids:
            data = attrs.get(node_id)
            if data is None or "label" not in data:
                docs[node_id] = None
            elif data["label"] in SEARCHABLE:
                docs[node_id] = self._search_doc(node_id, data["label"], data["props"])
        return docs

    def _search_doc(self, node_id: str, label: Label, props: Props) -> IndexedDoc | None:
        graph = self._graph
        if label is Label.EVENT:
            claims: list[str] = []
            for parallel in graph._pred.get(node_id, {}).values():
                for edge in parallel.values():
                    if edge["type"] is Rel.REPORTS:
                        claims += strings(decode_props(edge["json"]), "claim_texts")
            return document(node_id, label, props, claims)
        # its distinct neighbours, counted in the time the fewer of its two sides take (not
        # its degree: a country or a busy outlet is an end of most writes' relationships)
        out, into = graph._succ.get(node_id, {}), graph._pred.get(node_id, {})
        few, many = (out, into) if len(out) <= len(into) else (into, out)
        popularity = len(many) + sum(1 for other in few if other not in many)
        return document(node_id, label, props, popularity=popularity)

    def _search_conn(self) -> sqlite3.Connection:
        self._conn()
        if self._search_db is None:
            self._search_db = fileformat.connect(self.directory, read_only=True, any_thread=True)
        return self._search_db

    def search_vocabulary(
        self, prefixes: Sequence[str], limit: int
    ) -> dict[str, list[tuple[str, int]]]:
        with self._searching:
            return index.vocabulary(self._search_conn(), prefixes, limit)

    def search_postings(self, lookups: Sequence[Lookup], limit: int) -> dict[Lookup, list[str]]:
        with self._searching:
            return index.postings(self._search_conn(), lookups, limit)

    def search_documents(self, ids: Sequence[str]) -> dict[str, IndexedDoc]:
        with self._searching:
            return index.documents(self._search_conn(), ids)

    def counts(self) -> dict[str, int]:
        counts: dict[str, int] = {str(label): 0 for label in Label}
        counts.update({str(rel): 0 for rel in Rel})
        for data in self._graph._node.values():
            counts[str(data["label"])] += 1
        for neighbours in self._graph._succ.values():
            for parallel in neighbours.values():
                for edge in parallel.values():
                    counts[str(edge["type"])] += 1
        return counts

    def get_setting(self, name: str) -> str | None:
        return self._settings.get(name)

    def hit(self, key: str, at: datetime, window: timedelta, limit: int) -> bool:
        db = self._conn()
        if self.read_only:
            raise StoreError(
                f"the store {self.directory} was opened read-only here; rate limits are "
                "counted by a process that opened it to write"
            )
        self._begin_write(db)
        try:
            allowed = rates.hit(
                db,
                key,
                timestamp(at),
                timestamp(at - window),
                timestamp(at + window),
                limit,
            )
            db.execute("COMMIT")
        except BaseException:
            if db.in_transaction:
                db.execute("ROLLBACK")
            raise
        return allowed

    def ping(self) -> None:
        # Reads answer from memory once open; the file they were read from must still be there.
        self._conn()
        if not (self.directory / fileformat.DB_FILE).is_file():
            raise StoreError(f"the store's file is gone from {self.directory}")

    def dump(self) -> Iterator[Node | Edge | tuple[str, str]]:
        # In networkx's order (`nodes(data=True)`, then `edges(data=True)`), read directly.
        for node_id, data in self._graph._node.items():
            yield Node(node_id, data["label"], data["props"])
        for src, neighbours in self._graph._succ.items():
            for dst, parallel in neighbours.items():
                for edge in parallel.values():
                    yield Edge(src, edge["type"], dst, edge["rkey"], decode_props(edge["json"]))
        yield from self._keys.items()
        yield from (("setting:" + k, v) for k, v in self._settings.items())


def _merged(
    lists: list[list[EventKey]], after: EventKey | None, newest_first: bool
) -> Iterator[EventKey]:
    """The keys of sorted `lists` after the cursor, in page order, merged as they are read."""
    walks = [_walk(keys, after, newest_first) for keys in lists]
    if len(walks) == 1:
        return walks[0]
    return heapq.merge(*walks, reverse=newest_first)


def _window_start(flt: EventFilter, after: EventKey | None, newest_first: bool) -> EventKey | None:
    """The cursor a walk in (occurred_on, id) order starts from: `after`, or the filter's date
    window's edge when that comes later in the walk (nothing before it is admitted)."""
    if newest_first and flt.date_to is not None:
        edge = (flt.date_to + "\uffff", "")
        return edge if after is None or edge < after else after
    if not newest_first and flt.date_from is not None:
        edge = (flt.date_from, "")
        return edge if after is None or edge > after else after
    return after


def _window_end(
    walk: Iterator[EventKey], flt: EventFilter, newest_first: bool
) -> Iterator[EventKey]:
    """`walk` in (occurred_on, id) order, stopped where it leaves the filter's date window:
    a page with fewer events in the window than it holds reads no event outside it."""
    if newest_first and flt.date_from is not None:
        low = flt.date_from
        return itertools.takewhile(lambda key: str(key[0])[:10] >= low, walk)
    if not newest_first and flt.date_to is not None:
        high = flt.date_to
        return itertools.takewhile(lambda key: str(key[0])[:10] <= high, walk)
    return walk


def _distinct(keys: Iterator[EventKey]) -> Iterator[EventKey]:
    """Sorted keys, each once (a merge of several nodes' events holds an event once per
    node)."""
    last: EventKey | None = None
    for key in keys:
        if key != last:
            yield key
            last = key


def _walk(keys: list[EventKey], after: EventKey | None, newest_first: bool) -> Iterator[EventKey]:
    """The keys of one sorted list after the cursor, in page order."""
    if newest_first:
        stop = bisect_left(keys, after) if after is not None else len(keys)
        return (keys[i] for i in range(stop - 1, -1, -1))
    begin = bisect_right(keys, after) if after is not None else 0
    return (keys[i] for i in range(begin, len(keys)))


def _ends(flt: EventFilter) -> list[tuple[str, Direction]]:
    """The nodes whose events the filter keeps to, with the direction of their events: the
    entity and every one of `all_entities` (events involve them), the outlet (it reports them)."""
    ends: list[tuple[str, Direction]] = []
    for entity in dict.fromkeys([*([flt.entity] if flt.entity else []), *flt.all_entities]):
        ends.append((entity, "in"))
    if flt.outlet is not None:
        ends.append((flt.outlet, "out"))
    return ends


@contextlib.contextmanager
def _collector_off() -> Iterator[bool]:
    """The cyclic garbage collector off meanwhile (as it was after); whether it was on."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield enabled
    finally:
        if enabled:
            gc.enable()


def _new_edge_ends(edges: Iterable[EdgeId], succ: Mapping[str, Neighbours]) -> Iterator[str]:
    """The ends of the relationships among `edges` (src, type, dst, key) that do not exist yet:
    a relationship written again changes its properties, never who is near whom."""
    for src, kind, dst, key in edges:
        if edge_name(kind, key) not in succ.get(src, {}).get(dst, {}):
            yield src
            yield dst
