"""The reads of a `derive` step, made inside the write's own transaction (`InTransaction`),
and what the write created there (`Created`), from which some of them are answered."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import neo4j

from graph.model import Direction, Edge, Label, Node, Rel, Value
from graph.neo4j import codec, reads


@dataclass
class Created:
    """What a batch created in its transaction: each new node's label and properties and,
    when `edges_known` (new relationships are CREATEd: the server enforces `_uid`
    uniqueness), the properties of every relationship with a new end, by (type, src, dst,
    key). Nothing else can touch a node the transaction created before it commits (a
    concurrent creator of the same id fails on the uniqueness constraint), so these are
    exactly what the transaction would read back."""

    edges_known: bool
    nodes: dict[str, tuple[Label, dict[str, Value]]] = field(default_factory=dict)
    edges: dict[tuple[Rel, str, str, str], dict[str, Value]] = field(default_factory=dict)
    _ends: dict[tuple[Rel, str, Direction], list[Edge]] | None = None

    def node(self, node_id: str) -> Node | None:
        created = self.nodes.get(node_id)
        if created is None:
            return None
        return Node(node_id, created[0], codec.copy_props(created[1]))

    def edges_of(self, node_id: str, rel: Rel, direction: Direction) -> list[Edge] | None:
        """The `rel` relationships of a new node (None for a node that is not new, or when
        its relationships are not known)."""
        if not self.edges_known or node_id not in self.nodes:
            return None
        if self._ends is None:
            self._ends = {}
            for (type_, src, dst, key), props in self.edges.items():
                edge = Edge(src, type_, dst, key, props)
                self._ends.setdefault((type_, src, "out"), []).append(edge)
                self._ends.setdefault((type_, dst, "in"), []).append(edge)
        found = self._ends.get((rel, node_id, direction), [])
        return [
            Edge(e.src, e.type, e.dst, e.discriminator, codec.copy_props(e.props)) for e in found
        ]


class InTransaction:
    """The reads of a `derive` step, made in the write's own transaction. The labels of the
    nodes the write named (`hints`) spare most lookups under every label, the owners of the
    keys it claimed (`owners`, as its claims returned them) are not read again, and the nodes
    it created (and, when known, their relationships) are answered from `created`."""

    def __init__(
        self,
        tx: neo4j.ManagedTransaction,
        hints: Mapping[str, Label],
        owners: Mapping[str, str],
        created: Created | None = None,
    ) -> None:
        self._tx = tx
        self._hints = hints
        self._owners = owners
        self._created = created or Created(edges_known=False)

    def get_nodes(self, ids: Sequence[str]) -> dict[str, Node]:
        wanted = list(dict.fromkeys(ids))
        known = {i: n for i in wanted if (n := self._created.node(i)) is not None}
        read = reads.get_nodes(self._tx, [i for i in wanted if i not in known], self._hints)
        return {i: n for i in wanted if (n := known.get(i) or read.get(i)) is not None}

    def lookup_keys(self, keys: Sequence[str]) -> dict[str, str]:
        found = reads.lookup_keys(self._tx, [k for k in keys if k not in self._owners])
        return {k: o for k in keys if (o := self._owners.get(k) or found.get(k)) is not None}

    def write_count(self) -> int | None:
        return None  # other processes write the server's graph

    def lookup_key_prefixes(self, prefixes: Sequence[str]) -> dict[str, list[str]]:
        return reads.lookup_key_prefixes(self._tx, prefixes)

    def edges(self, ids: Sequence[str], rel: Rel, direction: Direction) -> dict[str, list[Edge]]:
        known: dict[str, list[Edge]] = {}
        for node_id in dict.fromkeys(ids):
            edges = self._created.edges_of(node_id, rel, direction)
            if edges is not None:
                known[node_id] = reads.in_order(node_id, edges)
        rest = [i for i in ids if i not in known]
        read = reads.get_edges(self._tx, rest, rel, direction, self._hints) if rest else {}
        return {i: known[i] if i in known else read[i] for i in ids}
