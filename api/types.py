"""GraphQL types, mapped by hand from domain nodes (kept in a `strawberry.Private` field)."""

from __future__ import annotations

import asyncio
import base64
import binascii
import datetime as dt
from enum import Enum
from typing import TYPE_CHECKING, Annotated, NewType

import strawberry
from strawberry.types import Info as _Info
from strawberry.types.scalar import ScalarDefinition

from api.dataloaders import Loaders, at_once
from graph.history import LevelChange, history
from graph.model import Edge, Label, Node, Rel
from graph.store import EventFilter, EventQuery

if TYPE_CHECKING:
    from api.analytics import CoOccurrenceConnection, Interval, TimelineBuckets

MAX_PAGE = 100
DEFAULT_PAGE = 20

Info = _Info[Loaders, None]

Timestamp = NewType("Timestamp", str)
DateOrTimestamp = NewType("DateOrTimestamp", str)
SCALARS: dict[object, ScalarDefinition] = {
    Timestamp: strawberry.scalar(
        name="Timestamp",
        description="An RFC 3339 timestamp in UTC with milliseconds: 2026-05-30T04:15:39.113Z.",
        serialize=str,
        parse_value=str,
    ),
    DateOrTimestamp: strawberry.scalar(
        name="DateOrTimestamp",
        description="A date (2025-03-13) or, when the source gave a time, an RFC 3339 timestamp.",
        serialize=str,
        parse_value=str,
    ),
}


class UserError(Exception):
    """A problem with the request itself; its message is shown to the client as is."""


@strawberry.enum(description="What kind of event it is, as the extractor classified it.")
class Category(Enum):
    DIPLOMATIC = "diplomatic"
    MILITARY = "military"
    POLITICAL = "political"
    ECONOMIC = "economic"
    HUMANITARIAN = "humanitarian"
    LEGAL = "legal"
    CYBER = "cyber"
    INFRASTRUCTURE = "infrastructure"
    OTHER = "other"


@strawberry.enum(description="Confidence levels, lowest first: DISPUTED ranks below UNVERIFIED.")
class ConfidenceLevel(Enum):
    DISPUTED = "disputed"
    UNVERIFIED = "unverified"
    LIKELY = "likely"
    VERIFIED = "verified"


@strawberry.enum
class EntityType(Enum):
    PERSON = "person"
    ORGANIZATION = "organization"
    COUNTRY = "country"
    PLACE = "place"
    GROUP = "group"
    OTHER = "other"


@strawberry.enum(description="The language an outlet uses; not a verification.")
class Tone(Enum):
    CERTAIN = "certain"
    LIKELY = "likely"
    UNCERTAIN = "uncertain"
    CLAIMED = "claimed"
    DENIED = "denied"


@strawberry.enum
class Tier(Enum):
    TRUSTED = "trusted"
    STANDARD = "standard"
    STATE_AFFILIATED = "state-affiliated"
    UNKNOWN = "unknown"


@strawberry.enum
class Order(Enum):
    NEWEST_FIRST = "newest_first"
    OLDEST_FIRST = "oldest_first"


@strawberry.enum
class Direction(Enum):
    OUT = "out"
    IN = "in"


@strawberry.input(description="Narrows a list of events; every field given must match.")
class EventFilterInput:
    categories: list[Category] | None = None
    date_from: dt.date | None = strawberry.field(default=None, name="from")
    date_to: dt.date | None = strawberry.field(default=None, name="to")
    place: strawberry.ID | None = strawberry.field(default=None, description="a Place id")
    country: strawberry.ID | None = strawberry.field(
        default=None, description="a country's Place id"
    )
    entity: strawberry.ID | None = None
    outlet: strawberry.ID | None = None
    min_confidence: ConfidenceLevel | None = None


def page_size(first: int) -> int:
    if not 1 <= first <= MAX_PAGE:
        raise UserError(f"first must be between 1 and {MAX_PAGE}, got {first}")
    return first


def encode_cursor(*parts: str) -> str:
    return base64.urlsafe_b64encode("\x1f".join(parts).encode()).decode()


def decode_cursor(cursor: str, size: int) -> tuple[str, ...]:
    try:
        parts = tuple(base64.urlsafe_b64decode(cursor.encode()).decode().split("\x1f"))
    except (binascii.Error, UnicodeDecodeError, ValueError):
        parts = ()
    if len(parts) != size:
        raise UserError(f"after: {cursor!r} is not a cursor this API gave out")
    return parts


def to_filter(info: Info, given: EventFilterInput | None, **fixed: str) -> EventFilter:
    given = given or EventFilterInput()
    if given.date_from and given.date_to and given.date_from > given.date_to:
        raise UserError("filter.from is after filter.to")
    policy = info.context.policy
    values: dict[str, object] = {
        "categories": tuple(c.value for c in given.categories or ()),
        "date_from": given.date_from.isoformat() if given.date_from else None,
        "date_to": given.date_to.isoformat() if given.date_to else None,
        "place": given.place,
        "country": given.country,
        "entity": given.entity,
        "outlet": given.outlet,
        "min_confidence": policy.rank(given.min_confidence.value) if given.min_confidence else None,
    }
    values.update(fixed)
    return EventFilter(**values)  # type: ignore[arg-type]


# -- nodes -------------------------------------------------------------------------------------


@strawberry.interface(
    description="Any node of the graph: events, entities, places, outlets, stories."
)
class GraphNode:
    id: strawberry.ID
    node: strawberry.Private[Node]

    @strawberry.field(description="The nodes linked to this one, a page at a time.")
    async def neighbours(
        self, info: Info, first: int = DEFAULT_PAGE, after: str | None = None
    ) -> NeighbourConnection:
        return await neighbours(info, self.node, first, after)


@strawberry.type
class Claim:
    text: str
    tone: Tone


@strawberry.type(description="What one outlet says about an event, through one story.")
class Report:
    edge: strawberry.Private[Edge]

    @strawberry.field
    @at_once
    async def outlet(self, info: Info) -> Outlet:
        node = await info.context.nodes.load(self.edge.src)
        assert node is not None
        return Outlet.of(node)

    @strawberry.field
    def claims(self) -> list[Claim]:
        props = self.edge.props
        texts, tones = props.get("claim_texts") or [], props.get("claim_tones") or []
        assert isinstance(texts, list) and isinstance(tones, list)
        return [Claim(text=t, tone=Tone(tone)) for t, tone in zip(texts, tones, strict=True)]

    @strawberry.field
    def url(self) -> str | None:
        value = self.edge.props.get("url")
        return value if isinstance(value, str) else None

    @strawberry.field(description="The story the extractor read this report in.")
    @at_once
    async def story(self, info: Info) -> Story:
        node = await info.context.nodes.load(self.edge.key)
        assert node is not None
        return Story.of(node)

    @strawberry.field(description="When that story was published (when the outlet reported it).")
    def reported_on(self) -> DateOrTimestamp | None:
        value = self.edge.props.get("story_published_on")
        return DateOrTimestamp(value) if isinstance(value, str) else None

    @strawberry.field
    def extracted_at(self) -> Timestamp:
        return Timestamp(str(self.edge.props.get("extracted_at")))


@strawberry.type
class Needs:
    independent_sources: int
    trusted_sources: int


@strawberry.type(description="How sure the site is that the event happened, and why.")
class Confidence:
    level: ConfidenceLevel
    label: str = strawberry.field(description="The level as the page shows it: 'Likely'.")
    independent_sources: int
    trusted_sources: int
    explanation: str = strawberry.field(description="One sentence: why this level.")
    next_level: ConfidenceLevel | None
    needs: Needs = strawberry.field(description="What the next level still needs.")
    hint: str = strawberry.field(
        description="'One more trusted source could elevate it to verified.'"
    )


@strawberry.enum(description="Why an event's confidence level changed.")
class ChangeCause(Enum):
    REPORT = "report"
    APPROVAL = "approval"
    REGISTRY = "registry"
    POLICY = "policy"
    MERGE = "merge"


@strawberry.type(description="One change of an event's confidence level: when, why, by whom.")
class ConfidenceChange:
    event_id: strawberry.ID
    at: Timestamp
    previous: ConfidenceLevel | None = strawberry.field(
        description="The level before; null for the event's first rating."
    )
    level: ConfidenceLevel
    cause: ChangeCause
    detail: str = strawberry.field(
        description="Which report, approval or registry change: 'approved submission su_... "
        "(Reuters, https://...)'."
    )
    by: str = strawberry.field(description="Who: an editor, a loader, or 'cli' for local loads.")

    @classmethod
    def of(cls, change: LevelChange) -> ConfidenceChange:
        return cls(
            event_id=strawberry.ID(change.event_id),
            at=Timestamp(change.at),
            previous=ConfidenceLevel(change.previous) if change.previous else None,
            level=ConfidenceLevel(change.level),
            cause=ChangeCause(change.cause),
            detail=change.detail,
            by=change.by,
        )


@strawberry.type
class Involvement:
    entity: Entity
    roles: list[str]


@strawberry.type(description="Where the record came from and when each clock ticked.")
class Extraction:
    stories: list[Story]
    first_extracted_at: Timestamp
    last_extracted_at: Timestamp
    ingested_at: Timestamp = strawberry.field(description="When this graph first ingested it.")


@strawberry.type(description="Where one or more sources place the event.")
class Location:
    place: Place
    country: Place | None
    stories: list[Story]


@strawberry.type(description="One real-world event, however many records and outlets reported it.")
class Event(GraphNode):
    @classmethod
    def of(cls, node: Node) -> Event:
        return cls(id=strawberry.ID(node.id), node=node)

    @strawberry.field
    def category(self) -> Category:
        return Category(self.node.text("category"))

    @strawberry.field
    def summary(self) -> str:
        return self.node.text("summary")

    @strawberry.field(description="When it happened (valid time), not when it was reported.")
    def occurred_on(self) -> DateOrTimestamp:
        return DateOrTimestamp(self.node.text("occurred_on"))

    @strawberry.field
    def latitude(self) -> float | None:
        value = self.node.props.get("lat")
        return float(value) if isinstance(value, int | float) else None

    @strawberry.field
    def longitude(self) -> float | None:
        value = self.node.props.get("lon")
        return float(value) if isinstance(value, int | float) else None

    @strawberry.field(description="Every place sources gave, the earliest-extracted first.")
    @at_once
    async def locations(self, info: Info) -> list[Location]:
        edges = await info.context.edges(Rel.OCCURRED_IN, "out").load(self.id)
        edges = sorted(edges, key=lambda e: (str(e.props.get("first_reported")), e.dst))
        places = await info.context.nodes.load_many([e.dst for e in edges])
        countries = await info.context.edges(Rel.IN_COUNTRY, "out").load_many(
            [e.dst for e in edges]
        )
        located: list[Location] = []
        for edge, place, country_edges in zip(edges, places, countries, strict=True):
            assert place is not None
            country = await _country(info, country_edges)
            stories = await _stories(info, edge.props.get("stories"))
            located.append(Location(place=Place.of(place), country=country, stories=stories))
        return located

    @strawberry.field(description="The place of the earliest-extracted record that gave one.")
    @at_once
    async def place(self, info: Info) -> Place | None:
        place, _ = await self._primary(info)
        return place

    @strawberry.field(description="The country of `place`, as the source gave it.")
    @at_once
    async def country(self, info: Info) -> Place | None:
        place, country = await self._primary(info)
        if place is None:
            return None
        return country or (place if place.node.text("kind") == "country" else None)

    async def _primary(self, info: Info) -> tuple[Place | None, Place | None]:
        """The earliest-extracted location's place and country (no stories loaded)."""
        edges = await info.context.edges(Rel.OCCURRED_IN, "out").load(self.id)
        if not edges:
            return None, None
        first = min(edges, key=lambda e: (str(e.props.get("first_reported")), e.dst))
        place = await info.context.nodes.load(first.dst)
        if place is None:
            return None, None
        country_edges = await info.context.edges(Rel.IN_COUNTRY, "out").load(first.dst)
        return Place.of(place), await _country(info, country_edges)

    @strawberry.field
    def confidence(self, info: Info) -> Confidence:
        props = self.node.props
        policy = info.context.policy
        level = str(props.get("confidence") or "unverified")
        next_level = props.get("confidence_next")
        return Confidence(
            level=ConfidenceLevel(level),
            label=policy.label(level),
            independent_sources=int(props.get("independent_sources") or 0),  # type: ignore[arg-type]
            trusted_sources=int(props.get("trusted_sources") or 0),  # type: ignore[arg-type]
            explanation=str(props.get("confidence_explanation") or ""),
            next_level=ConfidenceLevel(next_level) if isinstance(next_level, str) else None,
            needs=Needs(
                independent_sources=int(props.get("needs_independent") or 0),  # type: ignore[arg-type]
                trusted_sources=int(props.get("needs_trusted") or 0),  # type: ignore[arg-type]
            ),
            hint=str(props.get("confidence_hint") or ""),
        )

    @strawberry.field(description="Every change of its confidence level, oldest first.")
    def confidence_history(self) -> list[ConfidenceChange]:
        return [ConfidenceChange.of(c) for c in history(self.node.id, self.node.props)]

    @strawberry.field(
        description="Every report, one per outlet and story, in the order the extractor gave "
        "them: earliest extraction first, then as listed in the record."
    )
    @at_once
    async def reports(self, info: Info) -> list[Report]:
        edges = await info.context.edges(Rel.REPORTS, "in").load(self.id)
        return [Report(edge=e) for e in sorted(edges, key=report_order)]

    @strawberry.field(description="The distinct outlets that reported it, in report order.")
    @at_once
    async def sources(self, info: Info) -> list[Outlet]:
        edges = await info.context.edges(Rel.REPORTS, "in").load(self.id)
        ids = list(dict.fromkeys(e.src for e in sorted(edges, key=report_order)))
        return [Outlet.of(n) for n in await info.context.nodes.load_many(ids) if n is not None]

    @strawberry.field(description="Who and what it involves, with their roles, by name.")
    @at_once
    async def entities(self, info: Info) -> list[Involvement]:
        edges = await info.context.edges(Rel.INVOLVES, "out").load(self.id)
        nodes = await info.context.nodes.load_many([e.dst for e in edges])
        found = [
            Involvement(entity=Entity.of(n), roles=e.texts("roles"))
            for e, n in zip(edges, nodes, strict=True)
            if n is not None
        ]
        return sorted(found, key=lambda i: (i.entity.node.text("name").casefold(), i.entity.id))

    @strawberry.field
    @at_once
    async def extraction(self, info: Info) -> Extraction:
        edges = await info.context.edges(Rel.DESCRIBES, "in").load(self.id)
        edges = sorted(edges, key=lambda e: (str(e.props.get("first_extracted_at")), e.src))
        stories = await _stories(info, [e.src for e in edges])
        props = self.node.props
        return Extraction(
            stories=stories,
            first_extracted_at=Timestamp(str(props.get("first_extracted_at"))),
            last_extracted_at=Timestamp(str(props.get("last_extracted_at"))),
            ingested_at=Timestamp(str(props.get("ingested_at"))),
        )


@strawberry.type(description="A person, organisation, country, group or other actor.")
class Entity(GraphNode):
    @classmethod
    def of(cls, node: Node) -> Entity:
        return cls(id=strawberry.ID(node.id), node=node)

    @strawberry.field
    def name(self) -> str:
        return self.node.text("name")

    @strawberry.field
    def type(self) -> EntityType:
        return EntityType(self.node.text("type"))

    @strawberry.field(description="Every spelling seen, the name included.")
    def aliases(self) -> list[str]:
        return self.node.texts("aliases")

    @strawberry.field(description="Its events by date, oldest first unless `order` says otherwise.")
    def timeline(
        self,
        info: Info,
        first: int = DEFAULT_PAGE,
        after: str | None = None,
        filter: EventFilterInput | None = None,
        order: Order = Order.OLDEST_FIRST,
    ) -> EventConnection:
        flt = to_filter(info, filter, entity=self.id)
        return event_page(info, flt, first, after, order)

    @strawberry.field(
        description="Its events counted per day, week (default) or month over a date range "
        "(default: its first to its last event), split by category and by confidence level: "
        "what a timeline chart draws. `timeline` lists the events themselves."
    )
    def timeline_buckets(
        self,
        info: Info,
        interval: Annotated[Interval, strawberry.lazy("api.analytics")] | None = None,
        date_from: Annotated[dt.date | None, strawberry.argument(name="from")] = None,
        date_to: Annotated[dt.date | None, strawberry.argument(name="to")] = None,
        categories: list[Category] | None = None,
        min_confidence: ConfidenceLevel | None = None,
    ) -> Annotated[TimelineBuckets, strawberry.lazy("api.analytics")]:
        from api import analytics

        return analytics.timeline_buckets(
            info, self.node, interval, date_from, date_to, categories, min_confidence
        )

    @strawberry.field(
        description="The entities that share events with it, most shared events first (ties "
        "by id), each with the count and the shared events."
    )
    async def co_occurring(
        self,
        info: Info,
        first: int = DEFAULT_PAGE,
        after: str | None = None,
        date_from: Annotated[dt.date | None, strawberry.argument(name="from")] = None,
        date_to: Annotated[dt.date | None, strawberry.argument(name="to")] = None,
        min_confidence: ConfidenceLevel | None = None,
        types: list[EntityType] | None = None,
    ) -> Annotated[CoOccurrenceConnection, strawberry.lazy("api.analytics")]:
        from api import analytics

        return await analytics.co_occurring(
            info, self.node, first, after, date_from, date_to, min_confidence, types
        )


@strawberry.type(
    description="A news outlet, think tank or other source, from the registry or seen in records."
)
class Outlet(GraphNode):
    @classmethod
    def of(cls, node: Node) -> Outlet:
        return cls(id=strawberry.ID(node.id), node=node)

    @strawberry.field
    def name(self) -> str:
        return self.node.text("name")

    @strawberry.field
    def aliases(self) -> list[str]:
        return self.node.texts("aliases")

    @strawberry.field
    def tier(self) -> Tier:
        return Tier(self.node.text("tier") or "unknown")

    @strawberry.field(description="Independence group; outlets of one group count as one source.")
    def group(self) -> str:
        return self.node.text("group") or f"outlet:{self.node.id}"

    @strawberry.field
    def country(self) -> str | None:
        return self.node.text("country") or None

    @strawberry.field
    def kind(self) -> str | None:
        return self.node.text("kind") or None

    @strawberry.field(description="The events it reported, newest first.")
    def events(
        self,
        info: Info,
        first: int = DEFAULT_PAGE,
        after: str | None = None,
        filter: EventFilterInput | None = None,
        order: Order = Order.NEWEST_FIRST,
    ) -> EventConnection:
        return event_page(info, to_filter(info, filter, outlet=self.id), first, after, order)


@strawberry.type(description="A city, region or site, or a country (kind 'country').")
class Place(GraphNode):
    @classmethod
    def of(cls, node: Node) -> Place:
        return cls(id=strawberry.ID(node.id), node=node)

    @strawberry.field
    def name(self) -> str:
        return self.node.text("name")

    @strawberry.field
    def kind(self) -> str:
        return self.node.text("kind")

    @strawberry.field
    def aliases(self) -> list[str]:
        return self.node.texts("aliases")

    @strawberry.field(description="The events that took place here, newest first.")
    def events(
        self,
        info: Info,
        first: int = DEFAULT_PAGE,
        after: str | None = None,
        filter: EventFilterInput | None = None,
        order: Order = Order.NEWEST_FIRST,
    ) -> EventConnection:
        field_name = "country" if self.node.text("kind") == "country" else "place"
        flt = to_filter(info, filter, **{field_name: self.id})
        return event_page(info, flt, first, after, order)


@strawberry.type(description="A source story the extractor read.")
class Story(GraphNode):
    @classmethod
    def of(cls, node: Node) -> Story:
        return cls(id=strawberry.ID(node.id), node=node)

    @strawberry.field
    def slug(self) -> str:
        return self.node.text("slug")

    @strawberry.field
    def url(self) -> str | None:
        return self.node.text("url") or None

    @strawberry.field
    def published_on(self) -> DateOrTimestamp | None:
        value = self.node.text("published_on")
        return DateOrTimestamp(value) if value else None

    @strawberry.field
    @at_once
    async def outlet(self, info: Info) -> Outlet | None:
        edges = await info.context.edges(Rel.PUBLISHED, "in").load(self.id)
        if not edges:
            return None
        node = await info.context.nodes.load(edges[0].src)
        return Outlet.of(node) if node else None


def as_graph_node(node: Node) -> GraphNode:
    kinds: dict[Label, type[Event | Entity | Outlet | Place | Story]] = {
        Label.EVENT: Event,
        Label.ENTITY: Entity,
        Label.OUTLET: Outlet,
        Label.PLACE: Place,
        Label.STORY: Story,
    }
    return kinds[node.label].of(node)


# -- connections -------------------------------------------------------------------------------


@strawberry.type
class PageInfo:
    has_next_page: bool
    has_previous_page: bool
    start_cursor: str | None
    end_cursor: str | None


@strawberry.type
class EventEdge:
    cursor: str
    node: Event


@strawberry.type(description="A page of events (Relay cursor connection).")
class EventConnection:
    edges: list[EventEdge]
    page_info: PageInfo


def event_page(
    info: Info, flt: EventFilter, first: int, after: str | None, order: Order
) -> EventConnection:
    occurred_after = decode_cursor(after, 2) if after is not None else None
    query = EventQuery(
        filter=flt,
        first=page_size(first),
        newest_first=order is Order.NEWEST_FIRST,
        after=(occurred_after[0], occurred_after[1]) if occurred_after else None,
    )
    page = info.context.store.query_events(query)
    edges = [
        EventEdge(cursor=encode_cursor(n.text("occurred_on"), n.id), node=Event.of(n))
        for n in page.events
    ]
    return EventConnection(
        edges=edges,
        page_info=PageInfo(
            has_next_page=page.has_next,
            has_previous_page=after is not None,
            start_cursor=edges[0].cursor if edges else None,
            end_cursor=edges[-1].cursor if edges else None,
        ),
    )


@strawberry.type(
    description="One link of a node: the relationship, its direction and the node at the other end."
)
class NeighbourEdge:
    cursor: str
    relationship: str
    direction: Direction
    roles: list[str]
    node: GraphNode


@strawberry.type
class NeighbourConnection:
    edges: list[NeighbourEdge]
    page_info: PageInfo


async def neighbours(info: Info, node: Node, first: int, after: str | None) -> NeighbourConnection:
    """Every relationship of `node` in (relationship, direction, other id, key) order."""
    size = page_size(first)
    start = decode_cursor(after, 4) if after is not None else None
    pairs = [(rel, d) for rel in Rel for d in ("out", "in")]
    loaded = await asyncio.gather(
        *(info.context.edges(rel, d).load(node.id) for rel, d in pairs)  # type: ignore[arg-type]
    )
    links = sorted(
        (rel.value, d, e.other(node.id), e.key, e)
        for (rel, d), edges in zip(pairs, loaded, strict=True)
        for e in edges
    )
    if start is not None:
        links = [link for link in links if link[:4] > start]
    page = links[: size + 1]
    others = await info.context.nodes.load_many([link[2] for link in page[:size]])
    edges = [
        NeighbourEdge(
            cursor=encode_cursor(*link[:4]),
            relationship=link[0],
            direction=Direction(link[1]),
            roles=link[4].texts("roles"),
            node=as_graph_node(other),
        )
        for link, other in zip(page, others, strict=False)
        if other is not None
    ]
    return NeighbourConnection(
        edges=edges,
        page_info=PageInfo(
            has_next_page=len(page) > size,
            has_previous_page=after is not None,
            start_cursor=edges[0].cursor if edges else None,
            end_cursor=edges[-1].cursor if edges else None,
        ),
    )


def report_order(edge: Edge) -> tuple[str, str, int, str]:
    """The order the page lists reports in: earliest extraction, then as the record did."""
    position = edge.props.get("position")
    return (
        str(edge.props.get("extracted_at")),
        edge.key,
        position if isinstance(position, int) else 0,
        edge.src,
    )


async def _stories(info: Info, ids: object) -> list[Story]:
    if not isinstance(ids, list):
        return []
    nodes = await info.context.nodes.load_many(ids)
    return [Story.of(n) for n in nodes if n is not None]


async def _country(info: Info, country_edges: list[Edge]) -> Place | None:
    if not country_edges:
        return None
    country = await info.context.nodes.load(country_edges[0].dst)
    return Place.of(country) if country else None


SearchResult = Annotated[Event | Entity | Outlet | Place, strawberry.union("SearchResult")]
