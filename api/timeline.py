"""`Entity.timelineBuckets`: an entity's events counted per day, week or month, what a
timeline chart draws (`graph.analytics` counts)."""

from __future__ import annotations

import datetime as dt
from enum import Enum

import strawberry

from api import heavy
from api.bounds import Bound, bounds_of, window
from api.context import Info
from api.errors import UserError
from api.filters import EventFilterInput, to_filter
from api.scalars import Category, ConfidenceLevel
from graph import analytics
from graph.model import Node


@strawberry.enum(description="The width of a timeline bucket.")
class Interval(Enum):
    DAY = "day"
    WEEK = "week"
    MONTH = "month"


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


async def timeline_buckets(
    info: Info,
    entity: Node,
    interval: Interval | None,
    date_from: dt.date | None,
    date_to: dt.date | None,
    categories: list[Category] | None,
    min_confidence: ConfidenceLevel | None,
    filter: EventFilterInput | None = None,
) -> TimelineBuckets:
    chosen = interval or Interval.WEEK
    if filter is None:
        span = window(info, date_from, date_to, min_confidence, categories)
    elif date_from or date_to or min_confidence or categories is not None:
        raise UserError(
            "timelineBuckets: with `filter`, give from, to, minConfidence and categories inside it"
        )
    else:
        span = await to_filter(info, filter)
    store = info.context.store
    until = heavy.deadline(info)
    # Off the event loop; reading stops at the time budget, answering `complete: false`.
    found = await heavy.read(
        info,
        lambda: analytics.timeline_buckets(store, entity.id, chosen.value, span, deadline=until),
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
