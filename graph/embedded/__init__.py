"""The embedded store: the graph in memory on networkx, made durable in one SQLite file.

Every `write` is one SQLite transaction (WAL journal, synchronous FULL): committed before the
in-memory graph changes, so a process killed at any point leaves the file at the last
acknowledged batch and a restart reads exactly that. An exclusive lock on the data directory
keeps a second process out with a clear error.
"""

from __future__ import annotations

import fcntl
import json
import os
import sqlite3
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import IO, Any

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
from graph.store import EventFilter, EventPage, EventQuery, StoreError

FORMAT = 1
DB_FILE = "graph.sqlite3"
LOCK_FILE = "lock"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS nodes (
    id TEXT PRIMARY KEY, label TEXT NOT NULL, props TEXT NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS edges (
    src TEXT NOT NULL, type TEXT NOT NULL, dst TEXT NOT NULL, key TEXT NOT NULL,
    props TEXT NOT NULL, PRIMARY KEY (src, type, dst, key)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS keys (key TEXT PRIMARY KEY, node TEXT NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS settings (name TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;
"""

_EdgeId = tuple[str, Rel, str, str]


def _dumps(props: Props) -> str:
    return json.dumps(props, ensure_ascii=False, sort_keys=True, separators=(",", ":"))


class EmbeddedStore:
    """The default store: a data directory holding `graph.sqlite3` and a lock file."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self._db: sqlite3.Connection | None = None
        self._lock: IO[str] | None = None
        self._graph: Any = nx.MultiDiGraph()
        self._keys: dict[str, str] = {}
        self._owned: dict[str, set[str]] = {}  # node id -> the keys it owns
        self._settings: dict[str, str] = {}
        # (occurred_on, id) of every event: listings walk it in order from a cursor.
        self._events: Any = SortedList()

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
            self._db.executescript(_SCHEMA)
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
        self._graph = nx.MultiDiGraph()
        self._keys, self._owned, self._settings, self._events = {}, {}, {}, SortedList()

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
        db = self._conn()
        row = db.execute("SELECT value FROM meta WHERE name = 'format'").fetchone()
        if row is None:
            db.execute("INSERT INTO meta VALUES ('format', ?)", (str(FORMAT),))
        elif row[0] != str(FORMAT):
            raise StoreError(
                f"the store {self.directory} has format {row[0]}; this newsgraph reads {FORMAT}"
            )

    def _read_all(self) -> None:
        db = self._conn()
        graph = self._graph
        for node_id, label, props in db.execute("SELECT id, label, props FROM nodes"):
            self._put_node(node_id, Label(label), json.loads(props))
        graph_edges = (
            (src, dst, f"{kind}\x1f{key}", {"type": Rel(kind), "rkey": key, "props": json.loads(p)})
            for src, kind, dst, key, p in db.execute("SELECT src, type, dst, key, props FROM edges")
        )
        graph.add_edges_from(graph_edges)
        self._keys = dict(db.execute("SELECT key, node FROM keys"))
        self._owned = {}
        for key, owner in self._keys.items():
            self._owned.setdefault(owner, set()).add(key)
        self._settings = dict(db.execute("SELECT name, value FROM settings"))

    def _conn(self) -> sqlite3.Connection:
        if self._db is None:
            raise StoreError("the store is not open: call setup() first")
        return self._db

    # -- writes ------------------------------------------------------------------------------

    def write(self, batch: WriteBatch) -> None:
        db = self._conn()
        gone = {i for i in batch.deletes if i in self._graph}
        nodes = self._stage_nodes(batch.nodes, gone)
        edges = self._stage_edges(batch.edges, nodes, gone)
        keys = self._stage_keys(batch, gone, nodes)
        settings = {k: v for k, v in batch.settings.items() if self._settings.get(k) != v}
        if not (gone or nodes or edges or keys or settings):
            return
        dead_edges = [
            (src, data["type"].value, dst, data["rkey"])
            for node in gone
            for src, dst, data in (
                *self._graph.out_edges(node, data=True),
                *self._graph.in_edges(node, data=True),
            )
        ]
        db.execute("BEGIN IMMEDIATE")
        try:
            db.executemany("DELETE FROM nodes WHERE id = ?", [(i,) for i in gone])
            db.executemany(
                "DELETE FROM edges WHERE src = ? AND type = ? AND dst = ? AND key = ?", dead_edges
            )
            db.executemany(
                "INSERT OR REPLACE INTO nodes VALUES (?, ?, ?)",
                [(i, label.value, _dumps(p)) for i, (label, p) in nodes.items()],
            )
            db.executemany(
                "INSERT OR REPLACE INTO edges VALUES (?, ?, ?, ?, ?)",
                [(s, t.value, d, k, _dumps(p)) for (s, t, d, k), p in edges.items()],
            )
            db.executemany(
                "DELETE FROM keys WHERE key = ?", [(k,) for k, o in keys.items() if o is None]
            )
            db.executemany(
                "INSERT OR REPLACE INTO keys VALUES (?, ?)",
                [(k, o) for k, o in keys.items() if o is not None],
            )
            db.executemany("INSERT OR REPLACE INTO settings VALUES (?, ?)", settings.items())
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise
        try:
            for node_id in gone:
                old = self._graph.nodes[node_id]
                if old["label"] is Label.EVENT:
                    self._events.discard((old["props"].get("occurred_on") or "", node_id))
                self._graph.remove_node(node_id)
            for node_id, (label, props) in nodes.items():
                self._put_node(node_id, label, props)
            for (src, kind, dst, key), props in edges.items():
                self._graph.add_edge(src, dst, f"{kind}\x1f{key}", type=kind, rkey=key, props=props)
            for key, owner in keys.items():
                previous = self._keys.pop(key, None)
                if previous is not None:
                    self._owned[previous].discard(key)
                if owner is not None:
                    self._keys[key] = owner
                    self._owned.setdefault(owner, set()).add(key)
            self._settings.update(settings)
        except BaseException:
            # The file holds the batch; rebuild memory from it rather than serve half of it.
            self._reload()
            raise

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
            if new_owner is not None and new_owner not in nodes and (
                new_owner not in self._graph or new_owner in gone
            ):
                raise StoreError(f"key {key!r} names node {new_owner!r}, which does not exist")
        return {k: o for k, o in owners.items() if self._keys.get(k) != o}

    def _reload(self) -> None:
        self._graph, self._events = nx.MultiDiGraph(), SortedList()
        self._read_all()

    def _stage_nodes(
        self, writes: Sequence[NodeWrite], gone: set[str]
    ) -> dict[str, tuple[Label, dict[str, Value]]]:
        """The merged properties of every node the writes change (unchanged ones left out)."""
        staged: dict[str, tuple[Label, dict[str, Value]]] = {}
        for write in writes:
            current: Props | None
            if write.id in staged:
                label, current = staged[write.id]
            elif write.id in self._graph and write.id not in gone:
                data = self._graph.nodes[write.id]
                label, current = data["label"], data["props"]
            else:
                label, current = write.label, None
            if label != write.label:
                raise StoreError(f"node {write.id} is a {label}, not a {write.label}")
            staged[write.id] = (label, merge_props(current, write.merge))
        return {
            i: (label, props)
            for i, (label, props) in staged.items()
            if i not in self._graph or i in gone or self._graph.nodes[i]["props"] != props
        }

    def _stage_edges(
        self,
        writes: Sequence[EdgeWrite],
        nodes: dict[str, tuple[Label, dict[str, Value]]],
        gone: set[str],
    ) -> dict[_EdgeId, dict[str, Value]]:
        staged: dict[_EdgeId, dict[str, Value]] = {}
        adjacency = self._graph.succ if not gone else _Without(self._graph.succ, gone)
        for write in writes:
            for end in (write.src, write.dst):
                if end not in nodes and (end not in self._graph or end in gone):
                    raise StoreError(
                        f"{write.type} relationship names node {end!r}, which does not exist"
                    )
            edge_id = (write.src, write.type, write.dst, write.key)
            current: Props | None = staged.get(edge_id)
            if current is None:
                data = (
                    adjacency.get(write.src, {})
                    .get(write.dst, {})
                    .get(f"{write.type}\x1f{write.key}")
                )
                current = data["props"] if data is not None else None
            staged[edge_id] = merge_props(current, write.merge)
        unchanged = []
        for (src, kind, dst, key), props in staged.items():
            data = adjacency.get(src, {}).get(dst, {}).get(f"{kind}\x1f{key}")
            if data is not None and data["props"] == props:
                unchanged.append((src, kind, dst, key))
        for edge_id in unchanged:
            del staged[edge_id]
        return staged

    def _put_node(self, node_id: str, label: Label, props: dict[str, Value]) -> None:
        if label is Label.EVENT:
            if node_id in self._graph:
                old = self._graph.nodes[node_id]["props"].get("occurred_on")
                self._events.discard((old, node_id))
            self._events.add((props.get("occurred_on") or "", node_id))
        self._graph.add_node(node_id, label=label, props=props)

    # -- reads -------------------------------------------------------------------------------

    def get_nodes(self, ids: Sequence[str]) -> dict[str, Node]:
        nodes = self._graph.nodes
        found: dict[str, Node] = {}
        for node_id in ids:
            if node_id in nodes:
                data = nodes[node_id]
                found[node_id] = Node(node_id, data["label"], data["props"])
        return found

    def lookup_keys(self, keys: Sequence[str]) -> dict[str, str]:
        return {k: self._keys[k] for k in keys if k in self._keys}

    def keys_of(self, ids: Sequence[str]) -> dict[str, list[str]]:
        return {i: sorted(self._owned.get(i, ())) for i in ids}

    def edges(self, ids: Sequence[str], rel: Rel, direction: Direction) -> dict[str, list[Edge]]:
        graph = self._graph
        adjacency = graph.succ if direction == "out" else graph.pred
        result: dict[str, list[Edge]] = {}
        for node_id in ids:
            found: list[Edge] = []
            for other, parallel in adjacency.get(node_id, {}).items():
                for data in parallel.values():
                    if data["type"] is rel or data["type"] == rel:
                        src, dst = (node_id, other) if direction == "out" else (other, node_id)
                        found.append(Edge(src, rel, dst, data["rkey"], data["props"]))
            found.sort(key=lambda e: (e.other(node_id), e.key))
            result[node_id] = found
        return result

    def query_events(self, query: EventQuery) -> EventPage:
        flt = query.filter
        candidates = self._candidates(flt)
        if candidates is None:
            if query.newest_first:
                bound = {"maximum": query.after, "inclusive": (True, False), "reverse": True}
            else:
                bound = {"minimum": query.after, "inclusive": (False, True)}
            ordered: Iterator[tuple[str, str]] = self._events.irange(**bound)
        else:
            keyed = sorted(candidates, reverse=query.newest_first)
            if query.after is not None:
                after = query.after
                keyed = [k for k in keyed if (k < after if query.newest_first else k > after)]
            ordered = iter(keyed)
        nodes = self._graph.nodes
        page: list[Node] = []
        for _, event_id in ordered:
            props = nodes[event_id]["props"]
            if _matches(props, flt):
                if len(page) == query.first:
                    return EventPage(page, has_next=True)
                page.append(Node(event_id, Label.EVENT, props))
        return EventPage(page, has_next=False)

    def _candidates(self, flt: EventFilter) -> set[tuple[str, str]] | None:
        """Events adjacent to the filter's entity or outlet (the smaller set), or None."""
        sets: list[set[str]] = []
        if flt.entity is not None:
            sets.append(set(self._graph.pred[flt.entity]) if flt.entity in self._graph else set())
        if flt.outlet is not None:
            sets.append(set(self._graph.succ[flt.outlet]) if flt.outlet in self._graph else set())
        if not sets:
            return None
        ids = set.intersection(*sets)
        nodes = self._graph.nodes
        return {
            (nodes[i]["props"].get("occurred_on") or "", i)
            for i in ids
            if nodes[i]["label"] is Label.EVENT
        }

    def search(self, text: str, labels: Sequence[Label], first: int) -> list[Node]:
        needle = text.casefold().strip()
        if not needle:
            return []
        wanted = set(labels)
        hits: list[Node] = []
        for node_id, data in self._graph.nodes(data=True):
            if data["label"] in wanted and needle in _search_text(data["props"]):
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
        for _, label in self._graph.nodes(data="label"):
            counts[str(label)] += 1
        for _, _, kind in self._graph.edges(data="type"):
            counts[str(kind)] += 1
        return counts

    def get_setting(self, name: str) -> str | None:
        return self._settings.get(name)

    def dump(self) -> Iterator[Node | Edge | tuple[str, str]]:
        for node_id, data in self._graph.nodes(data=True):
            yield Node(node_id, data["label"], data["props"])
        for src, dst, data in self._graph.edges(data=True):
            yield Edge(src, data["type"], dst, data["rkey"], data["props"])
        yield from self._keys.items()
        yield from (("setting:" + k, v) for k, v in self._settings.items())


class _Without:
    """An adjacency view that hides the relationships of nodes about to be deleted."""

    def __init__(self, adjacency: Any, gone: set[str]) -> None:
        self._adjacency, self._gone = adjacency, gone

    def get(self, src: str, default: Any) -> Any:
        if src in self._gone:
            return default
        neighbours = self._adjacency.get(src, default)
        return {d: e for d, e in neighbours.items() if d not in self._gone}


def _matches(props: Props, flt: EventFilter) -> bool:
    if flt.categories and props.get("category") not in flt.categories:
        return False
    day = str(props.get("occurred_on") or "")[:10]
    if flt.date_from is not None and day < flt.date_from:
        return False
    if flt.date_to is not None and day > flt.date_to:
        return False
    if flt.place is not None and flt.place not in _strs(props, "place_ids"):
        return False
    if flt.country is not None and flt.country not in _strs(props, "country_ids"):
        return False
    if flt.min_confidence is not None:
        rank = props.get("confidence_rank")
        if not isinstance(rank, int) or rank < flt.min_confidence:
            return False
    return True


def _strs(props: Props, name: str) -> list[str]:
    value = props.get(name)
    return value if isinstance(value, list) else []


def _search_text(props: Props) -> str:
    parts = [props.get("name"), props.get("summary")]
    text = " \x1f ".join(p for p in parts if isinstance(p, str))
    aliases = props.get("aliases")
    if isinstance(aliases, list):
        text += " \x1f " + " \x1f ".join(aliases)
    return text.casefold()
