"""Issue 16, private stays private: after an anonymous `submitSource` (and an editor's review,
which writes an `Edit` log entry), public traversal (`neighbours`, `neighbourhood`, `paths`),
`search` and `node` answer as if the editorial records did not exist, on both stores. The app
is called in process (`tests/support/graphql.py`)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from api.app import create_app
from api.tokens import Tokens
from graph import analytics
from graph.model import EDITORIAL_LABELS, PUBLIC_LABELS, PUBLIC_RELS, Label, Rel
from graph.store import GraphStore
from tests.conftest import EXTRACTOR, load_outlets, shared_file
from tests.support.graphql import GraphQLClient, payload

LOADER = "loader-token-0123456789abcdefghijklmnop"
EDITOR = "editor-token-0123456789abcdefghijklmnop"
TOKENS = f"loader:extractor:{LOADER},editor:alice:{EDITOR}"
UNKNOWN = "nd_0000000000000000"

INGEST = """mutation($records: [JSON!]!) {
  ingest(records: $records) { results { eventId } } }"""
SUBMIT = """mutation($event: ID!, $url: String!) {
  submitSource(eventId: $event, url: $url, outletName: "Reuters") { id } }"""
REJECT = """mutation($id: ID!) { rejectSubmission(id: $id, reason: "not about it") { status } }"""
NEIGHBOURS = """query($id: ID!, $after: String) {
  node(id: $id) { __typename id neighbours(first: 100, after: $after) {
    edges { relationship direction node { __typename id } }
    pageInfo { hasNextPage endCursor } } } }"""
NEIGHBOURHOOD = """query($id: ID!, $hops: Int!) {
  neighbourhood(id: $id, hops: $hops, limit: 100) {
    center complete nodes { id label node { __typename } } edges { id relationship } } }"""
NODE = "query($id: ID!) { node(id: $id) { __typename id } }"
BY_ID = [
    NODE,
    "query($id: ID!) { neighbourhood(id: $id) { center } }",
    "query($id: ID!) { event(id: $id) { id } }",
    "query($id: ID!) { entity(id: $id) { id } }",
    "query($id: ID!) { outlet(id: $id) { id } }",
    "query($id: ID!) { place(id: $id) { id } }",
    'query($id: ID!) { paths(from: $id, to: "nd_1111111111111111") { complete } }',
]


class Private:
    """The app over `store` holding the registry and the seed event, with one pending and one
    rejected anonymous submission for it (the rejection an `Edit` log entry)."""

    def __init__(self, store: GraphStore) -> None:
        self.store = store
        self.client = GraphQLClient(create_app(store, Tokens.configured(TOKENS)))
        load_outlets(store)
        seed = json.loads(shared_file(EXTRACTOR / "seed-event.json").read_text("utf-8"))
        ingested = self.ok(INGEST, {"records": [seed]}, LOADER)
        self.event_id: str = ingested["ingest"]["results"][0]["eventId"]
        self.submissions = [
            self.ok(SUBMIT, {"event": self.event_id, "url": f"https://example.org/{n}"})[
                "submitSource"
            ]["id"]
            for n in range(2)
        ]
        self.ok(REJECT, {"id": self.submissions[1]}, EDITOR)
        self.edits = [n.id for n in store.find_nodes(Label.EDIT, {}, "at", 100)]
        assert self.edits, "the rejection is logged"
        self.private = set(self.submissions) | set(self.edits)

    def ok(self, query: str, variables: dict[str, Any], token: str | None = None) -> dict[str, Any]:
        return payload(self.client.query(query, variables, token))

    def answer(self, query: str, variables: dict[str, Any]) -> Any:
        response = self.client.query(query, variables)
        assert response.status_code == 200, response.text
        return response.json()


@pytest.fixture
def private(store: GraphStore) -> Iterator[Private]:
    served = Private(store)
    try:
        yield served
    finally:
        served.client.close()


def test_neighbours_of_the_event_skip_submissions(private: Private) -> None:
    seen: list[dict[str, Any]] = []
    after: str | None = None
    while True:
        node = private.ok(NEIGHBOURS, {"id": private.event_id, "after": after})["node"]
        seen += node["neighbours"]["edges"]
        if not node["neighbours"]["pageInfo"]["hasNextPage"]:
            break
        after = node["neighbours"]["pageInfo"]["endCursor"]
    assert seen, "the seed event has public neighbours"
    assert {e["relationship"] for e in seen} <= {r.value for r in PUBLIC_RELS}
    assert not {e["node"]["id"] for e in seen} & private.private


@pytest.mark.parametrize("hops", [1, 2, 3])
def test_neighbourhood_of_the_event_skips_editorial_records(private: Private, hops: int) -> None:
    view = private.ok(NEIGHBOURHOOD, {"id": private.event_id, "hops": hops})["neighbourhood"]
    assert len(view["nodes"]) > 1
    assert not {n["id"] for n in view["nodes"]} & private.private
    assert {e["relationship"] for e in view["edges"]} <= {r.value for r in PUBLIC_RELS}
    asked = {"relationships": [r.value for r in PUBLIC_RELS]}
    query = NEIGHBOURHOOD.replace("limit: 100", "limit: 100, filter: $filter").replace(
        "$hops: Int!", "$hops: Int!, $filter: NeighbourhoodFilter"
    )
    again = private.ok(query, {"id": private.event_id, "hops": hops, "filter": asked})
    assert again["neighbourhood"] == view


def test_the_analytics_neighbourhood_never_yields_editorial_records(private: Private) -> None:
    found = analytics.neighbourhood(private.store, private.event_id, hops=3, limit=100)
    assert {n.label for n in found.nodes} <= set(PUBLIC_LABELS)
    assert not {n.id for n in found.nodes} & private.private
    assert all(e.type is not Rel.SUBMITTED_FOR for e in found.edges)
    asked = analytics.neighbourhood(
        private.store, private.event_id, relationships=[Rel.SUBMITTED_FOR], labels=[Label.EDIT]
    )
    assert [n.id for n in asked.nodes] == [private.event_id] and asked.edges == []
    for hidden in private.private:
        with pytest.raises(analytics.AnalyticsError, match=f"no node with id '{hidden}'"):
            analytics.neighbourhood(private.store, hidden)


@pytest.mark.parametrize("query", BY_ID)
def test_an_editorial_id_answers_exactly_as_an_unknown_id(private: Private, query: str) -> None:
    unknown = json.dumps(private.answer(query, {"id": UNKNOWN}))
    for hidden in private.private:
        answer = json.dumps(private.answer(query, {"id": hidden})).replace(hidden, UNKNOWN)
        assert answer == unknown
    assert "Unexpected error" not in unknown


def test_search_finds_no_editorial_record(private: Private) -> None:
    query = "query($text: String!) { search(text: $text, first: 100) { __typename } }"
    for text in ("example.org", "Reuters", "not about it", "e"):
        found = private.ok(query, {"text": text})["search"]
        assert {r["__typename"] for r in found} <= {lb.value for lb in PUBLIC_LABELS}


def test_the_public_labels_and_relationships_leave_out_every_editorial_one() -> None:
    assert set(PUBLIC_LABELS) == set(Label) - EDITORIAL_LABELS
    assert {Label.SUBMISSION, Label.EDIT} == EDITORIAL_LABELS
    assert set(PUBLIC_RELS) == set(Rel) - {Rel.SUBMITTED_FOR}
