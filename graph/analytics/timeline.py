"""Timeline buckets: how many of an entity's events fall in each day, week or month."""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import date, timedelta
from typing import Literal, TypeAlias

from graph.analytics.bounds import Bound
from graph.analytics.scan import MAX_EVENTS, NO_DEADLINE, Deadline, entity_node, scan_events
from graph.model import CATEGORIES, LEVELS, Node
from graph.store import EVERYTHING, EventFilter, GraphStore

Interval: TypeAlias = Literal["day", "week", "month"]

MAX_BUCKETS = 1_000  # default bound of timeline buckets


@dataclass(frozen=True, slots=True)
class Bucket:
    """Events in one day, week (Monday to Sunday) or calendar month, `start`..`end` inclusive."""

    start: date
    end: date
    count: int
    by_category: dict[str, int]  # only categories with events, in `CATEGORIES` order
    by_confidence: dict[str, int]  # only levels with events, lowest first


@dataclass(frozen=True, slots=True)
class Timeline:
    interval: Interval
    date_from: date | None
    date_to: date | None
    total: int
    buckets: list[Bucket]
    bounds: list[Bound]

    @property
    def complete(self) -> bool:
        return not self.bounds


def bucket_start(day: date, interval: Interval) -> date:
    if interval == "day":
        return day
    if interval == "week":
        return day - timedelta(days=day.weekday())
    return day.replace(day=1)


def next_bucket(start: date, interval: Interval) -> date:
    if interval == "day":
        return start + timedelta(days=1)
    if interval == "week":
        return start + timedelta(days=7)
    return (start.replace(day=28) + timedelta(days=4)).replace(day=1)


def timeline_buckets(
    store: GraphStore,
    entity_id: str,
    interval: Interval = "week",
    window: EventFilter = EVERYTHING,
    max_events: int = MAX_EVENTS,
    max_buckets: int = MAX_BUCKETS,
    deadline: Deadline = NO_DEADLINE,
) -> Timeline:
    """How many of the entity's events fall in each day, week or month, split by category and
    by confidence level. The range is the window's dates, or the first and last event's days;
    every bucket in it is listed, empty ones included, earliest first."""
    entity_node(store, entity_id)
    events, bound = scan_events(store, replace(window, entity=entity_id), max_events, deadline)
    bounds = ([bound] if bound else []) + deadline.bounds()
    days = [date.fromisoformat(e.text("occurred_on")[:10]) for e in events]
    first = date.fromisoformat(window.date_from) if window.date_from else min(days, default=None)
    last = date.fromisoformat(window.date_to) if window.date_to else max(days, default=None)
    if first is None or last is None:
        return Timeline(interval, first, last, 0, [], bounds)
    per_bucket: dict[date, list[Node]] = defaultdict(list)
    for day, event in zip(days, events, strict=True):
        per_bucket[bucket_start(day, interval)].append(event)
    buckets: list[Bucket] = []
    start = bucket_start(first, interval)
    while start <= last:
        if len(buckets) == max_buckets:
            bounds.append(
                Bound("buckets", max_buckets, f"only the first {max_buckets} buckets are listed")
            )
            break
        following = next_bucket(start, interval)
        inside = per_bucket.get(start, [])
        categories = Counter(e.text("category") for e in inside)
        levels = Counter(e.text("confidence") or "unverified" for e in inside)
        buckets.append(
            Bucket(
                start=start,
                end=following - timedelta(days=1),
                count=len(inside),
                by_category={c: categories[c] for c in _ordered(categories, CATEGORIES)},
                by_confidence={v: levels[v] for v in _ordered(levels, LEVELS)},
            )
        )
        start = following
    return Timeline(interval, first, last, len(events), buckets, bounds)


def _ordered(counts: Counter[str], order: Sequence[str]) -> list[str]:
    known = [k for k in order if counts[k]]
    return known + sorted(k for k in counts if k not in order)
