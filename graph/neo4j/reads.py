"""The Neo4j store's reads inside a transaction: node labels, nodes, key owners and
relationships, each batched by id; shared by the store's own reads and the in-transaction
reader of a `derive` step (`graph.neo4j.transaction`)."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import neo4j

from graph.model import Direction, Edge, Label, Node, Rel
from graph.neo4j import codec
from graph.neo4j import queries as q
from graph.store import (
    PAGE_PARTS,
    EventNeighbourhood,
    PagePart,
    check_prefixes,
)


def labels_of(tx: neo4j.ManagedTransaction, ids: Sequence[str]) -> dict[str, Label]:
    """The label of each of these nodes that exists."""
    if not ids:
        return {}
    found: dict[str, Label] = {}
    for record in tx.run(q.LABELS_OF, ids=list(ids)):
        label = q.LABELS[record["label"]]
        found.update((node_id, label) for node_id in record["ids"])
    return found


def get_nodes(
    tx: neo4j.ManagedTransaction, ids: Sequence[str], hints: Mapping[str, Label] | None = None
) -> dict[str, Node]:
    """The nodes with these ids. `hints` (a node id's likely label) only choose where to
    look first: a node not found under its hinted label is looked for under every label."""
    wanted = list(dict.fromkeys(ids))
    if not wanted:
        return {}
    found: dict[str, Node] = {}
    rest = wanted
    if hints:
        rest = []
        for label, group in _hinted(wanted, hints, rest).items():
            for node_id, props in codec.rows(tx.run(q.get_nodes_of(label), ids=group)):
                found[node_id] = codec.node(node_id, [label.value], props)
            rest += [i for i in group if i not in found]
    if rest:
        for node_id, labels, props in codec.rows(tx.run(q.GET_NODES, ids=rest)):
            found[node_id] = codec.node(node_id, labels, props)
    return {i: found[i] for i in wanted if i in found}


def _hinted(
    wanted: list[str], hints: Mapping[str, Label], rest: list[str]
) -> dict[Label, list[str]]:
    """`wanted` grouped by hinted label; the ids without a hint are appended to `rest`."""
    grouped: dict[Label, list[str]] = {}
    for node_id in wanted:
        label = hints.get(node_id)
        if label is None:
            rest.append(node_id)
        else:
            grouped.setdefault(label, []).append(node_id)
    return grouped


def lookup_keys(tx: neo4j.ManagedTransaction, keys: Sequence[str]) -> dict[str, str]:
    """The owner of each of these identity keys that has one."""
    wanted = list(dict.fromkeys(keys))
    if not wanted:
        return {}
    owners = {key: node for key, node in codec.rows(tx.run(q.LOOKUP_KEYS, keys=wanted))}
    return {k: owners[k] for k in wanted if k in owners}


def lookup_key_prefixes(
    tx: neo4j.ManagedTransaction, prefixes: Sequence[str]
) -> dict[str, list[str]]:
    """The sorted distinct owners of the keys starting with each prefix (every prefix in the
    result)."""
    check_prefixes(prefixes)
    wanted = list(dict.fromkeys(prefixes))
    found: dict[str, list[str]] = {}
    if wanted:
        for prefix, owners in codec.rows(tx.run(q.LOOKUP_KEY_PREFIXES, prefixes=wanted)):
            found[prefix] = sorted(set(owners))
    return {p: found.get(p, []) for p in prefixes}


def get_edges(
    tx: neo4j.ManagedTransaction,
    ids: Sequence[str],
    rel: Rel,
    direction: Direction,
    hints: Mapping[str, Label] | None = None,
) -> dict[str, list[Edge]]:
    """The `rel` relationships of each node, `direction` from it, in `in_order`. `hints` as
    for `get_nodes`."""
    wanted = list(dict.fromkeys(ids))
    result: dict[str, list[Edge]] = {i: [] for i in ids}
    if not wanted:
        return result

    def add(rows: Iterable[list[Any]]) -> None:
        for node_id, other, raw in rows:
            if other is None:
                continue  # a hinted node without such relationships
            key, props = codec.edge_props(raw)
            src, dst = (node_id, other) if direction == "out" else (other, node_id)
            result[node_id].append(Edge(src, rel, dst, key, props))

    rest = wanted
    if hints:
        rest = []
        for label, group in _hinted(wanted, hints, rest).items():
            rows = codec.rows(tx.run(q.edges_of(label, rel, direction), ids=group))
            seen = {row[0] for row in rows}
            add(rows)
            rest += [i for i in group if i not in seen]
    if rest:
        add(codec.rows(tx.run(q.edges_query(rel, direction), ids=rest)))
    for node_id, found in result.items():
        in_order(node_id, found)
    return result


def get_linked(
    tx: neo4j.ManagedTransaction, ids: Sequence[str], rel: Rel, direction: Direction
) -> dict[str, list[str]]:
    """The other ends of each node's `rel` relationships, sorted (`GraphStore.linked`)."""
    result: dict[str, list[str]] = {i: [] for i in ids}
    wanted = list(dict.fromkeys(ids))
    if wanted:
        for node_id, other in codec.rows(tx.run(q.linked_query(rel, direction), ids=wanted)):
            result[node_id].append(other)
    for others in result.values():
        others.sort()
    return result


def in_order(node_id: str, edges: list[Edge]) -> list[Edge]:
    """`edges` of `node_id` in the order every store gives them: by the other end, then key."""
    edges.sort(key=lambda e: (e.other(node_id), e.discriminator))
    return edges


# Each part of an event page's neighbourhood: the relationship from the event, and the one of
# the second level from its other ends (`graph.store.EventNeighbourhood`).
_PARTS: dict[PagePart, tuple[Rel, Direction, tuple[Rel, Direction] | None]] = {
    "reports": (Rel.REPORTS, "in", None),
    "involves": (Rel.INVOLVES, "out", None),
    "describes": (Rel.DESCRIBES, "in", (Rel.PUBLISHED, "in")),
    "occurred_in": (Rel.OCCURRED_IN, "out", (Rel.IN_COUNTRY, "out")),
}


# How many times a page read that a commit overlapped is read again before it is returned as
# it is (a page of an event written without pause).
TORN_RETRIES = 5

# Runs one read statement with its parameters and gives its one record, or None.
Fetch = Callable[[str, Mapping[str, Any]], "neo4j.Record | None"]


def event_neighbourhood(
    fetch: Fetch, event_id: str, parts: frozenset[PagePart]
) -> EventNeighbourhood:
    """An event page's neighbourhood of `event_id` in one statement
    (`queries.event_neighbourhood`), run by `fetch`."""
    wanted = frozenset(p for p in PAGE_PARTS if p in parts)
    statement = q.event_neighbourhood(wanted)
    # Neo4j reads committed data, statement by statement: a write committing while the
    # statement reads could show half of it. Every write moves the change log's head, so the
    # head read before the page and again after it (in the same statement) says whether one
    # did; then the page is read again (rarely: only while the event is being written).
    record: neo4j.Record | None = None
    for _ in range(TORN_RETRIES):
        record = fetch(statement, {"id": event_id, "head": q.CHANGE_HEAD})
        if record is None:
            return EventNeighbourhood({}, {})
        if record["before"] == record["after"]:
            break
    assert record is not None
    page = record["page"]
    nodes: dict[str, Node] = {event_id: codec.node(event_id, [Label.EVENT.value], page["event"])}
    edges: dict[tuple[str, Rel, Direction], list[Edge]] = {}

    def add(node_id: str, rel: Rel, direction: Direction, items: list[list[Any]]) -> list[Any]:
        found: list[Edge] = []
        nested: list[Any] = []
        for item in items:
            other, labels, props, raw = item[:4]
            if other not in nodes:  # an outlet comes once per report and once per story
                nodes[other] = codec.node(other, labels, props)
            key, edge_props = codec.edge_props(raw)
            src, dst = (node_id, other) if direction == "out" else (other, node_id)
            found.append(Edge(src, rel, dst, key, edge_props))
            if len(item) > 4:
                nested.append((other, item[4]))
        edges[(node_id, rel, direction)] = in_order(node_id, found)
        return nested

    for part in PAGE_PARTS:
        if part not in wanted:
            continue
        rel, direction, second = _PARTS[part]
        nested = add(event_id, rel, direction, page[part])
        if second is not None:
            for other, items in dict(nested).items():
                add(other, second[0], second[1], items)
    return EventNeighbourhood(nodes, edges)
