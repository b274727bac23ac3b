"""GraphQL types and resolvers of the analyst queries (`graph.analytics` does the work).

`Entity.timelineBuckets` and `Entity.coOccurring` are fields of `Entity` (`api.types`), and
`paths`, `neighbourhood` and `rankings` fields of `Query` (`api.schema`); both call the
resolvers here. Every list is capped at 100 or paginated, and every result says whether it is
`complete` and which `bounds` it hit.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from enum import Enum
from typing import TypeVar

import strawberry

from api.types import (
    DEFAULT_PAGE,
    Category,
    ConfidenceLevel,
    Entity,
    EntityType,
    Event,
    GraphNode,
    Info,
    PageInfo,
    UserError,
    as_graph_node,
    decode_cursor,
    encode_cursor,
    page_size,
)
from graph import analytics
from graph.model import Edge, Label, Node, Rel

T = TypeVar("T")


def run(compute: Callable[[], T]) -> T:
    """Run an analytics computation, showing its refusals to the client as they are."""
    try:
        return compute()
    except analytics.AnalyticsError as exc:
        raise UserError(str(exc)) from None


@strawberry.enum(description="The width of a timeline bucket.")
class Interval(Enum):
    DAY = "day"
    WEEK = "week"
    MONTH = "month"


@strawberry.enum(description="How central an entity is in the co-occurrence graph.")
class Metric(Enum):
    DEGREE = "degree"
    PAGERANK = "pagerank"
    BETWEENNESS = "betweenness"


@strawberry.enum(description="How communities are found (both by networkx, deterministic).")
class CommunityMethod(Enum):
    LOUVAIN = "louvain"
    GREEDY_MODULARITY = "greedy"


@strawberry.enum
class NodeLabel(Enum):
    EVENT = "Event"
    ENTITY = "Entity"
    OUTLET = "Outlet"
    PLACE = "Place"
    STORY = "Story"


@strawberry.enum
class Relationship(Enum):
    REPORTS = "REPORTS"
    INVOLVES = "INVOLVES"
    OCCURRED_IN = "OCCURRED_IN"
    IN_COUNTRY = "IN_COUNTRY"
    PUBLISHED = "PUBLISHED"
    DESCRIBES = "DESCRIBES"


@strawberry.type(description="A bound a computation hit: what it cut short and where.")
class Bound:
    name: str = strawberry.field(
        description="events, buckets, nodes, edges, edges_read, seconds or betweenness_pivots"
    )
    limit: float
    message: str


def bounds_of(found: list[analytics.Bound]) -> list[Bound]:
    return [Bound(name=b.name, limit=b.limit, message=b.message) for b in found]


def window(
    info: Info,
    date_from: dt.date | None,
    date_to: dt.date | None,
    min_confidence: ConfidenceLevel | None,
    categories: list[Category] | None = None,
) -> analytics.Window:
    policy = info.context.policy
    return run(
        lambda: analytics.Window(
            date_from=date_from.isoformat() if date_from else None,
            date_to=date_to.isoformat() if date_to else None,
            min_confidence=policy.rank(min_confidence.value) if min_confidence else None,
            categories=tuple(c.value for c in categories or ()),
        )
    )


def _offset(after: str | None) -> int:
    if after is None:
        return 0
    (text,) = decode_cursor(after, 1)
    if not text.isdigit():
        raise UserError(f"after: {after!r} is not a cursor this API gave out")
    return int(text)


def _page_info(after: str | None, cursors: list[str], has_next: bool) -> PageInfo:
    return PageInfo(
        has_next_page=has_next,
        has_previous_page=after is not None,
        start_cursor=cursors[0] if cursors else None,
        end_cursor=cursors[-1] if cursors else None,
    )


async def _events(info: Info, ids: Sequence[str]) -> list[Event]:
    nodes = await info.context.nodes.load_many(ids)
    return [Event.of(n) for n in nodes if n is not None]


async def _entities(info: Info, ids: Sequence[str]) -> list[Entity]:
    nodes = await info.context.nodes.load_many(ids)
    return [Entity.of(n) for n in nodes if n is not None]


# -- Entity.timelineBuckets --------------------------------------------------------------------


@strawberry.type
class CategoryCount:
    category: Category
    count: int


@strawberry.type
class ConfidenceCount:
    level: ConfidenceLevel
    count: int


@strawberry.type(description="The events of one day, week (Monday to Sunday) or month.")
class TimelineBucket:
    start: dt.date
    end: dt.date = strawberry.field(description="The bucket's last day (inclusive).")
    count: int
    by_category: list[CategoryCount] = strawberry.field(
        description="Counts per category, only categories with events."
    )
    by_confidence: list[ConfidenceCount] = strawberry.field(
        description="Counts per confidence level, lowest first, only levels with events."
    )


@strawberry.type(description="An entity's events counted per day, week or month.")
class TimelineBuckets:
    interval: Interval
    date_from: dt.date | None = strawberry.field(name="from")
    date_to: dt.date | None = strawberry.field(name="to")
    total: int = strawberry.field(description="Events counted (in the range and filters).")
    buckets: list[TimelineBucket] = strawberry.field(
        description="Every bucket of the range, empty ones included, earliest first (at most "
        f"{analytics.MAX_BUCKETS})."
    )
    complete: bool
    bounds: list[Bound]


def timeline_buckets(
    info: Info,
    entity: Node,
    interval: Interval | None,
    date_from: dt.date | None,
    date_to: dt.date | None,
    categories: list[Category] | None,
    min_confidence: ConfidenceLevel | None,
) -> TimelineBuckets:
    chosen = interval or Interval.WEEK
    span = window(info, date_from, date_to, min_confidence, categories)
    found = run(
        lambda: analytics.timeline_buckets(
            info.context.store,
            entity.id,
            chosen.value,
            span,
        )
    )
    return TimelineBuckets(
        interval=chosen,
        date_from=found.date_from,
        date_to=found.date_to,
        total=found.total,
        buckets=[
            TimelineBucket(
                start=b.start,
                end=b.end,
                count=b.count,
                by_category=[
                    CategoryCount(category=Category(c), count=n) for c, n in b.by_category.items()
                ],
                by_confidence=[
                    ConfidenceCount(level=ConfidenceLevel(v), count=n)
                    for v, n in b.by_confidence.items()
                ],
            )
            for b in found.buckets
        ],
        complete=found.complete,
        bounds=bounds_of(found.bounds),
    )


# -- Entity.coOccurring ------------------------------------------------------------------------


@strawberry.type(description="An entity that shares events with another, and those events.")
class CoOccurrence:
    entity: Entity
    shared_event_count: int
    shared_event_ids: list[strawberry.ID] = strawberry.field(
        description="Every shared event, oldest first."
    )

    @strawberry.field(description="The shared events, oldest first, at most `first` of them.")
    async def shared_events(self, info: Info, first: int = DEFAULT_PAGE) -> list[Event]:
        return await _events(info, self.shared_event_ids[: page_size(first)])


@strawberry.type
class CoOccurrenceEdge:
    cursor: str
    node: CoOccurrence


@strawberry.type(description="Co-occurring entities, most shared events first, ties by id.")
class CoOccurrenceConnection:
    edges: list[CoOccurrenceEdge]
    page_info: PageInfo
    total_count: int = strawberry.field(description="Co-occurring entities in all pages.")
    events_scanned: int = strawberry.field(description="Events of this entity looked at.")
    complete: bool
    bounds: list[Bound]


async def co_occurring(
    info: Info,
    entity: Node,
    first: int,
    after: str | None,
    date_from: dt.date | None,
    date_to: dt.date | None,
    min_confidence: ConfidenceLevel | None,
    types: list[EntityType] | None,
) -> CoOccurrenceConnection:
    size, offset = page_size(first), _offset(after)
    span = window(info, date_from, date_to, min_confidence)
    found = run(
        lambda: analytics.co_occurring(
            info.context.store, entity.id, span, [t.value for t in types or ()]
        )
    )
    page, has_next = run(lambda: analytics.page_of(found.ranked, size, offset))
    entities = await _entities(info, [c.entity_id for c in page])
    edges = [
        CoOccurrenceEdge(
            cursor=encode_cursor(str(offset + i + 1)),
            node=CoOccurrence(
                entity=e,
                shared_event_count=c.count,
                shared_event_ids=[strawberry.ID(i) for i in c.event_ids],
            ),
        )
        for i, (c, e) in enumerate(zip(page, entities, strict=True))
    ]
    return CoOccurrenceConnection(
        edges=edges,
        page_info=_page_info(after, [e.cursor for e in edges], has_next),
        total_count=len(found.ranked),
        events_scanned=found.events_scanned,
        complete=found.complete,
        bounds=bounds_of(found.bounds),
    )


# -- Query.paths -------------------------------------------------------------------------------


@strawberry.type(description="One connection: entity, event, entity, ... (`hops` events).")
class Path:
    hops: int
    entity_ids: strawberry.Private[list[str]]
    event_ids: strawberry.Private[list[str]]

    @strawberry.field(description="The entities along the path, from first to last.")
    async def entities(self, info: Info) -> list[Entity]:
        return await _entities(info, self.entity_ids)

    @strawberry.field(
        description="The events linking them: event i involves entities i and i + 1. Each "
        "carries its confidence."
    )
    async def events(self, info: Info) -> list[Event]:
        return await _events(info, self.event_ids)

    @strawberry.field(description="The lowest confidence of the path's events.")
    async def weakest_confidence(self, info: Info) -> ConfidenceLevel:
        events = await info.context.nodes.load_many(self.event_ids)
        levels = [str(n.props.get("confidence") or "unverified") for n in events if n]
        policy = info.context.policy
        return ConfidenceLevel(min(levels, key=policy.rank))


@strawberry.type(description="The shortest connections found, and how far the search went.")
class Paths:
    paths: list[Path] = strawberry.field(description="Shortest first, at most `first`.")
    nodes_visited: int
    edges_read: int
    complete: bool = strawberry.field(
        description="False when the search stopped at a bound before it could finish: there "
        "may be shorter or more paths than listed."
    )
    bounds: list[Bound]


def paths(
    info: Info,
    source: str,
    target: str,
    max_hops: int,
    min_confidence: ConfidenceLevel | None,
    first: int,
) -> Paths:
    span = window(info, None, None, min_confidence)
    found = run(lambda: analytics.paths(info.context.store, source, target, max_hops, span, first))
    return Paths(
        paths=[
            Path(hops=p.hops, entity_ids=p.entity_ids, event_ids=p.event_ids) for p in found.paths
        ],
        nodes_visited=found.nodes_visited,
        edges_read=found.edges_read,
        complete=found.complete,
        bounds=bounds_of(found.bounds),
    )


# -- Query.neighbourhood -----------------------------------------------------------------------


@strawberry.input(description="Narrows a neighbourhood; every field given must match.")
class NeighbourhoodFilter:
    relationships: list[Relationship] | None = strawberry.field(
        default=None, description="Only follow these relationships."
    )
    labels: list[NodeLabel] | None = strawberry.field(
        default=None, description="Only show nodes of these kinds (the centre always shows)."
    )
    date_from: dt.date | None = strawberry.field(default=None, name="from")
    date_to: dt.date | None = strawberry.field(default=None, name="to")
    categories: list[Category] | None = None
    min_confidence: ConfidenceLevel | None = None


@strawberry.type(description="A node of a graph view.")
class ViewNode:
    id: strawberry.ID
    label: NodeLabel
    name: str = strawberry.field(
        description="What to write on it: a name, an event's summary, a story's slug."
    )
    hops: int = strawberry.field(description="Relationships from the centre.")
    node: GraphNode


@strawberry.type(description="A relationship of a graph view, with a stable id.")
class ViewEdge:
    id: strawberry.ID = strawberry.field(description="TYPE:source:target:key, stable.")
    source: strawberry.ID
    target: strawberry.ID
    relationship: Relationship
    label: str = strawberry.field(
        description="What to write on it: 'reports', 'involves (participant)', ..."
    )
    roles: list[str]


@strawberry.type(description="The subgraph around a node, for a graph view.")
class Neighbourhood:
    center: strawberry.ID
    nodes: list[ViewNode] = strawberry.field(
        description="Nearest first, then by id; at most `limit`."
    )
    edges: list[ViewEdge] = strawberry.field(
        description="The relationships each node was reached by, then the others between "
        f"shown nodes; at most {analytics.MAX_ITEMS}."
    )
    complete: bool
    bounds: list[Bound]


def _edge_label(edge: Edge) -> str:
    word = edge.type.value.lower().replace("_", " ")
    roles = edge.texts("roles")
    return f"{word} ({', '.join(roles)})" if roles else word


def neighbourhood(
    info: Info, node_id: str, hops: int, limit: int, flt: NeighbourhoodFilter | None
) -> Neighbourhood:
    flt = flt or NeighbourhoodFilter()
    span = window(info, flt.date_from, flt.date_to, flt.min_confidence, flt.categories)
    found = run(
        lambda: analytics.neighbourhood(
            info.context.store,
            node_id,
            hops,
            limit,
            relationships=[Rel(r.value) for r in flt.relationships or ()],
            labels=[Label(lb.value) for lb in flt.labels or ()],
            window=span,
        )
    )
    return Neighbourhood(
        center=strawberry.ID(found.center),
        nodes=[
            ViewNode(
                id=strawberry.ID(n.id),
                label=NodeLabel(n.label.value),
                name=n.title(),
                hops=found.hops[n.id],
                node=as_graph_node(n),
            )
            for n in found.nodes
        ],
        edges=[
            ViewEdge(
                id=strawberry.ID(analytics.edge_id(e)),
                source=strawberry.ID(e.src),
                target=strawberry.ID(e.dst),
                relationship=Relationship(e.type.value),
                label=_edge_label(e),
                roles=e.texts("roles"),
            )
            for e in found.edges
        ],
        complete=found.complete,
        bounds=bounds_of(found.bounds),
    )


# -- Query.rankings ----------------------------------------------------------------------------


@strawberry.type
class RankedEntity:
    rank: int = strawberry.field(description="1 for the most central; ties broken by id.")
    score: float
    shared_events: int = strawberry.field(
        description="Events shared with others, counted once per partner (weighted degree)."
    )
    partners: int = strawberry.field(description="Distinct entities it shares events with.")
    entity: Entity


@strawberry.type(description="Entities that keep appearing together.")
class Community:
    size: int
    member_ids: strawberry.Private[list[str]]

    @strawberry.field(description="Its members by id, at most `first`.")
    async def members(self, info: Info, first: int = DEFAULT_PAGE) -> list[Entity]:
        return await _entities(info, self.member_ids[: page_size(first)])


@strawberry.type(description="The most central entities of a date window, and communities.")
class Rankings:
    metric: Metric
    date_from: dt.date | None = strawberry.field(name="from")
    date_to: dt.date | None = strawberry.field(name="to")
    events_scanned: int
    entity_count: int = strawberry.field(description="Entities in the co-occurrence graph.")
    link_count: int = strawberry.field(description="Pairs of entities sharing events.")
    entities: list[RankedEntity] = strawberry.field(description="This page, most central first.")
    page_info: PageInfo
    complete: bool
    bounds: list[Bound]
    cograph: strawberry.Private[analytics.CoGraph]

    @strawberry.field(
        description="Communities of the same graph (entities with links only), largest first, "
        "at most `first`."
    )
    def communities(
        self,
        first: int = 10,
        method: CommunityMethod = CommunityMethod.LOUVAIN,
    ) -> list[Community]:
        found = analytics.communities(self.cograph, method.value)
        return [Community(size=len(g), member_ids=g) for g in found[: page_size(first)]]


async def rankings(
    info: Info,
    date_from: dt.date | None,
    date_to: dt.date | None,
    metric: Metric,
    first: int,
    after: str | None,
    min_confidence: ConfidenceLevel | None,
    categories: list[Category] | None,
    types: list[EntityType] | None,
) -> Rankings:
    size, offset = page_size(first), _offset(after)
    span = window(info, date_from, date_to, min_confidence, categories)
    store = info.context.store
    cograph = run(lambda: analytics.cooccurrence_graph(store, span, [t.value for t in types or ()]))
    ranked, bounds = run(lambda: analytics.rank(cograph, metric.value))
    page, has_next = run(lambda: analytics.page_of(ranked, size, offset))
    entities = await _entities(info, [r.entity_id for r in page])
    cursors = [encode_cursor(str(r.rank)) for r in page]
    return Rankings(
        metric=metric,
        date_from=date_from,
        date_to=date_to,
        events_scanned=cograph.events_scanned,
        entity_count=cograph.graph.number_of_nodes(),
        link_count=cograph.graph.number_of_edges(),
        entities=[
            RankedEntity(
                rank=r.rank,
                score=r.score,
                shared_events=r.shared_events,
                partners=r.partners,
                entity=e,
            )
            for r, e in zip(page, entities, strict=True)
        ],
        page_info=_page_info(after, cursors, has_next),
        complete=not (cograph.bounds or bounds),
        bounds=bounds_of(cograph.bounds + bounds),
        cograph=cograph,
    )
