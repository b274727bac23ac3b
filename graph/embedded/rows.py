"""The rows of the store's file and what memory holds of them: every row read into memory when
the store opens (`read_all`), and the rows a write changed (`Dirty`) written once when it
commits (`write_dirty`). Rows are named by rowid, which memory keeps beside each node,
relationship and key (`graph.embedded.fileformat`, format 2)."""

from __future__ import annotations

import sqlite3
import sys
from dataclasses import dataclass

from graph.embedded.codec import decode_props, encode_props, intern_keys
from graph.embedded.memory import (
    EDGE_NAMES,
    EdgeData,
    EventIndex,
    EventKey,
    Graph,
    NodeData,
    RecordIndex,
    new_event_index,
    new_graph,
    new_record_index,
)
from graph.model import EdgeId, Label, Rel


@dataclass(slots=True)
class Contents:
    """Everything the file holds, as the store keeps it in memory."""

    graph: Graph
    events: EventIndex
    records: RecordIndex
    keys: dict[str, str]  # key -> the node owning it
    key_rows: dict[str, int]  # key -> rowid of its row
    owned: dict[str, set[str]]  # node id -> the keys it owns
    settings: dict[str, str]
    next_node: int  # the next rows' rowids
    next_edge: int
    next_key: int


def read_all(db: sqlite3.Connection) -> Contents:
    """Read the whole file into memory.

    Speed and size, since a large store makes millions of objects here: the networkx
    dictionaries are filled directly (as `add_node` and `add_edge` would fill them); node
    ids, keys and property names are interned, so each is one string however many
    relationships name it; a relationship keeps its properties as their JSON text, decoded
    when read (`edges`, `dump`, writes). The caller keeps the cyclic garbage collector off
    meanwhile and then has it leave these objects alone for good (`gc.freeze`;
    `EmbeddedStore._read_all`, which freezes the indices built from them too).
    Every node and relationship keeps its row's rowid (`row`), as the key table's rows do
    (`key_rows`): writes name their rows by it.
    """
    graph = new_graph()
    intern = sys.intern
    attrs, succ, pred = graph._node, graph._succ, graph._pred
    labels = {str(label): label for label in Label}
    events: list[EventKey] = []
    records = new_record_index()
    last = 0
    for row, node_id, label, text in db.execute("SELECT rowid, id, label, props FROM nodes"):
        node_id = intern(node_id)
        props = intern_keys(decode_props(text))
        kind = labels.get(label) or Label(label)
        if node_id not in attrs:
            succ[node_id], pred[node_id] = {}, {}
        attrs[node_id] = {"label": kind, "props": props, "row": row}
        last = row
        if kind is Label.EVENT:
            events.append((props.get("occurred_on") or "", node_id))
        elif kind in records:
            records[kind].add(node_id)
    next_node = last + 1
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
            name = EDGE_NAMES[rel]
        data: EdgeData = {"type": rel, "rkey": key, "json": text, "row": row}
        try:
            out, into = succ[src], pred[dst]
        except KeyError:  # an end that is not a node becomes one, as in add_edge
            graph.add_edge(src, dst, name, **data)
            continue
        parallel = out.get(dst)
        if parallel is None:
            parallel = out[dst] = into[src] = {}
        parallel[name] = data
    next_edge = last + 1
    keys: dict[str, str] = {}
    key_rows: dict[str, int] = {}
    last = 0
    for row, key, node in db.execute("SELECT rowid, key, node FROM keys"):
        key = intern(key)
        keys[key] = intern(node)
        key_rows[key] = last = row
    owned: dict[str, set[str]] = {}
    for key, owner in keys.items():
        owned.setdefault(owner, set()).add(key)
    settings = dict(db.execute("SELECT name, value FROM settings"))
    contents = Contents(
        graph=graph,
        events=new_event_index(events),
        records=records,
        keys=keys,
        key_rows=key_rows,
        owned=owned,
        settings=settings,
        next_node=next_node,
        next_edge=next_edge,
        next_key=last + 1,
    )
    return contents


class Dirty:
    """The rows a write changes, by rowid: written once, when the write commits. A row the
    write removes keeps what names it (a node's id, a relationship's ends, type and key, a
    key's text): the change log says what went (`graph.embedded.changelog`)."""

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
        self.nodes: dict[int, str] = {}  # rowid -> node id
        self.edges: dict[int, tuple[str, str, EdgeData]] = {}  # rowid -> (src, dst, data)
        self.keys: dict[int, tuple[str, str]] = {}  # rowid -> (key, owner)
        self.settings: dict[str, str] = {}
        self.new_nodes: set[int] = set()
        self.new_edges: set[int] = set()
        self.new_keys: set[int] = set()
        self.dead_nodes: dict[int, str] = {}  # rowid -> node id
        self.dead_edges: dict[int, EdgeId] = {}  # rowid -> (src, type, dst, key)
        self.dead_keys: dict[int, str] = {}  # rowid -> key

    def drop_node(self, row: int, node_id: str) -> None:
        self.nodes.pop(row, None)
        if row in self.new_nodes:
            self.new_nodes.discard(row)
        else:
            self.dead_nodes[row] = node_id

    def drop_edge(self, row: int, edge: EdgeId) -> None:
        self.edges.pop(row, None)
        if row in self.new_edges:
            self.new_edges.discard(row)
        else:
            self.dead_edges[row] = edge

    def drop_key(self, row: int, key: str) -> None:
        self.keys.pop(row, None)
        if row in self.new_keys:
            self.new_keys.discard(row)
        else:
            self.dead_keys[row] = key


def write_dirty(db: sqlite3.Connection, dirty: Dirty, attrs: dict[str, NodeData]) -> None:
    """Write the rows `dirty` names, inside the open transaction; a node's row is written
    from its attributes in `attrs`."""
    db.executemany("DELETE FROM nodes WHERE rowid = ?", [(r,) for r in dirty.dead_nodes])
    db.executemany("DELETE FROM edges WHERE rowid = ?", [(r,) for r in dirty.dead_edges])
    db.executemany("DELETE FROM keys WHERE rowid = ?", [(r,) for r in dirty.dead_keys])
    node_inserts: list[tuple[int, str, str, str]] = []
    node_updates: list[tuple[str, int]] = []
    for row, node_id in dirty.nodes.items():
        data = attrs[node_id]
        text = encode_props(data["props"])
        if row in dirty.new_nodes:
            node_inserts.append((row, node_id, data["label"].value, text))
        else:
            node_updates.append((text, row))
    db.executemany("INSERT INTO nodes (rowid, id, label, props) VALUES (?, ?, ?, ?)", node_inserts)
    db.executemany("UPDATE nodes SET props = ? WHERE rowid = ?", node_updates)
    edge_inserts: list[tuple[int, str, str, str, str, str]] = []
    edge_updates: list[tuple[str, int]] = []
    for row, (src, dst, edge) in dirty.edges.items():
        if row in dirty.new_edges:
            edge_inserts.append((row, src, edge["type"].value, dst, edge["rkey"], edge["json"]))
        else:
            edge_updates.append((edge["json"], row))
    db.executemany(
        "INSERT INTO edges (rowid, src, type, dst, key, props) VALUES (?, ?, ?, ?, ?, ?)",
        edge_inserts,
    )
    db.executemany("UPDATE edges SET props = ? WHERE rowid = ?", edge_updates)
    key_inserts: list[tuple[int, str, str]] = []
    key_updates: list[tuple[str, int]] = []
    for row, (key, owner) in dirty.keys.items():
        if row in dirty.new_keys:
            key_inserts.append((row, key, owner))
        else:
            key_updates.append((owner, row))
    db.executemany("INSERT INTO keys (rowid, key, node) VALUES (?, ?, ?)", key_inserts)
    db.executemany("UPDATE keys SET node = ? WHERE rowid = ?", key_updates)
    db.executemany("INSERT OR REPLACE INTO settings VALUES (?, ?)", dirty.settings.items())
