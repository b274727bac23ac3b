"""The `find` and `search` GraphQL fields over the search index, on both stores."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from api.app import create_app
from graph.store import GraphStore
from tests.conftest import ROOT, STORE_KINDS, fresh_store, load_file, load_outlets
from tests.support.graphql import GraphQLClient

SAMPLES = ROOT / "loaders" / "sample_data"
FIND = """query($text: String!, $types: [SearchType!], $first: Int, $after: String) {
  find(text: $text, types: $types, first: $first, after: $after) {
    edges { cursor score node { __typename ... on Entity { id name } ... on Event { id }
      ... on Place { id name } ... on Outlet { id name } }
      highlights { field text spans { start end } } }
    pageInfo { hasNextPage endCursor } } }"""


@pytest.fixture(scope="module", params=STORE_KINDS)
def app(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[GraphQLClient]:
    store: GraphStore = fresh_store(request.param, tmp_path_factory.mktemp("search"))
    store.setup()
    try:
        load_outlets(store, SAMPLES / "outlets.json")
        load_file(store, SAMPLES / "samples.jsonl")
        client = GraphQLClient(create_app(store))
        try:
            yield client
        finally:
            client.close()
    finally:
        store.close()


def find(app: GraphQLClient, text: str, **more: Any) -> dict[str, Any]:
    found: dict[str, Any] = app.data(FIND, {"text": text, **more})["find"]
    return found


def errors(app: GraphQLClient, query: str, variables: dict[str, Any]) -> list[str]:
    answer = app.query(query, variables)
    assert answer.status_code in (200, 400), answer.text
    return [e["message"] for e in answer.json()["errors"]]


def test_type_ahead_answers_the_entity_with_highlights(app: GraphQLClient) -> None:
    (first, *_) = find(app, "Путин", first=3)["edges"]
    assert first["node"] == {
        "__typename": "Entity",
        "id": first["node"]["id"],
        "name": "Vladimir Putin",
    }
    name = first["highlights"][0]
    assert name["field"] == "name"
    assert [name["text"][s["start"] : s["end"]] for s in name["spans"]] == ["Putin"]


def test_types_and_cursors(app: GraphQLClient) -> None:
    everything = find(app, "russia", first=50)["edges"]
    events = find(app, "russia", types=["EVENT"], first=50)["edges"]
    assert events and {e["node"]["__typename"] for e in events} == {"Event"}
    assert len(everything) > len(events)
    first = find(app, "russia", first=2)
    assert first["pageInfo"]["hasNextPage"]
    rest = find(app, "russia", first=50, after=first["pageInfo"]["endCursor"])
    assert [e["node"] for e in first["edges"] + rest["edges"]] == [e["node"] for e in everything]
    assert not rest["pageInfo"]["hasNextPage"]


def test_the_older_search_field_lists_events_first(app: GraphQLClient) -> None:
    query = '{ search(text: "lukashenko") { __typename ... on Entity { name } } }'
    found = app.data(query)["search"]
    kinds = [f["__typename"] for f in found]
    assert kinds[0] == "Event" and "Entity" in kinds
    assert kinds == sorted(kinds, key=lambda k: k != "Event")


@pytest.mark.parametrize(
    ("variables", "message"),
    [
        ({"text": ""}, "text must not be empty"),
        ({"text": "x" * 500}, "text is longer than 200 characters (500)"),
        ({"text": "x" * 10_000}, "'$text' is longer than 2,000 characters (10,000)"),
        ({"text": "putin", "types": ["STORY"]}, "STORY"),
        ({"text": "putin", "types": []}, "types must name at least one type"),
        ({"text": "putin", "first": 0}, "first must be between 1 and 100"),
        ({"text": "putin", "after": "nonsense"}, "is not a cursor this API gave out"),
    ],
)
def test_bad_input_is_refused_naming_the_argument(
    app: GraphQLClient, variables: dict[str, Any], message: str
) -> None:
    (error,) = errors(app, FIND, variables)
    assert message in error
    assert "Unexpected error" not in error
