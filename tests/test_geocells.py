"""The embedded store's geographic index (`graph.embedded.geocells`): whatever cells cover an
area, whichever of them are read whole, and however the merges are kept, a box or near filter
pages through exactly the events it admits, in order, and sees every write."""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from graph.embedded import EmbeddedStore, geocells
from graph.model import EdgeWrite, Label, Node, NodeWrite, PropertyWrite, Rel, Value, WriteBatch
from graph.store import EventFilter, EventQuery
from services.corrections import Corrections
from services.event_editing import EventEditing
from services.takedown import Takedowns
from tests.test_event_matching import load, record


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


# -- the cells follow writes -------------------------------------------------------------------

AREAS = [
    EventFilter(box=(30.0, 20.0, 50.0, 40.0)),
    EventFilter(box=(-90.0, -180.0, 90.0, 180.0)),
    EventFilter(box=(-60.0, 170.0, 70.0, -170.0)),  # across the 180° meridian
    EventFilter(near=(50.45, 30.52, 300.0)),
    EventFilter(near=(34.73, 36.71, 250.0)),  # Homs
    EventFilter(near=(0.0, 179.0, 2500.0)),
    EventFilter(near=(40.0, 30.0, 1000.0), box=(35.0, 25.0, 45.0, 50.0)),
]


def _plain(store: EmbeddedStore, flt: EventFilter, newest_first: bool) -> list[str]:
    """The events the filter admits, every event of the store checked, in page order."""
    keys = sorted(
        (item.text("occurred_on"), item.id)
        for item in store.dump()
        if isinstance(item, Node) and item.label is Label.EVENT and flt.admits(item.props)
    )
    return [i for _, i in (keys[::-1] if newest_first else keys)]


def _same_as_plain(store: EmbeddedStore, areas: list[EventFilter] = AREAS) -> None:
    for flt in areas:
        for newest_first in (False, True):
            wanted = _plain(store, flt, newest_first)
            assert _pages(store, flt, newest_first, 9) == wanted, (flt, newest_first)


def _failing(graph: object) -> WriteBatch:
    raise RuntimeError("the derive step fails after memory changed")


def test_the_cells_follow_every_kind_of_write_without_being_built_again(
    store: EmbeddedStore,
) -> None:
    rng = random.Random(21)
    events = _located(rng, 600)
    _write(store, events)
    _same_as_plain(store)  # the cells are built here
    cells = store._located  # the cells the writes below must keep up to date
    assert cells is not None
    for step in range(40):
        ids = sorted(events)
        kind = step % 8
        if kind == 0:  # new events, some at points no cell held
            new = _located(rng, 5)
            new = {f"ev_s{step}_{i}": p for i, p in new.items()}
            new[f"ev_s{step}_far"] = {"occurred_on": "2025-06-01", "geo_lat": -77.7, "geo_lon": 5.5}
            _write(store, new)
            events |= new
        elif kind == 1:  # moved within its cell, and to another continent
            one, two = rng.sample(ids, 2)
            lat = events[one]["geo_lat"]
            assert isinstance(lat, float)
            moved = {
                one: {**events[one], "geo_lat": lat + 0.01 if lat < 89 else lat - 0.01},
                two: {**events[two], "geo_lat": -33.9, "geo_lon": 151.2},
            }
            _write(store, moved)
            events |= moved
        elif kind == 2:  # another day: its key moves
            one = rng.choice(ids)
            events[one] = {**events[one], "occurred_on": f"2024-0{rng.randrange(1, 9)}-15"}
            _write(store, {one: events[one]})
        elif kind == 3:  # deleted, one of them the last event of its cell
            gone = rng.sample(ids, 3)
            far = [i for i in ids if i.endswith("_far")]
            store.write(WriteBatch(deletes=gone + far))
            for i in gone + far:
                events.pop(i, None)
        elif kind == 4:  # its point dropped, and given back
            one = rng.choice(ids)
            store.write(
                WriteBatch(
                    nodes=[
                        NodeWrite(
                            one, Label.EVENT, PropertyWrite(set={"geo_lat": None, "geo_lon": None})
                        )
                    ]
                )
            )
            _same_as_plain(store, AREAS[:2])
            _write(store, {one: events[one]})
        elif kind == 5:  # a write that fails after memory changed is undone, cells too
            one = rng.choice(ids)
            batch = WriteBatch(
                nodes=[
                    NodeWrite(
                        one, Label.EVENT, PropertyWrite(set={"geo_lat": 10.0, "geo_lon": 10.0})
                    )
                ],
                deletes=[rng.choice(ids)],
            )
            with pytest.raises(RuntimeError):
                store.write(batch, derive=_failing)
        elif kind == 6:  # many at once: a cell's list sorted anew rather than one by one
            moved = {
                i: {**events[i], "geo_lat": 50.0 + rng.uniform(-2, 2), "geo_lon": 30.5}
                for i in rng.sample(ids, 40)
            }
            _write(store, moved)
            events |= moved
        else:  # a write that moves nothing the cells hold
            one = rng.choice(ids)
            _write(store, {one: {**events[one], "summary": f"step {step}"}})
        _same_as_plain(store)
    assert store._located is cells


def test_a_bulk_write_builds_the_cells_again(
    store: EmbeddedStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(geocells, "_FOLLOWED", 10)
    rng = random.Random(22)
    _write(store, _located(rng, 200))
    _same_as_plain(store)
    _write(store, {f"ev_bulk_{i}": p for i, p in _located(rng, 300).items()})
    _same_as_plain(store)


def test_a_reader_following_the_writer_keeps_its_cells_up_to_date(
    store: EmbeddedStore, tmp_path: Path
) -> None:
    rng = random.Random(23)
    events = _located(rng, 300)
    _write(store, events)
    reader = EmbeddedStore(tmp_path, read_only=True)
    reader.setup()
    try:
        _same_as_plain(reader)
        moved = {i: {**events[i], "geo_lat": 34.7, "geo_lon": 36.7} for i in sorted(events)[:30]}
        _write(
            store,
            moved | {"ev_added": {"occurred_on": "2025-01-01", "geo_lat": 34.0, "geo_lon": 36.0}},
        )
        store.write(WriteBatch(deletes=sorted(events)[30:40]))
        reader.catch_up()
        _same_as_plain(reader)
        assert _pages(reader, AREAS[4], False, 50) == _pages(store, AREAS[4], False, 50)
    finally:
        reader.close()


def _city(outlet: str, slug: str, day: str, place: str, country: str) -> dict[str, Any]:
    """A record placed by name only: its event's point is its place's (the gazetteer's)."""
    summary = f"Shelling reported in {place} by {outlet}"
    return record(outlet, slug, day, summary, {"place": place, "country": country})


def test_the_cells_follow_loads_corrections_merges_and_takedowns(
    store: EmbeddedStore, tmp_path: Path
) -> None:
    cities = [("Homs", "Syria"), ("Aleppo", "Syria"), ("Kyiv", "Ukraine"), ("Raqqa", "Syria")]
    first = [
        _city(f"Outlet {n}", f"s-{n}", f"2017-03-{1 + n:02d}", *cities[n % len(cities)])
        for n in range(8)
    ]
    load(store, tmp_path, first)
    _same_as_plain(store)  # the cells are built here
    cells = store._located
    assert cells is not None and _plain(store, AREAS[4], False)  # events around Homs

    load(store, tmp_path, [_city("Outlet X", "x-1", "2017-04-01", "Lviv", "Ukraine")])  # added
    _same_as_plain(store)

    homs = next(e for e in store.dump() if isinstance(e, Node) and "Homs" in e.text("summary"))
    before = (homs.props["geo_lat"], homs.props["geo_lon"])
    Corrections(store).correct_location(homs.id, "Odesa", "Ukraine", None, "alice")  # moved
    moved = store.get_nodes([homs.id])[homs.id]
    assert (moved.props["geo_lat"], moved.props["geo_lon"]) != before
    _same_as_plain(store)

    aleppo = sorted(
        e.id for e in store.dump() if isinstance(e, Node) and "Aleppo" in e.text("summary")
    )
    EventEditing(store).merge_events(aleppo[0], aleppo[1], "alice")  # one removed
    _same_as_plain(store)

    story = next(n.id for n in store.dump() if isinstance(n, Node) and n.label is Label.STORY)
    Takedowns(store).takedown(story, "court order", "root")
    _same_as_plain(store)

    kyiv = next(e for e in store.dump() if isinstance(e, Node) and "Kyiv" in e.text("summary"))
    store.write(WriteBatch(deletes=[kyiv.id]))
    _same_as_plain(store)
    assert store._located is cells
