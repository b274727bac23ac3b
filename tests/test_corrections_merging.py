"""Editors' corrections (pins) when events merge, and the matcher reading an event as corrected,
on both stores (docs/editorial.md, "Corrections when events merge" and "Corrections and the
matcher").

- Two corrected events merging: the survivor's pins win property by property, the merged-away
  event's pins apply where the survivor has none, a pin dropped for the survivor's is named
  in the merge's log entry, and `undoEdit` of the merge restores both events' pins exactly.
- A corrected place or day is what the matcher compares later records with."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from graph.history import Why
from graph.model import Label, Node, Rel, WriteBatch
from graph.snapshot import INGEST_CLOCKS, canonical
from graph.store import GraphStore
from services.corrections import CORRECTED, Corrections
from services.event_editing import EventEditing
from services.merging import merge_nodes
from services.pins import pins_of, repin
from tests.test_event_editing import by_stories
from tests.test_event_matching import ELSEWHERE, FIRST, load, record, stories_of

HOMS = {"place": "Homs", "country": "Syria", "lat": 34.73, "lon": 36.71}
# Outlet W placed the fighting in Homs; it was in Raqqa (FIRST), as an editor corrects it.
WRONG = record("Outlet W", "w-1", "2017-03-01", "Army and IS fight", HOMS)
# Later, another report of the fighting at Homs that day: not the corrected event.
AT_HOMS = record("Outlet H", "h-1", "2017-03-01", "Army and IS fight in Homs", HOMS)


def graph_of(store: GraphStore) -> list[str]:
    """The graph (`canonical`, ingest clocks aside), a property set to null counted as none
    (Neo4j keeps no null property; the embedded store keeps the name)."""
    lines = []
    for line in canonical(store, ignore=INGEST_CLOCKS):
        item = json.loads(line)
        if item[0] in ("node", "edge"):
            item[-1] = {k: v for k, v in item[-1].items() if v is not None}
        lines.append(json.dumps(item, sort_keys=True))
    return sorted(lines)


def event_of(store: GraphStore, event_id: str) -> Node:
    return store.get_nodes([event_id])[event_id]


def correction_edges(store: GraphStore, event_id: str) -> list[str]:
    located = store.edges([event_id], Rel.OCCURRED_IN, "out")[event_id]
    return [e.dst for e in located if e.discriminator == CORRECTED]


def place_name(store: GraphStore, event_id: str) -> str:
    place = event_of(store, event_id).text("place_id")
    return store.get_nodes([place])[place].text("name")


def corrected_pair(
    store: GraphStore, tmp_path: Path, records: list[dict[str, Any]]
) -> tuple[Node, Node]:
    """`records` loaded, then the Raqqa (story a-1) and Homs (story c-1) events each with its
    summary corrected (alice's and bob's, Homs's category too); the two events as read before
    the corrections (their ids are what the tests use)."""
    load(store, tmp_path, records)
    raqqa, homs = by_stories(store, ["a-1"]), by_stories(store, ["c-1"])
    corrections = Corrections(store)
    corrections.correct_event(raqqa.id, {"summary": "Fighting in Raqqa"}, "the town", "alice")
    corrections.correct_event(
        homs.id, {"summary": "Fighting in Homs", "category": "humanitarian"}, "why", "bob"
    )
    return raqqa, homs


def test_merging_corrected_events_keeps_the_survivors_pins_and_undo_restores_both(
    store: GraphStore, tmp_path: Path
) -> None:
    load(store, tmp_path, [FIRST, ELSEWHERE])
    raqqa, homs = by_stories(store, ["a-1"]), by_stories(store, ["c-1"])
    corrections = Corrections(store)
    # the survivor's corrections first: the merged-away event's are later, yet do not win
    corrections.correct_event(
        raqqa.id, {"summary": "Fighting in Raqqa", "place": "Tabqa"}, "the town", "alice"
    )
    corrections.correct_event(
        homs.id,
        {"summary": "Fighting in Homs", "category": "humanitarian", "place": "Damascus"},
        "the city",
        "bob",
    )
    before = graph_of(store)
    pins_before = {e: pins_of(event_of(store, e)) for e in (raqqa.id, homs.id)}
    editing = EventEditing(store)

    entry = editing.merge_events(homs.id, raqqa.id, "carol")

    merged = event_of(store, raqqa.id)
    pins = pins_of(merged)
    assert {p: (pin.value, pin.by) for p, pin in pins.items()} == {
        "summary": ("Fighting in Raqqa", "alice"),
        "place": ("Al-Tabqa, Syria", "alice"),
        "category": ("humanitarian", "bob"),  # the survivor had none: the merged-away's applies
    }
    assert (merged.text("summary"), merged.text("category")) == (
        "Fighting in Raqqa",
        "humanitarian",
    )
    assert place_name(store, raqqa.id) == "Al-Tabqa"
    assert len(correction_edges(store, raqqa.id)) == 1  # one editor's location, the survivor's
    # the pins dropped for the survivor's are named in the merge's log entry, with what they
    # said; the merged-away event's corrections stay in the log as they were
    logged = event_of(store, entry.id)
    dropped = json.loads(logged.text("pins_dropped"))
    assert [(d["prop"], d["value"], d["by"]) for d in dropped] == [
        ("place", "Damascus, Syria", "bob"),
        ("summary", "Fighting in Homs", "bob"),
    ]
    assert "dropped" in logged.text("detail") and "Fighting in Homs" in logged.text("detail")
    (homs_fix,) = store.find_nodes(Label.EDIT, {"action": "correct", "subject": homs.id}, "at", 5)
    assert "Fighting in Homs" in homs_fix.text("pins")

    # a reload changes nothing
    after = canonical(store)
    load(store, tmp_path, [FIRST, ELSEWHERE])
    assert canonical(store) == after

    editing.undo(entry.id, "carol")

    assert graph_of(store) == before
    for event_id, was in pins_before.items():
        assert pins_of(event_of(store, event_id)) == was
    assert place_name(store, raqqa.id) == "Al-Tabqa"
    assert place_name(store, homs.id) == "Damascus"


def test_the_merged_away_events_place_pin_applies_where_the_survivor_has_none(
    store: GraphStore, tmp_path: Path
) -> None:
    load(store, tmp_path, [FIRST, ELSEWHERE])
    raqqa, homs = by_stories(store, ["a-1"]), by_stories(store, ["c-1"])
    Corrections(store).correct_event(homs.id, {"place": "Damascus"}, "the city", "bob")
    before = graph_of(store)
    editing = EventEditing(store)

    entry = editing.merge_events(homs.id, raqqa.id, "carol")

    assert place_name(store, raqqa.id) == "Damascus"
    assert pins_of(event_of(store, raqqa.id))["place"].value == "Damascus, Syria"
    assert event_of(store, entry.id).text("pins_dropped") in ("", "[]")
    editing.undo(entry.id, "carol")
    assert graph_of(store) == before


def test_the_loaders_merge_of_corrected_events_follows_the_same_rule(
    store: GraphStore, tmp_path: Path
) -> None:
    """`merge_nodes` as the loader calls it (a record shows two stored events are one), then
    its transaction re-applying the pins (`repin`), as `ingest`'s does."""
    raqqa, homs = corrected_pair(store, tmp_path, [FIRST, ELSEWHERE])
    batch = WriteBatch()
    why = Why("report", "line 1: Outlet X story x-1", "cli")
    merge_nodes(store, batch, [homs.id], Label.EVENT, lambda n: raqqa.id, set(), why, "2017-03-09")
    store.write(batch, derive=lambda graph: WriteBatch(nodes=repin(graph, [raqqa.id])))

    merged = event_of(store, raqqa.id)
    assert {p: pin.by for p, pin in pins_of(merged).items()} == {
        "summary": "alice",
        "category": "bob",
    }
    assert (merged.text("summary"), merged.text("category")) == (
        "Fighting in Raqqa",
        "humanitarian",
    )
    (entry,) = store.find_nodes(Label.EDIT, {"action": "merge", "merged": homs.id}, "at", 5)
    dropped = json.loads(entry.text("pins_dropped"))
    assert [(d["prop"], d["value"]) for d in dropped] == [("summary", "Fighting in Homs")]


def test_a_record_is_matched_against_the_corrected_place(store: GraphStore, tmp_path: Path) -> None:
    load(store, tmp_path, [WRONG])
    (event,) = store.find_nodes(Label.EVENT, {}, "occurred_on", 10)
    corrections = Corrections(store)
    corrections.correct_event(event.id, {"place": "Raqqa"}, "it was Raqqa", "alice")
    corrected = event_of(store, event.id)
    assert "homs" not in corrected.texts("identity_places")
    # the map shows the corrected place, not the records' point at Homs
    assert (corrected.props["geo_lat"], corrected.props["geo_lon"]) == (35.95283, 39.00788)

    load(store, tmp_path, [FIRST])  # Raqqa, the same sides and day: the corrected event
    assert stories_of(store, event_of(store, event.id)) == ["a-1", "w-1"]
    load(store, tmp_path, [AT_HOMS])  # the old, wrong place: another event
    assert stories_of(store, event_of(store, event.id)) == ["a-1", "w-1"]

    # unpinned, the event is matched as its records describe it again
    corrections.unpin_event(event.id, ["place"], "alice")
    assert "homs" in event_of(store, event.id).texts("identity_places")


def test_a_record_is_matched_against_the_corrected_day(store: GraphStore, tmp_path: Path) -> None:
    load(store, tmp_path, [FIRST])
    (event,) = store.find_nodes(Label.EVENT, {}, "occurred_on", 10)
    corrections = Corrections(store)
    _, fix = corrections.correct_event(event.id, {"occurred_on": "2017-03-05"}, "late", "alice")
    assert all(
        d.startswith("2017-03-05|") for d in event_of(store, event.id).texts("identity_dated")
    )

    later = record(
        "Outlet L", "l-1", "2017-03-05", "Army and IS fight in Raqqa", FIRST["event"]["location"]
    )
    load(store, tmp_path, [later])
    assert stories_of(store, event_of(store, event.id)) == ["a-1", "l-1"]

    # the undo of the correction gives the matcher the records' days again
    EventEditing(store).undo(fix.id, "alice")
    dated = event_of(store, event.id).texts("identity_dated")
    assert sorted(d.partition("|")[0] for d in dated) == ["2017-03-01", "2017-03-05"]


def test_a_pin_that_gave_way_is_not_what_the_records_say(store: GraphStore, tmp_path: Path) -> None:
    """The merged-away event's records are the earlier: its records' summary, not the
    correction of it that gave way, is what the merged event's records say (the survivor's
    pin's "corrected from", and its summary once unpinned)."""
    early_homs = {**ELSEWHERE, "extracted_at": "2017-03-01T08:00:00Z"}
    raqqa, homs = corrected_pair(store, tmp_path, [FIRST, early_homs])
    before = graph_of(store)
    editing = EventEditing(store)

    entry = editing.merge_events(homs.id, raqqa.id, "carol")

    pins = pins_of(event_of(store, raqqa.id))
    assert {p: (pin.value, pin.was) for p, pin in pins.items()} == {
        "summary": ("Fighting in Raqqa", ELSEWHERE["event"]["summary"]),
        "category": ("humanitarian", "military"),
    }
    editing.undo(entry.id, "carol")
    assert graph_of(store) == before

    editing.merge_events(homs.id, raqqa.id, "carol")
    Corrections(store).unpin_event(raqqa.id, ["summary"], "alice")
    assert event_of(store, raqqa.id).text("summary") == ELSEWHERE["event"]["summary"]
