"""Anchors: a record that names a place but gives no coordinates is located by the gazetteer's
point of that place, as evidence of its own kind (docs/identity-matcher.md)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from graph import keys
from graph.identity import (
    FEATURES,
    EntityName,
    EventProfile,
    Matcher,
    Mention,
    decide,
    default_weights,
)
from graph.identity.normalise import cell, haversine_km, point_text
from graph.identity.places import anchor, use_gazetteer
from graph.model import Rel
from graph.store import EventFilter, EventQuery, GraphStore
from services.corrections import Corrections
from tests.conftest import load_file

RAQQA = (35.95283, 39.00788)  # the gazetteer's Raqqa
SIDES = (EntityName("Government of Syria", "organization"), EntityName("IS", "group"))


def report(**changes: object) -> Mention:
    """A record of the army fighting IS in Raqqa on 1 March 2017, with no coordinates."""
    base = Mention(
        day="2017-03-01",
        category="military",
        summary="Army and IS fight in Raqqa",
        place="Raqqa",
        country="Syria",
        entities=SIDES,
        outlets=("Outlet A",),
        story="outlet a/raqqa-1",
    )
    return replace(base, **changes)  # type: ignore[arg-type]


@pytest.fixture
def no_gazetteer() -> Iterator[None]:
    use_gazetteer(False)
    try:
        yield
    finally:
        use_gazetteer(True)


def test_a_place_the_gazetteer_knows_gives_its_point_and_other_places_none() -> None:
    found = anchor("Raqqa governorate", "Syria")
    assert found is not None and haversine_km(*found, *RAQQA) < 1.0
    palmyra = anchor("Tadmur/Palmyra town", "Syria")  # two names: each tried
    assert palmyra is not None and haversine_km(*palmyra, 34.56, 38.28) < 5.0
    assert anchor("Nowhere-on-earth village", "Syria") is None
    assert anchor("Syria", "Syria") is None  # a country has no point
    assert anchor("x" * 2000, "Syria") is None
    assert anchor(None, "Syria") is None


def test_only_a_record_without_a_point_has_an_anchor_and_its_event_keeps_it() -> None:
    assert report(lat=35.9, lon=39.0)._anchor is None  # its own point is better
    without = report()
    assert without._anchor == RAQQA
    profile = EventProfile.of(without)
    assert profile.anchors == {RAQQA} and not profile.points
    blocks = profile.keys()
    assert f"c|2017-03-01|{cell(*RAQQA)[0]}|{cell(*RAQQA)[1]}" in blocks
    props = json.loads(json.dumps(profile.to_props()))
    assert EventProfile.from_props(props) == profile


def test_a_record_with_a_point_finds_an_event_known_only_by_its_anchor() -> None:
    matcher = Matcher()
    first, _ = matcher.add(report())
    # the same fighting reported with coordinates and no place name: found by its cell
    located = report(place=None, lat=35.95, lon=39.01, story="outlet b/raqqa-2")
    assert first in {e for e, _ in matcher.candidates(located)}
    _, decision = matcher.add(located)
    values = dict(zip(FEATURES, decision.values, strict=True))
    assert decision.event == first
    assert values["anchor_near"] == 1.0 and values["no_place"] == 0.0
    assert "compared by the gazetteer's point of a place" in decision.notes


def test_the_anchor_is_weighed_apart_from_reported_points() -> None:
    pointed = EventProfile.of(report(lat=35.95, lon=39.01, story="outlet b/raqqa-2"))
    homonym = EventProfile.of(report(lat=33.51, lon=36.29, story="outlet c/raqqa-3"))
    decision = decide(report(), [("at-raqqa", pointed), ("elsewhere", homonym)])
    at = {e.name: e.value for e in decision.evidence}
    assert decision.event is not None
    near = decide(report(), [("at-raqqa", pointed)])
    far = decide(report(), [("elsewhere", homonym)])
    near_values = dict(zip(FEATURES, near.values, strict=True))
    far_values = dict(zip(FEATURES, far.values, strict=True))
    assert (near_values["anchor_near"], near_values["anchor_far"]) == (1.0, 0.0)
    assert (far_values["anchor_near"], far_values["anchor_far"]) == (0.0, 1.0)
    # reported-point distance stays its own evidence: never set by an anchor
    assert near_values["near"] == near_values["far"] == far_values["far"] == 0.0
    assert at["near"] == at["far"] == 0.0


def test_a_record_without_a_point_joins_the_event_at_its_city_over_a_homonym_elsewhere() -> None:
    # Weights that value a gazetteer point near the event (as a fit on reporting whose places
    # the gazetteer locates well would; fitted on the Syria file, a near anchor weighs against
    # a merge: docs/identity-matcher.md, "Anchors")
    shipped = default_weights()
    at = FEATURES.index
    weights = list(shipped.weights)
    weights[at("anchor_near")], weights[at("anchor_far")] = 1.5, -1.5
    valued = replace(shipped, weights=tuple(weights), without_place=None)
    matcher = Matcher(valued)
    # the same sides at "Raqqa" that day twice: a homonym 300 km away (made first, so the
    # smaller id that would win a tie), and Raqqa itself
    elsewhere, _ = matcher.add(report(lat=33.51, lon=36.29, story="c/raqqa-far"))
    at_raqqa, _ = matcher.add(report(lat=35.95, lon=39.01, story="b/raqqa"))
    assert elsewhere != at_raqqa
    candidates = [(e, matcher.profiles[e]) for e in (elsewhere, at_raqqa)]
    # without the gazetteer both look alike, and the tie goes to the homonym
    use_gazetteer(False)
    try:
        blind = decide(report(story="a/raqqa-no-point", outlets=("Outlet D",)), candidates, valued)
    finally:
        use_gazetteer(True)
    assert blind.event == elsewhere
    joined, decision = matcher.add(report(story="a/raqqa-no-point", outlets=("Outlet D",)))
    assert (joined, decision.outcome) == (at_raqqa, "merge")


def test_records_naming_no_sides_merge_on_the_same_words_at_one_place() -> None:
    matcher = Matcher()
    quiet = {"entities": (), "place": "Shataville", "country": "Freedonia"}
    first, _ = matcher.add(report(summary="Flood waters rise in Shataville", **quiet))
    again, decision = matcher.add(
        report(summary="FLOOD WATERS RISE IN SHATAVILLE!", story="b/flood", **quiet)
    )
    assert (again, decision.outcome) == (first, "merge")
    assert dict(zip(FEATURES, decision.values, strict=True))["words_without_sides"] == 1.0
    other, decision = matcher.add(
        report(summary="Bridge reopens after repairs", story="c/bridge", **quiet)
    )
    assert other != first and decision.outcome != "merge"


def test_an_unresolved_place_changes_nothing(no_gazetteer: None) -> None:
    records = [
        report(place="Nowhere-on-earth village", lat=35.95, lon=39.01, story="a/1"),
        report(place="Nowhere-on-earth village", story="b/2", outlets=("Outlet B",)),
        report(place="Nowhere on earth", story="c/3", outlets=("Outlet C",)),
    ]
    off = Matcher()
    without = [off.add(replace(m))[1] for m in records]  # made while anchors are off
    use_gazetteer(True)
    on = Matcher()
    with_anchors = [on.add(replace(m))[1] for m in records]
    assert all(replace(m)._anchor is None for m in records)
    assert with_anchors == without
    assert on.profiles.keys() == off.profiles.keys()


# -- through a store ----------------------------------------------------------------------------


def record(outlet: str, slug: str, location: dict[str, Any], summary: str) -> dict[str, Any]:
    return {
        "schema_version": 1,
        "extracted_at": "2017-03-01T20:00:00Z",
        "source_story": {"slug": slug, "outlet": outlet},
        "event": {
            "category": "military",
            "summary": summary,
            "occurred_on": "2017-03-01",
            "location": location,
            "entities": [
                {"name": "Government of Syria", "type": "organization", "role": "party"},
                {"name": "IS", "type": "group", "role": "party"},
            ],
            "reports": [{"outlet": outlet, "claims": [{"text": summary, "tone": "certain"}]}],
        },
    }


def test_the_store_keeps_an_events_anchor_and_a_later_record_meets_it_by_its_cell(
    store: GraphStore, tmp_path: Path
) -> None:
    path = tmp_path / "records.jsonl"
    lines = [
        record("Outlet A", "a-1", {"place": "Raqqa", "country": "Syria"}, "Army and IS in Raqqa"),
        # the same fighting with coordinates and no place name: found by the anchor's cell
        record("Outlet B", "b-1", {"country": "Syria", "lat": 35.95, "lon": 39.01}, "IS attack"),
    ]
    path.write_text("".join(json.dumps(r) + "\n" for r in lines), "utf-8")
    load_file(store, path)
    found = store.query_events(EventQuery(EventFilter(), first=10)).events
    (anchored,) = [e for e in found if e.props.get("identity_anchors")]
    assert anchored.props["identity_anchors"] == ["35.95283,39.00788"]
    i, j = cell(*RAQQA)
    prefix = keys.match_prefix(f"c|2017-03-01|{i}|{j}")
    assert anchored.id in store.lookup_key_prefixes([prefix])[prefix]
    described = store.edges([e.id for e in found], Rel.DESCRIBES, "in")
    decisions = {
        store.get_nodes([edge.src])[edge.src].text("slug"): json.loads(str(edge.props["identity"]))
        for edges in described.values()
        for edge in edges
    }
    later = decisions["b-1"]
    assert later["candidate"] == anchored.id
    evidence = {e["feature"]: e["value"] for e in later["evidence"]}
    assert evidence["anchor_near"] == 1.0 and evidence["near"] == 0.0


def test_an_editors_corrected_place_replaces_the_records_anchors(
    store: GraphStore, tmp_path: Path
) -> None:
    path = tmp_path / "records.jsonl"
    wrong = record("Outlet W", "w-1", {"place": "Homs", "country": "Syria"}, "Army and IS fight")
    path.write_text(json.dumps(wrong) + "\n", "utf-8")
    load_file(store, path)
    (event,) = store.query_events(EventQuery(EventFilter(), first=10)).events
    homs = anchor("Homs", "Syria")
    assert homs is not None
    assert event.props["identity_anchors"] == [point_text(*homs)]
    Corrections(store).correct_event(event.id, {"place": "Raqqa"}, "it was Raqqa", "alice")
    corrected = store.get_nodes([event.id])[event.id]
    assert not corrected.props.get("identity_anchors")  # Homs's point is what was wrong
    assert corrected.props["identity_points"] == [point_text(*RAQQA)]
