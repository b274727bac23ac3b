"""Neighbourhoods: the nodes around one node, nearest first, and the relationships between
them."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from graph.analytics.bounds import MAX_ITEMS, AnalyticsError, Bound
from graph.analytics.scan import chunks
from graph.model import PUBLIC_RELS, Edge, Label, Node, Rel, is_public
from graph.store import EVERYTHING, EventFilter, GraphStore

NEIGHBOURHOOD_MAX_HOPS = 3
NEIGHBOURHOOD_MAX_EDGES_READ = 50_000  # relationships a neighbourhood may read


def edge_id(edge: Edge) -> str:
    """A stable id of one relationship: its type, ends and key."""
    return f"{edge.type.value}:{edge.src}:{edge.dst}:{edge.discriminator}"


@dataclass(frozen=True, slots=True)
class Neighbourhood:
    """The nodes around one node, nearest first, and the relationships between them."""

    center: str
    nodes: list[Node]
    hops: dict[str, int]  # how far each node is from the centre
    edges: list[Edge]
    bounds: list[Bound]

    @property
    def complete(self) -> bool:
        return not self.bounds


# Only public relationships, into public nodes (`graph.model.PUBLIC_RELS`): a submission and
# the editorial log never show, and an editorial id is an unknown one.
_LINKS: tuple[tuple[Rel, Literal["out", "in"]], ...] = tuple(
    (rel, d) for rel in sorted(PUBLIC_RELS, key=lambda r: r.value) for d in ("out", "in")
)


def neighbourhood(
    store: GraphStore,
    node_id: str,
    hops: int = 1,
    limit: int = 50,
    relationships: Sequence[Rel] = (),
    labels: Sequence[Label] = (),
    window: EventFilter = EVERYTHING,
    max_edges: int = MAX_ITEMS,
    max_edges_read: int = NEIGHBOURHOOD_MAX_EDGES_READ,
) -> Neighbourhood:
    """The nodes within `hops` relationships of `node_id` (only through `relationships` and
    into nodes of `labels` when given; events only inside `window`), breadth first, each ring
    in (relationship, direction, id) order, at most `limit` nodes. Relationships: the ones
    each node was reached by first, then the others between the nodes shown, in id order, at
    most `max_edges`."""
    if not 1 <= hops <= NEIGHBOURHOOD_MAX_HOPS:
        raise AnalyticsError(f"hops must be between 1 and {NEIGHBOURHOOD_MAX_HOPS}, got {hops}")
    if not 1 <= limit <= MAX_ITEMS:
        raise AnalyticsError(f"limit must be between 1 and {MAX_ITEMS}, got {limit}")
    center = store.get_nodes([node_id]).get(node_id)
    if center is None or not is_public(center):  # an editorial id is an unknown one
        raise AnalyticsError(f"no node with id '{node_id}'")
    links = [(r, d) for r, d in _LINKS if not relationships or r in relationships]
    wanted = set(labels)
    nodes: dict[str, Node] = {node_id: center}
    distance = {node_id: 0}
    tree: list[str] = []  # ids of the relationships each node was first reached by
    shown_edges: dict[str, Edge] = {}
    expanded: set[str] = set()
    read = 0

    def read_links(ids: Sequence[str]) -> list[tuple[str, Edge]]:
        nonlocal read
        per_node: dict[str, list[Edge]] = defaultdict(list)
        for rel, direction in links:
            for batch in chunks(ids):
                for source, edges in store.edges(batch, rel, direction).items():
                    per_node[source] += edges
                    read += len(edges)
        expanded.update(ids)
        return [(source, e) for source in ids for e in per_node[source]]

    bounds: list[Bound] = []
    over_read = Bound(
        "edges_read", max_edges_read, f"stopped after reading {max_edges_read}+ relationships"
    )
    full = False
    frontier = [node_id]
    for ring in range(1, hops + 1):
        candidates = read_links(frontier)
        fresh = sorted({e.other(s) for s, e in candidates} - nodes.keys())
        found: dict[str, Node] = {}
        for batch in chunks(fresh):
            found.update(store.get_nodes(batch))
        following: list[str] = []
        for source, edge in candidates:
            other = edge.other(source)
            if other in nodes:
                shown_edges.setdefault(edge_id(edge), edge)
                continue
            node = found.get(other)
            if node is None or not is_public(node) or (wanted and node.label not in wanted):
                continue
            if node.label is Label.EVENT and not window.admits(node.props):
                continue
            if len(nodes) == limit:
                full = True
                continue
            nodes[other] = node
            distance[other] = ring
            following.append(other)
            tree.append(edge_id(edge))
            shown_edges[edge_id(edge)] = edge
        frontier = following
        if read > max_edges_read:
            bounds.append(over_read)
            break
        if not frontier:
            break
    if full:
        bounds.append(Bound("nodes", limit, f"only the nearest {limit} nodes are shown"))
    outer = [n for n in nodes if n not in expanded]
    if outer and read <= max_edges_read:
        for source, edge in read_links(outer):
            if edge.other(source) in nodes:
                shown_edges.setdefault(edge_id(edge), edge)
        if read > max_edges_read:
            bounds.append(over_read)
    rest = sorted(shown_edges.keys() - set(tree))
    edge_list = [shown_edges[i] for i in tree + rest]
    if len(edge_list) > max_edges:
        bounds.append(Bound("edges", max_edges, f"only {max_edges} relationships are shown"))
        edge_list = edge_list[:max_edges]
    ordered = sorted(nodes.values(), key=lambda n: (distance[n.id], n.id))
    return Neighbourhood(node_id, ordered, distance, edge_list, bounds)
