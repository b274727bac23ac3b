"""Places editors can trust: the queue of events whose place the gazetteer contradicts, and
`correctLocation`, an editor's place and country for an event (`correctEvent`'s correction of
the place: services.corrections; docs/places.md)."""

from __future__ import annotations

import datetime as dt

import strawberry

from api import heavy
from api.bounds import Bound, bounds_of, window
from api.context import Info
from api.editorial import EDITORS, LogEntry, entry_of, wrote
from api.filters import to_filter
from api.nodes import Event, EventConnection, Place, event_page
from api.scalars import Category, ConfidenceLevel, Order
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
    def flagged_locations(
        self, info: Info, first: int = 20, after: str | None = None
    ) -> EventConnection:
        flt = to_filter(info, None, flagged=True)
        return event_page(info, flt, first, after, Order.OLDEST_FIRST)


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
    def correct_location(
        self,
        info: Info,
        event_id: strawberry.ID,
        place: str,
        country: str,
        reason: str | None = None,
    ) -> CorrectedLocation:
        corrections = Corrections(info.context.store)
        by = info.context.actor.name
        event, entry = corrections.correct_location(str(event_id), place, country, reason, by)
        wrote(info)
        return CorrectedLocation(event=Event.of(event), edit=entry_of(entry))


@strawberry.type(description="How many events one country (or region) has.")
class PlaceCount:
    count: int
    place: Place | None = strawberry.field(description="The country's Place (countries only).")
    region: str | None = strawberry.field(description="GeoNames' admin-1 code (regions only).")


@strawberry.type(description="Events counted by the country they are filed under, and by region.")
class EventCounts:
    countries: list[PlaceCount]
    regions: list[PlaceCount] = strawberry.field(
        description="By the first-level region of the event's place (GeoNames admin-1 code)."
    )
    events_scanned: int
    unplaced: int = strawberry.field(description="Events with no country.")
    complete: bool
    bounds: list[Bound]


async def event_counts(
    info: Info,
    date_from: dt.date | None,
    date_to: dt.date | None,
    min_confidence: ConfidenceLevel | None,
    categories: list[Category] | None,
) -> EventCounts:
    span = window(info, date_from, date_to, min_confidence, categories)
    store = info.context.store
    until = heavy.deadline(info)
    counted = await heavy.read(info, lambda: analytics.place_counts(store, span, deadline=until))
    places = await info.context.nodes.load_many([c for c, _ in counted.countries])
    return EventCounts(
        countries=[
            PlaceCount(count=n, place=Place.of(p) if p is not None else None, region=None)
            for (_, n), p in zip(counted.countries, places, strict=True)
        ],
        regions=[PlaceCount(count=n, place=None, region=r) for r, n in counted.regions],
        events_scanned=counted.events_scanned,
        unplaced=counted.unplaced,
        complete=not counted.bounds,
        bounds=bounds_of(counted.bounds),
    )
