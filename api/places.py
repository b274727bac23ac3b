"""Places editors can trust: the queue of events whose place the gazetteer contradicts, and
`correctLocation`, an editor's place and country for an event (`correctEvent`'s correction of
the place: services.corrections; docs/places.md)."""

from __future__ import annotations

import datetime as dt
from enum import Enum

import strawberry

from api import heavy
from api.bounds import Bound, bounds_of
from api.context import Info
from api.dataloaders import at_once
from api.editorial import EDITORS, LogEntry, entry_of, write
from api.errors import UserError
from api.filters import EventFilterInput, to_filter
from api.nodes import Event, EventConnection, Place, event_page
from api.scalars import Category, ConfidenceLevel, Order
from api.timeline import Interval
from graph import analytics
from services.corrections import Corrections


@strawberry.type(description="An event placed by an editor, and the entry of the log.")
class CorrectedLocation:
    event: Event
    edit: LogEntry


@strawberry.type
class PlacesQuery:
    @strawberry.field(
        description="The editors' queue: events whose place the gazetteer contradicts "
        "(`locationCheck.status` conflict), oldest first; `correctLocation` takes one off. "
        "Editors and admins.",
        permission_classes=[EDITORS],
    )
    @at_once
    async def flagged_locations(
        self, info: Info, first: int = 20, after: str | None = None
    ) -> EventConnection:
        flt = await to_filter(info, None, flagged=True)
        return await event_page(info, flt, first, after, Order.OLDEST_FIRST)


@strawberry.type
class PlacesMutation:
    @strawberry.mutation(
        description="Say where an event happened: `place` in `country` (a name or ISO code), "
        "resolved through the gazetteer ('Kiev' is Kyiv) and chosen over what records say, "
        "now and for every later record; the event is filed under that country only. The "
        "same correction as `correctEvent(place:, country:)`: pinned (`Event.corrections`, "
        "`unpinEvent`), logged (`correct`, with `reason` if given) and undone by `undoEdit`. "
        "Editors and admins.",
        permission_classes=[EDITORS],
    )
    async def correct_location(
        self,
        info: Info,
        event_id: strawberry.ID,
        place: str,
        country: str,
        reason: str | None = None,
    ) -> CorrectedLocation:
        corrections = Corrections(info.context.store)
        by = info.context.actor.name
        event, entry = await write(
            info, corrections.correct_location, str(event_id), place, country, reason, by
        )
        return CorrectedLocation(event=Event.of(event), edit=entry_of(entry))


@strawberry.type(description="How many events one country (or region) has.")
class PlaceCount:
    count: int
    place: Place | None = strawberry.field(description="The country's Place (countries only).")
    region: str | None = strawberry.field(description="GeoNames' admin-1 code (regions only).")


@strawberry.enum(description="What `eventCounts.groups` counts events by.")
class CountBy(Enum):
    PERIOD = "period"
    CATEGORY = "category"
    CONFIDENCE = "confidence"
    COUNTRY = "country"


DIMENSIONS: dict[CountBy, analytics.Dimension] = {
    CountBy.PERIOD: "period",
    CountBy.CATEGORY: "category",
    CountBy.CONFIDENCE: "confidence",
    CountBy.COUNTRY: "country",
}


@strawberry.type(
    description="The events of one combination of `groupBy`; a dimension not asked for is null."
)
class CountGroup:
    count: int
    start: dt.date | None = strawberry.field(
        description="The period's first day (null when not counted by period, or undated)."
    )
    end: dt.date | None = strawberry.field(description="The period's last day (inclusive).")
    category: Category | None
    confidence: ConfidenceLevel | None
    country_id: strawberry.Private[str | None]

    @strawberry.field(
        description="The country the events are filed under (null: counted by country, none)."
    )
    async def country(self, info: Info) -> Place | None:
        if self.country_id is None:
            return None
        node = await info.context.nodes.load(self.country_id)
        return Place.of(node) if node is not None else None


@strawberry.type(
    description="Events counted by the country they are filed under, by region, and by any "
    "combination of period, category, confidence and country (`groups`)."
)
class EventCounts:
    countries: list[PlaceCount]
    regions: list[PlaceCount] = strawberry.field(
        description="By the first-level region of the event's place (GeoNames admin-1 code)."
    )
    events_scanned: int = strawberry.field(description="Events counted (the filter's).")
    unplaced: int = strawberry.field(description="Events with no country.")
    group_by: list[CountBy]
    interval: Interval
    groups: list[CountGroup] = strawberry.field(
        description="One per combination of `groupBy` that has events (none without `groupBy`), "
        "by period (earliest first), category, confidence (lowest first), then country. An "
        "event filed under several countries counts in each; otherwise the counts add up to "
        f"`eventsScanned`. At most {analytics.MAX_GROUPS}."
    )
    complete: bool
    bounds: list[Bound]


async def event_counts(
    info: Info,
    date_from: dt.date | None,
    date_to: dt.date | None,
    min_confidence: ConfidenceLevel | None,
    categories: list[Category] | None,
    filter: EventFilterInput | None = None,
    group_by: list[CountBy] | None = None,
    interval: Interval = Interval.MONTH,
) -> EventCounts:
    if filter is None:
        filter = EventFilterInput(
            date_from=date_from,
            date_to=date_to,
            min_confidence=min_confidence,
            categories=categories,
        )
    elif date_from or date_to or min_confidence or categories is not None:
        raise UserError(
            "eventCounts: with `filter`, give from, to, minConfidence and categories inside it"
        )
    flt = await to_filter(info, filter)
    store = info.context.store
    dimensions = tuple(dict.fromkeys(DIMENSIONS[b] for b in group_by or ()))

    def count() -> tuple[analytics.Aggregate, analytics.PlaceCounts]:
        # one read of the store's tallies serves both the groups and the places
        tallies = store.tally_events(flt, analytics.AGGREGATE_MAX_EVENTS)
        counted = analytics.place_counts(store, flt, tallies=tallies)
        return analytics.summed(tallies, dimensions, interval.value), counted

    grouped, counted = await heavy.read(info, count)
    places = await info.context.nodes.load_many([c for c, _ in counted.countries])
    return EventCounts(
        countries=[
            PlaceCount(count=n, place=Place.of(p) if p is not None else None, region=None)
            for (_, n), p in zip(counted.countries, places, strict=True)
        ],
        regions=[PlaceCount(count=n, place=None, region=r) for r, n in counted.regions],
        events_scanned=counted.events_scanned,
        unplaced=counted.unplaced,
        group_by=[CountBy(d) for d in dimensions],
        interval=interval,
        groups=[
            CountGroup(
                count=g.count,
                start=g.start,
                end=g.end,
                category=Category(g.category) if g.category is not None else None,
                confidence=ConfidenceLevel(g.confidence) if g.confidence is not None else None,
                country_id=g.country,
            )
            for g in grouped.groups
        ],
        complete=grouped.complete,
        bounds=bounds_of(grouped.bounds),
    )
