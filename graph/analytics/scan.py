"""Which events an analytics query counts (`window`, an `EventFilter`) and the batched reads
of the store every query makes: events in a window, oldest first, up to a bound; an entity;
the entities each event involves."""

from __future__ import annotations

from collections.abc import Iterator, Sequence

from graph.analytics.bounds import AnalyticsError, Bound
from graph.model import Label, Node, Rel
from graph.store import EventFilter, EventQuery, GraphStore

BATCH = 500  # ids per port call
EVENT_PAGE = 1000  # events per `query_events` call
MAX_EVENTS = 20_000  # default bound of events scanned by timelines, co-occurrence and rankings


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


def scan_events(store: GraphStore, flt: EventFilter, limit: int) -> tuple[list[Node], Bound | None]:
    """Up to `limit` events matching `flt`, oldest first (by occurred_on, then id)."""
    found: list[Node] = []
    after: tuple[str, str] | None = None
    while True:
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


def involved(store: GraphStore, event_ids: Sequence[str]) -> dict[str, list[str]]:
    """The distinct entity ids each event involves, sorted, fetched in batches."""
    result: dict[str, list[str]] = {}
    for batch in chunks(event_ids):
        for event_id, edges in store.edges(batch, Rel.INVOLVES, "out").items():
            result[event_id] = sorted({e.dst for e in edges})
    return result
