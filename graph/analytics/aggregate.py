"""Event counts for analysts: the events of any filter counted by period (day, week or month),
category, confidence level and country, in any combination (`aggregate`), from the store's
tallies (`GraphStore.tally_events`: one walk in memory, or one aggregating query)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Literal, TypeAlias

from graph.analytics.bounds import AnalyticsError, Bound
from graph.analytics.timeline import Interval, bucket_start, next_bucket
from graph.model import CATEGORIES, LEVELS
from graph.store import EventFilter, EventTallies, GraphStore

Dimension: TypeAlias = Literal["period", "category", "confidence", "country"]
DIMENSIONS: tuple[Dimension, ...] = ("period", "category", "confidence", "country")

# Default bounds: events counted (the oldest first), groups listed.
AGGREGATE_MAX_EVENTS = 200_000
MAX_GROUPS = 10_000

# An event without a confidence level counts as this one (as timelines count it).
NO_LEVEL = "unverified"


@dataclass(frozen=True, slots=True)
class Group:
    """The events of one combination of the dimensions asked for; a dimension not asked for
    is None, and so is `country` for events filed under no country and the period of events
    without a valid date."""

    count: int
    start: date | None = None
    end: date | None = None  # the period's last day (inclusive)
    category: str | None = None
    confidence: str | None = None
    country: str | None = None  # a country's Place id


@dataclass(frozen=True, slots=True)
class Aggregate:
    group_by: tuple[Dimension, ...]
    interval: Interval
    total: int  # events counted
    groups: list[Group]  # the combinations with events, in order (see `aggregate`)
    bounds: list[Bound]

    @property
    def complete(self) -> bool:
        return not self.bounds


Key: TypeAlias = tuple[date | None, str | None, str | None, str | None]


def aggregate(
    store: GraphStore,
    flt: EventFilter,
    group_by: Sequence[Dimension],
    interval: Interval = "month",
    max_events: int = AGGREGATE_MAX_EVENTS,
    max_groups: int = MAX_GROUPS,
) -> Aggregate:
    """The events `flt` matches (the oldest `max_events`) counted by each combination of
    `group_by` that has events: by period first (earliest first, undated last), then
    category (`CATEGORIES` order), confidence (lowest first) and country (id; none last).
    An event filed under several countries counts once in each; otherwise every event counts
    once, so the counts add up to `total`."""
    if max_events < 1:
        raise AnalyticsError("max_events must be at least 1")
    chosen = tuple(dict.fromkeys(group_by))
    unknown = [d for d in chosen if d not in DIMENSIONS]
    if unknown:
        raise AnalyticsError(f"cannot count by {unknown[0]!r} (one of {', '.join(DIMENSIONS)})")
    return summed(store.tally_events(flt, max_events), chosen, interval, max_events, max_groups)


def summed(
    tallies: EventTallies,
    group_by: Sequence[Dimension],
    interval: Interval = "month",
    max_events: int = AGGREGATE_MAX_EVENTS,
    max_groups: int = MAX_GROUPS,
) -> Aggregate:
    """`aggregate` of tallies already read (`tally_events(flt, max_events)`); no groups
    without `group_by` (`total` is the count)."""
    groups = rolled_up(tallies, group_by, interval) if group_by else []
    bounds: list[Bound] = []
    if tallies.capped:
        bounds.append(
            Bound("events", max_events, f"only the first {max_events} events (oldest first) count")
        )
    if len(groups) > max_groups:
        groups = groups[:max_groups]
        bounds.append(Bound("groups", max_groups, f"only the first {max_groups} groups are listed"))
    return Aggregate(tuple(group_by), interval, tallies.events, groups, bounds)


def rolled_up(
    tallies: EventTallies, group_by: Sequence[Dimension], interval: Interval
) -> list[Group]:
    """The store's tallies summed into the groups of `group_by`, in `aggregate`'s order."""
    by = set(group_by)
    counts: Counter[Key] = Counter()
    starts: dict[str, date | None] = {}  # a period's start by day: few days, many tallies
    for (day, category, level, countries, _), count in tallies.counts.items():
        start = None
        if "period" in by:
            start = starts.get(day, date.min)
            if start == date.min:
                start = starts[day] = _start(day, interval)
        kind = category if "category" in by else None
        confidence = (level or NO_LEVEL) if "confidence" in by else None
        filed: Sequence[str | None] = (countries or (None,)) if "country" in by else (None,)
        for country in filed:
            counts[(start, kind, confidence, country)] += count
    ends = {
        start: next_bucket(start, interval) - timedelta(days=1)
        for start in starts.values()
        if start
    }
    groups = [
        Group(
            count=count,
            start=start,
            end=ends[start] if start else None,
            category=category,
            confidence=confidence,
            country=country,
        )
        for (start, category, confidence, country), count in counts.items()
    ]
    groups.sort(key=_order)
    return groups


def _start(day: str, interval: Interval) -> date | None:
    try:
        return bucket_start(date.fromisoformat(day), interval)
    except ValueError:
        return None


def _rank(value: str | None, order: Sequence[str]) -> tuple[int, str]:
    if value is None:
        return (len(order) + 1, "")
    return (order.index(value), "") if value in order else (len(order), value)


def _order(group: Group) -> tuple[object, ...]:
    return (
        group.start is None,
        group.start or date.min,
        _rank(group.category, CATEGORIES),
        _rank(group.confidence, LEVELS),
        group.country is None,
        group.country or "",
    )
