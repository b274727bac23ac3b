"""Takedowns on both stores: the content of a story, report, claim or submission is removed
from every node and relationship property, wherever it was copied (mentions, merged states in
the log, history details, reports made from a submission); the audit keeps ids and hashes
only; a second takedown or an unknown target is refused and changes nothing."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from graph.model import Edge, Label, Node, Rel
from graph.search import find
from graph.snapshot import canonical
from graph.store import GraphStore
from services.editing import EditorialError
from services.editorial import Editorial
from services.event_editing import EventEditing
from services.redirects import report_id
from services.takedown import Takedowns, sha256
from tests.test_event_editing import by_stories
from tests.test_event_matching import ELSEWHERE, FIRST, SAME, load

HOMS = "Army and IS fight in Homs"  # story c-1's summary and claim
URL = "https://example.org/a-secret-leak"
CLAIM = "A named private person was there."


def found_anywhere(store: GraphStore, text: str) -> list[str]:
    """Every node and relationship property holding `text`, as it is or inside JSON text."""
    forms = {text, json.dumps(text)[1:-1], json.dumps(text, ensure_ascii=False)[1:-1]}
    hits = []
    for item in store.dump():
        if isinstance(item, Node | Edge):
            for name, value in item.props.items():
                flat = json.dumps(value, ensure_ascii=False)
                if any(f in flat for f in forms) or (
                    isinstance(value, str) and any(f in value for f in forms)
                ):
                    hits.append(f"{item}: {name}")
    return hits


def test_a_story_taken_down_leaves_no_copy(store: GraphStore, tmp_path: Path) -> None:
    load(store, tmp_path, [FIRST, SAME, ELSEWHERE])
    raqqa, homs = by_stories(store, ["a-1", "b-1"]), by_stories(store, ["c-1"])
    # copies: the merge's log entry keeps Homs as it was, mentions and all
    EventEditing(store).merge_events(homs.id, raqqa.id, "alice")
    assert found_anywhere(store, HOMS)
    story = next(
        e.src
        for e in store.edges([raqqa.id], Rel.DESCRIBES, "in")[raqqa.id]
        if store.get_nodes([e.src])[e.src].text("slug") == "c-1"
    )

    holding = find(store, "Army IS fight Homs", [Label.EVENT], 20)
    assert [d for d in holding if any(HOMS in text for text in d.body)]  # indexed, before

    entry, events = Takedowns(store).takedown(story, "court order 12/3", "root")

    assert found_anywhere(store, HOMS) == []
    # nor in the search index: no document holds it, and its words find nothing of it
    docs = find(store, "Army IS fight Homs", [Label.EVENT], 20)
    assert not [d for d in docs if any(HOMS in text for text in d.body)]
    assert [e.id for e in events] == [raqqa.id]
    assert (entry.text("action"), entry.text("subject"), entry.text("by")) == (
        "takedown",
        story,
        "root",
    )
    assert json.loads(entry.props["removed"]) == [sha256(HOMS)]  # type: ignore[arg-type]
    # the story's reports stay, without its claims; the event keeps its other stories' words
    reports = store.edges([raqqa.id], Rel.REPORTS, "in")[raqqa.id]
    assert [e.texts("claim_texts") for e in reports if e.discriminator == story] == [[]]
    assert store.get_nodes([raqqa.id])[raqqa.id].text("summary") != "[removed]"

    before = canonical(store)
    with pytest.raises(EditorialError, match=f"^target: {story} was taken down already, by root"):
        Takedowns(store).takedown(story, "again", "root")
    with pytest.raises(EditorialError, match="^target: no story, report, claim or submission"):
        Takedowns(store).takedown("st_nope", "why", "root")
    with pytest.raises(EditorialError, match="^reason is empty"):
        Takedowns(store).takedown(story, " ", "root")
    assert canonical(store) == before


def test_a_submission_taken_down_leaves_no_copy(store: GraphStore, tmp_path: Path) -> None:
    load(store, tmp_path, [FIRST])
    (event,) = store.find_nodes(Label.EVENT, {}, "occurred_on", 10)
    editorial = Editorial(store)
    given = {"url": URL, "outletName": "Reuters", "claim": CLAIM, "tone": "certain"}
    submission = editorial.submit(event.id, given, "anonymous")
    editorial.approve(submission.id, "alice", note="checked")
    # copies: the report the approval made, its story, and the history's detail
    assert found_anywhere(store, URL) and found_anywhere(store, CLAIM)

    entry, _ = Takedowns(store).takedown(submission.id, f"privacy ({URL})", "root")

    assert found_anywhere(store, URL) == found_anywhere(store, CLAIM) == []
    assert entry.text("detail") == f"takedown of submission {submission.id}: privacy ([removed])"


def test_one_claim_of_a_report_can_be_taken_down(store: GraphStore, tmp_path: Path) -> None:
    two = json.loads(json.dumps(FIRST))
    two["event"]["reports"][0]["claims"].append({"text": CLAIM, "tone": "likely"})
    load(store, tmp_path, [two])
    (event,) = store.find_nodes(Label.EVENT, {}, "occurred_on", 10)
    (report,) = store.edges([event.id], Rel.REPORTS, "in")[event.id]
    with pytest.raises(EditorialError, match="has no claim #7"):
        Takedowns(store).takedown(f"{report_id(report)}#7", "why", "root")

    Takedowns(store).takedown(f"{report_id(report)}#1", "court order", "root")

    (report,) = store.edges([event.id], Rel.REPORTS, "in")[event.id]
    assert report.texts("claim_texts") == [FIRST["event"]["summary"]]
    assert report.texts("claim_tones") == ["certain"]
    assert found_anywhere(store, CLAIM) == []


def test_an_event_whose_summary_is_taken_down_takes_another_storys(
    store: GraphStore, tmp_path: Path
) -> None:
    load(store, tmp_path, [FIRST, SAME])
    event = by_stories(store, ["a-1", "b-1"])
    summary = event.text("summary")
    described = store.edges([event.id], Rel.DESCRIBES, "in")[event.id]
    (story,) = [d.src for d in described if d.props.get("summary") == summary]
    (other,) = [d.props["summary"] for d in described if d.src != story]
    Takedowns(store).takedown(story, "court order", "root")
    assert store.get_nodes([event.id])[event.id].text("summary") == other
    assert found_anywhere(store, summary) == []


def test_a_report_is_taken_down_by_its_id_from_before_merges(
    store: GraphStore, tmp_path: Path
) -> None:
    load(store, tmp_path, [FIRST, SAME, ELSEWHERE])
    raqqa, homs = by_stories(store, ["a-1", "b-1"]), by_stories(store, ["c-1"])
    (report,) = store.edges([homs.id], Rel.REPORTS, "in")[homs.id]
    shared = report_id(report)  # as a page showed it before the merges
    outlets = {e.src for e in store.edges([raqqa.id], Rel.REPORTS, "in")[raqqa.id]}
    # its event and its outlet are both merged away since
    EventEditing(store).merge_events(homs.id, raqqa.id, "alice")
    Editorial(store).merge_outlets(report.src, sorted(outlets)[0], "alice")
    with pytest.raises(EditorialError, match="^target: report .* has no claim #7"):
        Takedowns(store).takedown(f"{shared}#7", "why", "root")
    Takedowns(store).takedown(f"{shared}#0", "court order", "root")
    assert found_anywhere(store, HOMS) == []
    with pytest.raises(EditorialError, match="^target: no report with id 'REPORTS:ou_x:"):
        Takedowns(store).takedown(f"REPORTS:ou_x:{raqqa.id}:st_x", "why", "root")
