"""Editors correcting the event matcher, on both stores: merging two events, splitting stories
out of one, keeping two apart, and undoing each; what a reload does afterwards; the errors."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from api.app import create_app
from api.tokens import Tokens
from graph.history import Why, edit, history
from graph.model import Label, Node, Rel, WriteBatch
from graph.snapshot import INGEST_CLOCKS, canonical
from graph.store import GraphStore
from services.corrections import Corrections
from services.editing import EditorialError
from services.event_editing import EventEditing
from tests.support.graphql import GraphQLClient
from tests.test_event_matching import ELSEWHERE, FIRST, SAME, events, load, stories_of

# What an editor sees of an event: its stories, the outlets reporting it, its confidence.


def outlets_of(store: GraphStore, event_id: str) -> list[str]:
    reports = store.edges([event_id], Rel.REPORTS, "in")[event_id]
    nodes = store.get_nodes([e.src for e in reports])
    return sorted(nodes[e.src].text("name") for e in reports)


def seen(store: GraphStore) -> dict[str, tuple[list[str], list[str], str]]:
    """Each event: (its stories' slugs, the outlets reporting it, its confidence level)."""
    return {
        e.id: (stories_of(store, e), outlets_of(store, e.id), e.text("confidence"))
        for e in events(store)
    }


def by_stories(store: GraphStore, slugs: list[str]) -> Node:
    (found,) = [e for e in events(store) if stories_of(store, e) == slugs]
    return found


def story_ids(store: GraphStore, event_id: str) -> dict[str, str]:
    described = store.edges([event_id], Rel.DESCRIBES, "in")[event_id]
    nodes = store.get_nodes([e.src for e in described])
    return {nodes[e.src].text("slug"): e.src for e in described}


def queue_possible_duplicate(store: GraphStore, event: str, other: str) -> str:
    """A pending possible-duplicate entry of the pair, as the loader writes one."""
    why = Why("report", f"possible duplicate of {other}", "cli")
    entry = edit("possible-duplicate", "2017-03-02T00:00:00.000Z", why, event, other=other)
    entry.change.create = {**entry.change.create, "status": "pending", "score": "0.5"}
    store.write(WriteBatch(nodes=[entry]))
    return entry.id


def test_a_merge_makes_one_event_and_its_undo_restores_both(
    store: GraphStore, tmp_path: Path
) -> None:
    load(store, tmp_path, [FIRST, ELSEWHERE])
    raqqa, homs = by_stories(store, ["a-1"]), by_stories(store, ["c-1"])
    before = seen(store)
    assert before[raqqa.id][2] == before[homs.id][2] == "unverified"
    graph_before = canonical(store, ignore=INGEST_CLOCKS)
    queued = queue_possible_duplicate(store, homs.id, raqqa.id)
    editing = EventEditing(store)

    entry = editing.merge_events(homs.id, raqqa.id, "alice")

    assert seen(store) == {raqqa.id: (["a-1", "c-1"], ["Outlet A", "Outlet C"], "likely")}
    (last,) = history(raqqa.id, store.get_nodes([raqqa.id])[raqqa.id].props)[-1:]
    assert (last.previous, last.level, last.cause, last.by) == (
        "unverified",
        "likely",
        "merge",
        "alice",
    )
    assert [(c.event_id, c.level) for c in editing.changes] == [(raqqa.id, "likely")]
    assert (entry.text("action"), entry.text("subject"), entry.text("merged")) == (
        "merge",
        raqqa.id,
        homs.id,
    )
    assert store.get_nodes([queued])[queued].text("status") == "merged"
    # a reload keeps them one: each record's key now belongs to the survivor
    assert load(store, tmp_path, [FIRST, ELSEWHERE]).events_created == 0
    assert list(seen(store)) == [raqqa.id]

    undo, changed = editing.undo(entry.id, "bob")

    assert seen(store) == before
    assert sorted(e.id for e in changed) == sorted([raqqa.id, homs.id])
    assert canonical(store, ignore=INGEST_CLOCKS) == graph_before
    assert store.get_nodes([queued])[queued].text("status") == "pending"
    assert undo.text("undid") == entry.id
    assert store.get_nodes([entry.id])[entry.id].text("undone_by") == "bob"
    with pytest.raises(EditorialError, match="was undone already, by bob"):
        editing.undo(entry.id, "bob")


def test_a_split_moves_exactly_the_chosen_stories(store: GraphStore, tmp_path: Path) -> None:
    load(store, tmp_path, [FIRST, SAME, ELSEWHERE])
    raqqa = by_stories(store, ["a-1", "b-1"])
    assert seen(store)[raqqa.id] == (["a-1", "b-1"], ["Outlet A", "Outlet B"], "likely")
    # an empty `kept_apart` after the undo is the same as none before the split
    graph_before = canonical(store, ignore=INGEST_CLOCKS | {"kept_apart"})
    editing = EventEditing(store)
    chosen = story_ids(store, raqqa.id)["b-1"]

    kept, split, entry = editing.split_event(raqqa.id, [chosen], "alice")

    now = seen(store)
    assert now[raqqa.id] == (["a-1"], ["Outlet A"], "unverified")
    assert now[split.id] == (["b-1"], ["Outlet B"], "unverified")
    assert split.text("summary") == "Army and IS fight in Raqqa"
    assert kept.text("summary") == "Clashes between the army and IS in Raqqa"
    # both keep the sides and the place; each involvement lists only its own story now
    for event_id, story in ((raqqa.id, "a-1"), (split.id, "b-1")):
        involved = store.edges([event_id], Rel.INVOLVES, "out")[event_id]
        assert len(involved) == 2
        assert {tuple(e.texts("stories")) for e in involved} == {
            (story_ids(store, event_id)[story],)
        }
        assert store.edges([event_id], Rel.OCCURRED_IN, "out")[event_id]
    assert (kept.texts("kept_apart"), split.texts("kept_apart")) == ([split.id], [raqqa.id])
    assert history(split.id, split.props)[-1].cause == "split"
    assert history(raqqa.id, kept.props)[-1].cause == "split"
    # the new event's id is stable: the event and the stories
    assert entry.text("created") == split.id
    # a reload, in one batch or one record a batch, does not merge the pair again
    assert load(store, tmp_path, [FIRST, SAME, ELSEWHERE]).events_created == 0
    assert load(store, tmp_path, [SAME, FIRST], batch=1).events_created == 0
    assert seen(store) == now

    editing.undo(entry.id, "bob")

    assert canonical(store, ignore=INGEST_CLOCKS | {"kept_apart"}) == graph_before
    assert not store.get_nodes([raqqa.id])[raqqa.id].texts("kept_apart")
    assert seen(store)[raqqa.id] == (["a-1", "b-1"], ["Outlet A", "Outlet B"], "likely")


def test_two_events_kept_apart_stay_apart(store: GraphStore, tmp_path: Path) -> None:
    load(store, tmp_path, [FIRST, ELSEWHERE])
    raqqa, homs = by_stories(store, ["a-1"]), by_stories(store, ["c-1"])
    queued = queue_possible_duplicate(store, homs.id, raqqa.id)
    editing = EventEditing(store)

    entry = editing.keep_apart(raqqa.id, homs.id, "alice")

    nodes = store.get_nodes([raqqa.id, homs.id, queued])
    assert nodes[raqqa.id].texts("kept_apart") == [homs.id]
    assert nodes[homs.id].texts("kept_apart") == [raqqa.id]
    assert nodes[queued].text("status") == "kept-apart"
    assert load(store, tmp_path, [ELSEWHERE, FIRST]).events_created == 0
    assert sorted(seen(store)) == sorted([raqqa.id, homs.id])
    with pytest.raises(EditorialError, match="kept apart; undo that keepApart first"):
        editing.merge_events(homs.id, raqqa.id, "alice")
    with pytest.raises(EditorialError, match="^eventB: .* kept apart already"):
        editing.keep_apart(homs.id, raqqa.id, "alice")

    editing.undo(entry.id, "bob")

    nodes = store.get_nodes([raqqa.id, homs.id, queued])
    assert not nodes[raqqa.id].texts("kept_apart") and not nodes[homs.id].texts("kept_apart")
    assert nodes[queued].text("status") == "pending"


def test_bad_requests_name_the_argument(store: GraphStore, tmp_path: Path) -> None:
    load(store, tmp_path, [FIRST, SAME, ELSEWHERE])
    raqqa, homs = by_stories(store, ["a-1", "b-1"]), by_stories(store, ["c-1"])
    editing = EventEditing(store)
    stories = story_ids(store, raqqa.id)
    cases: list[tuple[Any, str]] = [
        (lambda: editing.merge_events("ev_nope", raqqa.id, "a"), "^from: no event with id"),
        (lambda: editing.merge_events(raqqa.id, "ev_nope", "a"), "^into: no event with id"),
        (lambda: editing.merge_events(raqqa.id, raqqa.id, "a"), "^into: the same event"),
        (lambda: editing.split_event("ev_nope", ["st_x"], "a"), "^eventId: no event with id"),
        (lambda: editing.split_event(raqqa.id, [], "a"), "^storyIds: name at least one"),
        (
            lambda: editing.split_event(raqqa.id, [story_ids(store, homs.id)["c-1"]], "a"),
            "^storyIds: event .* holds no story",
        ),
        (
            lambda: editing.split_event(raqqa.id, list(stories.values()), "a"),
            "^storyIds: these are all of event .*nothing would remain",
        ),
        (lambda: editing.keep_apart("ev_nope", homs.id, "a"), "^eventA: no event with id"),
        (lambda: editing.keep_apart(raqqa.id, "ev_nope", "a"), "^eventB: no event with id"),
        (lambda: editing.undo("ed_nope", "a"), "^editId: no edit with id"),
    ]
    before = canonical(store)
    for call, message in cases:
        with pytest.raises(EditorialError, match=message):
            call()
    assert canonical(store) == before
    # another kind of edit is not undone here
    queued = queue_possible_duplicate(store, homs.id, raqqa.id)
    with pytest.raises(EditorialError, match="^editId: .* is a possible-duplicate; undoEdit"):
        editing.undo(queued, "a")


def test_an_edit_is_undone_after_the_later_ones(store: GraphStore, tmp_path: Path) -> None:
    load(store, tmp_path, [FIRST, SAME, ELSEWHERE])
    raqqa, homs = by_stories(store, ["a-1", "b-1"]), by_stories(store, ["c-1"])
    editing = EventEditing(store)
    _, split, splitting = editing.split_event(
        raqqa.id, [story_ids(store, raqqa.id)["b-1"]], "alice"
    )
    merging = editing.merge_events(homs.id, split.id, "alice")
    if merging.text("at") > splitting.text("at"):  # a later edit, not of the same millisecond
        with pytest.raises(EditorialError, match="was edited since .*: undo that first"):
            editing.undo(splitting.id, "alice")
    editing.undo(merging.id, "alice")
    editing.undo(splitting.id, "alice")
    assert seen(store)[raqqa.id][:2] == (["a-1", "b-1"], ["Outlet A", "Outlet B"])
    assert seen(store)[homs.id][:2] == (["c-1"], ["Outlet C"])
    log = store.find_nodes(Label.EDIT, {"action": "undo"}, "at", 10)
    assert sorted(json.dumps(e.text("undid")) for e in log) == sorted(
        json.dumps(e) for e in (merging.id, splitting.id)
    )


# -- over GraphQL ----------------------------------------------------------------------------

EDITOR = "editor-token-0123456789abcdefghijklmnop"
PAGE = """query($id: ID!) { event(id: $id) { id confidence { level }
  reports { outlet { name } } confidenceHistory { level cause by } } }"""


def test_editors_merge_split_keep_apart_and_undo_over_graphql(
    store: GraphStore, tmp_path: Path
) -> None:
    load(store, tmp_path, [FIRST, SAME, ELSEWHERE])
    raqqa, homs = by_stories(store, ["a-1", "b-1"]), by_stories(store, ["c-1"])
    client = GraphQLClient(create_app(store, Tokens.configured(f"editor:alice:{EDITOR}")))

    def call(query: str, **variables: Any) -> dict[str, Any]:
        answer = client.query(query, variables, token=EDITOR).json()
        assert "errors" not in answer, answer
        data: dict[str, Any] = answer["data"]
        return data

    def page(event_id: str) -> tuple[str, list[str]]:
        event = call(PAGE, id=event_id)["event"]
        outlets = sorted(r["outlet"]["name"] for r in event["reports"])
        return event["confidence"]["level"], outlets

    try:
        b1 = story_ids(store, raqqa.id)["b-1"]
        split = call(
            """mutation($e: ID!, $s: [ID!]!) { splitEvent(eventId: $e, storyIds: $s) {
                 event { id confidence { level } } split { id confidence { level } }
                 edit { id action by } } }""",
            e=raqqa.id,
            s=[b1],
        )["splitEvent"]
        new = split["split"]["id"]
        assert (split["event"]["confidence"]["level"], split["split"]["confidence"]["level"]) == (
            "UNVERIFIED",
            "UNVERIFIED",
        )
        assert (split["edit"]["action"], split["edit"]["by"]) == ("split-event", "alice")
        assert page(new) == ("UNVERIFIED", ["Outlet B"])

        merged = call(
            """mutation($a: ID!, $b: ID!) { mergeEvents(from: $a, into: $b) {
                 event { id confidence { level } } edit { id action merged } } }""",
            a=homs.id,
            b=new,
        )["mergeEvents"]
        assert merged["event"] == {"id": new, "confidence": {"level": "LIKELY"}}
        assert page(new) == ("LIKELY", ["Outlet B", "Outlet C"])
        history = call(PAGE, id=new)["event"]["confidenceHistory"]
        assert history[-1] == {"level": "LIKELY", "cause": "MERGE", "by": "alice"}

        # the split keeps the two apart already
        keep = "mutation($a: ID!, $b: ID!) { keepApart(eventA: $a, eventB: $b) { edit { id } } }"
        answer = client.query(keep, {"a": raqqa.id, "b": new}, token=EDITOR).json()
        assert answer["errors"][0]["message"].startswith("eventB: ")
        assert "kept apart already" in answer["errors"][0]["message"]
        undo = "mutation($e: ID!) { undoEdit(editId: $e) { edit { action undid } events { id } } }"
        entry = merged["edit"]["id"]
        assert call(undo, e=entry)["undoEdit"]["edit"] == {"action": "undo", "undid": entry}
        assert page(homs.id) == ("UNVERIFIED", ["Outlet C"])
        call(undo, e=split["edit"]["id"])
        assert page(raqqa.id) == ("LIKELY", ["Outlet A", "Outlet B"])

        # errors name the argument, and readers may not edit
        answer = client.query(undo, {"e": split["edit"]["id"]}, token=EDITOR).json()
        assert answer["errors"][0]["message"].startswith("editId: ")
        answer = client.query(undo, {"e": "ed_nope"}, token=EDITOR).json()
        assert (
            answer["errors"][0]["message"]
            == "editId: no edit with id 'ed_nope' in the editorial log"
        )
        answer = client.query(undo, {"e": "ed_nope"}).json()
        assert answer["errors"][0]["message"].startswith("undoEdit needs the editor or admin role")
    finally:
        client.close()


def test_a_split_is_not_undone_over_a_correction_of_the_new_event(
    store: GraphStore, tmp_path: Path
) -> None:
    """A correction of the event a split made, standing, refuses the split's undo (merged back,
    its pins could give way unlogged); once the correction is undone, the split's undo runs."""
    load(store, tmp_path, [FIRST, SAME, ELSEWHERE])
    raqqa = by_stories(store, ["a-1", "b-1"])
    editing = EventEditing(store)
    _, split, entry = editing.split_event(raqqa.id, [story_ids(store, raqqa.id)["b-1"]], "alice")
    corrections = Corrections(store)
    _, correction = corrections.correct_event(
        split.id, {"summary": "Shelling of Raqqa"}, "wire copy", "carol"
    )
    with pytest.raises(EditorialError, match=f"corrected since the split .*{correction.id}"):
        editing.undo(entry.id, "bob")
    assert split.id in store.get_nodes([split.id])  # nothing changed
    corrections.undo(store.get_nodes([correction.id])[correction.id], "carol")
    editing.undo(entry.id, "bob")
    assert split.id not in store.get_nodes([split.id])
    assert seen(store)[raqqa.id][0] == ["a-1", "b-1"]
