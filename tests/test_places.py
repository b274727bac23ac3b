"""Places you can trust: the gazetteer, the place-country check, the event's place chosen by
evidence and countries as one thing (docs/places.md), on both stores."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import geojson

from api.app import create_app
from api.tokens import Tokens
from graph.gazetteer import check, distance_km
from graph.model import Label, Node, Rel
from graph.store import EventFilter, EventQuery, GraphStore
from services.export import export
from tests.conftest import DATA, EXTRACTOR, load_file, load_outlets, shared_file
from tests.support.graphql import PAGE_QUERY, GraphQLClient

SEED = EXTRACTOR / "seed-event.json"
SAMPLES = EXTRACTOR / "samples.jsonl"
SEED_PREFIX = "Russian President Vladimir Putin and Belarusian President"


def seed_only(tmp_path: Path) -> Path:
    record = json.loads(shared_file(SEED).read_text("utf-8"))
    path = tmp_path / "seed.jsonl"
    path.write_text(json.dumps(record) + "\n", "utf-8")
    return path


def seed_event(store: GraphStore) -> Node:
    page = store.query_events(EventQuery(EventFilter(), first=100))
    found = [e for e in page.events if e.text("summary").startswith(SEED_PREFIX)]
    assert len(found) == 1
    return found[0]


def country_named(store: GraphStore, event: Node) -> str:
    ids = event.texts("country_ids")
    assert len(ids) == 1, ids
    return store.get_nodes(ids)[ids[0]].text("canonical_name")


def test_the_gazetteer_resolves_names_in_any_spelling() -> None:
    for name in ("Kyiv", "Kiev", "Київ"):
        found = check(name, "Ukraine")
        assert found.status == "resolved" and found.entry is not None
        assert (found.entry.name, found.entry.country) == ("Kyiv", "UA")
        assert found.entry.lat is not None and found.entry.lon is not None


def test_an_ambiguous_name_goes_by_country_then_point_then_population() -> None:
    assert check("Moscow", "Russia").entry.country == "RU"  # type: ignore[union-attr]
    assert check("Moscow", "United States").entry.admin1 == "US.ID"  # type: ignore[union-attr]
    near_idaho = check("Moscow", None, 46.73, -117.0).entry
    assert near_idaho is not None and near_idaho.country == "US"
    assert check("Moscow", None).entry.country == "RU"  # type: ignore[union-attr]


def test_a_place_in_the_wrong_country_is_flagged_with_a_suggestion() -> None:
    found = check("Moscow", "Ukraine")
    assert found.status == "conflict"
    assert found.reason == "Moscow is in Russia, not Ukraine"
    assert found.suggestion == "Moscow, Russia"


def test_the_seed_alone_carries_the_conflict(store: GraphStore, tmp_path: Path) -> None:
    load_outlets(store)
    load_file(store, seed_only(tmp_path))
    event = seed_event(store)
    assert event.text("location_check") == "conflict"
    assert event.text("location_reason") == "Moscow is in Russia, not Ukraine"
    assert event.text("location_suggestion") == "Moscow, Russia"


def test_after_the_samples_the_seed_is_in_moscow_russia_only(store: GraphStore) -> None:
    load_outlets(store)
    load_file(store, SAMPLES)
    event = seed_event(store)
    assert event.text("location_check") == "ok"
    place = store.get_nodes([event.text("place_id")])[event.text("place_id")]
    assert (place.text("canonical_name"), place.text("country_code")) == ("Moscow", "RU")
    assert country_named(store, event) == "Russia"
    ukraine = [
        n for n in store.get_nodes(event.texts("place_ids")).values() if n.text("iso") == "UA"
    ]
    assert ukraine, "the Ukraine the records gave is still one of the reported locations"
    filed = EventFilter(country=ukraine[0].id)
    ids = [e.id for e in store.query_events(EventQuery(filed, first=100)).events]
    assert event.id not in ids
    lat, lon = event.props["geo_lat"], event.props["geo_lon"]
    assert isinstance(lat, float) and isinstance(lon, float)
    assert distance_km(lat, lon, 55.75, 37.62) < 5
    # every reported location stays, with its sources
    located = store.edges([event.id], Rel.OCCURRED_IN, "out")[event.id]
    assert len(located) == 2
    assert sum(len(e.texts("stories")) for e in located) == 3
    assert all(n.label is Label.PLACE for n in store.get_nodes([e.dst for e in located]).values())


def test_geographic_filters_answer_alike_on_both_stores(store: GraphStore) -> None:
    load_outlets(store)
    load_file(store, SAMPLES)
    load_file(store, shared_file(DATA / "ged-syria-2017h1-no-ids.jsonl"))

    def ids(flt: EventFilter) -> list[str]:
        return [e.id for e in store.query_events(EventQuery(flt, first=5000)).events]

    everything = store.query_events(EventQuery(EventFilter(), first=5000)).events
    aleppo = (36.20124, 37.16117)
    near = ids(EventFilter(near=(*aleppo, 30.0)))
    expected = [
        e.id
        for e in everything
        if isinstance(e.props.get("geo_lat"), float)
        and distance_km(*aleppo, float(e.props["geo_lat"]), float(e.props["geo_lon"])) <= 30.0  # type: ignore[arg-type]
    ]
    assert near == expected and 10 < len(near) < len(everything)
    box = ids(EventFilter(box=(35.0, 36.0, 36.5, 37.5)))
    assert box and all(35.0 <= float(e.props["geo_lat"]) <= 36.5 for e in everything if e.id in box)  # type: ignore[arg-type]
    moscow = ids(EventFilter(box=(55.0, 37.0, 56.5, 38.5)))
    assert seed_event(store).id in moscow
    # a box across 180° holds nothing here, and does not fail
    assert ids(EventFilter(box=(-10.0, 170.0, 10.0, -170.0))) == []


EDITOR = "editor-token-0123456789abcdefghijklmnop"
CHECKED = """query($id: ID!) { event(id: $id) {
  place { name canonicalName countryCode latitude longitude gazetteerId }
  country { name canonicalName }
  locationCheck { status reason suggestion }
  locations { place { name } country { name } flags { field reason suggestion }
              stories { slug } } } }"""
QUEUE = "{ flaggedLocations { edges { node { id } } } }"
CORRECT = """mutation($e: ID!, $p: String!, $c: String!) {
  correctLocation(eventId: $e, place: $p, country: $c) {
    event { id place { name } country { name } locationCheck { status } }
    edit { action by } } }"""


def test_editors_see_the_conflict_and_correct_it_for_good(
    store: GraphStore, tmp_path: Path
) -> None:
    load_outlets(store)
    load_file(store, seed_only(tmp_path))
    client = GraphQLClient(create_app(store, Tokens.configured(f"editor:alice:{EDITOR}")))

    def call(query: str, **variables: Any) -> dict[str, Any]:
        answer = client.query(query, variables, token=EDITOR).json()
        assert "errors" not in answer, answer
        data: dict[str, Any] = answer["data"]
        return data

    try:
        event_id = seed_event(store).id
        page = client.data(PAGE_QUERY, {"id": event_id})["event"]
        assert (page["place"]["name"], page["country"]["name"]) == ("Moscow", "Ukraine")
        assert page["locationCheck"] == {
            "status": "conflict",
            "reason": "Moscow is in Russia, not Ukraine",
            "suggestion": "Moscow, Russia",
        }
        shown = client.data(CHECKED, {"id": event_id})["event"]
        assert shown["place"]["canonicalName"] == "Moscow"
        assert shown["place"]["countryCode"] == "RU"
        assert abs(shown["place"]["latitude"] - 55.75) < 0.1
        assert shown["locations"][0]["flags"] == [
            {
                "field": "location.country",
                "reason": "Moscow is in Russia, not Ukraine",
                "suggestion": "Moscow, Russia",
            }
        ]
        queue = call(QUEUE)["flaggedLocations"]["edges"]
        assert [e["node"]["id"] for e in queue] == [event_id]
        # readers may not read the queue nor correct
        refused = client.query(QUEUE).json()
        assert refused["errors"][0]["message"].startswith("flaggedLocations needs the editor")
        wrong = client.query(CORRECT, {"e": event_id, "p": "Moscow", "c": "Narnia"}, EDITOR)
        assert wrong.json()["errors"][0]["message"].startswith("country: 'Narnia' is not a")
        missing = client.query(CORRECT, {"e": "ev_nope", "p": "Moscow", "c": "RU"}, EDITOR)
        assert missing.json()["errors"][0]["message"].startswith("eventId: ")

        fixed = call(CORRECT, e=event_id, p="Moscow", c="Russia")["correctLocation"]
        assert fixed["event"]["place"] == {"name": "Moscow"}
        assert fixed["event"]["country"] == {"name": "Russia"}
        assert fixed["event"]["locationCheck"] == {"status": "corrected"}
        assert fixed["edit"] == {"action": "correct", "by": "alice"}  # undoable: undoEdit
        assert call(QUEUE)["flaggedLocations"]["edges"] == []
        # later records saying Ukraine do not overwrite the editor
        load_file(store, SAMPLES)
        again = client.data(CHECKED, {"id": event_id})["event"]
        assert again["country"]["name"] == "Russia"
        assert again["locationCheck"]["status"] == "corrected"
        # the editor's place is the one TASS gives; the ones saying Ukraine stay, with sources
        assert sorted(loc["country"]["name"] for loc in again["locations"]) == ["Russia", "Ukraine"]
    finally:
        client.close()


def bad_location(day: int, slug: str, location: dict[str, Any]) -> str:
    record = json.loads(shared_file(SEED).read_text("utf-8"))
    record["source_story"]["slug"] = slug
    record["event"]["summary"] = f"An event in {slug}"
    record["event"]["location"] = location
    # two days apart, so the event matcher never compares them (a day apart, the same place,
    # sides, words and outlet are close to a late report of one event)
    record["event"]["occurred_on"] = f"2025-03-{2 * day:02d}"
    return json.dumps(record)


def test_bad_locations_are_flagged_resolved_or_rejected_naming_the_field(
    store: GraphStore, tmp_path: Path
) -> None:
    lines = [
        bad_location(
            1, "swapped", {"place": "Aleppo", "country": "Syria", "lat": 37.16, "lon": 36.2}
        ),
        bad_location(
            2, "elsewhere", {"place": "Aleppo", "country": "Syria", "lat": 41.0, "lon": 29.0}
        ),
        bad_location(3, "narnia", {"place": "Aleppo", "country": "Narnia"}),
        bad_location(4, "nameless", {"lat": 36.2, "lon": 37.16}),
        bad_location(5, "long", {"place": "x" * 2000, "country": "Syria"}),
        bad_location(7, "itself", {"place": "Syria", "country": "Syria"}),
        bad_location(6, "range", {"place": "Aleppo", "country": "Syria", "lat": 95.0, "lon": 37.0}),
    ]
    path = tmp_path / "bad.jsonl"
    path.write_text("\n".join(lines) + "\n", "utf-8")
    rejects = tmp_path / "rejects.jsonl"
    summary = load_file(store, path, rejects)
    assert (summary.loaded, summary.rejected) == (5, 2)
    reasons = [json.loads(line)["reason"] for line in rejects.read_text("utf-8").splitlines()]
    assert any("location.place" in r for r in reasons), reasons
    assert any("location.lat" in r for r in reasons), reasons

    events = {
        e.text("summary").removeprefix("An event in "): e
        for e in store.query_events(EventQuery(EventFilter(), first=10)).events
    }
    swapped = events["swapped"]
    assert (swapped.props["lat"], swapped.props["lon"]) == (36.2, 37.16)
    assert "swapped" in swapped.text("location_reason")
    assert "lie in Turkey, not Syria" in events["elsewhere"].text("location_reason")
    narnia = events["narnia"]
    assert narnia.text("location_reason") == "'Narnia' is not a country"
    (filed,) = store.get_nodes(narnia.texts("country_ids")).values()
    assert (filed.text("name"), filed.text("iso"), filed.text("resolution")) == (
        "Narnia",
        "",
        "unresolved",
    )
    itself = events["itself"]  # a place that is its country is the country, not inside it
    assert itself.texts("place_ids") == itself.texts("country_ids") == [itself.text("place_id")]
    assert not store.edges([itself.text("place_id")], Rel.IN_COUNTRY, "out").get(
        itself.text("place_id")
    )
    nameless = events["nameless"]
    place = store.get_nodes([nameless.text("place_id")])[nameless.text("place_id")]
    assert place.text("canonical_name") == "Aleppo"
    assert country_named(store, nameless) == "Syria"


COUNTRIES = """query($id: ID!) {
  eventCounts { countries { count place { canonicalName } } regions { count region }
                eventsScanned unplaced complete }
  events(filter: {country: "RU"}) { edges { node { id } } }
  ukraine: events(filter: {country: "UA"}) { edges { node { id } } }
  near: events(filter: {near: {latitude: 55.75, longitude: 37.62, km: 50}}) {
    edges { node { id latitude longitude } } }
  event(id: $id) { entities { entity { name country { id canonicalName } } }
                   country { id } sources { name country countryPlace { id } } } }"""


def test_countries_are_one_thing_and_counted(store: GraphStore) -> None:
    load_outlets(store)
    load_file(store, SAMPLES)
    client = GraphQLClient(create_app(store, Tokens.configured(f"editor:alice:{EDITOR}")))
    try:
        event_id = seed_event(store).id
        data = client.data(COUNTRIES, {"id": event_id})
        counts = {c["place"]["canonicalName"]: c["count"] for c in data["eventCounts"]["countries"]}
        assert counts == {"Russia": 2, "Ukraine": 1}
        assert data["eventCounts"]["complete"] is True
        assert sum(r["count"] for r in data["eventCounts"]["regions"]) == 3
        in_russia = [e["node"]["id"] for e in data["events"]["edges"]]
        assert event_id in in_russia and len(in_russia) == 2
        assert event_id not in [e["node"]["id"] for e in data["ukraine"]["edges"]]
        assert event_id in [e["node"]["id"] for e in data["near"]["edges"]]
        russia = data["event"]["country"]["id"]
        entities = {i["entity"]["name"]: i["entity"]["country"] for i in data["event"]["entities"]}
        assert entities["Russia"] == {"id": russia, "canonicalName": "Russia"}
        assert entities["Vladimir Putin"] is None
        places = {s["name"]: (s["country"], s["countryPlace"]) for s in data["event"]["sources"]}
        assert places["TASS"] == ("RU", {"id": russia})
        bad = client.query(
            "{ events(filter: {near: {latitude: 95, longitude: 0, km: 5}}) { edges { cursor } } }"
        ).json()
        assert (
            bad["errors"][0]["message"]
            == "filter.near.latitude must be between -90 and 90 (got 95.0)"
        )
    finally:
        client.close()


def test_the_geojson_export_is_a_valid_map_layer(store: GraphStore) -> None:
    load_outlets(store)
    load_file(store, SAMPLES)
    out = io.BytesIO()
    said: list[str] = []
    export(store, "geojson", out, on_summary=said.append)
    layer = geojson.loads(out.getvalue().decode("utf-8"))
    assert layer.is_valid, layer.errors()
    assert layer["type"] == "FeatureCollection"
    by_place = {f["properties"]["place"]: f for f in layer["features"]}
    moscow = by_place["Moscow"]
    lon, lat = moscow["geometry"]["coordinates"]
    assert distance_km(lat, lon, 55.75, 37.62) < 5
    assert moscow["properties"]["country_code"] == "RU"
    assert said == [f"features written: {len(layer['features'])} (0 events without a point)"]
