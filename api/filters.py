"""`EventFilterInput`, the GraphQL form of `graph.store.EventFilter`, and `to_filter`, the one
translation from the one to the other (event listings, timelines, subscriptions)."""

from __future__ import annotations

import datetime as dt

import strawberry

from api.context import Info
from api.errors import UserError
from api.scalars import Category, ConfidenceLevel
from graph.store import EventFilter


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
    confidence: list[ConfidenceLevel] | None = strawberry.field(
        default=None, description="Exactly these levels (any of them), e.g. [DISPUTED]."
    )


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
        "levels": tuple(sorted({policy.rank(c.value) for c in given.confidence or ()})),
    }
    if given.confidence is not None and not given.confidence:
        raise UserError("filter.confidence must name at least one level")
    values.update(fixed)
    return EventFilter(**values)  # type: ignore[arg-type]
