"""Rankings and communities of the entity co-occurrence graph of a window of events."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, TypeAlias

import networkx as nx

from graph.analytics.bounds import AnalyticsError, Bound
from graph.analytics.scan import MAX_EVENTS, NO_DEADLINE, Deadline, chunks, involved, scan_events
from graph.store import EVERYTHING, EventFilter, GraphStore

Metric: TypeAlias = Literal["degree", "pagerank", "betweenness"]

BETWEENNESS_EXACT_MAX = 1_500  # entities above which betweenness samples pivots
BETWEENNESS_PIVOTS = 300
SEED = 20_250_313  # every seeded algorithm (Louvain, betweenness sampling) uses it


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
    window: EventFilter = EVERYTHING,
    types: Sequence[str] = (),
    max_events: int = MAX_EVENTS,
    deadline: Deadline = NO_DEADLINE,
) -> CoGraph:
    """The co-occurrence graph of the events in `window` (at most `max_events`, oldest first,
    and those read before `deadline`), among entities of `types` (all when empty). Entities
    alone in their events are nodes without links."""
    events, bound = scan_events(store, window, max_events, deadline)
    by_event = involved(store, [e.id for e in events], deadline)
    if deadline.bound is not None:  # only the events read whole count
        events = [e for e in events if e.id in by_event]
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
    return CoGraph(graph, len(events), ([bound] if bound else []) + deadline.bounds())


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
