"""Records without `event.id` go through the event matcher (docs/identity.md): the three
outcomes, what each record keeps for editors, reloads, batches, and records with an id keeping
the trusted-id rule. Every test runs on both stores."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from graph import keys
from graph.identity import Mention
from graph.model import Label, Node, NodeWrite, PropertyWrite, Rel, WriteBatch
from graph.snapshot import canonical
from graph.store import EventFilter, EventQuery, GraphStore, WriteConflict
from services.matching import profiling
from tests.conftest import load_file

RAQQA = {"place": "Raqqa", "country": "Syria", "lat": 35.95, "lon": 39.01}
SIDES = [
    {"name": "Government of Syria", "type": "organization", "role": "party"},
    {"name": "IS", "type": "group", "aliases": ["Islamic State"], "role": "party"},
]


def record(
    outlet: str,
    slug: str,
    day: str,
    summary: str,
    location: dict[str, Any] | None = None,
    entities: list[dict[str, Any]] | None = None,
    event_id: str | None = None,
) -> dict[str, Any]:
    event: dict[str, Any] = {
        "category": "military",
        "summary": summary,
        "occurred_on": day,
        "entities": SIDES if entities is None else entities,
        "reports": [{"outlet": outlet, "claims": [{"text": summary, "tone": "certain"}]}],
    }
    if location is not None:
        event["location"] = location
    if event_id is not None:
        event["id"] = event_id
    return {
        "schema_version": 1,
        "extracted_at": f"{day}T20:00:00Z",
        "source_story": {"slug": slug, "outlet": outlet},
        "event": event,
    }


def load(store: GraphStore, tmp_path: Path, records: list[dict[str, Any]], batch: int = 500) -> Any:
    path = tmp_path / f"records-{len(list(tmp_path.iterdir()))}.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in records), "utf-8")
    return load_file(store, path, batch_size=batch)


def events(store: GraphStore) -> list[Node]:
    return store.query_events(EventQuery(EventFilter(), first=100)).events


def stories_of(store: GraphStore, event: Node) -> list[str]:
    described = store.edges([event.id], Rel.DESCRIBES, "in")[event.id]
    return sorted(store.get_nodes([e.src]).popitem()[1].text("slug") for e in described)


def grouping(store: GraphStore) -> list[list[str]]:
    return sorted(stories_of(store, e) for e in events(store))


FIRST = record("Outlet A", "a-1", "2017-03-01", "Clashes between the army and IS in Raqqa", RAQQA)
SAME = record(
    "Outlet B",
    "b-1",
    "2017-03-01",
    "Army and IS fight in Raqqa",
    {"place": "Raqqa town", "country": "Syria", "lat": 35.951, "lon": 39.012},
)
ELSEWHERE = record(
    "Outlet C",
    "c-1",
    "2017-03-01",
    "Army and IS fight in Homs",
    {"place": "Homs", "country": "Syria", "lat": 34.73, "lon": 36.71},
)
DAY_AFTER = record(
    "Outlet D",
    "d-1",
    "2017-03-02",
    "Army and IS fight in Raqqa",
    {"place": "Raqqa", "country": "Syria", "lat": 35.951, "lon": 39.012},
)


def test_records_of_one_event_merge_and_another_place_is_another_event(
    store: GraphStore, tmp_path: Path
) -> None:
    load(store, tmp_path, [FIRST, SAME, ELSEWHERE])
    assert grouping(store) == [["a-1", "b-1"], ["c-1"]]
    (raqqa,) = [e for e in events(store) if len(stories_of(store, e)) == 2]
    # two outlets now, so the event is corroborated
    assert raqqa.props["independent_sources"] == 2


def test_each_record_keeps_its_mention_and_the_decision(store: GraphStore, tmp_path: Path) -> None:
    load(store, tmp_path, [FIRST, SAME])
    (event,) = events(store)
    described = {
        store.get_nodes([e.src])[e.src].text("slug"): e
        for e in store.edges([event.id], Rel.DESCRIBES, "in")[event.id]
    }
    first = json.loads(str(described["a-1"].props["identity"]))
    second = json.loads(str(described["b-1"].props["identity"]))
    assert (first["outcome"], first["candidate"]) == ("new", None)
    assert (second["outcome"], second["candidate"]) == ("merge", event.id)
    assert second["score"] > 0 and {"feature", "value", "weight", "contribution"} <= set(
        second["evidence"][0]
    )
    (said,) = described["b-1"].texts("mention")  # one mention per extraction of the story
    mention = json.loads(str(said))
    assert (mention["place"], mention["day"]) == ("Raqqa town", "2017-03-01")
    # the event's profile, rebuilt from both records, and the keys it is found by
    assert set(event.texts("identity_places")) == {"raqqa"}
    assert len(event.texts("identity_records")) == 2
    prefix = keys.match_prefix("p|2017-03-01|raqqa")
    assert store.lookup_key_prefixes([prefix]) == {prefix: [event.id]}
    # the new event's id derives from the record that made it
    assert event.id.startswith("ev_")


def test_a_reload_and_another_batching_change_nothing(store: GraphStore, tmp_path: Path) -> None:
    records = [FIRST, SAME, ELSEWHERE, DAY_AFTER]
    summary = load(store, tmp_path, records, batch=1)
    before = canonical(store)
    again = load(store, tmp_path, records)
    assert again.events_created == 0
    assert canonical(store) == before
    assert summary.events_created == len(events(store))


def test_records_of_one_batch_meet_each_other(store: GraphStore, tmp_path: Path) -> None:
    load(store, tmp_path, [FIRST, SAME, ELSEWHERE])
    assert grouping(store) == [["a-1", "b-1"], ["c-1"]]


def test_a_day_late_look_alike_is_queued_as_a_possible_duplicate(
    store: GraphStore, tmp_path: Path
) -> None:
    load(store, tmp_path, [FIRST])
    summary = load(store, tmp_path, [DAY_AFTER])
    assert grouping(store) == [["a-1"], ["d-1"]]
    (queued,) = store.find_nodes(Label.EDIT, {"action": "possible-duplicate"}, "at", 10)
    # the load says so, and a reload of the same record queues nothing more
    assert summary.possible_duplicates == 1
    assert "possible duplicates: 1 (queued for editors: possibleDuplicates)" in summary.lines()
    assert load(store, tmp_path, [DAY_AFTER]).possible_duplicates == 0
    first = next(e for e in events(store) if stories_of(store, e) == ["a-1"])
    late = next(e for e in events(store) if stories_of(store, e) == ["d-1"])
    assert (queued.text("subject"), queued.text("other")) == (late.id, first.id)
    assert queued.text("status") == "pending"
    evidence = json.loads(queued.text("evidence"))
    assert evidence["outcome"] == "possible_duplicate"
    assert "day_after" in {row["feature"] for row in evidence["evidence"]}


def test_a_record_with_nothing_to_compare_still_loads(store: GraphStore, tmp_path: Path) -> None:
    bare = record("Outlet E", "e-1", "2017-03-05", "Something happened", None, [])
    summary = load(
        store, tmp_path, [bare, {**bare, "source_story": {"slug": "e-2", "outlet": "F"}}]
    )
    assert summary.loaded == 2
    for event in events(store):
        for edge in store.edges([event.id], Rel.DESCRIBES, "in")[event.id]:
            notes = json.loads(str(edge.props["identity"]))["notes"]
            assert notes  # says what it could not compare, or that there was no candidate


def test_records_with_an_id_keep_the_trusted_id_rule(store: GraphStore, tmp_path: Path) -> None:
    one = record("Outlet A", "x-1", "2017-03-01", "Clashes in Raqqa", RAQQA, event_id="cl-1")
    elsewhere = record("Outlet B", "x-2", "2017-03-01", "Clashes in Homs", None, event_id="cl-1")
    other = record("Outlet C", "x-3", "2017-03-01", "Clashes in Raqqa", RAQQA, event_id="cl-2")
    without = record("Outlet D", "x-4", "2017-03-01", "Clashes in Raqqa", RAQQA)
    load(store, tmp_path, [one, elsewhere, other, without])
    assert grouping(store) == [["x-1", "x-2"], ["x-3"], ["x-4"]]
    for event in events(store):
        if event.texts("external_ids"):
            assert not event.texts("identity_records")
            owned = store.keys_of([event.id])[event.id]
            assert not [k for k in owned if k.startswith("match:")]


def test_a_story_extracted_again_joins_the_event_holding_it(
    store: GraphStore, tmp_path: Path
) -> None:
    """A later extraction of a story (another `extracted_at`) is the same story again: it joins
    the event holding the story even when it says less (no point, one side), the decision says
    so, and the event keeps both extractions' mentions; a reload changes nothing."""
    again = {
        **FIRST,
        "extracted_at": "2017-03-04T08:00:00Z",
        "event": {
            **FIRST["event"],
            "location": {"place": "Raqqa", "country": "Syria"},
            "entities": SIDES[:1],
        },
    }
    load(store, tmp_path, [FIRST, again])
    (event,) = events(store)
    (edge,) = store.edges([event.id], Rel.DESCRIBES, "in")[event.id]
    assert len(edge.texts("mention")) == 2
    assert len(event.texts("identity_records")) == 2
    before = canonical(store)
    assert load(store, tmp_path, [FIRST, again]).events_created == 0
    assert canonical(store) == before
    decided = json.loads(str(edge.props["identity"]))
    assert decided["outcome"] == "merge"
    assert "re-extraction of story outlet a/a-1" in decided["notes"]


def test_a_story_extracted_again_in_reverse_order_gives_one_event(
    store: GraphStore, tmp_path: Path
) -> None:
    later = {
        **FIRST,
        "extracted_at": "2017-03-04T08:00:00Z",
        "event": {**FIRST["event"], "location": {"place": "Raqqa", "country": "Syria"}},
    }
    load(store, tmp_path, [later], batch=1)
    load(store, tmp_path, [FIRST], batch=1)
    assert grouping(store) == [["a-1"]]


def test_one_extraction_of_a_round_up_gives_one_event_per_record(
    store: GraphStore, tmp_path: Path
) -> None:
    """Two records of one extraction of a story (milliseconds apart) are two events of the
    story, however alike."""
    first = {**FIRST, "extracted_at": "2017-03-01T20:00:00.100Z"}
    second = {**FIRST, "extracted_at": "2017-03-01T20:00:00.200Z"}
    second = {**second, "event": {**FIRST["event"], "summary": "Shelling of Raqqa by the army"}}
    load(store, tmp_path, [first, second])
    assert grouping(store) == [["a-1"], ["a-1"]]


def test_an_event_made_between_planning_and_write_refuses_the_write(store: GraphStore) -> None:
    made = {"ev_new": [Mention("2025-03-02", "military", "Shelling", place="Homs")]}
    planned_at = store.write_count()
    other = NodeWrite("ev_other", Label.EVENT, PropertyWrite(set={"occurred_on": "2025-03-02"}))
    store.write(WriteBatch(nodes=[other], keys={"match:p|2025-03-02|homs#ev_other": "ev_other"}))
    with pytest.raises(WriteConflict):
        store.write(WriteBatch(), derive=profiling([], made, (), looked_up_at=planned_at))
    if store.write_count() is not None:  # nothing written since the planning: no lookup
        derive = profiling([], made, (), looked_up_at=store.write_count())
        store.write(WriteBatch(), derive=derive)
