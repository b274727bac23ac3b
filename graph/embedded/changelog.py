"""The embedded store's change log: one row per committed write in the table `changes`, appended
in the write's own transaction, and what a follower reads from it to bring its memory up to date.

An entry names what the write changed: the rows it wrote (by rowid, with what names them) and
what it removed (by what names it: a node's id, a relationship's ends, type and key, a key's
text), the settings it wrote, and what the writer said the write means (events created, level
changes). Rows are named rather than copied: the entry stays small (a bulk batch's entry is a
few percent of the rows it wrote), and a follower reads the rows it names as they are now.

A follower (`fetch`) reads, in one read transaction, every entry after its position and the
rows they name: what it applies is the state of the file at the last entry, never part of a
write. Deletions apply first, then the rows that still exist: a row written by one entry and
removed by a later one is gone from the table, and a node removed and written again is in a
later entry's rows. docs/changes.md has the format, the retention and the guarantees.
"""

from __future__ import annotations

import sqlite3
import sys
import zlib
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import msgspec

from graph import store as port
from graph.embedded.codec import Decoded, decode_props, intern_keys
from graph.embedded.rows import Dirty
from graph.model import EdgeId, Label, Rel
from graph.store import Change, ChangeLogTruncated

TABLE = (
    "CREATE TABLE IF NOT EXISTS changes "
    "(seq INTEGER PRIMARY KEY, at TEXT NOT NULL, entry BLOB NOT NULL)"
)

# Entries kept decoded after they were written or read (`Recent`): a bulk batch's is about a
# megabyte, and a follower reads its entries again right after applying them.
RECENT = 16

# Truncation runs once in this many appends (or `CHANGE_LOG_KEEP`, if fewer): a range delete
# at the log's old end.
TRUNCATE_EVERY = 100


class Entry(msgspec.Struct, omit_defaults=True):
    """One entry as stored (JSON, short field names: a bulk batch's entry names thousands of
    rows)."""

    n: list[tuple[int, str]] = []  # node rows written: (rowid, id)
    dn: list[str] = []  # nodes removed
    # relationship rows written: (rowid, src, type, dst, key); named here, not read from the
    # rows later, so that an entry names what it wrote even once a later one removes it (as on
    # Neo4j); the ids compress well
    e: list[tuple[int, str, str, str, str]] = []
    de: list[tuple[str, str, str, str]] = []  # relationships removed: (src, type, dst, key)
    k: list[int] = []  # key rows written
    dk: list[str] = []  # keys removed
    s: list[str] = []  # settings written
    c: list[str] = []  # events created (`WriteBatch.created`)
    l: list[tuple[str, str]] = []  # noqa: E741 - level changes: (event id, history entry)


_encode = msgspec.json.Encoder().encode
_decode_json = msgspec.json.Decoder(Entry).decode


def _pack(entry: Entry) -> bytes:
    """An entry as stored: its JSON, compressed (zlib at its fastest level: a bulk batch's
    entry of 250 kB, mostly ids and the level changes' history entries, takes 1 ms and a
    fifth of the room)."""
    return zlib.compress(_encode(entry), 1)


def _decode(stored: bytes) -> Entry:
    return _decode_json(zlib.decompress(stored))


def entry_of(dirty: Dirty, created: Sequence[str], levels: Sequence[tuple[str, str]]) -> Entry:
    """The entry of a write whose rows are `dirty`, announcing `created` and `levels`."""
    return Entry(
        n=list(dirty.nodes.items()),
        dn=list(dirty.dead_nodes.values()),
        e=[
            (row, src, data["type"].value, dst, data["rkey"])
            for row, (src, dst, data) in dirty.edges.items()
        ],
        de=[(src, str(kind), dst, key) for src, kind, dst, key in dirty.dead_edges.values()],
        k=list(dirty.keys),
        dk=list(dirty.dead_keys.values()),
        s=list(dirty.settings),
        c=list(dict.fromkeys(created)),
        l=list(levels),
    )


def now() -> str:
    return datetime.now(UTC).isoformat(timespec="microseconds")


def append(db: sqlite3.Connection, seq: int, entry: Entry) -> str:
    """Append `entry` as `seq`, inside the open write transaction; every `TRUNCATE_EVERY`
    entries, drop those older than the latest `CHANGE_LOG_KEEP`. Its time (`at`)."""
    at = now()
    db.execute("INSERT INTO changes (seq, at, entry) VALUES (?, ?, ?)", (seq, at, _pack(entry)))
    keep = port.CHANGE_LOG_KEEP
    if seq % min(TRUNCATE_EVERY, keep) == 0:
        db.execute("DELETE FROM changes WHERE seq <= ?", (seq - keep,))
    return at


def last_seq(db: sqlite3.Connection) -> int:
    return _bounds(db)[1]


def pending_bytes(db: sqlite3.Connection, after: int) -> int:
    """The stored size of the entries after `after` (their lengths only: nothing decoded)."""
    (size,) = db.execute(
        "SELECT coalesce(sum(length(entry)), 0) FROM changes WHERE seq > ?", (after,)
    ).fetchone()
    return int(size)


def _bounds(db: sqlite3.Connection) -> tuple[int | None, int]:
    """The oldest entry the log holds (None: none) and the latest (0: none ever)."""
    # two subqueries: with min() and max() in one SELECT, SQLite scans the whole table
    oldest, latest = db.execute(
        "SELECT (SELECT min(seq) FROM changes), (SELECT max(seq) FROM changes)"
    ).fetchone()
    return (None if oldest is None else int(oldest)), (0 if latest is None else int(latest))


def _check_held(db: sqlite3.Connection, after: int) -> int:
    """The latest entry; `ChangeLogTruncated` when entries after `after` are gone from the
    log."""
    oldest, latest = _bounds(db)
    if after < latest and (oldest is None or oldest > after + 1):
        raise ChangeLogTruncated(
            f"the change log no longer holds the entries after {after} (it keeps the latest "
            f"{port.CHANGE_LOG_KEEP:,}; its oldest is {oldest}): read the store afresh"
        )
    return latest


def change_of(seq: int, at: str, entry: Entry) -> Change:
    """The port's view of an entry."""
    return Change(
        seq=seq,
        at=at,
        nodes=tuple(node_id for _, node_id in entry.n),
        deleted=tuple(entry.dn),
        relationships=tuple((src, Rel(kind), dst, key) for _, src, kind, dst, key in entry.e),
        unlinked=tuple((src, Rel(kind), dst, key) for src, kind, dst, key in entry.de),
        settings=tuple(entry.s),
        created=tuple(entry.c),
        level_changes=tuple(entry.l),
    )


class Recent:
    """The latest entries this process wrote or read (`fetch`), kept so that reading them
    again (`GraphStore.changes`: live updates, the response cache) right after applying them
    neither reads nor decodes them on the event loop. An entry this process wrote is kept as
    written and made a `Change` when first asked for (a bulk load never asks)."""

    def __init__(self, size: int = RECENT) -> None:
        self.size = size
        self._kept: dict[int, Change | tuple[str, Entry]] = {}

    def wrote(self, seq: int, at: str, entry: Entry) -> None:
        self._keep(seq, (at, entry))

    def read(self, changes: Sequence[Change]) -> None:
        for change in changes[-self.size :]:
            self._keep(change.seq, change)

    def _keep(self, seq: int, kept: Change | tuple[str, Entry]) -> None:
        self._kept[seq] = kept
        while len(self._kept) > self.size:
            del self._kept[next(iter(self._kept))]

    def clear(self) -> None:
        self._kept.clear()

    def span(self, after: int, last: int) -> list[Change] | None:
        """The entries after `after` up to `last`, if every one is kept."""
        found: list[Change] = []
        for seq in range(after + 1, last + 1):
            kept = self._kept.get(seq)
            if kept is None:
                return None
            if not isinstance(kept, Change):
                kept = self._kept[seq] = change_of(seq, *kept)
            found.append(kept)
        return found


def read(
    db: sqlite3.Connection, after: int, limit: int, recent: Recent | None = None
) -> list[Change]:
    """Up to `limit` entries after `after`, oldest first (`GraphStore.changes`); from
    `recent` when it holds them all."""
    with snapshot(db):
        latest = _check_held(db, after)
        if recent is not None and latest > after:
            kept = recent.span(after, min(latest, after + limit))
            if kept is not None:
                return kept
        found = db.execute(
            "SELECT seq, at, entry FROM changes WHERE seq > ? ORDER BY seq LIMIT ?",
            (after, limit),
        ).fetchall()
    return [change_of(seq, at, _decode(text)) for seq, at, text in found]


@dataclass(slots=True)
class Pending:
    """What a follower has not applied yet: the entries after its position and, as the file
    holds them at the last of those, the rows they name. `rebuild` when the log no longer
    holds them all (the follower reads the whole file again)."""

    base: int
    last: int
    # the entries themselves, as the port gives them (`GraphStore.changes`)
    changes: list[Change] = field(default_factory=list)
    deleted_nodes: list[str] = field(default_factory=list)
    deleted_edges: list[EdgeId] = field(default_factory=list)
    deleted_keys: list[str] = field(default_factory=list)
    nodes: list[tuple[int, str, Label, Decoded]] = field(default_factory=list)
    edges: list[tuple[int, str, Rel, str, str, str]] = field(default_factory=list)
    keys: list[tuple[int, str, str]] = field(default_factory=list)
    settings: dict[str, str | None] = field(default_factory=dict)
    # the highest rowids the entries name, removed since or not: a writer allocates past them
    top_node: int = 0
    top_edge: int = 0
    top_key: int = 0
    rebuild: bool = False

    def touches(self) -> bool:
        """Whether applying it changes memory at all."""
        return bool(
            self.rebuild
            or self.deleted_nodes
            or self.deleted_edges
            or self.deleted_keys
            or self.nodes
            or self.edges
            or self.keys
            or self.settings
        )


@contextmanager
def snapshot(db: sqlite3.Connection) -> Iterator[None]:
    """A read transaction (one snapshot of the file), unless one is already open (a write's:
    it sees the latest commit already)."""
    if db.in_transaction:
        yield
        return
    db.execute("BEGIN")
    try:
        yield
    finally:
        if db.in_transaction:
            db.execute("COMMIT")


def fetch(db: sqlite3.Connection, after: int) -> Pending:
    """Every entry after `after` and the rows they name, read in one snapshot of the file.
    Reads and decodes only: nothing in memory changes (`EmbeddedStore.catch_up` applies it)."""
    with snapshot(db):
        oldest, latest = _bounds(db)
        if latest == after:
            return Pending(base=after, last=after)
        if latest < after or oldest is None or oldest > after + 1:
            # not the file this process read (replaced since), or truncated past `after`
            return Pending(base=after, last=latest, rebuild=True)
        found = db.execute(
            "SELECT seq, at, entry FROM changes WHERE seq > ? ORDER BY seq", (after,)
        ).fetchall()
        pending = Pending(base=after, last=latest)
        node_rows: set[int] = set()
        edge_rows: set[int] = set()
        key_rows: set[int] = set()
        names: set[str] = set()
        keep_from = len(found) - RECENT
        for i, (seq, at, text) in enumerate(found):
            entry = _decode(text)
            if i >= keep_from:  # what `Recent` keeps of them, made here, off the event loop
                pending.changes.append(change_of(seq, at, entry))
            pending.deleted_nodes += entry.dn
            pending.deleted_edges += [(s, Rel(t), d, k) for s, t, d, k in entry.de]
            pending.deleted_keys += entry.dk
            node_rows.update(row for row, _ in entry.n)
            edge_rows.update(row for row, *_ in entry.e)
            key_rows.update(entry.k)
            names.update(entry.s)
        pending.top_node = max(node_rows, default=0)
        pending.top_edge = max(edge_rows, default=0)
        pending.top_key = max(key_rows, default=0)
        _read_rows(db, pending, node_rows, edge_rows, key_rows, names)
    return pending


def restore(db: sqlite3.Connection, dirty: Dirty, seq: int) -> Pending:
    """What brings memory back to the file after a write that failed before committing: the
    rows it created removed, the rows it changed or removed read again as the file holds
    them."""
    pending = Pending(base=seq, last=seq)
    pending.deleted_nodes = [i for row, i in dirty.nodes.items() if row in dirty.new_nodes]
    pending.deleted_edges = [
        (src, data["type"], dst, data["rkey"])
        for row, (src, dst, data) in dirty.edges.items()
        if row in dirty.new_edges
    ]
    pending.deleted_keys = [k for row, (k, _) in dirty.keys.items() if row in dirty.new_keys]
    node_rows = {r for r in dirty.nodes if r not in dirty.new_nodes} | set(dirty.dead_nodes)
    edge_rows = {r for r in dirty.edges if r not in dirty.new_edges} | set(dirty.dead_edges)
    key_rows = {r for r in dirty.keys if r not in dirty.new_keys} | set(dirty.dead_keys)
    with snapshot(db):
        _read_rows(db, pending, node_rows, edge_rows, key_rows, set(dirty.settings))
    return pending


def _read_rows(
    db: sqlite3.Connection,
    pending: Pending,
    node_rows: set[int],
    edge_rows: set[int],
    key_rows: set[int],
    names: set[str],
) -> None:
    """Read into `pending` the rows among these rowids that exist, and these settings."""
    labels = {str(label): label for label in Label}
    rels = {str(rel): rel for rel in Rel}
    for row, node_id, label, text in _rows(
        db, "SELECT rowid, id, label, props FROM nodes", node_rows
    ):
        kind = labels.get(label) or Label(label)
        pending.nodes.append((row, sys.intern(node_id), kind, intern_keys(decode_props(text))))
    # Interned here, in the reading thread, so that applying is only dictionary updates.
    intern = sys.intern
    for row, src, kind, dst, key, text in _rows(
        db, "SELECT rowid, src, type, dst, key, props FROM edges", edge_rows
    ):
        rel = rels.get(kind) or Rel(kind)
        pending.edges.append((row, intern(src), rel, intern(dst), intern(key), text))
    for row, key, owner in _rows(db, "SELECT rowid, key, node FROM keys", key_rows):
        pending.keys.append((row, intern(key), intern(owner)))
    if names:
        stored = dict(
            db.execute(
                "SELECT name, value FROM settings WHERE name IN (SELECT value FROM json_each(?))",
                (_encode(sorted(names)).decode(),),
            )
        )
        pending.settings = {name: stored.get(name) for name in names}


def _rows(db: sqlite3.Connection, select: str, rowids: set[int]) -> list[tuple[Any, ...]]:
    """The rows among `rowids` that exist, in rowid order. `select` is this module's own
    text, never a user's."""
    if not rowids:
        return []
    found: list[tuple[Any, ...]] = db.execute(
        f"{select} WHERE rowid IN (SELECT value FROM json_each(?)) ORDER BY rowid",
        (_encode(sorted(rowids)).decode(),),
    ).fetchall()
    return found
