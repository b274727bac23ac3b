"""Which events an analytics query counts (`Window`) and the batched reads of the store every
query makes: events in a window, oldest first, up to a bound; an entity; the entities each
event involves."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from graph.analytics.bounds import AnalyticsError, Bound
from graph.model import Label, Node, Rel
from graph.store import EventFilter, EventQuery, GraphStore

BATCH = 500  # ids per port call
EVENT_PAGE = 1000  # events per `query_events` call
MAX_EVENTS = 20_000  # default bound of events scanned by timelines, co-occurrence and rankings


@dataclass(frozen=True, slots=True)
class Window:
    """Which events count: inclusive `YYYY-MM-DD` dates, a minimum confidence rank
    (`Policy.rank`) and categories (empty: all)."""

    date_from: str | None = None
    date_to: str | None = None
    min_confidence: int | None = None
    categories: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.date_from and self.date_to and self.date_from > self.date_to:
            raise AnalyticsError("from is after to")

    def filter(self, entity: str | None = None) -> EventFilter:
        return EventFilter(
            categories=self.categories,
            date_from=self.date_from,
            date_to=self.date_to,
            entity=entity,
            min_confidence=self.min_confidence,
        )

    def admits(self, event: Node) -> bool:
        """Whether `event` is in this window (the same test `query_events` applies)."""
        if self.categories and event.text("category") not in self.categories:
            return False
        day = event.text("occurred_on")[:10]
        if self.date_from is not None and day < self.date_from:
            return False
        if self.date_to is not None and day > self.date_to:
            return False
        if self.min_confidence is not None:
            rank = event.props.get("confidence_rank")
            if not isinstance(rank, int) or rank < self.min_confidence:
                return False
        return True


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
