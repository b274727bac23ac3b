"""The GraphQL API over HTTP, the app called in process (`tests/support/graphql.py`) on each
store kind."""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any, get_args

import pytest

from api.app import create_app
from api.confidence import ChangeCause
from api.schema import schema
from graph.history import Cause
from graph.model import Label, NodeWrite, PropertyWrite, WriteBatch
from graph.store import EventFilter, EventQuery, GraphStore
from tests.conftest import EXTRACTOR, STORE_KINDS, fresh_store, load_file, load_outlets, shared_file
from tests.support.graphql import PAGE_QUERY, ROOT, GraphQLClient


class Server(GraphQLClient):
    """The app over a store holding the registry and the seed event (`seed_id`)."""

    def __init__(self, store: GraphStore, seed_id: str) -> None:
        super().__init__(create_app(store))
        self.seed_id = seed_id


def _seed_jsonl(tmp: Path) -> Path:
    record = json.loads(shared_file(EXTRACTOR / "seed-event.json").read_text("utf-8"))
    path = tmp / "seed.jsonl"
    path.write_text(json.dumps(record, ensure_ascii=False) + "\n", encoding="utf-8")
    return path


def seed_event_id(store: GraphStore) -> str:
    page = store.query_events(EventQuery(EventFilter(), first=10))
    (event,) = [e for e in page.events if e.text("summary").startswith("Russian President")]
    return event.id


@pytest.fixture(scope="module", params=STORE_KINDS)
def server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Server]:
    """The app over a store holding the registry and the seed only, so the page shows exactly
    what seed-page.txt shows."""
    tmp = tmp_path_factory.mktemp(f"api-{request.param}")
    store = fresh_store(request.param, tmp)
    store.setup()
    try:
        load_outlets(store)
        load_file(store, _seed_jsonl(tmp))
        served = Server(store, seed_event_id(store))
        try:
            yield served
        finally:
            served.close()
    finally:
        store.close()


def seed_page_facts(text: str) -> dict[str, Any]:
    """What the public page (seed-page.txt) shows of the event: its data, without the page's
    fixed wording. The layout: category, summary, place, level and source count, sources,
    explanation; then each claim followed by its outlet and tone (the copy lacks the last
    claim's); then the rating sentence and the extraction metadata."""
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    icon_and_category, summary, place, rated, sources, explanation = lines[:6]
    label, independent = re.fullmatch(
        r"(\w+) Reported by (\d+) independent sources", rated
    ).groups()  # type: ignore[union-attr]
    first = next(i for i, line in enumerate(lines) if line.startswith("What each source reports"))
    last = lines.index("Share This Event")
    claims: list[tuple[str, str | None, str | None]] = []
    for line in lines[first + 1 : last]:
        told = re.fullmatch(r"(.+) → Source tone: (\w+)", line)
        if told is None:
            claims.append((line, None, None))
        else:
            claims[-1] = (claims[-1][0], told[1], told[2])
    level, hint = re.fullmatch(  # type: ignore[union-attr]
        r"This event is rated (\w+)\. (.+)",
        next(line for line in lines if line.startswith("This event is rated")),
    ).groups()
    return {
        "category": icon_and_category.split()[-1],
        "summary": summary,
        "place": place,
        "label": label,
        "independent": int(independent),
        "sources": sources,
        "explanation": explanation,
        "claims": claims,
        "level": level,
        "hint": hint,
        "extracted": next(x for x in lines if x.startswith("Extracted: ")).removeprefix(
            "Extracted: "
        ),
        "story": next(x for x in lines if x.startswith("Source story: ")).removeprefix(
            "Source story: "
        ),
    }


def test_seed_page_renders_from_one_query(server: Server) -> None:
    event = server.data(PAGE_QUERY, {"id": server.seed_id})["event"]
    page = seed_page_facts(shared_file(EXTRACTOR / "seed-page.txt").read_text("utf-8"))
    confidence = event["confidence"]
    # everything the page shows, from the one answer
    assert event["category"].capitalize() == page["category"]
    assert event["summary"] == page["summary"]
    assert f"{event['place']['name']}, {event['country']['name']}" == page["place"]
    assert confidence["label"] == page["label"]
    assert confidence["independentSources"] == page["independent"]
    assert " ".join(s["name"] for s in event["sources"]) == page["sources"]
    assert confidence["explanation"] == page["explanation"]
    answered = [
        (c["text"], r["outlet"]["name"], c["tone"]) for r in event["reports"] for c in r["claims"]
    ]
    assert len(answered) == len(page["claims"])
    for (text, outlet, tone), (shown, shown_outlet, shown_tone) in zip(
        answered, page["claims"], strict=True
    ):
        assert text == shown
        if shown_outlet is not None:
            assert (outlet, tone.lower()) == (shown_outlet, shown_tone)
    assert (confidence["level"].lower(), confidence["hint"]) == (page["level"], page["hint"])
    assert event["extraction"]["firstExtractedAt"] == page["extracted"]
    assert event["extraction"]["stories"][0]["slug"] == page["story"]
    # the facts the page shows, straight from the response
    assert event["category"] == "DIPLOMATIC"
    assert (event["place"]["name"], event["country"]["name"]) == ("Moscow", "Ukraine")
    assert event["confidence"]["level"] == "LIKELY"
    assert event["confidence"]["independentSources"] == 3
    assert event["confidence"]["nextLevel"] == "VERIFIED"
    assert event["confidence"]["needs"] == {"independentSources": 0, "trustedSources": 1}
    assert event["confidence"]["hint"] == "One more trusted source could elevate it to verified."
    assert sorted(s["name"] for s in event["sources"]) == [
        "Censor.NET",
        "Institute for the Study of War",
        "Kyiv Independent",
    ]
    assert event["extraction"]["firstExtractedAt"] == "2026-05-30T04:15:39.113Z"
    claims = [(r["outlet"]["name"], c["tone"]) for r in event["reports"] for c in r["claims"]]
    assert claims.count(("Censor.NET", "CERTAIN")) == 5
    assert claims.count(("Kyiv Independent", "CERTAIN")) == 1
    names = {i["entity"]["name"]: i["roles"] for i in event["entities"]}
    assert names["Vladimir Putin"] == ["participant"]
    assert names["Steve Witkoff"] == ["mentioned"]


def test_event_ids_are_stable_across_reloads(server: Server, tmp_path: Path) -> None:
    store = fresh_store("embedded", tmp_path)
    store.setup()
    try:
        load_outlets(store)
        load_file(store, _seed_jsonl(tmp_path))
        assert seed_event_id(store) == server.seed_id
    finally:
        store.close()


def test_unknown_id_is_null_with_a_message(server: Server) -> None:
    response = server.query('{ event(id: "ev_nope") { id } }')
    assert response.status_code == 200
    payload = response.json()
    assert payload["data"] == {"event": None}
    assert payload["errors"][0]["message"] == "no event with id 'ev_nope'"


def test_page_size_is_capped(server: Server) -> None:
    payload = server.query("{ events(first: 101) { edges { cursor } } }").json()
    assert payload["errors"][0]["message"] == "first must be between 1 and 100, got 101"


def test_deep_queries_are_refused(server: Server) -> None:
    nested = "neighbours { edges { node { " * 6 + "id" + " } } }" * 6
    response = server.query(f'{{ node(id: "{server.seed_id}") {{ {nested} }} }}')
    assert response.status_code == 200
    assert "exceeds maximum operation depth" in response.json()["errors"][0]["message"]


def test_syntax_errors_and_bad_arguments_are_not_server_errors(server: Server) -> None:
    broken = server.query("{ event(id: ")
    assert broken.status_code < 500
    assert "Syntax Error" in broken.json()["errors"][0]["message"]
    bad_date = server.query('{ events(filter: {from: "2025-02-30"}) { edges { cursor } } }')
    assert bad_date.status_code < 500 and "errors" in bad_date.json()
    bad_cursor = server.query('{ events(after: "garbage") { edges { cursor } } }').json()
    assert (
        bad_cursor["errors"][0]["message"] == "after: 'garbage' is not a cursor this API gave out"
    )


def test_entity_by_alias_and_its_timeline(server: Server) -> None:
    query = """query($name: String!) { entity(name: $name) {
        id name aliases timeline(first: 5) { edges { node { id } } pageInfo { hasNextPage } } } }"""
    by_alias = server.data(query, {"name": "russian president vladimir putin"})["entity"]
    by_name = server.data(query, {"name": "Putin"})["entity"]
    assert by_alias["id"] == by_name["id"]
    assert by_alias["name"] == "Vladimir Putin"
    assert [e["node"]["id"] for e in by_alias["timeline"]["edges"]] == [server.seed_id]
    missing = server.query('{ entity(name: "Nobody Atall") { id } }').json()
    assert missing["errors"][0]["message"] == "no entity is known by the name 'Nobody Atall'"


def test_outlet_by_alias_lists_its_events(server: Server) -> None:
    query = '{ outlet(name: "ISW") { name tier events { edges { node { id } } } } }'
    outlet = server.data(query)["outlet"]
    assert outlet["name"] == "Institute for the Study of War"
    assert outlet["tier"] == "STANDARD"
    assert [e["node"]["id"] for e in outlet["events"]["edges"]] == [server.seed_id]


def test_events_filters(server: Server) -> None:
    def ids(filter_text: str) -> list[str]:
        query = f"{{ events(filter: {filter_text}) {{ edges {{ node {{ id }} }} }} }}"
        return [e["node"]["id"] for e in server.data(query)["events"]["edges"]]

    assert ids("{categories: [DIPLOMATIC]}") == [server.seed_id]
    assert ids("{categories: [MILITARY]}") == []
    assert ids('{from: "2025-03-13", to: "2025-03-13"}') == [server.seed_id]
    assert ids('{from: "2025-03-14"}') == []
    assert ids("{minConfidence: LIKELY}") == [server.seed_id]
    assert ids("{minConfidence: VERIFIED}") == []


def test_search_finds_events_and_entities(server: Server) -> None:
    query = """{ search(text: "lukashenko") {
        __typename ... on Event { id } ... on Entity { name } } }"""
    found = server.data(query)["search"]
    assert {"__typename": "Event", "id": server.seed_id} in found
    assert {"__typename": "Entity", "name": "Alexander Lukashenko"} in found


def test_neighbours_page_through_every_link(server: Server) -> None:
    query = """query($id: ID!, $after: String) { node(id: $id) {
        neighbours(first: 4, after: $after) {
        edges { cursor relationship direction node { id __typename } }
        pageInfo { hasNextPage endCursor } } } }"""
    seen: list[tuple[str, str]] = []
    after = None
    while True:
        page = server.data(query, {"id": server.seed_id, "after": after})["node"]["neighbours"]
        seen += [(e["relationship"], e["node"]["id"]) for e in page["edges"]]
        if not page["pageInfo"]["hasNextPage"]:
            break
        after = page["pageInfo"]["endCursor"]
    kinds = [kind for kind, _ in seen]
    # 3 outlets report it, 7 entities, 1 place, 1 story describes it
    assert kinds.count("REPORTS") == 3
    assert kinds.count("INVOLVES") == 7
    assert kinds.count("OCCURRED_IN") == 1
    assert kinds.count("DESCRIBES") == 1
    assert len(set(seen)) == len(seen)


def test_exported_sdl_is_current() -> None:
    exported = (ROOT / "api" / "schema.graphql").read_text("utf-8")
    assert exported.strip() == schema.as_str().strip(), (
        "api/schema.graphql is stale: run `newsgraph schema --output api/schema.graphql`"
    )


def test_every_cause_of_a_level_change_has_its_graphql_value() -> None:
    assert [c.value for c in ChangeCause] == list(get_args(Cause))


def test_internal_failures_are_masked_and_logged_client_mistakes_answered(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    store = fresh_store("embedded", tmp_path)
    store.setup()
    # an event the API cannot render: its category is not one it knows
    node = NodeWrite(
        "ev_broken",
        Label.EVENT,
        PropertyWrite(set={"category": "bogus", "occurred_on": "2025-01-01"}),
    )
    store.write(WriteBatch(nodes=[node]))
    client = GraphQLClient(create_app(store))
    try:
        with caplog.at_level(logging.ERROR):
            broken = client.query('{ event(id: "ev_broken") { category } }')
            assert broken.status_code == 200
            assert broken.json()["errors"][0]["message"] == "Unexpected error."
            bad = client.query("query($id: ID!) { event(id: $id) { id } }", {"id": [1]})
            assert bad.status_code == 200
            assert "ID cannot represent value: [1]" in bad.json()["errors"][0]["message"]
            missing = client.query('{ event(id: "ev_nope") { id } }')
            assert missing.json()["errors"][0]["message"] == "no event with id 'ev_nope'"
    finally:
        client.close()
        store.close()
    log = caplog.text
    assert "'bogus' is not a valid Category" in log  # the operator sees what went wrong
    assert "ev_nope" not in log and "cannot represent" not in log  # clients' mistakes are not
