"""Related events: the events sharing entities or a place with one event, near it in time,
ranked by what they share (docs/site.md).

Bounded reads through the port, never a scan: the event's entities and places (its
relationships), then, for each of at most `MAX_ENDS` of them, the events linked to it nearest
in time on each side within `WINDOW_DAYS` (`query_events` with that node and a date window: at
most `PER_SIDE` each side, so at most 2 x MAX_ENDS x PER_SIDE candidates), then the candidates'
own entities and places (two batch reads). A candidate's score is 1 for each entity it shares,
1 for each place it shares, and up to 1 for nearness in time (1 / (1 + days apart / 7)).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from graph.model import Label, Rel
from graph.store import EventFilter, EventQuery, GraphStore

WINDOW_DAYS = 30
PER_SIDE = 10
MAX_ENDS = 12
# Nearness in time: 1 on the same day, 1/2 a week apart.
HALF_LIFE_DAYS = 7.0


@dataclass(frozen=True, slots=True)
class Related:
    """One related event: what it shares with the event asked about, and its score."""

    event_id: str
    score: float
    entities: tuple[str, ...]  # the entities both involve, by id
    places: tuple[str, ...]  # the places both occurred in, by id
    days_apart: int | None  # None when either has no date


def _day(props_value: object) -> dt.date | None:
    try:
        return dt.date.fromisoformat(str(props_value or "")[:10])
    except ValueError:
        return None


def related_events(store: GraphStore, event_id: str, first: int) -> list[Related]:
    """The `first` events most related to `event_id` (none when it is not an event), best
    first, ties by nearness in time then id."""
    event = store.get_nodes([event_id]).get(event_id)
    if event is None or event.label is not Label.EVENT:
        return []
    entities = set(store.linked([event_id], Rel.INVOLVES, "out")[event_id])
    places = set(store.linked([event_id], Rel.OCCURRED_IN, "out")[event_id])
    day = _day(event.props.get("occurred_on"))
    ends = (sorted(entities) + sorted(places))[:MAX_ENDS]
    candidates: dict[str, object] = {}
    for end in ends:
        for flt, newest_first in _sides(end, day):
            page = store.query_events(EventQuery(flt, PER_SIDE, newest_first=newest_first))
            for node in page.events:
                if node.id != event_id:
                    candidates.setdefault(node.id, node.props.get("occurred_on"))
    if not candidates:
        return []
    ids = sorted(candidates)
    involves = store.linked(ids, Rel.INVOLVES, "out")
    occurred = store.linked(ids, Rel.OCCURRED_IN, "out")
    found: list[Related] = []
    for other in ids:
        shared = tuple(e for e in involves[other] if e in entities)
        at = tuple(p for p in occurred[other] if p in places)
        if not shared and not at:
            continue
        other_day = _day(candidates[other])
        apart = abs((other_day - day).days) if day is not None and other_day is not None else None
        near = 1.0 / (1.0 + apart / HALF_LIFE_DAYS) if apart is not None else 0.0
        found.append(Related(other, len(shared) + len(at) + near, shared, at, apart))
    found.sort(key=_rank)
    return found[:first]


def _rank(related: Related) -> tuple[float, int, str]:
    apart = related.days_apart
    return (-related.score, apart if apart is not None else 1 << 30, related.event_id)


def _sides(end: str, day: dt.date | None) -> list[tuple[EventFilter, bool]]:
    """The filters (and directions) of the events linked to `end` nearest in time to `day`:
    before it (newest first) and after it (oldest first), within the window; without a day,
    its newest events."""
    if day is None:
        return [(EventFilter(entity=end), True)]
    start = (day - dt.timedelta(days=WINDOW_DAYS)).isoformat()
    end_day = (day + dt.timedelta(days=WINDOW_DAYS)).isoformat()
    on = day.isoformat()
    return [
        (EventFilter(entity=end, date_from=start, date_to=on), True),
        (EventFilter(entity=end, date_from=on, date_to=end_day), False),
    ]
