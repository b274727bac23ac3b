"""Editors correcting an event on both stores (`correctEvent`): each property given is pinned,
so a later record does not overwrite it until an editor unpins it (`unpinEvent`), editors see
what the records say ("corrected from ..."), the log says who and why, `undoEdit` takes it
back; bad requests name the argument and change nothing."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, cast

import pytest

from api.app import create_app
from api.tokens import Tokens
from graph.model import Label, WriteBatch
from graph.snapshot import canonical
from graph.store import Derive, GraphStore
from services.corrections import Corrections
from services.editing import EditorialError
from services.event_editing import EventEditing
from services.pins import Pin
from tests.support.graphql import GraphQLClient
from tests.test_event_editing import by_stories
from tests.test_event_matching import FIRST, SAME, load, stories_of

EDITOR = "editor-token-0123456789abcdefghijklmnop"
PAGE = """query($id: ID!) { event(id: $id) { summary category occurredOn
  corrections { property value correctedFrom by reason } } }"""
PUBLIC = "query($id: ID!) { event(id: $id) { summary corrections { value } } }"
CORRECT = """mutation($id: ID!, $why: String!, $s: String, $c: String, $d: String) {
  correctEvent(id: $id, reason: $why, summary: $s, category: $c, occurredOn: $d) {
    event { summary } edit { id action by detail } } }"""
UNPIN = """mutation($id: ID!, $p: [String!]) { unpinEvent(id: $id, properties: $p) {
  event { summary occurredOn } edit { action } } }"""
RAQQA_SUMMARY = "Clashes between the army and IS in Raqqa"
# The same story as SAME, extracted earlier: the earliest extraction's summary wins.
EARLIER = {**SAME, "extracted_at": "2017-03-01T08:00:00Z"}
# The same, dated the day an editor corrects the event to: the matcher compares a record with
# the event as corrected (docs/editorial.md, "Corrections and the matcher").
EARLIER_ON_28 = {**EARLIER, "event": {**EARLIER["event"], "occurred_on": "2017-02-28"}}
# Another story of the same event, extracted earlier still.
EARLIEST = {
    **SAME,
    "source_story": {"slug": "e-1", "outlet": "Outlet E"},
    "extracted_at": "2017-03-01T06:00:00Z",
}


def test_a_correction_is_pinned_until_unpinned(store: GraphStore, tmp_path: Path) -> None:
    load(store, tmp_path, [FIRST])
    (event,) = store.find_nodes(Label.EVENT, {}, "occurred_on", 10)
    assert event.text("summary") == RAQQA_SUMMARY
    client = GraphQLClient(create_app(store, Tokens.configured(f"editor:alice:{EDITOR}")))

    def call(query: str, **variables: Any) -> dict[str, Any]:
        answer = client.query(query, variables, token=EDITOR).json()
        assert "errors" not in answer, answer
        return dict(answer["data"])

    try:
        done = call(CORRECT, id=event.id, why="the town", s="Clashes near Raqqa", d="2017-02-28")
        assert done["correctEvent"]["event"]["summary"] == "Clashes near Raqqa"
        assert done["correctEvent"]["edit"]["action"] == "correct"
        page = call(PAGE, id=event.id)["event"]
        assert (page["summary"], page["occurredOn"]) == ("Clashes near Raqqa", "2017-02-28")
        assert page["corrections"] == [
            {
                "property": "occurredOn",
                "value": "2017-02-28",
                "correctedFrom": "2017-03-01",
                "by": "alice",
                "reason": "the town",
            },
            {
                "property": "summary",
                "value": "Clashes near Raqqa",
                "correctedFrom": RAQQA_SUMMARY,
                "by": "alice",
                "reason": "the town",
            },
        ]
        # the public sees the corrected value but not the editors' notes
        public = client.query(PUBLIC, {"id": event.id}).json()
        assert public["data"] is None or public["data"]["event"] is None
        assert public["errors"][0]["message"].startswith("corrections needs the editor")

        # a reload changes nothing; an earlier extraction joining the event (of the corrected
        # day) would win the summary, but the pin stands, and the page says what the records
        # say now
        before = canonical(store)
        load(store, tmp_path, [FIRST])
        assert canonical(store) == before
        load(store, tmp_path, [EARLIER_ON_28])
        assert by_stories(store, ["a-1", "b-1"]).id == event.id
        page = call(PAGE, id=event.id)["event"]
        assert page["summary"] == "Clashes near Raqqa"
        pins = {c["property"]: c["correctedFrom"] for c in page["corrections"]}
        assert pins == {"summary": "Army and IS fight in Raqqa", "occurredOn": "2017-03-01"}

        unpinned = call(UNPIN, id=event.id, p=["summary"])["unpinEvent"]
        assert unpinned["event"] == {
            "summary": "Army and IS fight in Raqqa",
            "occurredOn": "2017-02-28",
        }
        assert unpinned["edit"]["action"] == "unpin"
        assert [c["property"] for c in call(PAGE, id=event.id)["event"]["corrections"]] == [
            "occurredOn"
        ]
        answer = client.query(UNPIN, {"id": event.id, "p": ["summary"]}, token=EDITOR).json()
        assert answer["errors"][0]["message"] == (
            f"properties: summary of event {event.id} is not pinned"
        )
    finally:
        client.close()


def test_bad_corrections_name_the_argument_and_change_nothing(
    store: GraphStore, tmp_path: Path
) -> None:
    load(store, tmp_path, [FIRST])
    (event,) = store.find_nodes(Label.EVENT, {}, "occurred_on", 10)
    before = canonical(store)
    corrections = Corrections(store)
    cases: list[tuple[str, dict[str, str | None], str, str]] = [
        ("ev_nope", {"summary": "x"}, "why", "id: no event with id 'ev_nope'"),
        (event.id, {"occurred_on": "2017-02-30"}, "why", "occurredOn: '2017-02-30' is not a real"),
        (event.id, {"occurred_on": "yesterday"}, "why", "occurredOn: 'yesterday' is not a date"),
        (event.id, {"category": "gossip"}, "why", "category: unknown value 'gossip'; expected"),
        (event.id, {"summary": " "}, "why", "summary is empty"),
        (event.id, {"summary": None}, "why", "give at least one of summary, category"),
        (event.id, {"summary": "x"}, "", "reason is empty: say why"),
    ]
    for event_id, values, why, message in cases:
        with pytest.raises(EditorialError) as refused:
            corrections.correct_event(event_id, values, why, "alice")
        assert str(refused.value).startswith(message), (values, str(refused.value))
    with pytest.raises(EditorialError, match="^properties: 'lat' cannot be pinned"):
        corrections.unpin_event(event.id, ["lat"], "alice")
    with pytest.raises(EditorialError, match=f"^properties: place of event {event.id} is not"):
        corrections.unpin_event(event.id, ["place"], "alice")
    assert canonical(store) == before


def test_a_correction_is_undone_by_undo_edit(store: GraphStore, tmp_path: Path) -> None:
    load(store, tmp_path, [FIRST])
    (event,) = store.find_nodes(Label.EVENT, {}, "occurred_on", 10)
    corrections = Corrections(store)
    corrected, entry = corrections.correct_event(event.id, {"category": "political"}, "w", "alice")
    assert corrected.text("category") == "political"
    assert "category from 'military' to 'political' (w)" in entry.text("detail")
    logged, (now,) = EventEditing(store).undo(entry.id, "bob")
    assert (now.text("category"), now.texts("pins")) == ("military", [])
    assert (logged.text("action"), logged.text("undid")) == ("undo", entry.id)
    with pytest.raises(EditorialError, match="was undone already, by bob"):
        EventEditing(store).undo(entry.id, "bob")


class Interleaved:
    """`store`, whose next write first lets `meanwhile` commit: a writer that read the graph
    before `meanwhile` commits after it (a race, made to happen)."""

    def __init__(self, store: GraphStore, meanwhile: Callable[[], object]) -> None:
        self._store = store
        self._meanwhile: Callable[[], object] | None = meanwhile

    def __getattr__(self, name: str) -> Any:
        return getattr(self._store, name)

    def write(self, batch: WriteBatch, derive: Derive | None = None) -> None:
        if self._meanwhile is not None:
            meanwhile, self._meanwhile = self._meanwhile, None
            meanwhile()
        self._store.write(batch, derive)


def test_a_correction_racing_a_load_of_the_event_loses_nothing(
    store: GraphStore, tmp_path: Path
) -> None:
    load(store, tmp_path, [FIRST])
    (event,) = store.find_nodes(Label.EVENT, {}, "occurred_on", 10)

    def correct() -> None:
        Corrections(store).correct_event(event.id, {"summary": "Fixed."}, "typo", "alice")

    # the load read the graph before the correction committed, and commits after it
    load(cast(GraphStore, Interleaved(store, correct)), tmp_path, [EARLIER])
    landed = by_stories(store, ["a-1", "b-1"])
    assert (landed.id, landed.text("summary")) == (event.id, "Fixed.")
    assert Pin.of(landed.texts("pins")[0]).was == "Army and IS fight in Raqqa"

    # the correction read the event before a load committed, and commits after it
    def reload() -> None:
        load(store, tmp_path, [EARLIEST])

    racing = Corrections(cast(GraphStore, Interleaved(store, reload)))
    racing.correct_event(event.id, {"category": "political"}, "typo", "alice")
    now = store.get_nodes([event.id])[event.id]
    assert (now.text("summary"), now.text("category")) == ("Fixed.", "political")
    assert stories_of(store, now) == ["a-1", "b-1", "e-1"]


PLACE = """query($id: ID!) { event(id: $id) { place { name } country { name }
  locations { place { name } } corrections { property value correctedFrom } } }"""


def test_a_corrected_place_is_the_events_place_until_unpinned(
    store: GraphStore, tmp_path: Path
) -> None:
    load(store, tmp_path, [FIRST])
    (event,) = store.find_nodes(Label.EVENT, {}, "occurred_on", 10)
    corrections = Corrections(store)
    with pytest.raises(EditorialError, match="^country: give it with place"):
        corrections.correct_event(event.id, {"country": "Syria"}, "w", "alice")
    with pytest.raises(EditorialError, match="^place is empty"):
        corrections.correct_event(event.id, {"place": " "}, "w", "alice")
    client = GraphQLClient(create_app(store, Tokens.configured(f"editor:alice:{EDITOR}")))
    try:
        corrected, entry = corrections.correct_event(
            event.id, {"place": "Tabqa", "country": "Syria"}, "the town", "alice"
        )
        # the gazetteer's Tabqa, by its canonical name
        tabqa = corrected.text("place_id")
        assert tabqa in corrected.texts("place_ids")
        assert store.get_nodes([tabqa])[tabqa].text("gazetteer_id")
        page = client.query(PLACE, {"id": event.id}, token=EDITOR).json()["data"]["event"]
        assert (page["place"], page["country"]) == ({"name": "Al-Tabqa"}, {"name": "Syria"})
        assert page["corrections"] == [
            {"property": "place", "value": "Al-Tabqa, Syria", "correctedFrom": "Raqqa, Syria"}
        ]
        # a later record at Raqqa does not move it back
        load(store, tmp_path, [EARLIER])
        page = client.query(PLACE, {"id": event.id}, token=EDITOR).json()["data"]["event"]
        assert page["place"] == {"name": "Al-Tabqa"}

        Corrections(store).unpin_event(event.id, ["place"], "bob")
        page = client.query(PLACE, {"id": event.id}, token=EDITOR).json()["data"]["event"]
        assert page["place"] != {"name": "Al-Tabqa"}
        assert "Al-Tabqa" not in [loc["place"]["name"] for loc in page["locations"]]
        now = store.get_nodes([event.id])[event.id]
        assert tabqa not in now.texts("place_ids")
        assert now.texts("pins") == []
        assert entry.text("action") == "correct"
    finally:
        client.close()


def test_a_correction_is_undone_after_a_load_rewrote_what_the_records_say(
    store: GraphStore, tmp_path: Path
) -> None:
    load(store, tmp_path, [FIRST])
    (event,) = store.find_nodes(Label.EVENT, {}, "occurred_on", 10)
    corrections = Corrections(store)
    _, entry = corrections.correct_event(event.id, {"summary": "Fixed."}, "typo", "alice")
    # an earlier extraction joins the event: the records now say another summary, which the
    # pin keeps as "corrected from"
    load(store, tmp_path, [EARLIER])
    pinned = store.get_nodes([event.id])[event.id]
    assert Pin.of(pinned.texts("pins")[0]).was == "Army and IS fight in Raqqa"
    _, (now,) = EventEditing(store).undo(entry.id, "bob")
    assert (now.text("summary"), now.texts("pins")) == ("Army and IS fight in Raqqa", [])
