"""Retractions on both stores: an editor's (`retractReport`) and the extractor's (a record's
`reports[].retracted`). A retracted report stays on the page, marked, stops counting as a
source, and the confidence history says so; `undoEdit` takes an editor's back; bad requests
name the argument and change nothing."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pytest

from api.app import create_app
from api.tokens import Tokens
from graph.history import history
from graph.model import Rel
from graph.snapshot import canonical
from graph.store import GraphStore
from services.corrections import Corrections
from services.editing import EditorialError
from services.editorial import Editorial
from services.event_editing import EventEditing
from services.export import export
from services.redirects import report_id
from tests.support.graphql import GraphQLClient
from tests.test_event_editing import by_stories
from tests.test_event_matching import ELSEWHERE, FIRST, SAME, load

EDITOR = "editor-token-0123456789abcdefghijklmnop"
PAGE = """query($id: ID!) { event(id: $id) {
  confidence { level independentSources }
  confidenceHistory { level cause detail by }
  reports { id outlet { name } retraction { retractedOn reasons by } } } }"""
RETRACT = """mutation($r: ID!, $why: String!, $on: String!) {
  retractReport(reportId: $r, reason: $why, retractedOn: $on) {
    event { confidence { level } } edit { id action by detail } } }"""


def report_of(store: GraphStore, event_id: str, outlet: str) -> str:
    reports = store.edges([event_id], Rel.REPORTS, "in")[event_id]
    names = store.get_nodes([e.src for e in reports])
    (found,) = [e for e in reports if names[e.src].text("name") == outlet]
    return report_id(found)


def test_an_editor_retracts_a_report_over_graphql_and_undoes_it(
    store: GraphStore, tmp_path: Path
) -> None:
    load(store, tmp_path, [FIRST, SAME])
    event = by_stories(store, ["a-1", "b-1"])
    report = report_of(store, event.id, "Outlet B")
    client = GraphQLClient(create_app(store, Tokens.configured(f"editor:alice:{EDITOR}")))

    def call(query: str, **variables: Any) -> dict[str, Any]:
        answer = client.query(query, variables, token=EDITOR).json()
        assert "errors" not in answer, answer
        return dict(answer["data"])

    def refused(query: str, **variables: Any) -> str:
        answer = client.query(query, variables, token=EDITOR).json()
        return str(answer["errors"][0]["message"])

    try:
        assert call(PAGE, id=event.id)["event"]["confidence"]["level"] == "LIKELY"
        before = canonical(store)
        # bad requests name the argument and change nothing
        assert refused(RETRACT, r="REPORTS:ou_x:ev_y:st_z", why="w", on="2017-03-03") == (
            "reportId: no report with id 'REPORTS:ou_x:ev_y:st_z'"
        )
        assert refused(RETRACT, r="nonsense", why="w", on="2017-03-03").startswith(
            "reportId: 'nonsense' is not a report id"
        )
        assert refused(RETRACT, r=report, why="w", on="2017-02-30").startswith("retractedOn: ")
        assert refused(RETRACT, r=report, why="  ", on="2017-03-03") == "reason is empty: say why"
        assert canonical(store) == before

        done = call(RETRACT, r=report, why="the outlet withdrew it", on="2017-03-03")
        done = done["retractReport"]
        assert done["event"]["confidence"]["level"] == "UNVERIFIED"
        assert (done["edit"]["action"], done["edit"]["by"]) == ("retract", "alice")
        page = call(PAGE, id=event.id)["event"]
        assert page["confidence"]["independentSources"] == 1
        # still on the page, marked
        marked = {r["outlet"]["name"]: r["retraction"] for r in page["reports"]}
        assert marked == {
            "Outlet A": None,
            "Outlet B": {
                "retractedOn": "2017-03-03",
                "reasons": ["the outlet withdrew it"],
                "by": ["alice"],
            },
        }
        assert page["confidenceHistory"][-1] == {
            "level": "UNVERIFIED",
            "cause": "RETRACTION",
            "detail": "Outlet B retracted its report (the outlet withdrew it)",
            "by": "alice",
        }
        # once is enough; a reload of the records changes nothing
        assert refused(RETRACT, r=report, why="again", on="2017-03-04").startswith(
            f"reportId: the report {report} is retracted already"
        )
        after = canonical(store)
        load(store, tmp_path, [FIRST, SAME])
        assert canonical(store) == after

        undo = "mutation($e: ID!) { undoEdit(editId: $e) { edit { action } } }"
        call(undo, e=done["edit"]["id"])
        page = call(PAGE, id=event.id)["event"]
        assert page["confidence"]["level"] == "LIKELY"
        assert all(r["retraction"] is None for r in page["reports"])
        assert page["confidenceHistory"][-1]["cause"] == "RETRACTION"
        # the public sees the role, not the editor's name
        public = client.query(PAGE, {"id": event.id}).json()["data"]["event"]
        assert public["confidenceHistory"][-1]["by"] == "editor"
    finally:
        client.close()


def test_a_record_may_say_its_report_was_retracted(store: GraphStore, tmp_path: Path) -> None:
    retracted = json.loads(json.dumps(SAME))
    retracted["event"]["reports"][0]["retracted"] = {"on": "2017-03-02", "reason": "wrong town"}
    load(store, tmp_path, [FIRST, retracted])
    event = by_stories(store, ["a-1", "b-1"])
    assert event.text("confidence") == "unverified"
    (edge,) = [
        e
        for e in store.edges([event.id], Rel.REPORTS, "in")[event.id]
        if e.props.get("retracted_on")
    ]
    assert (edge.props["retracted_on"], edge.texts("retracted_by")) == ("2017-03-02", ["extractor"])
    # the export writes it back, so the records reload the same
    out = io.BytesIO()
    export(store, "jsonl", out)
    lines = [json.loads(line) for line in out.getvalue().decode().splitlines()]
    said = [r["retracted"] for line in lines for r in line["event"]["reports"] if "retracted" in r]
    assert said == [{"on": "2017-03-02", "reason": "wrong town"}]


def test_an_editors_retraction_is_refused_twice_and_undone_once(
    store: GraphStore, tmp_path: Path
) -> None:
    load(store, tmp_path, [FIRST, SAME])
    event = by_stories(store, ["a-1", "b-1"])
    corrections = Corrections(store)
    retracted, entry = corrections.retract_report(
        report_of(store, event.id, "Outlet A"), "withdrawn", "2017-03-02", "alice"
    )
    assert history(event.id, retracted.props)[-1].cause == "retraction"
    with pytest.raises(EditorialError, match="^reportId: the report .* is retracted already"):
        corrections.retract_report(
            report_of(store, event.id, "Outlet A"), "again", "2017-03-02", "alice"
        )
    # a retraction is undone once
    EventEditing(store).undo(entry.id, "bob")
    with pytest.raises(EditorialError, match="was undone already, by bob"):
        EventEditing(store).undo(entry.id, "bob")


def test_a_retraction_follows_its_report_through_an_event_merge(
    store: GraphStore, tmp_path: Path
) -> None:
    load(store, tmp_path, [FIRST, SAME, ELSEWHERE])
    raqqa, homs = by_stories(store, ["a-1", "b-1"]), by_stories(store, ["c-1"])
    report = report_of(store, homs.id, "Outlet C")
    corrections = Corrections(store)
    _, entry = corrections.retract_report(report, "withdrawn", "2017-03-02", "alice")
    EventEditing(store).merge_events(homs.id, raqqa.id, "alice")
    # the mark moved with the report; the old report id still names it
    moved = report_of(store, raqqa.id, "Outlet C")
    (edge,) = [
        e for e in store.edges([raqqa.id], Rel.REPORTS, "in")[raqqa.id] if report_id(e) == moved
    ]
    assert edge.props["retracted_on"] == "2017-03-02"
    assert store.get_nodes([raqqa.id])[raqqa.id].props["independent_sources"] == 2
    with pytest.raises(EditorialError, match="is retracted already"):
        corrections.retract_report(report, "again", "2017-03-02", "alice")
    EventEditing(store).undo(entry.id, "bob")
    assert store.get_nodes([raqqa.id])[raqqa.id].props["independent_sources"] == 3


def test_a_retraction_follows_its_report_through_an_outlet_merge(
    store: GraphStore, tmp_path: Path
) -> None:
    load(store, tmp_path, [FIRST, SAME])
    event = by_stories(store, ["a-1", "b-1"])
    report = report_of(store, event.id, "Outlet B")
    kept = report_of(store, event.id, "Outlet A").split(":")[1]
    Editorial(store).merge_outlets(report.split(":")[1], kept, "alice")
    Corrections(store).retract_report(report, "withdrawn", "2017-03-02", "alice")
    marked = [
        e
        for e in store.edges([event.id], Rel.REPORTS, "in")[event.id]
        if e.props.get("retracted_on")
    ]
    assert [e.src for e in marked] == [kept]
