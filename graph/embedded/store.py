"""The embedded store: the graph in memory on networkx, made durable in one SQLite file.

Every `write` is one SQLite transaction (WAL journal, synchronous FULL): committed before the
in-memory graph changes, so a process killed at any point leaves the file at the last
acknowledged batch and a restart reads exactly that. An exclusive lock on the data directory
keeps a second process out with a clear error.
"""

from __future__ import annotations

import fcntl
import gc
import json
import json.scanner
import os
import sqlite3
import sys
from bisect import bisect_left, bisect_right
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import IO, Any

import msgspec
import networkx as nx
from sortedcontainers import SortedList

from graph.model import (
    Direction,
    Edge,
    EdgeWrite,
    Label,
    Node,
    NodeWrite,
    Props,
    Rel,
    Value,
    WriteBatch,
    merge_props,
)
from graph.store import Derive, EventPage, EventQuery, StoreError, search_text

# Format 2: nodes, relationships and keys are rowid tables without any index, each row's
# rowid kept in memory beside what it holds (`row`). The in-memory graph is the index: an
# insert appends (a rowid past the last one) and an update or delete names its rowid, so a
# batch dirties few B-tree pages. Format 1 (WITHOUT ROWID tables keyed by random ids, whose
# every insert split a random leaf page) is migrated in place when opened.
FORMAT = 2
DB_FILE = "graph.sqlite3"
LOCK_FILE = "lock"

_META = "CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID"
_SCHEMA = """
CREATE TABLE IF NOT EXISTS nodes (id TEXT NOT NULL, label TEXT NOT NULL, props TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS edges (
    src TEXT NOT NULL, type TEXT NOT NULL, dst TEXT NOT NULL, key TEXT NOT NULL,
    props TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS keys (key TEXT NOT NULL, node TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS settings (name TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;
"""
# Format 1 to 2, in one transaction: the same rows in the new tables.
_MIGRATE_1 = """
ALTER TABLE nodes RENAME TO nodes_1;
ALTER TABLE edges RENAME TO edges_1;
ALTER TABLE keys RENAME TO keys_1;
CREATE TABLE nodes (id TEXT NOT NULL, label TEXT NOT NULL, props TEXT NOT NULL);
CREATE TABLE edges (
    src TEXT NOT NULL, type TEXT NOT NULL, dst TEXT NOT NULL, key TEXT NOT NULL,
    props TEXT NOT NULL
);
CREATE TABLE keys (key TEXT NOT NULL, node TEXT NOT NULL);
INSERT INTO nodes (id, label, props) SELECT id, label, props FROM nodes_1;
INSERT INTO edges (src, type, dst, key, props) SELECT src, type, dst, key, props FROM edges_1;
INSERT INTO keys (key, node) SELECT key, node FROM keys_1;
DROP TABLE nodes_1;
DROP TABLE edges_1;
DROP TABLE keys_1;
UPDATE meta SET value = '2' WHERE name = 'format';
"""

_EdgeId = tuple[str, Rel, str, str]


# One encoder for every write: `json.dumps` with options builds a new one on each call.
_ENCODER = json.JSONEncoder(ensure_ascii=False, sort_keys=True, separators=(",", ":"))
_MAKE_SCANNER: Any = getattr(json.scanner, "c_make_scanner", None)
_SCAN: Any = _MAKE_SCANNER(json.JSONDecoder()) if _MAKE_SCANNER is not None else None


def _loads(text: str) -> Any:
    """The value of JSON this store wrote: the decoder's C scanner called directly, without
    `json.loads`'s wrappers (half the cost of decoding a relationship's properties); anything
    else, or an error, goes through `json.loads`."""
    if _SCAN is not None:
        try:
            value, end = _SCAN(text, 0)
        except StopIteration:
            return json.loads(text)
        if end == len(text):
            return value
    return json.loads(text)


# The same encoder's C core, made once: `JSONEncoder.encode` builds a new one on every call
# (a third of its cost for a relationship's properties). Without the check for circular
# references, which flat property values cannot have.
_MAKE_ENCODER: Any = getattr(json.encoder, "c_make_encoder", None)
_C_ENCODE: Any = (
    _MAKE_ENCODER(
        None, _ENCODER.default, json.encoder.encode_basestring, None, ":", ",", True, False, True
    )
    if _MAKE_ENCODER is not None
    else None
)

# The networkx key of a relationship is f"{type}\x1f{key}"; most keys are empty, so those
# names are made once and shared.
_EDGE_NAMES = {rel: f"{rel}\x1f" for rel in Rel}
# At most this many (occurred_on, id) pairs are kept in the adjacency cache of `query_events`.
_NEAR_LIMIT = 2_000_000


# msgspec's encoder writes the same text as `_ENCODER` (keys sorted, compact, UTF-8 as it is)
# three times faster, except for floats: it writes exponents its own way (1e16, not 1e+16)
# and NaN as null. Properties holding a float (an event's lat/lon) keep to `json`; lists hold
# strings only (`graph.model.Value`).
_FAST_ENCODE = msgspec.json.Encoder(order="sorted").encode


def _dumps(props: Props) -> str:
    if float not in map(type, props.values()):
        try:
            return _FAST_ENCODE(props).decode()
        except (TypeError, ValueError, OverflowError):  # what json may still write, or fail on
            pass
    if _C_ENCODE is None:
        return _ENCODER.encode(props)
    return "".join(_C_ENCODE(props, 0))


def _edge_name(kind: Rel, key: str) -> str:
    return f"{kind}\x1f{key}" if key else _EDGE_NAMES[kind]


def _intern_keys(props: dict[str, Value]) -> dict[str, Value]:
    """`props` with its property names shared with every other node's (json.loads makes new
    strings for the names of every object it decodes)."""
    intern = sys.intern
    return {intern(k): v for k, v in props.items()}


# The labels `find_nodes` is for, kept in an index of their own.
RECORD_LABELS = (Label.SUBMISSION, Label.EDIT)

# A write adding this many nodes and relationships (a loader's batch) moves what the store holds
# out of the garbage collector's sight; smaller writes leave the collector alone.
FREEZE_AFTER = 1000


class EmbeddedStore:
    """The default store: a data directory holding `graph.sqlite3` and a lock file."""

    # Reads answer from memory, in microseconds: the API reads at once instead of batching
    # (`api.dataloaders`). Not part of the `GraphStore` protocol; other stores lack it.
    reads_from_memory = True

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self._db: sqlite3.Connection | None = None
        self._lock: IO[str] | None = None
        self._graph: Any = nx.MultiDiGraph()
        self._keys: dict[str, str] = {}
        self._key_rows: dict[str, int] = {}  # key -> rowid of its row
        self._next_node = self._next_edge = self._next_key = 1  # the next rows' rowids
        self._owned: dict[str, set[str]] = {}  # node id -> the keys it owns
        self._settings: dict[str, str] = {}
        # (occurred_on, id) of every event: listings walk it in order from a cursor.
        self._events: Any = SortedList()
        # The ids of the editorial records (submissions, the log), which `find_nodes` lists:
        # few among hundreds of thousands of nodes.
        self._records: dict[Label, set[str]] = {label: set() for label in RECORD_LABELS}
        # (node id, "in" | "out") -> the sorted (occurred_on, id) of its adjacent events, built
        # by `query_events` on demand. Every change to the graph empties it (`_changed`).
        self._near: dict[tuple[str, str], list[tuple[str, str]]] = {}
        self._near_size = 0
        self._mutated = False  # memory changed inside the open transaction
        # Counts the changes to what reads see (writes that changed something, reloads): a
        # cache of answers is good while it stays the same. Not part of the `GraphStore`
        # protocol.
        self.version = 0
        # rowid -> the properties of a relationship the open write decoded or wrote, so that
        # its `derive` and later staging read them without decoding their JSON again
        self._fresh: dict[int, dict[str, Value]] = {}

    def __repr__(self) -> str:
        return f"EmbeddedStore({str(self.directory)!r})"

    # -- lifecycle ---------------------------------------------------------------------------

    def setup(self) -> None:
        if self._db is not None:
            return
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StoreError(f"cannot create the data directory {self.directory}: {exc}") from exc
        self._lock = self._acquire_lock()
        try:
            self._db = sqlite3.connect(self.directory / DB_FILE, isolation_level=None)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=FULL")
            self._check_format()
            self._read_all()
        except BaseException:
            self.close()
            raise

    def close(self) -> None:
        if self._db is not None:
            self._db.close()
            self._db = None
        if self._lock is not None:
            self._lock.close()  # closing the descriptor releases the flock
            self._lock = None
        # Emptied rather than just dropped: the graph's objects are frozen (see `_read_all`),
        # so only reference counting frees them, and networkx's cached views make a cycle.
        self._graph.clear()
        self._graph = nx.MultiDiGraph()
        self._keys, self._owned, self._settings, self._events = {}, {}, {}, SortedList()
        self._records = {label: set() for label in RECORD_LABELS}
        self._key_rows = {}
        self._changed()

    def _acquire_lock(self) -> IO[str]:
        handle = open(self.directory / LOCK_FILE, "a+", encoding="utf-8")  # noqa: SIM115
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip() or "unknown"
            handle.close()
            raise StoreError(
                f"the store {self.directory} is in use by another newsgraph process "
                f"(pid {holder}); stop it first, or give this command another --store"
            ) from None
        handle.seek(0)
        handle.truncate()
        handle.write(str(os.getpid()))
        handle.flush()
        return handle

    def _check_format(self) -> None:
        """Create the tables of a new file, or check the file's format (migrating format 1)."""
        db = self._conn()
        db.execute(_META)
        row = db.execute("SELECT value FROM meta WHERE name = 'format'").fetchone()
        if row is None:
            old = db.execute(
                "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'nodes'"
            ).fetchone()
            if old is not None:  # tables of format 1 made before its format row
                db.execute("INSERT INTO meta VALUES ('format', '1')")
                row = ("1",)
            else:
                self._script(f"{_SCHEMA}\nINSERT INTO meta VALUES ('format', '{FORMAT}');")
                return
        if row[0] == "1":
            self._script(_MIGRATE_1)
            db.execute("VACUUM")  # give back the old tables' pages
        elif row[0] != str(FORMAT):
            raise StoreError(
                f"the store {self.directory} has format {row[0]}; this newsgraph reads {FORMAT}"
            )

    def _script(self, script: str) -> None:
        """Run `script` as one transaction."""
        db = self._conn()
        try:
            db.executescript(f"BEGIN IMMEDIATE;\n{script}\nCOMMIT;")
        except BaseException:
            if db.in_transaction:
                db.execute("ROLLBACK")
            raise

    def _read_all(self) -> None:
        """Read the whole file into memory.

        Speed and size, since a large store makes millions of objects here: the networkx
        dictionaries are filled directly (as `add_node` and `add_edge` would fill them); node
        ids, keys and property names are interned, so each is one string however many
        relationships name it; a relationship keeps its properties as their JSON text, decoded
        when read (`edges`, `dump`, writes). The cyclic garbage collector is off meanwhile and
        then leaves these objects alone for good (`gc.freeze`): they live as long as the store,
        hold no cycles, and a collection over them would cost seconds at every full pass.
        Every node and relationship keeps its row's rowid (`row`), as the key table's rows do
        (`_key_rows`): writes name their rows by it.
        """
        db = self._conn()
        graph = self._graph
        intern = sys.intern
        self._changed()
        self.version += 1
        enabled = gc.isenabled()
        gc.disable()
        try:
            attrs, succ, pred = graph._node, graph._succ, graph._pred
            labels = {str(label): label for label in Label}
            events: list[tuple[str, str]] = []
            records: dict[Label, set[str]] = {label: set() for label in RECORD_LABELS}
            last = 0
            for row, node_id, label, text in db.execute(
                "SELECT rowid, id, label, props FROM nodes"
            ):
                node_id = intern(node_id)
                props = _intern_keys(_loads(text))
                kind = labels.get(label) or Label(label)
                if node_id not in attrs:
                    succ[node_id], pred[node_id] = {}, {}
                attrs[node_id] = {"label": kind, "props": props, "row": row}
                last = row
                if kind is Label.EVENT:
                    events.append((props.get("occurred_on") or "", node_id))  # type: ignore[arg-type]
                elif kind in records:
                    records[kind].add(node_id)
            self._next_node = last + 1
            self._events = SortedList(events)
            self._records = records
            rels = {str(rel): rel for rel in Rel}
            last = 0
            for row, src, kind, dst, key, text in db.execute(
                "SELECT rowid, src, type, dst, key, props FROM edges"
            ):
                last = row
                rel = rels.get(kind) or Rel(kind)
                src, dst = intern(src), intern(dst)
                if key:
                    key = intern(key)
                    name = f"{rel}\x1f{key}"
                else:
                    name = _EDGE_NAMES[rel]
                data = {"type": rel, "rkey": key, "json": text, "row": row}
                try:
                    out, into = succ[src], pred[dst]
                except KeyError:  # an end that is not a node becomes one, as in add_edge
                    graph.add_edge(src, dst, name, **data)
                    continue
                parallel = out.get(dst)
                if parallel is None:
                    parallel = out[dst] = into[src] = {}
                parallel[name] = data
            self._next_edge = last + 1
            self._keys, self._key_rows = {}, {}
            last = 0
            for row, key, node in db.execute("SELECT rowid, key, node FROM keys"):
                key = intern(key)
                self._keys[key] = intern(node)
                self._key_rows[key] = last = row
            self._next_key = last + 1
            self._owned = {}
            for key, owner in self._keys.items():
                self._owned.setdefault(owner, set()).add(key)
            self._settings = dict(db.execute("SELECT name, value FROM settings"))
        finally:
            if enabled:
                gc.enable()
        gc.freeze()

    def _conn(self) -> sqlite3.Connection:
        if self._db is None:
            raise StoreError("the store is not open: call setup() first")
        return self._db

    # -- writes ------------------------------------------------------------------------------

    def write(self, batch: WriteBatch, derive: Derive | None = None) -> None:
        db = self._conn()
        # One process writes (the directory lock), so the derived batch reads this store's
        # memory, updated before the commit; a failure rolls back and rebuilds memory. Memory
        # changes first and the rows it changed are written once, at the end (an event the
        # batch writes and `derive` rates again is one row write).
        db.execute("BEGIN IMMEDIATE")
        self._mutated = False
        dirty = _Dirty()
        try:
            changed = self._apply(batch, dirty)
            if derive is not None:
                changed = self._apply(derive(self), dirty) or changed
            if changed:
                self._flush(dirty)
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            if self._mutated:
                self._reload()
            raise
        finally:
            self._fresh = {}
            if self._mutated:
                self.version += 1
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

    def _apply(self, batch: WriteBatch, dirty: _Dirty) -> bool:
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
            and graph.has_edge(u[0], u[2], _edge_name(u[1], u[3]))
        ]
        nodes = self._stage_nodes(batch.nodes, gone)
        edges = self._stage_edges(batch.edges, nodes, gone, set(unlinked))
        keys = self._stage_keys(batch, gone, nodes)
        settings = {k: v for k, v in batch.settings.items() if self._settings.get(k) != v}
        if not (gone or unlinked or nodes or edges or keys or settings):
            return False
        self._mutated = True
        self._changed()
        for node_id in gone:
            old = attrs[node_id]
            if old.get("label") is Label.EVENT:
                self._events.discard((old["props"].get("occurred_on") or "", node_id))
            elif old.get("label") in self._records:
                self._records[old["label"]].discard(node_id)
            for adjacency in (succ[node_id], pred[node_id]):
                for parallel in adjacency.values():
                    for data in parallel.values():
                        dirty.drop_edge(data["row"])
            if "row" in old:
                dirty.drop_node(old["row"])
            graph.remove_node(node_id)
        for src, kind, dst, key in unlinked:
            name = _edge_name(kind, key)
            dirty.drop_edge(succ[src][dst][name]["row"])
            graph.remove_edge(src, dst, name)
        for node_id, (label, props) in nodes.items():
            self._put_node(node_id, label, props, dirty)
        intern = sys.intern
        for (src, kind, dst, key), props in edges.items():
            src, dst, key = intern(src), intern(dst), intern(key)
            text = _dumps(props)
            name = _edge_name(kind, key)
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
            if previous is not None:
                self._owned[previous].discard(key)
            if owner is not None:
                key = intern(key)
                self._keys[key] = owner
                self._owned.setdefault(owner, set()).add(key)
                known = self._key_rows.get(key)
                if known is None:
                    known = self._key_rows[key] = self._next_key
                    self._next_key += 1
                    dirty.new_keys.add(known)
                dirty.keys[known] = (key, owner)
            elif key in self._key_rows:
                dirty.drop_key(self._key_rows.pop(key))
        self._settings.update(settings)
        dirty.settings.update(settings)
        return True

    def _flush(self, dirty: _Dirty) -> None:
        """Write the rows `dirty` names, inside the open transaction."""
        db = self._conn()
        attrs = self._graph._node
        db.executemany("DELETE FROM nodes WHERE rowid = ?", [(r,) for r in dirty.dead_nodes])
        db.executemany("DELETE FROM edges WHERE rowid = ?", [(r,) for r in dirty.dead_edges])
        db.executemany("DELETE FROM keys WHERE rowid = ?", [(r,) for r in dirty.dead_keys])
        inserts: list[tuple[Any, ...]] = []
        updates: list[tuple[Any, ...]] = []
        for row, node_id in dirty.nodes.items():
            data = attrs[node_id]
            text = _dumps(data["props"])
            if row in dirty.new_nodes:
                inserts.append((row, node_id, data["label"].value, text))
            else:
                updates.append((text, row))
        db.executemany("INSERT INTO nodes (rowid, id, label, props) VALUES (?, ?, ?, ?)", inserts)
        db.executemany("UPDATE nodes SET props = ? WHERE rowid = ?", updates)
        inserts, updates = [], []
        for row, (src, dst, data) in dirty.edges.items():
            if row in dirty.new_edges:
                inserts.append((row, src, data["type"].value, dst, data["rkey"], data["json"]))
            else:
                updates.append((data["json"], row))
        db.executemany(
            "INSERT INTO edges (rowid, src, type, dst, key, props) VALUES (?, ?, ?, ?, ?, ?)",
            inserts,
        )
        db.executemany("UPDATE edges SET props = ? WHERE rowid = ?", updates)
        inserts, updates = [], []
        for row, (key, owner) in dirty.keys.items():
            if row in dirty.new_keys:
                inserts.append((row, key, owner))
            else:
                updates.append((owner, row))
        db.executemany("INSERT INTO keys (rowid, key, node) VALUES (?, ?, ?)", inserts)
        db.executemany("UPDATE keys SET node = ? WHERE rowid = ?", updates)
        db.executemany("INSERT OR REPLACE INTO settings VALUES (?, ?)", dirty.settings.items())

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
        self._graph, self._events = nx.MultiDiGraph(), SortedList()
        self._read_all()

    def _changed(self) -> None:
        """Forget what was derived from the graph: call before any change to it."""
        self._near.clear()
        self._near_size = 0
        self._graph.__networkx_cache__.clear()

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
            staged[write.id] = (label, merge_props(current, write.merge))
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
        unlinked: set[_EdgeId],
    ) -> dict[_EdgeId, dict[str, Value]]:
        staged: dict[_EdgeId, dict[str, Value]] = {}
        stored: dict[_EdgeId, dict[str, Value]] = {}  # as they are now, for those that exist
        attrs = self._graph._node
        adjacency = self._graph._succ if not gone else _Without(self._graph._succ, gone)
        for write in writes:
            for end in (write.src, write.dst):
                if end not in nodes and (end not in attrs or end in gone):
                    raise StoreError(
                        f"{write.type} relationship names node {end!r}, which does not exist"
                    )
            edge_id = (write.src, write.type, write.dst, write.key)
            current: Props | None = staged.get(edge_id)
            if current is None and edge_id not in unlinked:
                data = (
                    adjacency.get(write.src, {})
                    .get(write.dst, {})
                    .get(_edge_name(write.type, write.key))
                )
                if data is not None:
                    decoded = self._fresh.get(data["row"])
                    if decoded is None:
                        decoded = self._fresh[data["row"]] = _loads(data["json"])
                    current = stored[edge_id] = decoded
            staged[edge_id] = merge_props(current, write.merge)
        unchanged = []
        for edge_id, props in staged.items():
            if edge_id in stored and stored[edge_id] == props:
                unchanged.append(edge_id)
        for edge_id in unchanged:
            del staged[edge_id]
        return staged

    def _put_node(self, node_id: str, label: Label, props: dict[str, Value], dirty: _Dirty) -> None:
        graph = self._graph
        attrs = graph._node
        data = attrs.get(node_id)
        if data is None or "row" not in data:
            node_id = sys.intern(node_id)
            if node_id not in attrs:
                graph._succ[node_id], graph._pred[node_id] = {}, {}
            row = self._next_node
            self._next_node += 1
            attrs[node_id] = {"label": label, "props": props, "row": row}
            dirty.new_nodes.add(row)
            if label in self._records:
                self._records[label].add(node_id)
        else:
            if label is Label.EVENT:
                self._events.discard((data["props"].get("occurred_on") or "", node_id))
            data["props"] = props
            row = data["row"]
        if label is Label.EVENT:
            self._events.add((props.get("occurred_on") or "", node_id))
        dirty.nodes[row] = node_id

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

    def keys_of(self, ids: Sequence[str]) -> dict[str, list[str]]:
        return {i: sorted(self._owned.get(i, ())) for i in ids}

    def edges(self, ids: Sequence[str], rel: Rel, direction: Direction) -> dict[str, list[Edge]]:
        graph = self._graph
        adjacency = graph._succ if direction == "out" else graph._pred
        fresh = self._fresh
        result: dict[str, list[Edge]] = {}
        for node_id in ids:
            found: list[tuple[str, str, dict[str, Any]]] = []
            for other, parallel in adjacency.get(node_id, {}).items():
                for data in parallel.values():
                    if data["type"] is rel or data["type"] == rel:
                        found.append((other, data["rkey"], data))
            found.sort(key=lambda item: item[:2])
            if fresh:
                props = [fresh.get(d["row"]) or _loads(d["json"]) for _, _, d in found]
            else:
                props = [_loads(d["json"]) for _, _, d in found]
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

    def query_events(self, query: EventQuery) -> EventPage:
        """Walks the events in order from the cursor, and stops one past the page: all events,
        or those adjacent to the filter's entity (events involving it) or outlet (events it
        reported), whichever of them is fewer, checking the other by adjacency."""
        flt = query.filter
        after = query.after
        graph = self._graph
        ends: list[tuple[str, str]] = []  # (node, direction of its events)
        if flt.entity is not None:
            ends.append((flt.entity, "in"))
        if flt.outlet is not None:
            ends.append((flt.outlet, "out"))
        ordered: Iterator[tuple[str, str]]
        others: list[dict[str, Any]] = []
        if not ends:
            if query.newest_first:
                bound = {"maximum": after, "inclusive": (True, False), "reverse": True}
            else:
                bound = {"minimum": after, "inclusive": (False, True)}
            ordered = self._events.irange(**bound)
        else:
            nears = self._near_events(ends)
            fewest = sorted(range(len(ends)), key=lambda i: len(nears[i]))
            keyed = nears[fewest[0]]
            for index in fewest[1:]:
                node, direction = ends[index]
                others.append((graph._pred if direction == "in" else graph._succ).get(node, {}))
            if query.newest_first:
                stop = bisect_left(keyed, after) if after is not None else len(keyed)
                ordered = (keyed[i] for i in range(stop - 1, -1, -1))
            else:
                begin = bisect_right(keyed, after) if after is not None else 0
                ordered = (keyed[i] for i in range(begin, len(keyed)))
        attrs = graph._node
        page: list[Node] = []
        for _, event_id in ordered:
            props = attrs[event_id]["props"]
            if flt.admits(props) and all(event_id in other for other in others):
                if len(page) == query.first:
                    return EventPage(page, has_next=True)
                page.append(Node(event_id, Label.EVENT, props))
        return EventPage(page, has_next=False)

    def _near_events(self, ends: list[tuple[str, str]]) -> list[list[tuple[str, str]]]:
        """For each (node, "in" | "out"), the (occurred_on, id) of the events at the other end
        of its incoming or outgoing relationships, sorted; kept until the graph changes."""
        found: list[list[tuple[str, str]]] = []
        attrs = self._graph._node
        for node, direction in ends:
            near = self._near.get((node, direction))
            if near is None:
                adjacency = self._graph._pred if direction == "in" else self._graph._succ
                near = sorted(
                    (attrs[i]["props"].get("occurred_on") or "", i)
                    for i in adjacency.get(node, ())
                    if attrs[i]["label"] is Label.EVENT
                )
                if self._near_size + len(near) > _NEAR_LIMIT:
                    self._changed()
                self._near[(node, direction)] = near
                self._near_size += len(near)
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

    def search(self, text: str, labels: Sequence[Label], first: int) -> list[Node]:
        needle = text.casefold().strip()
        if not needle:
            return []
        wanted = set(labels)
        hits: list[Node] = []
        for node_id, data in self._graph._node.items():
            if data["label"] in wanted and needle in search_text(data["props"]):
                hits.append(Node(node_id, data["label"], data["props"]))
        events = sorted(
            (n for n in hits if n.label is Label.EVENT),
            key=lambda n: (n.text("occurred_on"), n.id),
            reverse=True,
        )
        others = sorted(
            (n for n in hits if n.label is not Label.EVENT), key=lambda n: (n.text("name"), n.id)
        )
        return (events + others)[:first]

    def counts(self) -> dict[str, int]:
        counts: dict[str, int] = {str(label): 0 for label in Label}
        counts.update({str(rel): 0 for rel in Rel})
        for data in self._graph._node.values():
            counts[str(data["label"])] += 1
        for neighbours in self._graph._succ.values():
            for parallel in neighbours.values():
                for data in parallel.values():
                    counts[str(data["type"])] += 1
        return counts

    def get_setting(self, name: str) -> str | None:
        return self._settings.get(name)

    def dump(self) -> Iterator[Node | Edge | tuple[str, str]]:
        for node_id, data in self._graph.nodes(data=True):
            yield Node(node_id, data["label"], data["props"])
        for src, dst, data in self._graph.edges(data=True):
            yield Edge(src, data["type"], dst, data["rkey"], _loads(data["json"]))
        yield from self._keys.items()
        yield from (("setting:" + k, v) for k, v in self._settings.items())


class _Dirty:
    """The rows a write changes, by rowid: written once, when the write commits."""

    __slots__ = (
        "dead_edges",
        "dead_keys",
        "dead_nodes",
        "edges",
        "keys",
        "new_edges",
        "new_keys",
        "new_nodes",
        "nodes",
        "settings",
    )

    def __init__(self) -> None:
        self.nodes: dict[int, str] = {}
        self.edges: dict[int, tuple[str, str, dict[str, Any]]] = {}
        self.keys: dict[int, tuple[str, str]] = {}
        self.settings: dict[str, str] = {}
        self.new_nodes: set[int] = set()
        self.new_edges: set[int] = set()
        self.new_keys: set[int] = set()
        self.dead_nodes: list[int] = []
        self.dead_edges: list[int] = []
        self.dead_keys: list[int] = []

    def drop_node(self, row: int) -> None:
        self.nodes.pop(row, None)
        if row in self.new_nodes:
            self.new_nodes.discard(row)
        else:
            self.dead_nodes.append(row)

    def drop_edge(self, row: int) -> None:
        self.edges.pop(row, None)
        if row in self.new_edges:
            self.new_edges.discard(row)
        else:
            self.dead_edges.append(row)

    def drop_key(self, row: int) -> None:
        self.keys.pop(row, None)
        if row in self.new_keys:
            self.new_keys.discard(row)
        else:
            self.dead_keys.append(row)


class _Without:
    """An adjacency view that hides the relationships of nodes about to be deleted."""

    def __init__(self, adjacency: Any, gone: set[str]) -> None:
        self._adjacency, self._gone = adjacency, gone

    def get(self, src: str, default: Any) -> Any:
        if src in self._gone:
            return default
        neighbours = self._adjacency.get(src)
        return default if neighbours is None else _Hiding(neighbours, self._gone)


class _Hiding:
    """One node's neighbours less those about to be deleted, without copying them (a hub has
    tens of thousands)."""

    __slots__ = ("_gone", "_neighbours")

    def __init__(self, neighbours: dict[str, Any], gone: set[str]) -> None:
        self._neighbours, self._gone = neighbours, gone

    def get(self, dst: str, default: Any) -> Any:
        return default if dst in self._gone else self._neighbours.get(dst, default)
