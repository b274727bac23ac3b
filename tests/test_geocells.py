"""The embedded store's geographic index (`graph.embedded.geocells`): whatever cells cover an
area, whichever of them are read whole, and however the merges are kept, a box or near filter
pages through exactly the events it admits, in order, and sees every write."""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from graph.embedded import EmbeddedStore, geocells
from graph.model import EdgeWrite, Label, NodeWrite, PropertyWrite, Rel, Value, WriteBatch
from graph.store import EventFilter, EventQuery


def _located(rng: random.Random, count: int) -> dict[str, dict[str, Value]]:
    """Events over the whole globe and in clusters: near the poles and the 180° meridian, many
    sharing one point (as events at one city do), some on a cell's edge."""
    points = [(rng.uniform(-89.9, 89.9), rng.uniform(-180.0, 180.0)) for _ in range(40)]
    points += [(50.45, 30.52), (33.51, 36.29), (64.0, 179.99), (-16.0, -180.0), (89.5, 10.0)]
    points += [(48.0, 37.0), (47.0, 36.0), (0.0, 0.0)]  # on cells' edges
    events: dict[str, dict[str, Value]] = {}
    for n in range(count):
        lat, lon = rng.choice(points) if rng.random() < 0.6 else points[n % len(points)]
        if rng.random() < 0.5:  # spread around the point, within a few degrees
            lat = max(-90.0, min(90.0, lat + rng.uniform(-3, 3)))
            lon = (lon + rng.uniform(-3, 3) + 180.0) % 360.0 - 180.0
        day = f"2025-{1 + n % 12:02d}-{1 + rng.randrange(28):02d}"
        events[f"ev_{n:04d}"] = {"occurred_on": day, "geo_lat": lat, "geo_lon": lon}
    return events


def _write(store: EmbeddedStore, events: dict[str, dict[str, Value]]) -> None:
    nodes = [NodeWrite(i, Label.EVENT, PropertyWrite(set=p)) for i, p in events.items()]
    store.write(WriteBatch(nodes=nodes))


def _filters(rng: random.Random) -> list[EventFilter]:
    found = [
        EventFilter(box=(30.0, 20.0, 50.0, 40.0)),
        EventFilter(box=(-90.0, -180.0, 90.0, 180.0)),  # the whole globe
        EventFilter(box=(-60.0, 170.0, 70.0, -170.0)),  # across the 180° meridian
        EventFilter(box=(47.0, 36.0, 48.0, 37.0)),  # cells' edges
        EventFilter(near=(50.45, 30.52, 0.0)),  # one point
        EventFilter(near=(50.45, 30.52, 300.0)),
        EventFilter(near=(88.0, 0.0, 600.0)),  # around the pole
        EventFilter(near=(0.0, 179.0, 2500.0)),  # across the 180° meridian
        EventFilter(near=(10.0, 10.0, 9500.0)),  # past the distance whose cells are trusted
        EventFilter(near=(40.0, 30.0, 1000.0), box=(35.0, 25.0, 45.0, 50.0)),
    ]
    for _ in range(25):
        south, north = sorted(rng.uniform(-90, 90) for _ in range(2))
        found.append(
            EventFilter(box=(south, rng.uniform(-180, 180), north, rng.uniform(-180, 180)))
        )
        km = rng.choice([50.0, 400.0, 1500.0, 5000.0])
        found.append(EventFilter(near=(rng.uniform(-90, 90), rng.uniform(-180, 180), km)))
    return found


def _pages(store: EmbeddedStore, flt: EventFilter, newest_first: bool, first: int) -> list[str]:
    seen: list[str] = []
    after: tuple[str, str] | None = None
    while True:
        page = store.query_events(EventQuery(flt, first, newest_first, after))
        seen += [e.id for e in page.events]
        if not page.has_next:
            return seen
        last = page.events[-1]
        after = (last.text("occurred_on"), last.id)


def _admitted(events: dict[str, dict[str, Value]], flt: EventFilter, newest: bool) -> list[str]:
    keys = sorted((str(p["occurred_on"]), i) for i, p in events.items() if flt.admits(p))
    return [i for _, i in (keys[::-1] if newest else keys)]


@pytest.fixture
def store(tmp_path: Path) -> Iterator[EmbeddedStore]:
    opened = EmbeddedStore(tmp_path)
    opened.setup()
    yield opened
    opened.close()


def test_every_area_pages_through_exactly_what_the_filter_admits(store: EmbeddedStore) -> None:
    rng = random.Random(13)
    events = _located(rng, 1500)
    _write(store, events)
    for flt in _filters(rng):
        for newest_first in (False, True):
            wanted = _admitted(events, flt, newest_first)
            assert _pages(store, flt, newest_first, 40) == wanted, (flt, newest_first)
            # read again (the area's merge kept), and in pages of another size
            assert _pages(store, flt, newest_first, 40) == wanted, (flt, newest_first)
            assert _pages(store, flt, newest_first, 7) == wanted, (flt, newest_first)


def test_pages_past_the_kept_merge_and_cursors_past_what_was_read(
    store: EmbeddedStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(geocells, "_PREFIX", 15)
    rng = random.Random(5)
    events = _located(rng, 400)
    _write(store, events)
    flt = EventFilter(box=(-90.0, -180.0, 90.0, 180.0))
    for newest_first in (False, True):
        wanted = _admitted(events, flt, newest_first)
        assert _pages(store, flt, newest_first, 6) == wanted
        # a cursor deep into the area before any page read that far: a fresh area each time
        deep = EventFilter(box=(-89.0, -180.0, 90.0, 180.0))
        deep_wanted = _admitted(events, deep, newest_first)
        cursor_id = deep_wanted[200]
        cursor = (str(events[cursor_id]["occurred_on"]), cursor_id)
        page = store.query_events(EventQuery(deep, 10, newest_first, cursor))
        assert [e.id for e in page.events] == deep_wanted[201:211]


def test_a_write_is_seen_by_the_next_page(store: EmbeddedStore) -> None:
    rng = random.Random(7)
    events = _located(rng, 300)
    _write(store, events)
    flt = EventFilter(near=(50.45, 30.52, 500.0))
    assert _pages(store, flt, False, 10) == _admitted(events, flt, False)
    moved: dict[str, dict[str, Value]] = {
        "ev_new": {"occurred_on": "2024-12-31", "geo_lat": 50.0, "geo_lon": 30.0}
    }
    moved["ev_0000"] = {**events["ev_0000"], "geo_lat": 50.4, "geo_lon": 30.5}
    _write(store, moved)
    events |= moved
    assert _pages(store, flt, False, 10) == _admitted(events, flt, False)
    assert _pages(store, flt, False, 10)[0] == "ev_new"
    store.write(WriteBatch(deletes=["ev_new"]))
    del events["ev_new"]
    assert _pages(store, flt, True, 10) == _admitted(events, flt, True)


def test_an_area_with_a_role_keeps_the_events_of_both(store: EmbeddedStore) -> None:
    rng = random.Random(3)
    events = _located(rng, 300)
    _write(store, events)
    entity = NodeWrite("en_a", Label.ENTITY, PropertyWrite(create={"name": "A", "type": "person"}))
    roles = {i: ("target" if n % 3 == 0 else "actor") for n, i in enumerate(sorted(events))}
    edges = [
        EdgeWrite(i, Rel.INVOLVES, "en_a", "", PropertyWrite(union={"roles": [role]}))
        for i, role in roles.items()
    ]
    store.write(WriteBatch(nodes=[entity], edges=edges))
    for area in (
        EventFilter(box=(-90.0, -180.0, 90.0, 180.0)),
        EventFilter(near=(50.45, 30.52, 900.0)),
    ):
        flt = replace(area, roles=("target",))
        wanted = [i for i in _admitted(events, area, False) if roles[i] == "target"]
        assert wanted
        assert _pages(store, flt, False, 9) == wanted
