"""Editors correcting an event's place, on both stores: one path for `correctEvent(place:)`
and `correctLocation`, resolved through the gazetteer ("Kiev" is Kyiv), pinned, logged and
undone by `undoEdit`; "corrected from" and the CSV/Parquet table read the place the page shows
(the one chosen by evidence, `place_id`). docs/editorial.md, "Correcting an event"."""

from __future__ import annotations

import copy
import csv
import io
from pathlib import Path
from typing import Any, cast

import pyarrow.parquet as pq
import pytest

from api.app import create_app
from api.tokens import Tokens
from graph import keys
from graph.model import Label, Node, Rel
from graph.snapshot import INGEST_CLOCKS, canonical
from graph.store import GraphStore
from loaders.records import Location
from services.corrections import Corrections
from services.editing import EditorialError
from services.event_editing import EventEditing
from services.pins import Pin
from services.places import locate
from services.selection import select
from services.table import rows, write_csv, write_parquet
from tests.conftest import load_file, load_outlets
from tests.support.graphql import GraphQLClient
from tests.test_corrections import Interleaved
from tests.test_event_matching import FIRST, load, record
from tests.test_places import SAMPLES, seed_event, seed_only

EDITOR = "editor-token-0123456789abcdefghijklmnop"
PAGE = """query($id: ID!) { event(id: $id) { place { name } country { name }
  locationCheck { status } locations { place { name } }
  corrections { property value correctedFrom } } }"""
CORRECT_LOCATION = """mutation($e: ID!, $p: String!, $c: String!) {
  correctLocation(eventId: $e, place: $p, country: $c) {
    event { place { name } country { name } locationCheck { status } }
    edit { id action by } } }"""
UNDO = """mutation($id: ID!) { undoEdit(editId: $id) { edit { action undid }
  events { place { name } country { name } locationCheck { status } } } }"""
QUEUE = "{ flaggedLocations { edges { node { id } } } }"
KYIV = record(
    "Outlet K",
    "k-1",
    "2022-02-25",
    "Explosions heard in Kyiv",
    {"place": "Kyiv", "country": "Ukraine"},
)


def only_event(store: GraphStore) -> Node:
    (event,) = store.find_nodes(Label.EVENT, {}, "occurred_on", 10)
    return event


def place_of(store: GraphStore, event_id: str) -> Node:
    event = store.get_nodes([event_id])[event_id]
    return store.get_nodes([event.text("place_id")])[event.text("place_id")]


def test_corrected_from_is_the_place_the_page_showed(store: GraphStore, tmp_path: Path) -> None:
    # the seed says Moscow, Ukraine and is reported first; the samples place the event in
    # Moscow, Russia: the page shows Russia, and so must "corrected from"
    load_outlets(store)
    load_file(store, SAMPLES)
    event = seed_event(store)
    located = store.edges([event.id], Rel.OCCURRED_IN, "out")[event.id]
    earliest = min(located, key=lambda e: str(e.props.get("first_reported")))
    assert earliest.dst != event.text("place_id"), "the case needs another earliest location"
    client = GraphQLClient(create_app(store, Tokens.configured(f"editor:alice:{EDITOR}")))
    try:
        before = client.query(PAGE, {"id": event.id}, token=EDITOR).json()["data"]["event"]
        assert (before["place"], before["country"]) == ({"name": "Moscow"}, {"name": "Russia"})
        Corrections(store).correct_event(
            event.id, {"place": "Minsk", "country": "Belarus"}, "the summit was in Minsk", "alice"
        )
        page = client.query(PAGE, {"id": event.id}, token=EDITOR).json()["data"]["event"]
        assert (page["place"], page["country"]) == ({"name": "Minsk"}, {"name": "Belarus"})
        assert page["corrections"] == [
            {"property": "place", "value": "Minsk, Belarus", "correctedFrom": "Moscow, Russia"}
        ]
    finally:
        client.close()


def test_the_table_gives_the_place_the_page_shows(store: GraphStore, tmp_path: Path) -> None:
    load(store, tmp_path, [FIRST])
    event = only_event(store)
    raqqa = event.text("place_id")
    # a corrected place whose id sorts after Raqqa's: a rule taking the smallest of the
    # event's places would give Raqqa
    town = next(
        name
        for name in ("Tabqa", "Homs", "Aleppo", "Idlib", "Palmyra", "Hama")
        if keys.node_id("pl", _key(name)) > raqqa
    )
    Corrections(store).correct_event(event.id, {"place": town, "country": "Syria"}, "w", "alice")
    corrected = place_of(store, event.id)
    assert corrected.id > raqqa
    (row,) = rows(select(store))
    assert (row["place"], row["country"]) == (corrected.text("name"), "Syria")
    out = io.BytesIO()
    write_csv([row], out)
    (cells,) = csv.DictReader(io.StringIO(out.getvalue().decode("utf-8")))
    assert (cells["place"], cells["country"]) == (corrected.text("name"), "Syria")
    out = io.BytesIO()
    write_parquet([row], out)
    table = pq.read_table(io.BytesIO(out.getvalue())).to_pylist()
    assert (table[0]["place"], table[0]["country"]) == (corrected.text("name"), "Syria")


def _key(name: str) -> str:
    located = locate(Location(place=name, country="Syria"))
    assert located is not None
    return located.place_keys[0]


def test_a_corrected_place_resolves_through_the_gazetteer(
    store: GraphStore, tmp_path: Path
) -> None:
    load(store, tmp_path, [FIRST, KYIV])
    raqqa_event, kyiv_event = sorted(
        store.find_nodes(Label.EVENT, {}, "occurred_on", 10), key=lambda e: e.text("summary")
    )
    kyiv = place_of(store, kyiv_event.id)
    places = len(store.find_nodes(Label.PLACE, {}, "name", 100))
    corrections = Corrections(store)
    # "Kiev", without a country, is the Kyiv a record made: no new Place
    corrected, entry = corrections.correct_event(raqqa_event.id, {"place": "Kiev"}, "w", "alice")
    assert corrected.text("place_id") == kyiv.id
    assert len(store.find_nodes(Label.PLACE, {}, "name", 100)) == places
    assert corrected.text("location_corrected") == kyiv.id
    assert "place from 'Raqqa, Syria' to 'Kyiv, Ukraine'" in entry.text("detail")
    # what the gazetteer contradicts, or a country it does not know, is refused
    refused = [
        ({"place": "Moscow", "country": "Ukraine"}, "place: Moscow is in Russia, not Ukraine"),
        ({"place": "Aleppo", "country": "Narnia"}, "country: 'Narnia' is not a country"),
    ]
    for values, message in refused:
        with pytest.raises(EditorialError) as error:
            corrections.correct_event(raqqa_event.id, values, "w", "alice")
        assert str(error.value).startswith(message), str(error.value)
    # undone, the records place the event again
    _, (now,) = EventEditing(store).undo(entry.id, "bob")
    assert place_of(store, now.id).text("name") == "Raqqa"
    assert (now.text("location_corrected"), now.texts("pins")) == ("", [])
    assert kyiv.id not in now.texts("place_ids")


def test_correct_location_is_pinned_logged_and_undone(store: GraphStore, tmp_path: Path) -> None:
    load_outlets(store)
    load_file(store, seed_only(tmp_path))
    event_id = seed_event(store).id
    client = GraphQLClient(create_app(store, Tokens.configured(f"editor:alice:{EDITOR}")))

    def call(query: str, **variables: Any) -> dict[str, Any]:
        answer = client.query(query, variables, token=EDITOR).json()
        assert "errors" not in answer, answer
        data: dict[str, Any] = answer["data"]
        return data

    try:
        fixed = call(CORRECT_LOCATION, e=event_id, p="Moskva", c="RU")["correctLocation"]
        assert fixed["event"] == {
            "place": {"name": "Moscow"},
            "country": {"name": "Russia"},
            "locationCheck": {"status": "corrected"},
        }
        assert (fixed["edit"]["action"], fixed["edit"]["by"]) == ("correct", "alice")
        page = call(PAGE, id=event_id)["event"]
        assert page["corrections"] == [
            {"property": "place", "value": "Moscow, Russia", "correctedFrom": "Moscow, Ukraine"}
        ]
        assert call(QUEUE)["flaggedLocations"]["edges"] == []
        undone = call(UNDO, id=fixed["edit"]["id"])["undoEdit"]
        assert undone["edit"] == {"action": "undo", "undid": fixed["edit"]["id"]}
        assert undone["events"] == [
            {
                "place": {"name": "Moscow"},
                "country": {"name": "Ukraine"},
                "locationCheck": {"status": "conflict"},
            }
        ]
        assert call(PAGE, id=event_id)["event"]["corrections"] == []
        assert [e["node"]["id"] for e in call(QUEUE)["flaggedLocations"]["edges"]] == [event_id]
    finally:
        client.close()


def test_a_place_correction_racing_a_load_of_the_same_place_makes_one_place(
    store: GraphStore, tmp_path: Path
) -> None:
    load(store, tmp_path, [FIRST])
    event = only_event(store)
    tabqa = record("Outlet T", "t-1", "2017-05-01", "Dam seized at Tabqa", {"place": "Tabqa"})
    tabqa["event"]["location"]["country"] = "Syria"

    # the correction read the graph before a load made Tabqa, and commits after it
    racing = Corrections(
        cast(GraphStore, Interleaved(store, lambda: load(store, tmp_path, [tabqa])))
    )
    corrected, _ = racing.correct_event(event.id, {"place": "Tabqa"}, "w", "alice")
    named = [p for p in store.find_nodes(Label.PLACE, {}, "name", 100) if "Tabqa" in p.text("name")]
    assert [p.id for p in named] == [corrected.text("place_id")]
    other = next(
        e for e in store.find_nodes(Label.EVENT, {}, "occurred_on", 10) if e.id != event.id
    )
    assert other.text("place_id") == corrected.text("place_id")


def test_corrected_from_follows_the_place_the_records_choose_since(
    store: GraphStore, tmp_path: Path
) -> None:
    load(store, tmp_path, [FIRST])
    event = only_event(store)
    Corrections(store).correct_event(event.id, {"place": "Tabqa"}, "w", "alice")
    # story a-1 extracted again, at a spot the gazetteer does not name: the records now place
    # the event there, and the editor's place stands
    moved = copy.deepcopy(FIRST)
    moved["extracted_at"] = "2017-03-02T09:00:00Z"
    moved["event"]["location"] = {"place": "Raqqa outskirts", "country": "Syria"}
    load(store, tmp_path, [moved])
    assert place_of(store, event.id).text("name") == "Al-Tabqa"
    (pin,) = [Pin.of(e) for e in store.get_nodes([event.id])[event.id].texts("pins")]
    assert (pin.value, pin.was) == ("Al-Tabqa, Syria", "Raqqa outskirts, Syria")
    before = canonical(store, ignore=INGEST_CLOCKS)
    load(store, tmp_path, [moved])  # a reload changes nothing
    assert canonical(store, ignore=INGEST_CLOCKS) == before
