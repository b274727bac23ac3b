"""Co-occurrence: the entities sharing events with one entity, most shared events first."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, replace

from graph.analytics.bounds import Bound
from graph.analytics.scan import (
    MAX_EVENTS,
    NO_DEADLINE,
    Deadline,
    chunks,
    entity_node,
    involved,
    scan_events,
)
from graph.model import Node
from graph.store import EVERYTHING, EventFilter, GraphStore


@dataclass(frozen=True, slots=True)
class CoOccurring:
    entity_id: str
    count: int
    event_ids: list[str]  # the shared events, oldest first


@dataclass(frozen=True, slots=True)
class CoOccurrence:
    """The entities sharing events with one entity: most shared events first, ties by id."""

    entity_id: str
    ranked: list[CoOccurring]
    events_scanned: int
    bounds: list[Bound]

    @property
    def complete(self) -> bool:
        return not self.bounds


def co_occurring(
    store: GraphStore,
    entity_id: str,
    window: EventFilter = EVERYTHING,
    types: Sequence[str] = (),
    max_events: int = MAX_EVENTS,
    deadline: Deadline = NO_DEADLINE,
) -> CoOccurrence:
    """Every entity that shares an event (in `window`) with `entity_id`, optionally only of
    entity `types`, ranked by the number of shared events, then by id."""
    entity_node(store, entity_id)
    events, bound = scan_events(store, replace(window, entity=entity_id), max_events, deadline)
    shared: dict[str, list[str]] = defaultdict(list)
    by_event = involved(store, [e.id for e in events], deadline)
    if deadline.bound is not None:  # only the events read whole count
        events = [e for e in events if e.id in by_event]
    for event in events:  # oldest first, so each list of shared events is too
        for other in by_event.get(event.id, []):
            if other != entity_id:
                shared[other].append(event.id)
    if types:
        wanted = set(types)
        nodes: dict[str, Node] = {}
        for batch in chunks(sorted(shared)):
            nodes.update(store.get_nodes(batch))
        shared = {k: v for k, v in shared.items() if k in nodes and nodes[k].text("type") in wanted}
    ranked = sorted(
        (CoOccurring(other, len(ids), ids) for other, ids in shared.items()),
        key=lambda c: (-c.count, c.entity_id),
    )
    bounds = ([bound] if bound else []) + deadline.bounds()
    return CoOccurrence(entity_id, ranked, len(events), bounds)
