"""A story extracted again replaces what it contributed, on both stores: reports, involvements
and locations its latest extraction no longer names go, the event is re-rated and its history
says why; an older extraction changes nothing, in either order; a reload is a no-op."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest

from graph import keys
from graph.history import history
from graph.model import Label, Node, Rel
from graph.snapshot import INGEST_CLOCKS, canonical
from graph.store import GraphStore
from services.corrections import Corrections
from services.pins import Pin
from tests.conftest import fresh_store
from tests.test_event_matching import FIRST, SAME, load
from tests.test_samples import up_to_event_ids

RUSSIA = {"name": "Russia", "type": "country", "role": "party"}


def extraction(at: str, outlets: list[str], extra: list[dict[str, Any]]) -> dict[str, Any]:
    """Story a-1 of Outlet A, extracted at `at`, reported by `outlets`, naming the two sides
    and `extra`."""
    record = copy.deepcopy(FIRST)
    record["extracted_at"] = at
    event = record["event"]
    event["entities"] = [*event["entities"], *extra]
    event["reports"] = [
        {"outlet": o, "claims": [{"text": "Clashes", "tone": "certain"}]} for o in outlets
    ]
    return record


OLDER = extraction("2017-03-01T20:00:00Z", ["Outlet A", "Outlet X"], [RUSSIA])
NEWER = extraction("2017-03-02T09:00:00Z", ["Outlet A"], [])


def the_event(store: GraphStore) -> Node:
    (event,) = store.find_nodes(Label.EVENT, {}, "occurred_on", 10)
    return event


def outlets_of(store: GraphStore, event_id: str) -> list[str]:
    reports = store.edges([event_id], Rel.REPORTS, "in")[event_id]
    nodes = store.get_nodes([e.src for e in reports])
    return sorted(nodes[e.src].text("name") for e in reports)


def entities_of(store: GraphStore, event_id: str) -> dict[str, int]:
    """Each entity's name and how many stories named it."""
    involved = store.edges([event_id], Rel.INVOLVES, "out")[event_id]
    nodes = store.get_nodes([e.dst for e in involved])
    return {nodes[e.dst].text("name"): len(e.texts("stories")) for e in involved}


def test_a_later_extraction_replaces_what_the_story_contributed(
    store: GraphStore, tmp_path: Path
) -> None:
    load(store, tmp_path, [OLDER, SAME])
    event = the_event(store)
    assert outlets_of(store, event.id) == ["Outlet A", "Outlet B", "Outlet X"]
    assert entities_of(store, event.id) == {"Government of Syria": 2, "IS": 2, "Russia": 1}
    assert event.text("confidence") == "likely"

    load(store, tmp_path, [NEWER])

    event = the_event(store)
    assert outlets_of(store, event.id) == ["Outlet A", "Outlet B"]
    # Russia only story a-1's older extraction named; the sides story b-1 names too
    assert entities_of(store, event.id) == {"Government of Syria": 2, "IS": 2}
    # nothing names Russia any more: its entity goes too (Outlet X stays: outlets may be the
    # registry's)
    assert store.lookup_keys(keys.entity_keys("country", ["Russia"])) == {}
    assert store.lookup_keys(keys.outlet_keys(["Outlet X"]))
    assert event.text("confidence") == "likely"  # A and B: still two independent sources
    # an older extraction, or the same files again, change nothing
    after = canonical(store)
    load(store, tmp_path, [OLDER])
    assert canonical(store) == after
    load(store, tmp_path, [NEWER, SAME])
    assert canonical(store) == after


def test_an_older_extraction_arriving_later_leaves_the_story_as_its_latest_says(
    store: GraphStore, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    """What the story contributes follows its latest extraction, and the graph is the same in
    either order of arrival (the event's earliest-record bookkeeping included)."""
    load(store, tmp_path, [NEWER])
    load(store, tmp_path, [OLDER])
    event = the_event(store)
    assert outlets_of(store, event.id) == ["Outlet A"]
    assert entities_of(store, event.id) == {"Government of Syria": 1, "IS": 1}
    assert event.text("confidence") == "unverified"
    other = fresh_store(request.node.callspec.params["store"], tmp_path / "other")
    other.setup()
    try:
        load(other, tmp_path, [OLDER])
        load(other, tmp_path, [NEWER])
        # an event's id derives from the record that made it: compared up to that
        assert up_to_event_ids(other, canonical(other, ignore=INGEST_CLOCKS)) == up_to_event_ids(
            store, canonical(store, ignore=INGEST_CLOCKS)
        )
    finally:
        other.close()


def test_both_extractions_in_one_batch_keep_the_latest(store: GraphStore, tmp_path: Path) -> None:
    load(store, tmp_path, [OLDER, NEWER], batch=2)
    event = the_event(store)
    assert outlets_of(store, event.id) == ["Outlet A"]
    assert entities_of(store, event.id) == {"Government of Syria": 1, "IS": 1}


def test_confidence_is_re_rated_and_the_history_says_why(store: GraphStore, tmp_path: Path) -> None:
    """Two independent outlets, then one."""
    load(store, tmp_path, [OLDER])
    event = the_event(store)
    assert event.text("confidence") == "likely"
    load(store, tmp_path, [NEWER])
    event = the_event(store)
    assert event.text("confidence") == "unverified"
    # (the tests' loads share one clock: find the change rather than take the last entry)
    (last,) = [c for c in history(event.id, event.props) if c.previous == "likely"]
    assert (last.level, last.cause) == ("unverified", "report")
    assert last.detail.endswith(
        "re-extraction of story a-1 dropped outlet Outlet X; "
        "re-extraction of story a-1 dropped entity Russia"
    )


def test_a_location_the_story_no_longer_names_goes(store: GraphStore, tmp_path: Path) -> None:
    load(store, tmp_path, [OLDER])
    event = the_event(store)
    raqqa = event.texts("place_ids")
    moved = copy.deepcopy(NEWER)
    # the same spot under a name the gazetteer does not know (a spelling of Raqqa would
    # resolve to the same place): the record joins the event holding its story
    moved["event"]["location"] = {
        "place": "Raqqa outskirts",
        "country": "Syria",
        "lat": 35.95,
        "lon": 39.01,
    }
    load(store, tmp_path, [moved])
    event = the_event(store)
    located = store.edges([event.id], Rel.OCCURRED_IN, "out")[event.id]
    places = store.get_nodes([e.dst for e in located])
    assert sorted(p.text("name") for p in places.values()) == ["Raqqa outskirts"]
    assert set(event.texts("place_ids")) != set(raqqa)
    assert len(event.texts("country_ids")) == 1


def _said(at: str, summary: str, category: str) -> dict[str, Any]:
    """Story a-1 extracted at `at`, saying `summary` and `category`."""
    record = extraction(at, ["Outlet A"], [])
    record["event"]["summary"] = summary
    record["event"]["category"] = category
    return record


def test_a_stories_older_extraction_no_longer_gives_the_events_first_values(
    store: GraphStore, tmp_path: Path
) -> None:
    old = _said("2017-03-01T06:00:00Z", "Clashes reported in Raqqa", "military")
    new = _said("2017-03-02T09:00:00Z", "Talks held in Raqqa", "political")
    # another story, extracted between the two extractions of a-1
    between = copy.deepcopy(SAME)
    between["extracted_at"] = "2017-03-01T12:00:00Z"
    load(store, tmp_path, [old, between])
    assert the_event(store).text("summary") == "Clashes reported in Raqqa"
    # a-1's latest extraction is now the latest record: the earliest is story b-1's
    load(store, tmp_path, [new])
    event = the_event(store)
    said = (event.text("summary"), event.text("category"))
    assert said == (SAME["event"]["summary"], SAME["event"]["category"])
    before = canonical(store, ignore=INGEST_CLOCKS)
    load(store, tmp_path, [new, between])  # a reload changes nothing
    load(store, tmp_path, [old])  # nor does the older extraction arriving again
    assert canonical(store, ignore=INGEST_CLOCKS) == before


@pytest.mark.parametrize("order", ["older first", "newer first"])
def test_one_storys_latest_extraction_gives_the_events_values_in_either_order(
    store: GraphStore, tmp_path: Path, order: str
) -> None:
    old = _said("2017-03-01T06:00:00Z", "Clashes reported in Raqqa", "military")
    new = _said("2017-03-02T09:00:00Z", "Talks held in Raqqa", "political")
    for record in [old, new] if order == "older first" else [new, old]:
        load(store, tmp_path, [record])
    event = the_event(store)
    assert (event.text("summary"), event.text("category")) == ("Talks held in Raqqa", "political")


def test_a_pinned_summary_stands_when_a_re_extraction_changes_the_first_record(
    store: GraphStore, tmp_path: Path
) -> None:
    load(store, tmp_path, [_said("2017-03-01T06:00:00Z", "Clashes reported in Raqqa", "military")])
    event = the_event(store)
    Corrections(store).correct_event(event.id, {"summary": "Fixed."}, "typo", "alice")
    load(store, tmp_path, [_said("2017-03-02T09:00:00Z", "Talks held in Raqqa", "political")])
    event = the_event(store)
    assert (event.text("summary"), event.text("category")) == ("Fixed.", "political")
    (pin,) = [Pin.of(e) for e in event.texts("pins")]
    assert (pin.value, pin.was) == ("Fixed.", "Talks held in Raqqa")
