"""What every analyst answer shares: the date window it reads (`window`) and the bounds it hit
(`Bound`). `graph.analytics` does the work."""

from __future__ import annotations

import datetime as dt

import strawberry

from api.context import Info
from api.scalars import Category, ConfidenceLevel
from graph import analytics
from graph.store import EventFilter


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
) -> EventFilter:
    policy = info.context.policy
    return analytics.window(
        date_from=date_from.isoformat() if date_from else None,
        date_to=date_to.isoformat() if date_to else None,
        min_confidence=policy.rank(min_confidence.value) if min_confidence else None,
        categories=tuple(c.value for c in categories or ()),
    )
