"""Places editors can trust: the queue of events whose place the gazetteer contradicts, and
`correctLocation`, an editor's place and country for an event (services.places; docs/places.md)."""

from __future__ import annotations

from datetime import UTC, datetime

import strawberry

from api.context import Info
from api.editorial import EDITORS, LogEntry, entry_of, wrote
from api.filters import to_filter
from api.nodes import Event, EventConnection, event_page
from api.scalars import Order
from graph.model import timestamp
from services.places import correct_location


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
        "chosen over what records say, now and for every later record; the event is filed "
        "under that country only, and the change is logged. Editors and admins.",
        permission_classes=[EDITORS],
    )
    def correct_location(
        self, info: Info, event_id: strawberry.ID, place: str, country: str
    ) -> CorrectedLocation:
        at = timestamp(datetime.now(UTC))
        event, entry = correct_location(
            info.context.store, str(event_id), place, country, info.context.actor.name, at
        )
        wrote(info)
        return CorrectedLocation(event=Event.of(event), edit=entry_of(entry))
