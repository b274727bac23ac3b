"""What editors see of the event matcher over GraphQL: each event's decisions
(`Event.identity`) and the queue of possible duplicates; readers see neither."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from api.app import create_app
from api.tokens import Tokens
from graph.store import GraphStore
from tests.support.graphql import PAGE_QUERY, GraphQLClient
from tests.test_event_matching import DAY_AFTER, FIRST, SAME, events, load, stories_of

EDITOR = "editor-token-0123456789abcdefghijklmnop"
TOKENS = f"editor:alice:{EDITOR}"

IDENTITY = """query($id: ID!) {
  event(id: $id) {
    identity { story { slug } outcome score candidate notes
               evidence { feature value weight contribution } }
  }
}"""
QUEUE = """query($first: Int, $after: String) {
  possibleDuplicates(first: $first, after: $after) {
    edges { cursor node { id status score detail event { id } other { id }
                          evidence { feature contribution } } }
    pageInfo { hasNextPage endCursor }
  }
}"""


@pytest.fixture
def client(store: GraphStore, tmp_path: Path) -> Iterator[GraphQLClient]:
    load(store, tmp_path, [FIRST])
    load(store, tmp_path, [DAY_AFTER])  # a day late, like a-1: queued
    load(store, tmp_path, [SAME])  # joins a-1
    graphql = GraphQLClient(create_app(store, Tokens.configured(TOKENS)))
    try:
        yield graphql
    finally:
        graphql.close()


def test_editors_see_how_each_record_was_placed(store: GraphStore, client: GraphQLClient) -> None:
    (raqqa,) = [e for e in events(store) if stories_of(store, e) == ["a-1", "b-1"]]
    answer = client.query(IDENTITY, {"id": raqqa.id}, token=EDITOR).json()
    assert "errors" not in answer, answer
    decided = {d["story"]["slug"]: d for d in answer["data"]["event"]["identity"]}
    assert decided["a-1"]["outcome"] == "new" and decided["a-1"]["candidate"] is None
    merged = decided["b-1"]
    assert (merged["outcome"], merged["candidate"]) == ("merge", raqqa.id)
    contributions = [row["contribution"] for row in merged["evidence"]]
    assert contributions == sorted(contributions, key=abs, reverse=True)
    for row in merged["evidence"]:
        assert row["contribution"] == pytest.approx(row["value"] * row["weight"], abs=1e-3)


def test_readers_see_neither_the_decisions_nor_the_queue(
    store: GraphStore, client: GraphQLClient
) -> None:
    event = events(store)[0]
    answer = client.query(IDENTITY, {"id": event.id}).json()
    assert answer["errors"][0]["message"].startswith("identity needs the editor or admin role")
    answer = client.query(QUEUE, {"first": 5}).json()
    assert answer["errors"][0]["message"].startswith("possibleDuplicates needs the editor")
    page = client.query(PAGE_QUERY, {"id": event.id}).json()
    assert "errors" not in page and "identity" not in str(page["data"])


def test_the_queue_lists_pending_possible_duplicates(
    store: GraphStore, client: GraphQLClient
) -> None:
    answer = client.query(QUEUE, {"first": 5}, token=EDITOR).json()
    assert "errors" not in answer, answer
    (edge,) = answer["data"]["possibleDuplicates"]["edges"]
    queued = edge["node"]
    late = next(e for e in events(store) if stories_of(store, e) == ["d-1"])
    first = next(e for e in events(store) if stories_of(store, e) == ["a-1", "b-1"])
    assert (queued["event"]["id"], queued["other"]["id"]) == (late.id, first.id)
    assert queued["status"] == "pending" and "day_after" in queued["detail"]
    assert "day_after" in {r["feature"] for r in queued["evidence"]}
    assert not answer["data"]["possibleDuplicates"]["pageInfo"]["hasNextPage"]
