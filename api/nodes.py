"""The graph's node types (`Event`, `Entity`, `Outlet`, `Place`, `Story`, behind the `GraphNode`
interface), mapped by hand from domain nodes (kept in a `strawberry.Private` field), with what
they list: reports, locations, involvements, and the connections that page through events
(`EventConnection`), links (`NeighbourConnection`) and co-occurring entities.

One module: these types refer to each other in a circle (an event lists its outlets, an outlet
pages its events, an entity its co-occurring entities), so splitting them would need lazy
references. The leaf types are in `api.scalars`, `api.paging` and `api.confidence`.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Sequence
from dataclasses import replace
from typing import Annotated, Any, Self

import strawberry

from api import heavy
from api.auth import requires
from api.bounds import Bound, bounds_of, window
from api.confidence import Confidence, ConfidenceChange, Needs
from api.context import Info
from api.dataloaders import at_once
from api.errors import UserError
from api.filters import EventFilterInput, to_filter
from api.labels import found
from api.memo import loader_only, memoised
from api.order import report_order
from api.paging import (
    DEFAULT_PAGE,
    PageInfo,
    decode_cursor,
    decode_offset,
    encode_cursor,
    page_info,
    page_size,
)
from api.scalars import (
    Category,
    ConfidenceLevel,
    DateOrTimestamp,
    Direction,
    EntityType,
    Order,
    Tier,
    Timestamp,
    Tone,
)
from api.timeline import Interval, TimelineBuckets, timeline_buckets
from api.tokens import Role
from graph import analytics, gazetteer
from graph.analytics.related import related_events
from graph.history import history
from graph.model import PUBLIC_RELS, RETRACTED_ON, Edge, Label, Node, Prop, Rel, is_public
from graph.store import EventFilter, EventQuery, Months
from services.corrections import CORRECTED
from services.matching import decisions
from services.pins import pins_of
from services.places import flags_of, iso_key
from services.redirects import report_id


@strawberry.interface(
    description="Any node of the graph: events, entities, places, outlets, stories."
)
class GraphNode:
    id: strawberry.ID
    node: strawberry.Private[Node]
    redirected_from: strawberry.ID | None = strawberry.field(
        default=None,
        description="The id asked for, when it was merged away (by the loader or an editor) "
        "and this node is what it merged into; null when asked by this node's own id. Links "
        "to merged-away ids keep working: update them to `id`.",
    )

    @classmethod
    def of(cls, node: Node, redirected_from: str | None = None) -> Self:
        """The GraphQL type of `node` (called on the concrete type: `Event.of(node)`),
        reached through the merged-away id `redirected_from` when given."""
        moved = strawberry.ID(redirected_from) if redirected_from is not None else None
        return cls(id=strawberry.ID(node.id), node=node, redirected_from=moved)

    @strawberry.field(description="The nodes linked to this one, a page at a time.")
    async def neighbours(
        self, info: Info, first: int = DEFAULT_PAGE, after: str | None = None
    ) -> NeighbourConnection:
        return await neighbours(info, self.node, first, after)


@loader_only
@strawberry.type
class Claim:
    id: strawberry.ID = strawberry.field(
        description="Its report's id and its position (REPORTS:...#0), which `takedown` takes."
    )
    text: str
    tone: Tone


@loader_only
@strawberry.type(
    description="Its outlet withdrew the report: shown, no longer counted as a source."
)
class Retraction:
    retracted_on: DateOrTimestamp = strawberry.field(description="When the outlet retracted it.")
    reasons: list[str]
    by: list[str] = strawberry.field(
        description="Who said so: 'extractor' (the record did) or the editors' names (to "
        "editors and admins; others see 'editor')."
    )


@memoised
@strawberry.type(description="What one outlet says about an event, through one story.")
class Report:
    edge: strawberry.Private[Edge]

    def memo_key(self) -> tuple[tuple[str, str, str], object]:
        """Its ends and story (what its id is made of), and the properties it was read with
        (`api.memo`)."""
        edge = self.edge
        return (edge.src, edge.dst, edge.discriminator), edge.props

    @strawberry.field(
        description="Its stable id (REPORTS:<outlet>:<event>:<story>), which `retractReport` takes."
    )
    def id(self) -> strawberry.ID:
        return strawberry.ID(report_id(self.edge))

    @strawberry.field(description="Set when its outlet retracted it; null otherwise.")
    def retraction(self, info: Info) -> Retraction | None:
        day = self.edge.props.get(RETRACTED_ON)
        if not isinstance(day, str) or not day:
            return None
        editor = info.context.actor.can(Role.EDITOR, Role.ADMIN)
        by = self.edge.texts("retracted_by")
        shown = by if editor else sorted({b if b == "extractor" else "editor" for b in by})
        return Retraction(
            retracted_on=DateOrTimestamp(day),
            reasons=self.edge.texts("retraction_reasons"),
            by=shown,
        )

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
        report = report_id(self.edge)
        return [
            Claim(id=strawberry.ID(f"{report}#{i}"), text=t, tone=Tone(tone))
            for i, (t, tone) in enumerate(zip(texts, tones, strict=True))
        ]

    @strawberry.field
    def url(self) -> str | None:
        value = self.edge.props.get("url")
        return value if isinstance(value, str) else None

    @strawberry.field(description="The story the extractor read this report in.")
    @at_once
    async def story(self, info: Info) -> Story:
        node = await info.context.nodes.load(self.edge.discriminator)
        assert node is not None
        return Story.of(node)

    @strawberry.field(description="When that story was published (when the outlet reported it).")
    def reported_on(self) -> DateOrTimestamp | None:
        value = self.edge.props.get("story_published_on")
        return DateOrTimestamp(value) if isinstance(value, str) else None

    @strawberry.field
    def extracted_at(self) -> Timestamp:
        return Timestamp(str(self.edge.props.get("extracted_at")))


_ARGUMENT = {"occurred_on": "occurredOn"}


@strawberry.type(description="An event property an editor corrected (pinned).")
class Correction:
    property: str = strawberry.field(description="summary, category, occurredOn or place")
    value: str = strawberry.field(description="What the editor gave, which the event shows.")
    corrected_from: str | None = strawberry.field(
        description="What the records say (said before the correction, or since)."
    )
    at: Timestamp
    by: str
    reason: str


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


@strawberry.type(description="What the gazetteer says a reported location gets wrong.")
class LocationFlag:
    field: str = strawberry.field(description="The record's field: location.country, ...")
    reason: str = strawberry.field(description="e.g. 'Moscow is in Russia, not Ukraine'")
    suggestion: str | None = strawberry.field(description="e.g. 'Moscow, Russia'")


@strawberry.type(description="Whether the event's place agrees with the gazetteer.")
class LocationCheck:
    status: str = strawberry.field(
        description="ok; conflict (the gazetteer contradicts the place chosen: see reason "
        "and suggestion, and the editors' queue `flaggedLocations`); corrected (an editor "
        "chose it with `correctLocation`); none (no location)"
    )
    reason: str | None
    suggestion: str | None


@strawberry.type(description="Where one or more sources place the event.")
class Location:
    place: Place
    country: Place | None
    stories: list[Story]
    flags: list[LocationFlag] = strawberry.field(
        description="What the gazetteer found wrong in the records giving this location."
    )


@strawberry.type(description="One real-world event, however many records and outlets reported it.")
class Event(GraphNode):
    @strawberry.field
    def category(self) -> Category:
        return Category(self.node.text("category"))

    @strawberry.field(
        description="The category's display label in `locale` (English when it has none: "
        "`labels(locale)` says whether it fell back)."
    )
    def category_label(self, locale: str = "en") -> str:
        return found(locale).labels.categories.get(self.node.text("category"), "")

    @strawberry.field(
        description="When its confidence level last changed (the LEVEL_CHANGED order); null "
        "when it has not changed since that order exists."
    )
    def level_changed_at(self) -> Timestamp | None:
        value = self.node.text("level_since")
        return Timestamp(value) if value else None

    @strawberry.field
    def summary(self) -> str:
        return self.node.text("summary")

    @strawberry.field(description="When it happened (valid time), not when it was reported.")
    def occurred_on(self) -> DateOrTimestamp:
        return DateOrTimestamp(self.node.text("occurred_on"))

    @strawberry.field(description="Where it happened: the records' point, else its place's.")
    def latitude(self) -> float | None:
        return _number(self.node, "geo_lat" if "geo_lat" in self.node.props else "lat")

    @strawberry.field(description="Where it happened: the records' point, else its place's.")
    def longitude(self) -> float | None:
        return _number(self.node, "geo_lon" if "geo_lon" in self.node.props else "lon")

    @strawberry.field(
        description="Every place sources gave, the earliest-extracted first; an editor's "
        "corrected place first of all, unless a source gave it too."
    )
    @at_once
    async def locations(self, info: Info) -> list[Location]:
        edges = await info.context.edges(Rel.OCCURRED_IN, "out").load(self.id)
        reported = {e.dst for e in edges if e.discriminator != CORRECTED}
        # an editor's location (services.corrections) is listed unless a record names it too
        edges = sorted(
            (e for e in edges if e.discriminator != CORRECTED or e.dst not in reported),
            key=lambda e: (str(e.props.get("first_reported")), e.dst),
        )
        places = await info.context.nodes.load_many([e.dst for e in edges])
        countries = await info.context.edges(Rel.IN_COUNTRY, "out").load_many(
            [e.dst for e in edges]
        )
        located: list[Location] = []
        for edge, place, country_edges in zip(edges, places, countries, strict=True):
            assert place is not None
            country = await _country(info, country_edges)
            stories = await _stories(info, edge.props.get("stories"))
            flags = [
                LocationFlag(field=f.field, reason=f.reason, suggestion=f.suggestion)
                for f in flags_of(edge)
            ]
            located.append(
                Location(place=Place.of(place), country=country, stories=stories, flags=flags)
            )
        return located

    @strawberry.field(
        description="The place chosen by evidence: an editor's correction, else the place "
        "most of its stories agree on (by gazetteer entry), one the gazetteer does not "
        "contradict before one it does. Every reported place is in `locations`."
    )
    @at_once
    async def place(self, info: Info) -> Place | None:
        place, _ = await self._primary(info)
        return place

    @strawberry.field(description="Whether `place` agrees with the gazetteer, and if not why.")
    def location_check(self) -> LocationCheck:
        props = self.node.props
        status = str(props.get("location_check") or "none")
        if props.get("location_corrected") and status == "ok":
            status = "corrected"
        reason, suggestion = props.get("location_reason"), props.get("location_suggestion")
        return LocationCheck(
            status=status,
            reason=reason if isinstance(reason, str) else None,
            suggestion=suggestion if isinstance(suggestion, str) else None,
        )

    @strawberry.field(description="The country `place` is in, as the graph files the event.")
    @at_once
    async def country(self, info: Info) -> Place | None:
        place, country = await self._primary(info)
        if place is None:
            return None
        return country or (place if place.node.text("kind") == "country" else None)

    async def _primary(self, info: Info) -> tuple[Place | None, Place | None]:
        """The chosen location's place and country (no stories loaded); the earliest-extracted
        one for an event placed before the gazetteer."""
        edges = await info.context.edges(Rel.OCCURRED_IN, "out").load(self.id)
        if not edges:
            return None, None
        chosen = self.node.text("place_id")
        first = next((e for e in edges if e.dst == chosen), None) or min(
            edges, key=lambda e: (str(e.props.get("first_reported")), e.dst)
        )
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

    @strawberry.field(
        description="How the event matcher placed each of its records (records without an "
        "extractor id): the outcome, the score, the candidate event and the evidence, feature "
        "by feature. Editors and admins.",
        permission_classes=[requires(Role.EDITOR, Role.ADMIN)],
    )
    async def identity(self, info: Info) -> list[IdentityDecision]:
        edges = await info.context.edges(Rel.DESCRIBES, "in").load(self.id)
        found = decisions(sorted(edges, key=lambda e: e.src))
        stories = await info.context.nodes.load_many([e.src for e, _ in found])
        return [
            IdentityDecision.of(data, Story.of(story) if story is not None else None)
            for (_, data), story in zip(found, stories, strict=True)
        ]

    @strawberry.field(
        description="The properties editors corrected, pinned against later records until "
        "unpinned (`unpinEvent`): each with what the records say ('corrected from ...'), who "
        "and why. Editors and admins.",
        permission_classes=[requires(Role.EDITOR, Role.ADMIN)],
    )
    def corrections(self) -> list[Correction]:
        return [
            Correction(
                property=_ARGUMENT.get(p.prop, p.prop),
                value=str(p.value),
                corrected_from=None if p.was is None else str(p.was),
                at=Timestamp(p.at),
                by=p.by,
                reason=p.reason,
            )
            for p in pins_of(self.node).values()
        ]

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

    @strawberry.field(
        description="Events sharing its entities or places, near it in time (within 30 days), "
        "best first, each with what it shares (docs/site.md: bounded reads, no scan)."
    )
    async def related(self, info: Info, first: int = 5) -> list[RelatedEvent]:
        if not 1 <= first <= MAX_RELATED:
            raise UserError(f"first must be between 1 and {MAX_RELATED} (got {first})")
        context = info.context
        if context.immediate:
            found = related_events(context.store, self.id, first)
        else:  # a store behind a server: its round trips off the event loop
            found = await asyncio.to_thread(related_events, context.store, self.id, first)
        wanted = [r.event_id for r in found]
        wanted += [i for r in found for i in (*r.entities, *r.places)]
        nodes = dict(zip(wanted, await context.nodes.load_many(wanted), strict=True))
        related: list[RelatedEvent] = []
        for r in found:
            event = nodes.get(r.event_id)
            if event is None:
                continue
            entities = [Entity.of(n) for i in r.entities if (n := nodes.get(i)) is not None]
            places = [Place.of(n) for i in r.places if (n := nodes.get(i)) is not None]
            reasons = [f"both involve {e.node.text('name')}" for e in entities]
            reasons += [f"both occurred in {p.node.text('name')}" for p in places]
            if r.days_apart is not None:
                reasons.append(_apart(r.days_apart))
            related.append(
                RelatedEvent(
                    event=Event.of(event),
                    score=round(r.score, 4),
                    shared_entities=entities,
                    shared_places=places,
                    days_apart=r.days_apart,
                    reasons=reasons,
                )
            )
        return related


MAX_RELATED = 20


def _apart(days: int) -> str:
    if days == 0:
        return "the same day"
    return f"{days} day{'s' if days != 1 else ''} apart"


@strawberry.type(description="An event related to another, and what they share.")
class RelatedEvent:
    event: Event
    score: float = strawberry.field(
        description="1 per shared entity, 1 per shared place, and up to 1 for nearness in "
        "time (1 / (1 + days apart / 7))."
    )
    shared_entities: list[Entity] = strawberry.field(description="Entities both involve.")
    shared_places: list[Place] = strawberry.field(description="Places both occurred in.")
    days_apart: int | None = strawberry.field(
        description="Days between when they occurred (null when either has no date)."
    )
    reasons: list[str] = strawberry.field(
        description="What they share, in words (English): each entity, each place, the time."
    )


@strawberry.type(description="A person, organisation, country, group or other actor.")
class Entity(GraphNode):
    @strawberry.field
    def name(self) -> str:
        return self.node.text("name")

    @strawberry.field
    def type(self) -> EntityType:
        return EntityType(self.node.text("type"))

    @strawberry.field(description="Every spelling seen, the name included.")
    def aliases(self) -> list[str]:
        return self.node.texts("aliases")

    @strawberry.field(
        description="For an entity of type country: the country's Place, the one events are "
        "filed under (null when the gazetteer does not know the name or no event names it)."
    )
    async def country(self, info: Info) -> Place | None:
        if self.node.text("type") != "country":
            return None
        named = gazetteer.country(self.node.text("name"))
        return await country_place(info, named.iso if named else None)

    @strawberry.field(description="Its events by date, oldest first unless `order` says otherwise.")
    @at_once
    async def timeline(
        self,
        info: Info,
        first: int = DEFAULT_PAGE,
        after: str | None = None,
        filter: EventFilterInput | None = None,
        order: Order = Order.OLDEST_FIRST,
    ) -> EventConnection:
        flt = await to_filter(info, filter, entity=self.id)
        return await event_page(info, flt, first, after, order)

    @strawberry.field(
        description="Its events counted per day, week (default) or month over a date range "
        "(default: its first to its last event), split by category and by confidence level: "
        "what a timeline chart draws. `timeline` lists the events themselves. `filter` narrows "
        "the events like `timeline`'s (then `from`, `to`, `categories` and `minConfidence` go "
        "inside it)."
    )
    async def timeline_buckets(
        self,
        info: Info,
        interval: Interval | None = None,
        date_from: Annotated[dt.date | None, strawberry.argument(name="from")] = None,
        date_to: Annotated[dt.date | None, strawberry.argument(name="to")] = None,
        categories: list[Category] | None = None,
        min_confidence: ConfidenceLevel | None = None,
        filter: EventFilterInput | None = None,
    ) -> TimelineBuckets:
        return await timeline_buckets(
            info, self.node, interval, date_from, date_to, categories, min_confidence, filter
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
    ) -> CoOccurrenceConnection:
        return await co_occurring(
            info, self.node, first, after, date_from, date_to, min_confidence, types
        )


@loader_only
@strawberry.type(
    description="A news outlet, think tank or other source, from the registry or seen in records."
)
class Outlet(GraphNode):
    @strawberry.field
    def name(self) -> str:
        return self.node.text("name")

    @strawberry.field
    def aliases(self) -> list[str]:
        return self.node.texts("aliases")

    @strawberry.field
    def tier(self) -> Tier:
        return Tier(self.node.text("tier") or "unknown")

    @strawberry.field(description="The Place of its country (`country`, an ISO code), if known.")
    async def country_place(self, info: Info) -> Place | None:
        return await country_place(info, self.node.text("country") or None)

    @strawberry.field(description="Independence group; outlets of one group count as one source.")
    def group(self) -> str:
        return self.node.text("group") or f"outlet:{self.node.id}"

    @strawberry.field
    def country(self) -> str | None:
        return self.node.text("country") or None

    @strawberry.field
    def kind(self) -> str | None:
        return self.node.text("kind") or None

    @strawberry.field(
        description="What its reports came to, over every event it reported, or over the "
        "events that occurred in the months `fromMonth` to `toMonth` (YYYY-MM, inclusive; "
        "docs/site.md): kept as events are rated, by month, not counted when asked."
    )
    @at_once
    async def track_record(
        self, info: Info, from_month: str | None = None, to_month: str | None = None
    ) -> TrackRecord:
        months = Months(_month("fromMonth", from_month), _month("toMonth", to_month))
        if months.since and months.until and months.since > months.until:
            raise UserError("fromMonth is after toMonth")
        record = await info.context.track_records_in(months).load(self.node.id)
        return TrackRecord(
            reports=record.reports,
            corroborated=record.corroborated,
            sole_source=record.sole_source,
            disputed=record.disputed,
            first_to_report=record.first,
            retracted=record.retracted,
        )

    @strawberry.field(description="The events it reported, newest first.")
    @at_once
    async def events(
        self,
        info: Info,
        first: int = DEFAULT_PAGE,
        after: str | None = None,
        filter: EventFilterInput | None = None,
        order: Order = Order.NEWEST_FIRST,
    ) -> EventConnection:
        return await event_page(
            info, await to_filter(info, filter, outlet=self.id), first, after, order
        )


def _month(argument: str, value: str | None) -> str | None:
    """A `YYYY-MM` argument checked, or None."""
    if value is None:
        return None
    try:
        dt.date.fromisoformat(f"{value}-01")
    except ValueError:
        raise UserError(f"{argument} must be a month, YYYY-MM (got {value[:20]!r})") from None
    if len(value) != 7:
        raise UserError(f"{argument} must be a month, YYYY-MM (got {value[:20]!r})")
    return value


@strawberry.type(description="What an outlet's reports came to (docs/site.md has each count).")
class TrackRecord:
    reports: int = strawberry.field(description="Events it reported.")
    corroborated: int = strawberry.field(
        description="Of those, events another independent group (outlet group) reported too."
    )
    sole_source: int = strawberry.field(
        description="Of those it did not retract, events no other independent group reported."
    )
    disputed: int = strawberry.field(description="Of those, events whose level is disputed.")
    first_to_report: int = strawberry.field(
        description="Of those, events it reported first: its earliest report (the story's "
        "publication date, else when it was extracted) is the event's earliest; ties count "
        "for each."
    )

    retracted: int = strawberry.field(
        description="Of those, events whose every report by it is retracted (a retracted "
        "report corroborates nothing and is nobody's first)."
    )

    @strawberry.field(description="corroborated / reports (0 without reports).")
    def corroboration_rate(self) -> float:
        return self.corroborated / self.reports if self.reports else 0.0

    @strawberry.field(description="disputed / reports (0 without reports).")
    def dispute_rate(self) -> float:
        return self.disputed / self.reports if self.reports else 0.0

    @strawberry.field(description="firstToReport / reports (0 without reports).")
    def first_rate(self) -> float:
        return self.first_to_report / self.reports if self.reports else 0.0


@strawberry.type(description="A city, region or site, or a country (kind 'country').")
class Place(GraphNode):
    @strawberry.field
    def name(self) -> str:
        return self.node.text("name")

    @strawberry.field
    def kind(self) -> str:
        return self.node.text("kind")

    @strawberry.field
    def aliases(self) -> list[str]:
        return self.node.texts("aliases")

    @strawberry.field(description="The gazetteer's name (GeoNames), when the place resolves.")
    def canonical_name(self) -> str | None:
        return self.node.text("canonical_name") or None

    @strawberry.field(description="The gazetteer entry: geonames:<id>; null when unresolved.")
    def gazetteer_id(self) -> str | None:
        return self.node.text("gazetteer_id") or None

    @strawberry.field(description="ISO 3166-1 alpha-2 code of its country (the gazetteer's).")
    def country_code(self) -> str | None:
        return self.node.text("country_code") or None

    @strawberry.field(description="First-level region: GeoNames' admin-1 code, e.g. RU.48.")
    def region(self) -> str | None:
        return self.node.text("admin1") or None

    @strawberry.field(description="Other names and transliterations (Kyiv: Kiev, Київ, ...).")
    def alternate_names(self) -> list[str]:
        return self.node.texts("alternate_names")

    @strawberry.field
    def latitude(self) -> float | None:
        return _number(self.node, "lat")

    @strawberry.field
    def longitude(self) -> float | None:
        return _number(self.node, "lon")

    @strawberry.field(description="resolved, unresolved or conflict (see checkReason).")
    def resolution(self) -> str:
        return self.node.text("resolution") or "unresolved"

    @strawberry.field(description="Why the name and country disagree with the gazetteer.")
    def check_reason(self) -> str | None:
        return self.node.text("check_reason") or None

    @strawberry.field(description="What the gazetteer suggests instead, e.g. 'Moscow, Russia'.")
    def suggestion(self) -> str | None:
        return self.node.text("suggestion") or None

    @strawberry.field(description="The events that took place here, newest first.")
    @at_once
    async def events(
        self,
        info: Info,
        first: int = DEFAULT_PAGE,
        after: str | None = None,
        filter: EventFilterInput | None = None,
        order: Order = Order.NEWEST_FIRST,
    ) -> EventConnection:
        field_name = "country" if self.node.text("kind") == "country" else "place"
        flt = await to_filter(info, filter, **{field_name: self.id})
        return await event_page(info, flt, first, after, order)


@memoised
@strawberry.type(description="A source story the extractor read.")
class Story(GraphNode):
    def memo_key(self) -> tuple[str, object]:
        """Its id, and what it was read with and as (`api.memo`)."""
        return self.id, (self.node, self.redirected_from)

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

    @strawberry.field(description="The events it describes, newest first.")
    @at_once
    async def events(self, info: Info) -> list[Event]:
        edges = await info.context.edges(Rel.DESCRIBES, "out").load(self.id)
        events = await events_of(info, [e.dst for e in edges])
        return sorted(events, key=lambda e: (e.node.text("occurred_on"), e.node.id), reverse=True)


@strawberry.type(description="One feature of a matcher decision: value x weight = contribution.")
class IdentityEvidence:
    feature: str
    value: float
    weight: float
    contribution: float


@strawberry.type(description="How the event matcher placed one record of an event (editors).")
class IdentityDecision:
    story: Story | None = strawberry.field(description="The story whose record it was.")
    outcome: str = strawberry.field(description="merge, new or possible_duplicate")
    score: float | None = strawberry.field(
        description="Log-odds that the record describes the candidate; null when none."
    )
    candidate: strawberry.ID | None = strawberry.field(
        description="The best candidate event: joined (merge), maybe the same (possible "
        "duplicate), or kept apart from (new)."
    )
    evidence: list[IdentityEvidence] = strawberry.field(
        description="Every feature, the largest contributions first."
    )
    notes: list[str] = strawberry.field(description="What could not be compared.")

    @classmethod
    def of(cls, data: dict[str, Any], story: Story | None) -> IdentityDecision:
        candidate = data.get("candidate")
        score = data.get("score")
        return cls(
            story=story,
            outcome=str(data.get("outcome")),
            score=float(score) if isinstance(score, int | float) else None,
            candidate=strawberry.ID(candidate) if isinstance(candidate, str) else None,
            evidence=[
                IdentityEvidence(
                    feature=str(row["feature"]),
                    value=float(row["value"]),
                    weight=float(row["weight"]),
                    contribution=float(row["contribution"]),
                )
                for row in data.get("evidence") or []
            ],
            notes=[str(n) for n in data.get("notes") or []],
        )


def as_graph_node(node: Node, redirected_from: str | None = None) -> GraphNode:
    kinds: dict[Label, type[Event | Entity | Outlet | Place | Story]] = {
        Label.EVENT: Event,
        Label.ENTITY: Entity,
        Label.OUTLET: Outlet,
        Label.PLACE: Place,
        Label.STORY: Story,
    }
    return kinds[node.label].of(node, redirected_from)


# -- connections -------------------------------------------------------------------------------


@strawberry.type
class EventEdge:
    cursor: str
    node: Event


# `EventConnection.totalCount` counts up to this many (a bounded count: docs/site.md).
EVENT_COUNT_CAP = 10_000


@strawberry.type(description="A page of events (Relay cursor connection).")
class EventConnection:
    edges: list[EventEdge]
    page_info: PageInfo
    filter: strawberry.Private[EventFilter]
    counted: strawberry.Private[list[int]]  # the count, once asked (one per connection)

    @strawberry.field(
        description="How many events the whole listing holds (every page, this filter), "
        "counted up to 10,000: a bounded count, so 10,000 means at least that many "
        "(`totalCountIsExact` false). Free without a filter; with an entity or outlet it "
        "counts their events, with dates the window's, else it walks the events until 10,000 "
        "match."
    )
    @at_once
    async def total_count(self, info: Info) -> int:
        return await self._count(info)

    @strawberry.field(description="Whether `totalCount` is exact (below 10,000).")
    @at_once
    async def total_count_is_exact(self, info: Info) -> bool:
        return await self._count(info) < EVENT_COUNT_CAP

    async def _count(self, info: Info) -> int:
        if not self.counted:
            store = info.context.store
            counted = await info.context.read(store.count_events, self.filter, EVENT_COUNT_CAP)
            self.counted[:] = [counted]
        return self.counted[0]


# The orders but when events happened: (their property, the level they fix, if any).
_ORDERS: dict[Order, tuple[str, str | None]] = {
    Order.RECENTLY_UPDATED: ("last_extracted_at", None),
    Order.LEVEL_CHANGED: ("level_since", None),
    Order.RECENTLY_VERIFIED: ("level_since", "verified"),
    Order.NEWLY_DISPUTED: ("level_since", "disputed"),
}


def _ordered(info: Info, flt: EventFilter, order: Order) -> tuple[str, EventFilter]:
    """The property `order` sorts by, and `flt` narrowed to the level it fixes."""
    order_by, level = _ORDERS.get(order, ("occurred_on", None))
    if level is None:
        return order_by, flt
    rank = info.context.policy.rank(level)
    if flt.levels and rank not in flt.levels:
        raise UserError(f"order {order.name} lists {level} events: filter.confidence excludes them")
    return order_by, replace(flt, levels=(rank,))


async def event_page(
    info: Info, flt: EventFilter, first: int, after: str | None, order: Order
) -> EventConnection:
    order_by, flt = _ordered(info, flt, order)
    position: tuple[str, ...] | None = None
    if after is not None:
        # a cursor of the occurred_on orders is (date, id); of another, (its order, value, id)
        position = decode_cursor(after, 2 if order_by == "occurred_on" else 3)
        if order_by != "occurred_on":
            if position[0] != order_by:
                raise UserError("after: the cursor is from another order of the listing")
            position = position[1:]
    query = EventQuery(
        filter=flt,
        first=page_size(first),
        newest_first=order is not Order.OLDEST_FIRST,
        after=(position[0], position[1]) if position else None,
        order_by=order_by,
    )
    page = await info.context.read(info.context.store.query_events, query)
    prefix = () if order_by == "occurred_on" else (order_by,)
    edges = [
        EventEdge(
            cursor=encode_cursor(*prefix, str(n.props.get(order_by) or ""), n.id), node=Event.of(n)
        )
        for n in page.events
    ]
    return EventConnection(
        filter=flt,
        counted=[],
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
    total_count: int = strawberry.field(
        description="How many links the node has in all (every page): exact, from the same "
        "read as the page."
    )


async def neighbours(info: Info, node: Node, first: int, after: str | None) -> NeighbourConnection:
    """Every public relationship of `node` (`graph.model.PUBLIC_RELS`: never a submission's)
    in (relationship, direction, other id, key) order."""
    size = page_size(first)
    start = decode_cursor(after, 4) if after is not None else None
    pairs = [(rel, d) for rel in PUBLIC_RELS for d in ("out", "in")]
    store = info.context.store

    def read_page() -> tuple[list[tuple[str, str, str, str, Edge]], int]:
        # Every relationship of the node is read and sorted (a hub's thousands): in a heavy
        # thread (api.heavy), so nested neighbours of hubs cannot hold the event loop.
        links = sorted(
            (rel.value, d, e.other(node.id), e.discriminator, e)
            for rel, d in pairs
            for e in store.edges([node.id], rel, d).get(node.id, [])  # type: ignore[arg-type]
        )
        total = len(links)
        if start is not None:
            links = [link for link in links if link[:4] > start]
        return links[: size + 1], total

    page, total = await heavy.read(info, read_page)
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
        if other is not None and is_public(other)
    ]
    return NeighbourConnection(
        total_count=total,
        edges=edges,
        page_info=PageInfo(
            has_next_page=len(page) > size,
            has_previous_page=after is not None,
            start_cursor=edges[0].cursor if edges else None,
            end_cursor=edges[-1].cursor if edges else None,
        ),
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


async def events_of(info: Info, ids: Sequence[str]) -> list[Event]:
    nodes = await info.context.nodes.load_many(ids)
    return [Event.of(n) for n in nodes if n is not None]


async def entities_of(info: Info, ids: Sequence[str]) -> list[Entity]:
    nodes = await info.context.nodes.load_many(ids)
    return [Entity.of(n) for n in nodes if n is not None]


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
        return await events_of(info, self.shared_event_ids[: page_size(first)])


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
    size, offset = page_size(first), decode_offset(after)
    span = window(info, date_from, date_to, min_confidence)
    store, wanted, until = info.context.store, [t.value for t in types or ()], heavy.deadline(info)
    # Off the event loop; reading stops at the time budget, answering `complete: false`.
    found = await heavy.read(
        info, lambda: analytics.co_occurring(store, entity.id, span, wanted, deadline=until)
    )
    page, has_next = analytics.page_of(found.ranked, size, offset)
    entities = await entities_of(info, [c.entity_id for c in page])
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
        page_info=page_info(after, [e.cursor for e in edges], has_next),
        total_count=len(found.ranked),
        events_scanned=found.events_scanned,
        complete=found.complete,
        bounds=bounds_of(found.bounds),
    )


def _number(node: Node, name: Prop) -> float | None:
    value = node.props.get(name)
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


async def country_place(info: Info, iso: str | None) -> Place | None:
    """The country Place of ISO 3166-1 code `iso` (services.places keys it so)."""
    if not iso:
        return None
    key = iso_key(iso)
    owner = (await info.context.read(info.context.store.lookup_keys, [key])).get(key)
    node = await info.context.nodes.load(owner) if owner else None
    return Place.of(node) if node is not None else None
