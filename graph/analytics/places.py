"""Events counted by country and by first-level region: the country each event is filed under
(`country_ids`, one after services.places chooses its place) and its place's region (GeoNames'
admin-1 code), over the events of a window, bounded like every scan."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

from graph.analytics.bounds import Bound
from graph.analytics.scan import MAX_EVENTS, NO_DEADLINE, Deadline, chunks, scan_events
from graph.model import strings
from graph.store import EventFilter, GraphStore


@dataclass(frozen=True, slots=True)
class PlaceCounts:
    """Events per country Place id and per region code, most first (ties by id)."""

    countries: list[tuple[str, int]]
    regions: list[tuple[str, int]]
    events_scanned: int
    unplaced: int  # events with no country
    bounds: list[Bound]


def place_counts(
    store: GraphStore,
    flt: EventFilter,
    limit: int = MAX_EVENTS,
    deadline: Deadline = NO_DEADLINE,
) -> PlaceCounts:
    """Count the events of `flt` (up to `limit`, oldest first) by country and by region."""
    events, bound = scan_events(store, flt, limit, deadline)
    countries: Counter[str] = Counter()
    chosen: Counter[str] = Counter()
    unplaced = 0
    for event in events:
        filed = strings(event.props, "country_ids")
        countries.update(filed)
        unplaced += not filed
        place = event.props.get("place_id")
        if isinstance(place, str):
            chosen[place] += 1
    regions: Counter[str] = Counter()
    for batch in chunks(sorted(chosen)):
        for place_id, node in store.get_nodes(batch).items():
            region = node.props.get("admin1")
            if isinstance(region, str) and region:
                regions[region] += chosen[place_id]
    bounds = [b for b in (bound, deadline.bound) if b is not None]
    return PlaceCounts(
        countries=sorted(countries.items(), key=lambda c: (-c[1], c[0])),
        regions=sorted(regions.items(), key=lambda c: (-c[1], c[0])),
        events_scanned=len(events),
        unplaced=unplaced,
        bounds=bounds,
    )
