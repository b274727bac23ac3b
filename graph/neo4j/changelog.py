"""The Neo4j store's change log (docs/changes-neo4j.md): what one write changed (`Changed`,
filled by the statement plan from what its statements return), appended as one `(:Change)`
node in the write's own transaction (`append`), and read back as `graph.store.Change` entries
(`read`).

An entry is appended only when the write changed something: every write statement returns
what it changed, so a write that stores again what is stored (a replayed batch, a rewrite of
identical values) appends nothing. That is also why a retry never logs one write twice: a
failed attempt rolls back with its entry, and a retry after a commit whose answer was lost
finds everything written and changes nothing.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import neo4j

from graph.model import EdgeId, Rel
from graph.neo4j import queries as q
from graph.store import Change

# Truncation runs once this many entries beyond those kept have piled up (fewer when fewer are
# kept), and deletes at most TRUNCATE_LIMIT entries at a time: a write's cost stays bounded.
TRUNCATE_EVERY = 100
TRUNCATE_LIMIT = 1000

# The fields of an entry besides `seq` and `at`, each stored as JSON text (absent when empty).
FIELDS = (
    "nodes",
    "deleted",
    "relationships",
    "unlinked",
    "settings",
    "created",
    "level_changes",
)
_RELS = {rel.value: rel for rel in Rel}


@dataclass
class Changed:
    """What a write changed so far, as the write leaves things: a node deleted and written
    again in one write is written (and its relationships removed with it, unless written
    again, are unlinked), a relationship unlinked and written again is written. Each field is
    an ordered set (a dict of None), in the order the write first reported the item."""

    nodes: dict[str, None] = field(default_factory=dict)
    deleted: dict[str, None] = field(default_factory=dict)
    relationships: dict[EdgeId, None] = field(default_factory=dict)
    unlinked: dict[EdgeId, None] = field(default_factory=dict)
    settings: dict[str, None] = field(default_factory=dict)

    def __bool__(self) -> bool:
        return bool(
            self.nodes or self.deleted or self.relationships or self.unlinked or self.settings
        )

    def wrote_nodes(self, ids: Iterable[str]) -> None:
        for node_id in ids:
            self.deleted.pop(node_id, None)
            self.nodes[node_id] = None

    def touched_nodes(self, ids: Iterable[str | None]) -> None:
        """Nodes whose identity keys changed: written, unless the write deleted them."""
        for node_id in ids:
            if node_id is not None and node_id not in self.deleted:
                self.nodes[node_id] = None

    def deleted_nodes(self, ids: Iterable[str]) -> None:
        for node_id in ids:
            self.nodes.pop(node_id, None)
            self.deleted[node_id] = None

    def wrote_edges(self, edges: Iterable[EdgeId]) -> None:
        for edge in edges:
            self.unlinked.pop(edge, None)
            self.relationships[edge] = None

    def unlinked_edges(self, edges: Iterable[EdgeId]) -> None:
        for edge in edges:
            self.relationships.pop(edge, None)
            self.unlinked[edge] = None

    def wrote_settings(self, names: Iterable[str]) -> None:
        self.settings.update(dict.fromkeys(names))


def stored_edge(src: str, rel: str, dst: str, key: str | None) -> EdgeId | None:
    """A stored relationship's id, or None for a type the store does not know."""
    found = _RELS.get(rel)
    return None if found is None else (src, found, dst, key or "")


def now() -> str:
    """When the write commits, as the entry's `at`: UTC, ISO 8601, microseconds."""
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def append(
    tx: neo4j.ManagedTransaction,
    changed: Changed,
    created: Sequence[str],
    level_changes: Sequence[tuple[str, str]],
    keep: int,
) -> int:
    """Append the entry of `changed` (and of what the writer announced: `created`,
    `level_changes`) in the write's transaction `tx`; return its seq. When more than `keep`
    entries (and the truncation step) are kept, truncate the oldest in the same transaction,
    which holds the head's lock already."""
    values: dict[str, list[Any]] = {
        "nodes": list(changed.nodes),
        "deleted": list(changed.deleted),
        "relationships": [list(e) for e in changed.relationships],
        "unlinked": [list(e) for e in changed.unlinked],
        "settings": list(changed.settings),
        "created": list(dict.fromkeys(created)),
        "level_changes": [list(pair) for pair in level_changes],
    }
    entry: dict[str, str] = {"at": now()}
    entry.update((name, _json(v)) for name, v in values.items() if v)
    record = tx.run(q.APPEND_CHANGE, head=q.CHANGE_HEAD, entry=entry).single(strict=True)
    seq: int = record["seq"]
    oldest: int = record["oldest"]
    keep = max(keep, 1)
    if seq - oldest + 1 >= keep + min(TRUNCATE_EVERY, keep):
        last = min(seq - keep, oldest + TRUNCATE_LIMIT - 1)
        tx.run(q.DROP_CHANGES, first=oldest, last=last).consume()
        tx.run(q.SET_OLDEST_CHANGE, head=q.CHANGE_HEAD, oldest=last + 1).consume()
    return seq


@dataclass(frozen=True, slots=True)
class Page:
    """What one read of the log found: the head (the latest seq, the oldest kept) and the
    entries asked for that are still there, oldest first."""

    latest: int
    oldest: int
    entries: list[Change]


def read(tx: neo4j.ManagedTransaction, after: int, limit: int) -> Page:
    """Up to `limit` entries after `after`, with the head as this transaction read it."""
    head = tx.run(q.CHANGE_LOG_HEAD, head=q.CHANGE_HEAD).single()
    latest: int = head["seq"] if head is not None else 0
    oldest: int = head["oldest"] if head is not None else 1
    first, last = max(after + 1, oldest), min(after + limit, latest)
    entries: list[Change] = []
    if first <= last:
        result = tx.run(q.GET_CHANGES, first=first, last=last)
        entries = sorted((entry(p) for r in result for p in r[q.ROWS]), key=lambda c: c.seq)
    return Page(latest, oldest, entries)


def entry(props: Mapping[str, Any]) -> Change:
    """A stored `(:Change)` node's properties as a `Change`."""

    def texts(name: str) -> tuple[str, ...]:
        return tuple(str(v) for v in _load(props, name))

    def edges(name: str) -> tuple[EdgeId, ...]:
        found = (stored_edge(*e) for e in _load(props, name))
        return tuple(e for e in found if e is not None)

    return Change(
        seq=int(props["seq"]),
        at=str(props["at"]),
        nodes=texts("nodes"),
        deleted=texts("deleted"),
        relationships=edges("relationships"),
        unlinked=edges("unlinked"),
        settings=texts("settings"),
        created=texts("created"),
        level_changes=tuple((str(e), str(h)) for e, h in _load(props, "level_changes")),
    )


def _json(values: list[Any]) -> str:
    return json.dumps(values, ensure_ascii=False, separators=(",", ":"))


def _load(props: Mapping[str, Any], name: str) -> list[Any]:
    text = props.get(name)
    if not isinstance(text, str):
        return []
    found = json.loads(text)
    return found if isinstance(found, list) else []
