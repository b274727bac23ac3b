"""Which events an analytics query counts (`window`, an `EventFilter`) and the batched reads
of the store every query makes: events in a window, oldest first, up to a bound; an entity;
the entities each event involves."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence

from graph.analytics.bounds import AnalyticsError, Bound
from graph.model import Label, Node, Rel
from graph.store import EventFilter, EventQuery, GraphStore

BATCH = 500  # ids per port call
EVENT_PAGE = 1000  # events per `query_events` call
MAX_EVENTS = 20_000  # default bound of events scanned by timelines, co-occurrence and rankings


class Deadline:
    """A time budget shared by the reads of one computation: each read loop asks `passed()`
    between port calls and stops; `bound` is then the `seconds` bound to report. `seconds`
    None: no time budget."""

    def __init__(
        self,
        seconds: float | None,
        clock: Callable[[], float] = time.monotonic,
        start: float | None = None,
    ) -> None:
        """`seconds` from `start` (a time of `clock`; now if None)."""
        self.seconds = seconds
        self.clock = clock
        begun = clock() if start is None else start
        self.at = begun + seconds if seconds is not None else None
        self.bound: Bound | None = None

    def passed(self) -> bool:
        time.sleep(0)  # between port calls: another thread (a server's event loop) may run
        if self.at is None or self.clock() < self.at:
            return False
        if self.bound is None:
            self.bound = Bound(
                "seconds", self.seconds or 0, f"stopped after its time budget of {self.seconds} s"
            )
        return True

    def bounds(self) -> list[Bound]:
        return [self.bound] if self.bound is not None else []

    def left(self) -> float | None:
        """Seconds left (never negative), or None without a budget."""
        return None if self.at is None else max(self.at - self.clock(), 0.0)


NO_DEADLINE = Deadline(None)


def window(
    date_from: str | None = None,
    date_to: str | None = None,
    min_confidence: int | None = None,
    categories: tuple[str, ...] = (),
) -> EventFilter:
    """Which events an analytics query counts: the event filter of inclusive `YYYY-MM-DD`
    dates, a minimum confidence rank (`Policy.rank`) and categories (empty: all); refused when
    `date_from` is after `date_to`."""
    if date_from and date_to and date_from > date_to:
        raise AnalyticsError("from is after to")
    return EventFilter(
        categories=categories, date_from=date_from, date_to=date_to, min_confidence=min_confidence
    )


def chunks(ids: Sequence[str], size: int = BATCH) -> Iterator[Sequence[str]]:
    for start in range(0, len(ids), size):
        yield ids[start : start + size]


def scan_events(
    store: GraphStore, flt: EventFilter, limit: int, deadline: Deadline = NO_DEADLINE
) -> tuple[list[Node], Bound | None]:
    """Up to `limit` events matching `flt`, oldest first (by occurred_on, then id); only those
    read before `deadline` passes (the bound is then `deadline.bound`)."""
    found: list[Node] = []
    after: tuple[str, str] | None = None
    while True:
        if found and deadline.passed():
            return found, None
        size = min(EVENT_PAGE, limit + 1 - len(found))
        page = store.query_events(EventQuery(flt, first=size, newest_first=False, after=after))
        found += page.events
        if len(found) > limit:
            bound = Bound("events", limit, f"only the first {limit} events (oldest first) count")
            return found[:limit], bound
        if not page.has_next or not page.events:
            return found, None
        last = page.events[-1]
        after = (last.text("occurred_on"), last.id)


def entity_node(store: GraphStore, entity_id: str) -> Node:
    node = store.get_nodes([entity_id]).get(entity_id)
    if node is None or node.label is not Label.ENTITY:
        raise AnalyticsError(f"no entity with id '{entity_id}'")
    return node


def involved(
    store: GraphStore, event_ids: Sequence[str], deadline: Deadline = NO_DEADLINE
) -> dict[str, list[str]]:
    """The distinct entity ids each event involves, sorted, fetched in batches; only of the
    batches read before `deadline` passes."""
    result: dict[str, list[str]] = {}
    for batch in chunks(event_ids):
        if result and deadline.passed():
            break
        result.update((event_id, []) for event_id in batch)
        for event_id, edges in store.edges(batch, Rel.INVOLVES, "out").items():
            result[event_id] = sorted({e.dst for e in edges})
    return result
