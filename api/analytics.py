"""GraphQL types and resolvers of the analyst queries `paths`, `neighbourhood` and `rankings`,
fields of `Query` (`api.schema`); `graph.analytics` does the work. `Entity.timelineBuckets` is
in `api.timeline` and `Entity.coOccurring` in `api.nodes` (its answer holds entities). Every
list is capped at 100 or paginated, and every result says whether it is `complete` and which
`bounds` it hit.
"""

from __future__ import annotations

import datetime as dt
from enum import Enum

import strawberry

from api import heavy
from api.bounds import Bound, bounds_of, window
from api.context import Info
from api.nodes import Entity, Event, GraphNode, as_graph_node, entities_of, events_of
from api.paging import (
    DEFAULT_PAGE,
    PageInfo,
    decode_offset,
    encode_cursor,
    page_info,
    page_size,
)
from api.scalars import Category, ConfidenceLevel, EntityType
from graph import analytics
from graph.model import Edge, Label, Rel
from services.redirects import current


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


# -- Query.paths -------------------------------------------------------------------------------


@strawberry.type(description="One connection: entity, event, entity, ... (`hops` events).")
class Path:
    hops: int
    entity_ids: strawberry.Private[list[str]]
    event_ids: strawberry.Private[list[str]]

    @strawberry.field(description="The entities along the path, from first to last.")
    async def entities(self, info: Info) -> list[Entity]:
        return await entities_of(info, self.entity_ids)

    @strawberry.field(
        description="The events linking them: event i involves entities i and i + 1. Each "
        "carries its confidence."
    )
    async def events(self, info: Info) -> list[Event]:
        return await events_of(info, self.event_ids)

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


async def paths(
    info: Info,
    source: str,
    target: str,
    max_hops: int,
    min_confidence: ConfidenceLevel | None,
    first: int,
) -> Paths:
    span = window(info, None, None, min_confidence)
    store = info.context.store
    # Its own time bound (`seconds`), at most what is left of the request's, in a heavy thread
    # (api.heavy).
    left = heavy.deadline(info).left()
    seconds = analytics.PATH_SECONDS if left is None else min(left, analytics.PATH_SECONDS)
    found = await heavy.read(
        info,
        # ids merged away name their survivors (docs/identity.md)
        lambda: analytics.paths(
            store,
            current(store, source),
            current(store, target),
            max_hops,
            span,
            first,
            seconds=seconds,
        ),
    )
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


async def neighbourhood(
    info: Info, node_id: str, hops: int, limit: int, flt: NeighbourhoodFilter | None
) -> Neighbourhood:
    flt = flt or NeighbourhoodFilter()
    span = window(info, flt.date_from, flt.date_to, flt.min_confidence, flt.categories)
    store = info.context.store
    relationships = [Rel(r.value) for r in flt.relationships or ()]
    labels = [Label(lb.value) for lb in flt.labels or ()]
    # Bounded by the relationships it reads (`edges_read`); off the event loop (api.heavy).
    found = await heavy.read(
        info,
        lambda: analytics.neighbourhood(
            store,
            current(store, node_id),  # an id merged away names its survivor
            hops,
            limit,
            relationships=relationships,
            labels=labels,
            window=span,
        ),
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
        return await entities_of(info, self.member_ids[: page_size(first)])


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
    async def communities(
        self,
        info: Info,
        first: int = 10,
        method: CommunityMethod = CommunityMethod.LOUVAIN,
    ) -> list[Community]:
        # On the projection `rankings` read, in a heavy process, within its own time budget.
        found = await heavy.compute(
            info, "communities", analytics.communities, self.cograph, method.value
        )
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
    size, offset = page_size(first), decode_offset(after)
    span = window(info, date_from, date_to, min_confidence, categories)
    store = info.context.store
    wanted = [t.value for t in types or ()]
    # Reading stops at the time budget (`complete: false`), in a heavy thread; the algorithm then
    # runs on what was read in a heavy process, with a time budget of its own, and answers a
    # timeout error past it (api.heavy).
    until = heavy.deadline(info)
    cograph = await heavy.read(
        info, lambda: analytics.cooccurrence_graph(store, span, wanted, deadline=until)
    )
    if metric is Metric.DEGREE:  # one pass over the links: in the thread
        ranked, bounds = await heavy.read(info, lambda: analytics.rank(cograph, metric.value))
    else:
        ranked, bounds = await heavy.compute(
            info, f"rankings by {metric.name}", analytics.rank, cograph, metric.value
        )
    page, has_next = analytics.page_of(ranked, size, offset)
    entities = await entities_of(info, [r.entity_id for r in page])
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
        page_info=page_info(after, cursors, has_next),
        complete=not (cograph.bounds or bounds),
        bounds=bounds_of(cograph.bounds + bounds),
        cograph=cograph,
    )
