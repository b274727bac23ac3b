"""Paths: the shortest connections between two entities through shared events, found by a
bidirectional breadth-first search within a budget of nodes, relationships and time."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

import networkx as nx

from graph.analytics.bounds import MAX_ITEMS, AnalyticsError, Bound
from graph.analytics.scan import chunks, entity_node
from graph.model import Rel
from graph.store import EVERYTHING, EventFilter, GraphStore

# Default bounds of one path search (each is also a parameter of `paths`).
PATH_MAX_HOPS = 6  # events on one path
PATH_MAX_NODES = 20_000  # entities and events a path search may visit
PATH_MAX_EDGES = 100_000  # INVOLVES relationships a path search may read
PATH_SECONDS = 10.0  # wall-clock bound of one path search

Clock = Callable[[], float]  # seconds, never going back (`time.monotonic`)


@dataclass(frozen=True, slots=True)
class Path:
    """Entity, event, entity, ..., entity: `hops` events long."""

    nodes: list[str]

    @property
    def hops(self) -> int:
        return len(self.nodes) // 2

    @property
    def entity_ids(self) -> list[str]:
        return self.nodes[0::2]

    @property
    def event_ids(self) -> list[str]:
        return self.nodes[1::2]


@dataclass(frozen=True, slots=True)
class PathResult:
    paths: list[Path]
    nodes_visited: int
    edges_read: int
    bounds: list[Bound]

    @property
    def complete(self) -> bool:
        return not self.bounds


class _Budget:
    """Counts what a search has read against its bounds; remembers the first bound hit."""

    def __init__(
        self, max_nodes: int, max_edges: int, seconds: float | None, clock: Clock = time.monotonic
    ) -> None:
        self.max_nodes, self.max_edges, self.seconds = max_nodes, max_edges, seconds
        self.clock = clock
        self.deadline = clock() + seconds if seconds is not None else None
        self.nodes = 0
        self.edges = 0
        self.hit: Bound | None = None

    def read(self, edges: int) -> None:
        """Count relationships a port call returned (all of them: the call is already made)."""
        self.edges += edges
        if self.hit is None and self.edges > self.max_edges:
            self.hit = Bound(
                "edges", self.max_edges, f"stopped after reading {self.max_edges}+ relationships"
            )

    def take(self, nodes: list[str]) -> list[str]:
        """The first of `nodes` that fit in the node bound, counted."""
        room = max(self.max_nodes - self.nodes, 0)
        if len(nodes) > room and self.hit is None:
            self.hit = Bound("nodes", self.max_nodes, f"stopped at {self.max_nodes} nodes visited")
        taken = nodes[:room]
        self.nodes += len(taken)
        return taken

    def ok(self) -> bool:
        """False once any bound, the time bound included, is hit."""
        if self.hit is None and self.out_of_time():
            self.hit = Bound("seconds", self.seconds or 0, f"stopped after {self.seconds} seconds")
        return self.hit is None

    def out_of_time(self) -> bool:
        return self.deadline is not None and self.clock() > self.deadline


@dataclass
class _Side:
    """One end of the bidirectional search: distances from its start and its frontier."""

    start: str
    dist: dict[str, int]
    frontier: list[str]
    on_entities: bool = True  # whether the frontier holds entities (else events)
    depth: int = 0


def paths(
    store: GraphStore,
    source: str,
    target: str,
    max_hops: int = 3,
    window: EventFilter = EVERYTHING,
    first: int = 10,
    max_nodes: int = PATH_MAX_NODES,
    max_edges: int = PATH_MAX_EDGES,
    seconds: float | None = PATH_SECONDS,
    clock: Clock = time.monotonic,
) -> PathResult:
    """The shortest connections between two entities through shared events (entity, event,
    entity, ...), at most `max_hops` events long, through events in `window` only.

    A bidirectional breadth-first search reads the graph level by level from both ends
    (always widening the smaller frontier, in id order, `BATCH` ids a port call) until the two
    meet or `max_hops` is reached; then networkx lists the simple paths of that projection,
    shortest first. When the result is complete, every shortest path is among those it can
    list. The search stops early, and says so, when it has visited `max_nodes` nodes, read
    `max_edges` relationships or run `seconds`, and lists the paths it found so far: a hub (a
    country in thousands of events) cannot make it explode. The node bound is exact; the
    relationship bound is checked after each port call, which returns every relationship of
    the nodes asked about, so the count read can pass it by one call. `clock` measures the
    time bound.
    """
    if not 1 <= max_hops <= PATH_MAX_HOPS:
        raise AnalyticsError(f"maxHops must be between 1 and {PATH_MAX_HOPS}, got {max_hops}")
    if not 1 <= first <= MAX_ITEMS:
        raise AnalyticsError(f"first must be between 1 and {MAX_ITEMS}, got {first}")
    if source == target:
        raise AnalyticsError("from and to are the same entity")
    entity_node(store, source)
    entity_node(store, target)
    budget = _Budget(max_nodes, max_edges, seconds, clock)
    budget.take([source, target])
    projection: set[tuple[str, str]] = set()  # (entity, event) pairs read
    sides = (_Side(source, {source: 0}, [source]), _Side(target, {target: 0}, [target]))
    met = False
    while not met and sides[0].depth + sides[1].depth < 2 * max_hops:
        side = min(sides, key=lambda s: (len(s.frontier), s is sides[1]))
        other = sides[1] if side is sides[0] else sides[0]
        if not side.frontier:
            break
        met = _widen(store, side, other, window, projection, budget)
        if not budget.ok():
            break
    found = _simple_paths(projection, source, target, max_hops, first, budget)
    return PathResult(found, budget.nodes, budget.edges, [budget.hit] if budget.hit else [])


def _widen(
    store: GraphStore,
    side: _Side,
    other: _Side,
    window: EventFilter,
    projection: set[tuple[str, str]],
    budget: _Budget,
) -> bool:
    """Read one more level on `side`, a batch at a time, until done or a bound is hit;
    whether it reached a node the other side has reached (the two searches met)."""
    direction: Literal["in", "out"] = "in" if side.on_entities else "out"
    filtered = window != EVERYTHING
    met = False
    following: list[str] = []
    for batch in chunks(sorted(side.frontier)):
        found = store.edges(batch, Rel.INVOLVES, direction)
        edges = [e for node in batch for e in found.get(node, [])]
        budget.read(len(edges))
        if side.on_entities:  # entities to the events involving them (src)
            reached = sorted({e.src for e in edges} - side.dist.keys())
            if filtered:
                admitted: set[str] = set()
                for ids in chunks(reached):
                    admitted |= {
                        i for i, n in store.get_nodes(ids).items() if window.admits(n.props)
                    }
                reached = [i for i in reached if i in admitted]
        else:  # events (already admitted) to the entities they involve (dst)
            reached = sorted({e.dst for e in edges} - side.dist.keys())
        reached = budget.take(reached)
        for node in reached:
            side.dist[node] = side.depth + 1
        end = 1 if side.on_entities else 0  # the end of each edge this side reached
        projection.update((e.dst, e.src) for e in edges if (e.src, e.dst)[1 - end] in side.dist)
        met = met or any(node in other.dist for node in reached)
        following += reached
        if not budget.ok():
            break
    side.frontier = following
    side.on_entities = not side.on_entities
    side.depth += 1
    return met


def _simple_paths(
    projection: set[tuple[str, str]],
    source: str,
    target: str,
    max_hops: int,
    first: int,
    budget: _Budget,
) -> list[Path]:
    graph: Any = nx.Graph()
    graph.add_edges_from(sorted(projection))
    if source not in graph or target not in graph or not nx.has_path(graph, source, target):
        return []
    found: list[Path] = []
    for nodes in nx.shortest_simple_paths(graph, source, target):
        if len(nodes) // 2 > max_hops or len(found) == first:
            break
        found.append(Path(list(nodes)))
        if budget.out_of_time():
            budget.ok()  # records the time bound
            break
    return sorted(found, key=lambda p: (p.hops, p.nodes))
