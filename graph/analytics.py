"""Analyst queries over any `GraphStore`: timelines, co-occurrence, paths, neighbourhoods,
rankings and communities.

Every function reaches the graph only through the store port, in bounded batches, and hands
the bounded projection it fetched to networkx for the algorithm. Every computation has a size
bound (events scanned, nodes and relationships visited, items returned) and, where a search can
run long, a time bound; a result says which bound it hit (`bounds`), and `complete` is False
then. Results are deterministic: projections are built in sorted order, algorithms that draw
random numbers are seeded, and ties are broken by id, so every store gives the same answer.
(A time bound is the one exception: when it is hit, how far the search got depends on the
machine. It is reported like any other bound.)
"""

from __future__ import annotations

import time
from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any, Literal, TypeAlias

import networkx as nx

from graph.errors import DomainError
from graph.model import CATEGORIES, LEVELS, Edge, Label, Node, Rel
from graph.store import EventFilter, EventQuery, GraphStore

Interval: TypeAlias = Literal["day", "week", "month"]
Metric: TypeAlias = Literal["degree", "pagerank", "betweenness"]

MAX_PAGE = 100  # the most items any list returns at once
BATCH = 500  # ids per port call
EVENT_PAGE = 1000  # events per `query_events` call

# Default bounds. Each function takes its own bound as a parameter; these are what the API uses.
MAX_EVENTS = 20_000  # events scanned by timelines, co-occurrence and rankings
MAX_BUCKETS = 1_000  # timeline buckets
PATH_MAX_HOPS = 6  # events on one path
PATH_MAX_NODES = 20_000  # entities and events a path search may visit
PATH_MAX_EDGES = 100_000  # INVOLVES relationships a path search may read
PATH_SECONDS = 10.0  # wall-clock bound of one path search
NEIGHBOURHOOD_MAX_HOPS = 3
NEIGHBOURHOOD_MAX_EDGES_READ = 50_000  # relationships a neighbourhood may read
BETWEENNESS_EXACT_MAX = 1_500  # entities above which betweenness samples pivots
BETWEENNESS_PIVOTS = 300
SEED = 20_250_313  # every seeded algorithm (Louvain, betweenness sampling) uses it


class AnalyticsError(DomainError):
    """A request an analytics function cannot answer; the message says why (shown to users)."""


@dataclass(frozen=True, slots=True)
class Bound:
    """A bound that was hit: its name, its value and what it cut short."""

    name: str
    limit: float
    message: str


@dataclass(frozen=True, slots=True)
class Window:
    """Which events count: inclusive `YYYY-MM-DD` dates, a minimum confidence rank
    (`Policy.rank`) and categories (empty: all)."""

    date_from: str | None = None
    date_to: str | None = None
    min_confidence: int | None = None
    categories: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.date_from and self.date_to and self.date_from > self.date_to:
            raise AnalyticsError("from is after to")

    def filter(self, entity: str | None = None) -> EventFilter:
        return EventFilter(
            categories=self.categories,
            date_from=self.date_from,
            date_to=self.date_to,
            entity=entity,
            min_confidence=self.min_confidence,
        )

    def admits(self, event: Node) -> bool:
        """Whether `event` is in this window (the same test `query_events` applies)."""
        if self.categories and event.text("category") not in self.categories:
            return False
        day = event.text("occurred_on")[:10]
        if self.date_from is not None and day < self.date_from:
            return False
        if self.date_to is not None and day > self.date_to:
            return False
        if self.min_confidence is not None:
            rank = event.props.get("confidence_rank")
            if not isinstance(rank, int) or rank < self.min_confidence:
                return False
        return True


# -- shared helpers ----------------------------------------------------------------------------


def chunks(ids: Sequence[str], size: int = BATCH) -> Iterator[Sequence[str]]:
    for start in range(0, len(ids), size):
        yield ids[start : start + size]


def scan_events(store: GraphStore, flt: EventFilter, limit: int) -> tuple[list[Node], Bound | None]:
    """Up to `limit` events matching `flt`, oldest first (by occurred_on, then id)."""
    found: list[Node] = []
    after: tuple[str, str] | None = None
    while True:
        size = min(EVENT_PAGE, limit + 1 - len(found))
        page = store.query_events(EventQuery(flt, first=size, newest_first=False, after=after))
        found += page.events
        if len(found) > limit:
            bound = Bound("events", limit, f"only the first {limit} events (oldest first) count")
            return found[:limit], bound
        if not page.has_next or not page.events:
            return found, None
        last = page.events[-1]
        after = (last.text("occurred_on"), last.id)


def entity_node(store: GraphStore, entity_id: str) -> Node:
    node = store.get_nodes([entity_id]).get(entity_id)
    if node is None or node.label is not Label.ENTITY:
        raise AnalyticsError(f"no entity with id '{entity_id}'")
    return node


def involved(store: GraphStore, event_ids: Sequence[str]) -> dict[str, list[str]]:
    """The distinct entity ids each event involves, sorted, fetched in batches."""
    result: dict[str, list[str]] = {}
    for batch in chunks(event_ids):
        for event_id, edges in store.edges(batch, Rel.INVOLVES, "out").items():
            result[event_id] = sorted({e.dst for e in edges})
    return result


def page_of(items: Sequence[Any], first: int, offset: int) -> tuple[list[Any], bool]:
    """Items `offset`.. `offset + first` and whether more follow; `first` is 1..MAX_PAGE."""
    if not 1 <= first <= MAX_PAGE:
        raise AnalyticsError(f"first must be between 1 and {MAX_PAGE}, got {first}")
    if offset < 0:
        raise AnalyticsError("offset must not be negative")
    return list(items[offset : offset + first]), len(items) > offset + first


def edge_id(edge: Edge) -> str:
    """A stable id of one relationship: its type, ends and key."""
    return f"{edge.type.value}:{edge.src}:{edge.dst}:{edge.key}"


# -- timeline buckets --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Bucket:
    """Events in one day, week (Monday to Sunday) or calendar month, `start`..`end` inclusive."""

    start: date
    end: date
    count: int
    by_category: dict[str, int]  # only categories with events, in `CATEGORIES` order
    by_confidence: dict[str, int]  # only levels with events, lowest first


@dataclass(frozen=True, slots=True)
class Timeline:
    interval: Interval
    date_from: date | None
    date_to: date | None
    total: int
    buckets: list[Bucket]
    bounds: list[Bound]

    @property
    def complete(self) -> bool:
        return not self.bounds


def bucket_start(day: date, interval: Interval) -> date:
    if interval == "day":
        return day
    if interval == "week":
        return day - timedelta(days=day.weekday())
    return day.replace(day=1)


def next_bucket(start: date, interval: Interval) -> date:
    if interval == "day":
        return start + timedelta(days=1)
    if interval == "week":
        return start + timedelta(days=7)
    return (start.replace(day=28) + timedelta(days=4)).replace(day=1)


def timeline_buckets(
    store: GraphStore,
    entity_id: str,
    interval: Interval = "week",
    window: Window = Window(),
    max_events: int = MAX_EVENTS,
    max_buckets: int = MAX_BUCKETS,
) -> Timeline:
    """How many of the entity's events fall in each day, week or month, split by category and
    by confidence level. The range is the window's dates, or the first and last event's days;
    every bucket in it is listed, empty ones included, earliest first."""
    entity_node(store, entity_id)
    events, bound = scan_events(store, window.filter(entity=entity_id), max_events)
    bounds = [bound] if bound else []
    days = [date.fromisoformat(e.text("occurred_on")[:10]) for e in events]
    first = date.fromisoformat(window.date_from) if window.date_from else min(days, default=None)
    last = date.fromisoformat(window.date_to) if window.date_to else max(days, default=None)
    if first is None or last is None:
        return Timeline(interval, first, last, 0, [], bounds)
    per_bucket: dict[date, list[Node]] = defaultdict(list)
    for day, event in zip(days, events, strict=True):
        per_bucket[bucket_start(day, interval)].append(event)
    buckets: list[Bucket] = []
    start = bucket_start(first, interval)
    while start <= last:
        if len(buckets) == max_buckets:
            bounds.append(
                Bound("buckets", max_buckets, f"only the first {max_buckets} buckets are listed")
            )
            break
        following = next_bucket(start, interval)
        inside = per_bucket.get(start, [])
        categories = Counter(e.text("category") for e in inside)
        levels = Counter(e.text("confidence") or "unverified" for e in inside)
        buckets.append(
            Bucket(
                start=start,
                end=following - timedelta(days=1),
                count=len(inside),
                by_category={c: categories[c] for c in _ordered(categories, CATEGORIES)},
                by_confidence={v: levels[v] for v in _ordered(levels, LEVELS)},
            )
        )
        start = following
    return Timeline(interval, first, last, len(events), buckets, bounds)


def _ordered(counts: Counter[str], order: Sequence[str]) -> list[str]:
    known = [k for k in order if counts[k]]
    return known + sorted(k for k in counts if k not in order)


# -- co-occurrence -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CoOccurring:
    entity_id: str
    count: int
    event_ids: list[str]  # the shared events, oldest first


@dataclass(frozen=True, slots=True)
class CoOccurrence:
    """The entities sharing events with one entity: most shared events first, ties by id."""

    entity_id: str
    ranked: list[CoOccurring]
    events_scanned: int
    bounds: list[Bound]

    @property
    def complete(self) -> bool:
        return not self.bounds


def co_occurring(
    store: GraphStore,
    entity_id: str,
    window: Window = Window(),
    types: Sequence[str] = (),
    max_events: int = MAX_EVENTS,
) -> CoOccurrence:
    """Every entity that shares an event (in `window`) with `entity_id`, optionally only of
    entity `types`, ranked by the number of shared events, then by id."""
    entity_node(store, entity_id)
    events, bound = scan_events(store, window.filter(entity=entity_id), max_events)
    shared: dict[str, list[str]] = defaultdict(list)
    by_event = involved(store, [e.id for e in events])
    for event in events:  # oldest first, so each list of shared events is too
        for other in by_event.get(event.id, []):
            if other != entity_id:
                shared[other].append(event.id)
    if types:
        wanted = set(types)
        nodes: dict[str, Node] = {}
        for batch in chunks(sorted(shared)):
            nodes.update(store.get_nodes(batch))
        shared = {k: v for k, v in shared.items() if k in nodes and nodes[k].text("type") in wanted}
    ranked = sorted(
        (CoOccurring(other, len(ids), ids) for other, ids in shared.items()),
        key=lambda c: (-c.count, c.entity_id),
    )
    return CoOccurrence(entity_id, ranked, len(events), [bound] if bound else [])


# -- paths -------------------------------------------------------------------------------------


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

    def __init__(self, max_nodes: int, max_edges: int, seconds: float | None) -> None:
        self.max_nodes, self.max_edges, self.seconds = max_nodes, max_edges, seconds
        self.deadline = time.monotonic() + seconds if seconds is not None else None
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
        if self.hit is None and self.deadline is not None and time.monotonic() > self.deadline:
            self.hit = Bound("seconds", self.seconds or 0, f"stopped after {self.seconds} seconds")
        return self.hit is None


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
    window: Window = Window(),
    first: int = 10,
    max_nodes: int = PATH_MAX_NODES,
    max_edges: int = PATH_MAX_EDGES,
    seconds: float | None = PATH_SECONDS,
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
    the nodes asked about, so the count read can pass it by one call.
    """
    if not 1 <= max_hops <= PATH_MAX_HOPS:
        raise AnalyticsError(f"maxHops must be between 1 and {PATH_MAX_HOPS}, got {max_hops}")
    if not 1 <= first <= MAX_PAGE:
        raise AnalyticsError(f"first must be between 1 and {MAX_PAGE}, got {first}")
    if source == target:
        raise AnalyticsError("from and to are the same entity")
    entity_node(store, source)
    entity_node(store, target)
    budget = _Budget(max_nodes, max_edges, seconds)
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
    window: Window,
    projection: set[tuple[str, str]],
    budget: _Budget,
) -> bool:
    """Read one more level on `side`, a batch at a time, until done or a bound is hit;
    whether it reached a node the other side has reached (the two searches met)."""
    direction: Literal["in", "out"] = "in" if side.on_entities else "out"
    filtered = window != Window()
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
                    admitted |= {i for i, n in store.get_nodes(ids).items() if window.admits(n)}
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
        if budget.deadline is not None and time.monotonic() > budget.deadline:
            budget.ok()  # records the time bound
            break
    return sorted(found, key=lambda p: (p.hops, p.nodes))


# -- neighbourhood -----------------------------------------------------------------------------


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


_LINKS: tuple[tuple[Rel, Literal["out", "in"]], ...] = tuple(
    (rel, d) for rel in sorted(Rel, key=lambda r: r.value) for d in ("out", "in")
)


def neighbourhood(
    store: GraphStore,
    node_id: str,
    hops: int = 1,
    limit: int = 50,
    relationships: Sequence[Rel] = (),
    labels: Sequence[Label] = (),
    window: Window = Window(),
    max_edges: int = MAX_PAGE,
    max_edges_read: int = NEIGHBOURHOOD_MAX_EDGES_READ,
) -> Neighbourhood:
    """The nodes within `hops` relationships of `node_id` (only through `relationships` and
    into nodes of `labels` when given; events only inside `window`), breadth first, each ring
    in (relationship, direction, id) order, at most `limit` nodes. Relationships: the ones
    each node was reached by first, then the others between the nodes shown, in id order, at
    most `max_edges`."""
    if not 1 <= hops <= NEIGHBOURHOOD_MAX_HOPS:
        raise AnalyticsError(f"hops must be between 1 and {NEIGHBOURHOOD_MAX_HOPS}, got {hops}")
    if not 1 <= limit <= MAX_PAGE:
        raise AnalyticsError(f"limit must be between 1 and {MAX_PAGE}, got {limit}")
    center = store.get_nodes([node_id]).get(node_id)
    if center is None:
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
            if node is None or (wanted and node.label not in wanted):
                continue
            if node.label is Label.EVENT and not window.admits(node):
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


# -- rankings and communities ------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Ranked:
    entity_id: str
    rank: int  # 1 for the most central
    score: float
    shared_events: int  # events shared with other entities, counted once per partner
    partners: int  # distinct entities it shares events with


@dataclass
class CoGraph:
    """The entity co-occurrence graph of a window: entities linked by the number of events
    they share (`weight`), built in id order so every algorithm sees the same graph."""

    graph: Any
    events_scanned: int
    bounds: list[Bound] = field(default_factory=list)

    @property
    def complete(self) -> bool:
        return not self.bounds


def cooccurrence_graph(
    store: GraphStore,
    window: Window = Window(),
    types: Sequence[str] = (),
    max_events: int = MAX_EVENTS,
) -> CoGraph:
    """The co-occurrence graph of the events in `window` (at most `max_events`, oldest first),
    among entities of `types` (all when empty). Entities alone in their events are nodes
    without links."""
    events, bound = scan_events(store, window.filter(), max_events)
    by_event = involved(store, [e.id for e in events])
    members = sorted({m for ms in by_event.values() for m in ms})
    if types:
        wanted = set(types)
        kept = set()
        for batch in chunks(members):
            kept |= {i for i, n in store.get_nodes(batch).items() if n.text("type") in wanted}
        members = [m for m in members if m in kept]
        by_event = {e: [m for m in ms if m in kept] for e, ms in by_event.items()}
    weights: Counter[tuple[str, str]] = Counter()
    for ms in by_event.values():
        weights.update((a, b) for i, a in enumerate(ms) for b in ms[i + 1 :])
    graph: Any = nx.Graph()
    graph.add_nodes_from(members)
    graph.add_edges_from(
        (a, b, {"weight": w, "distance": 1.0 / w}) for (a, b), w in sorted(weights.items())
    )
    return CoGraph(graph, len(events), [bound] if bound else [])


def rank(cograph: CoGraph, metric: Metric) -> tuple[list[Ranked], list[Bound]]:
    """Every entity of the graph by `metric`, most central first, ties by id:

    - `degree`: the number of events it shares with others, counted once per partner (its
      weighted degree);
    - `pagerank`: PageRank over links weighted by shared events;
    - `betweenness`: how often it lies on the shortest connections between others, where a
      link is shorter the more events it stands for (distance 1/shared events); sampled from
      `BETWEENNESS_PIVOTS` seeded pivots above `BETWEENNESS_EXACT_MAX` entities (a bound).
    """
    graph = cograph.graph
    bounds: list[Bound] = []
    scores: dict[str, float]
    if graph.number_of_nodes() == 0:
        scores = {}
    elif metric == "degree":
        scores = {n: float(d) for n, d in graph.degree(weight="weight")}
    elif metric == "pagerank":
        scores = nx.pagerank(graph, weight="weight")
    elif metric == "betweenness":
        n = graph.number_of_nodes()
        sample = BETWEENNESS_PIVOTS if n > BETWEENNESS_EXACT_MAX else None
        scores = nx.betweenness_centrality(graph, k=sample, weight="distance", seed=SEED)
        if sample is not None:
            bounds.append(
                Bound(
                    "betweenness_pivots",
                    sample,
                    f"betweenness estimated from {sample} of {n} entities (seeded)",
                )
            )
    else:
        raise AnalyticsError(f"unknown metric {metric!r}")
    ordered = sorted(scores, key=lambda n: (-round(scores[n], 12), n))
    strength = dict(graph.degree(weight="weight"))
    return [
        Ranked(n, i + 1, scores[n], int(strength[n]), graph.degree(n))
        for i, n in enumerate(ordered)
    ], bounds


def communities(
    cograph: CoGraph, method: Literal["louvain", "greedy"] = "louvain"
) -> list[list[str]]:
    """Groups of entities that keep appearing together: networkx Louvain (seeded) or greedy
    modularity on links weighted by shared events. Entities without links are left out.
    Largest group first, ties by smallest id; members by id."""
    graph = cograph.graph.subgraph(n for n, d in cograph.graph.degree() if d > 0)
    if graph.number_of_nodes() == 0:
        return []
    if method == "louvain":
        found: Iterable[Iterable[str]] = nx.community.louvain_communities(
            graph, weight="weight", seed=SEED
        )
    else:
        found = nx.community.greedy_modularity_communities(graph, weight="weight")
    groups = [sorted(g) for g in found]
    return sorted(groups, key=lambda g: (-len(g), g[0]))
