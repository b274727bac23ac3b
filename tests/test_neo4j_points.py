"""The Neo4j store's spatial points (docs/neo4j.md, "Geographic filters"). Where the server's
POINT index is a spatial one (Neo4j 5), every event with coordinates carries them as a
hidden point that follows its `geo_lat` and `geo_lon`, and the box and circle filters are
sought by it; the answers are those of the plain numbers (and of the embedded store's rule,
`EventFilter.admits`) in every case: on a box's edges, at a circle's radius, across 180°, at
the poles. ArcadeDB answers the same point functions but keeps the index as a range index,
so the store leaves points off there by itself; these tests ask for them (`points=True`) so
that the conditions run on it."""

from __future__ import annotations

import contextlib
import dataclasses
import math
import random
from collections.abc import Iterator
from typing import Any

import neo4j
import pytest

from graph.model import Label, NodeWrite, PropertyWrite, Value, WriteBatch
from graph.neo4j import Neo4jStore
from graph.neo4j import queries as q
from graph.store import EventFilter, EventQuery, StoreError, haversine_km
from tests.conftest import BOLT
from tests.support.neo4j import neo

__all__ = ["neo"]  # the fixture


def _raw(store: Neo4jStore, query: str, **params: Any) -> list[dict[str, Any]]:
    server = BOLT.server(0)
    driver = neo4j.GraphDatabase.driver(store.uri, auth=(server.user, server.password))
    with driver, driver.session(database=store.database) as session:
        return [r.data() for r in session.run(query, params)]


def _points(store: Neo4jStore) -> dict[str, tuple[float, float] | None]:
    rows = _raw(store, f"MATCH (n:{Label.EVENT.value}) RETURN n.id AS id, n.{q.GEO} AS p")
    return {r["id"]: (r["p"].latitude, r["p"].longitude) if r["p"] else None for r in rows}


def _ids(store: Neo4jStore, flt: EventFilter) -> list[str]:
    return [e.id for e in store.query_events(EventQuery(flt, 10)).events]


def _event(event_id: str, day: str, lat: Value, lon: Value) -> NodeWrite:
    props: dict[str, Value] = {"summary": event_id, "occurred_on": day}
    props |= {"geo_lat": lat, "geo_lon": lon}
    return NodeWrite(event_id, Label.EVENT, PropertyWrite(set=props))


@contextlib.contextmanager
def _numbers_only(store: Neo4jStore) -> Iterator[None]:
    """As on a server without points: writes keep none, filters read the plain numbers."""
    assert store.capabilities is not None
    kept = store.capabilities
    store.capabilities = dataclasses.replace(kept, points=False)
    try:
        yield
    finally:
        store.capabilities = kept


@pytest.fixture
def pointed(neo: Neo4jStore) -> Iterator[Neo4jStore]:
    """A store on `neo`'s database that keeps points wherever the server's point functions
    answer (`points=True`): on ArcadeDB too, whose POINT index is not a spatial one (so the
    store would not by itself), for the conditions to run here. A server without the
    functions (an older Neo4j) reads numbers only: skipped."""
    server = BOLT.server(0)
    store = Neo4jStore(neo.uri, server.user, server.password, neo.database, points=True)
    store.setup()
    try:
        capabilities = store.capabilities
        assert capabilities is not None
        if not capabilities.points:
            assert "ArcadeDB" not in capabilities.agent, capabilities
            pytest.skip(f"{capabilities.agent} has no spatial points: the filters read numbers")
        yield store
    finally:
        store.close()


@pytest.fixture
def located(pointed: Neo4jStore) -> dict[str, dict[str, Value]]:
    """Events where answers could differ: on box edges, near 180°, at the poles, in a ring
    around (38, 28) at about 500 km, none."""
    rng = random.Random(13)
    written: dict[str, dict[str, Value]] = {}
    spots: list[tuple[Value, Value]] = [
        (32.0, 22.0),
        (45.0, 35.0),
        (32.0, 35.0),
        (44.999999, 22.0),
        (0.0, 180.0),
        (0.0, -180.0),
        (5.0, 179.5),
        (-5.0, -179.5),
        (90.0, 0.0),
        (-90.0, 45.0),
        (89.9, -170.0),
        (None, None),
    ]
    for bearing in range(0, 360, 15):  # a ring at 499.5 to 500.5 km from (38, 28)
        spots.append(_at(38.0, 28.0, 499.5 + rng.random(), bearing))
    for _ in range(150):
        spots.append((rng.uniform(-90, 90), rng.uniform(-180, 180)))
    writes = []
    for n, (lat, lon) in enumerate(spots):
        event_id = f"ev_pt{n:03d}"
        day = f"2025-0{1 + n % 9}-{10 + n % 19:02d}"
        writes.append(_event(event_id, day, lat, lon))
        written[event_id] = {"occurred_on": day, "geo_lat": lat, "geo_lon": lon}
    pointed.write(WriteBatch(nodes=writes))
    return written


def _at(lat: float, lon: float, km: float, bearing: float) -> tuple[float, float]:
    """The point `km` from (lat, lon) on `bearing` (degrees), on the sphere haversine_km uses."""
    d = km / 6371.0088
    b, p1, l1 = math.radians(bearing), math.radians(lat), math.radians(lon)
    p2 = math.asin(math.sin(p1) * math.cos(d) + math.cos(p1) * math.sin(d) * math.cos(b))
    l2 = l1 + math.atan2(
        math.sin(b) * math.sin(d) * math.cos(p1), math.cos(d) - math.sin(p1) * math.sin(p2)
    )
    return math.degrees(p2), (math.degrees(l2) + 540) % 360 - 180


FILTERS = [
    EventFilter(box=(32.0, 22.0, 45.0, 35.0)),
    EventFilter(box=(-10.0, 179.0, 10.0, 180.0)),
    EventFilter(box=(-10.0, 170.0, 10.0, -170.0)),  # across 180°
    EventFilter(box=(80.0, -180.0, 90.0, 180.0)),
    EventFilter(box=(-90.0, -180.0, 90.0, 180.0)),
    EventFilter(near=(38.0, 28.0, 500.0)),
    EventFilter(near=(0.0, 179.9, 200.0)),  # a circle across 180°
    EventFilter(near=(90.0, 0.0, 2000.0)),
    EventFilter(near=(38.0, 28.0, 500.0), box=(30.0, 20.0, 40.0, 30.0)),
    EventFilter(near=(0.0, 0.0, 20_000.0)),  # the whole Earth
]


def test_the_store_keeps_points_where_the_server_indexes_them(neo: Neo4jStore) -> None:
    """Left to itself, the store keeps points where the server's POINT index is a spatial one
    (Neo4j 5), not on ArcadeDB, which keeps it as a range index: there the filters read the
    numbers alone, as the points would only add work to the same scan."""
    capabilities = neo.capabilities
    assert capabilities is not None
    assert capabilities.points is ("ArcadeDB" not in capabilities.agent), capabilities


def test_each_event_carries_its_coordinates_as_a_point(
    pointed: Neo4jStore, located: dict[str, dict[str, Value]]
) -> None:
    neo = pointed
    points = _points(neo)
    for event_id, props in located.items():
        lat, lon = props["geo_lat"], props["geo_lon"]
        if isinstance(lat, float) and isinstance(lon, float):
            assert points[event_id] == (lat, lon), event_id
        else:
            assert points[event_id] is None, event_id
    # hidden from reads, and a name no write may use
    node = neo.get_nodes(["ev_pt000"])["ev_pt000"]
    assert q.GEO not in node.props and node.props["geo_lat"] == 32.0
    with pytest.raises(StoreError, match="reserved"):
        neo.write(WriteBatch(nodes=[NodeWrite("ev_x", Label.EVENT, PropertyWrite(set={q.GEO: 1}))]))
    # moved, its point follows; coordinates removed, the point goes
    neo.write(WriteBatch(nodes=[_event("ev_pt000", "2025-01-10", -33.9, 18.4)]))
    neo.write(WriteBatch(nodes=[_event("ev_pt001", "2025-01-10", None, None)]))
    points = _points(neo)
    assert points["ev_pt000"] == (-33.9, 18.4) and points["ev_pt001"] is None
    assert _ids(neo, EventFilter(near=(-33.9, 18.4, 1))) == ["ev_pt000"]
    # out of range or not numbers (no loader writes them: records hold latitudes to ±90 and
    # longitudes to ±180): no point, and the write goes through (Neo4j refuses such a point)
    odd = [_event("ev_odd1", "2025-01-01", 95.0, 10.0), _event("ev_odd2", "2025-01-01", "1", "2")]
    neo.write(WriteBatch(nodes=odd))
    assert (_points(neo)["ev_odd1"], _points(neo)["ev_odd2"]) == (None, None)


def test_points_and_numbers_answer_alike(
    pointed: Neo4jStore, located: dict[str, dict[str, Value]]
) -> None:
    """Each filter, by points and by numbers alone: the same events in the same order, the
    same count and tallies, and exactly those `EventFilter.admits` (the embedded store's rule)
    lets through."""
    neo = pointed
    for flt in FILTERS:
        wanted = sorted(
            ((str(p["occurred_on"]), i) for i, p in located.items() if flt.admits(p)),
            reverse=True,
        )
        by_points = [e.id for e in neo.query_events(EventQuery(flt, first=1000)).events]
        counted = neo.count_events(flt, 10_000)
        tallied = neo.tally_events(flt, 10_000)
        with _numbers_only(neo):
            by_numbers = [e.id for e in neo.query_events(EventQuery(flt, first=1000)).events]
            assert neo.count_events(flt, 10_000) == counted
            assert neo.tally_events(flt, 10_000) == tallied
        assert by_points == by_numbers == [i for _, i in wanted], flt
        assert counted == len(wanted)
    ring = EventFilter(near=(38.0, 28.0, 500.0))
    inside = [i for i, p in located.items() if ring.admits(p)]
    ringed = [i for i in inside if haversine_km(38.0, 28.0, *_floats(located[i])) > 499.0]
    assert ringed and len(ringed) < 24  # the ring straddles the radius: some in, some out


def _floats(props: dict[str, Value]) -> tuple[float, float]:
    lat, lon = props["geo_lat"], props["geo_lon"]
    assert isinstance(lat, float) and isinstance(lon, float)
    return lat, lon


def test_the_box_and_circle_are_sought_by_points(pointed: Neo4jStore) -> None:
    """An event whose point (and not its numbers) is moved away leaves the box and the circle
    by points: the server answers the point condition (where a POINT index can seek)."""
    pointed.write(WriteBatch(nodes=[_event("ev_moved", "2025-01-01", 40.0, 30.0)]))
    box, near = EventFilter(box=(39.0, 29.0, 41.0, 31.0)), EventFilter(near=(40.0, 30.0, 50.0))
    for flt in (box, near):
        assert _ids(pointed, flt) == ["ev_moved"]
    _raw(
        pointed,
        f"MATCH (n:{Label.EVENT.value} {{id: 'ev_moved'}}) "
        f"SET n.{q.GEO} = point({{latitude: -40.0, longitude: -30.0}})",
    )
    for flt in (box, near):
        assert _ids(pointed, flt) == []
        with _numbers_only(pointed):
            assert _ids(pointed, flt) == ["ev_moved"]


def test_events_written_without_points_get_them_at_setup(pointed: Neo4jStore) -> None:
    """A graph written before the store kept points (or while it could not): the next setup
    gives its events their points."""
    with _numbers_only(pointed):
        pointed.write(WriteBatch(nodes=[_event("ev_old", "2025-01-01", 50.45, 30.52)]))
    assert _points(pointed) == {"ev_old": None}
    pointed.close()
    pointed.setup()
    assert _points(pointed) == {"ev_old": (50.45, 30.52)}
    assert _ids(pointed, EventFilter(near=(50.45, 30.52, 1))) == ["ev_old"]
