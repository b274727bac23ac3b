"""Events counted by country and by first-level region: the country each event is filed under
(`country_ids`, one after services.places chooses its place) and its place's region (GeoNames'
admin-1 code), over the events of a filter, from the store's tallies (`tally_events`), bounded
like every aggregate."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

from graph.analytics.aggregate import AGGREGATE_MAX_EVENTS
from graph.analytics.bounds import Bound
from graph.analytics.scan import chunks
from graph.store import EventFilter, EventTallies, GraphStore


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
    limit: int = AGGREGATE_MAX_EVENTS,
    tallies: EventTallies | None = None,
) -> PlaceCounts:
    """Count the events of `flt` (up to `limit`, oldest first) by country and by region;
    from `tallies` when the caller has read them already (`tally_events(flt, limit)`)."""
    if tallies is None:
        tallies = store.tally_events(flt, limit)
    countries: Counter[str] = Counter()
    chosen: Counter[str] = Counter()
    unplaced = 0
    for (_, _, _, filed, place), count in tallies.counts.items():
        for country in filed:
            countries[country] += count
        unplaced += count if not filed else 0
        if place:
            chosen[place] += count
    regions: Counter[str] = Counter()
    for batch in chunks(sorted(chosen)):
        for place_id, node in store.get_nodes(batch).items():
            region = node.props.get("admin1")
            if isinstance(region, str) and region:
                regions[region] += chosen[place_id]
    bounds = []
    if tallies.capped:
        bounds.append(Bound("events", limit, f"only the first {limit} events (oldest first) count"))
    return PlaceCounts(
        countries=sorted(countries.items(), key=lambda c: (-c[1], c[0])),
        regions=sorted(regions.items(), key=lambda c: (-c[1], c[0])),
        events_scanned=tallies.events,
        unplaced=unplaced,
        bounds=bounds,
    )
