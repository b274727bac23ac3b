"""The analyst queries over HTTP, the app called in process on each store kind holding the
wikitimes data."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from api.app import create_app
from api.config import AppConfig
from tests.conftest import DATA, STORE_KINDS, fresh_store, load_file, shared_file
from tests.support.graphql import GraphQLClient

WIKITIMES = DATA / "wikitimes-2015-09.jsonl"
Server = GraphQLClient


@pytest.fixture(scope="module", params=STORE_KINDS)
def server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Server]:
    tmp = tmp_path_factory.mktemp(f"analytics-{request.param}")
    store = fresh_store(request.param, tmp)
    store.setup()
    try:
        load_file(store, WIKITIMES)
        # the answers are checked here, not the time budget (tests/test_deadlines.py): a
        # budget a loaded machine cannot miss (the heavy processes start on first use)
        client = GraphQLClient(create_app(store, config=AppConfig(heavy_seconds=120)))
        try:
            yield client
        finally:
            client.close()
    finally:
        store.close()


def facts() -> dict[str, Any]:
    raw = shared_file(DATA / "wikitimes-2015-09.expected.json").read_text("utf-8")
    found: dict[str, Any] = json.loads(raw)["facts_for_analyst_queries"]
    return found


def entity(server: Server, name: str) -> str:
    found: str = server.data("query($n: String!) { entity(name: $n) { id } }", {"n": name})[
        "entity"
    ]["id"]
    return found


def error(server: Server, query: str, variables: dict[str, Any] | None = None) -> str:
    response = server.query(query, variables)
    assert response.status_code == 200
    message: str = response.json()["errors"][0]["message"]
    return message


BUCKETS = """query($n: String!) { entity(name: $n) {
  timelineBuckets(interval: WEEK) { interval from to total complete bounds { name }
    buckets { start end count byCategory { category count } byConfidence { level count } } } } }"""


def test_timeline_buckets_count_every_event(server: Server) -> None:
    for name, count in facts()["events_involving"].items():
        found = server.data(BUCKETS, {"n": name})["entity"]["timelineBuckets"]
        assert (found["interval"], found["total"], found["complete"]) == ("WEEK", count, True)
        assert sum(b["count"] for b in found["buckets"]) == count
        for bucket in found["buckets"]:
            assert sum(c["count"] for c in bucket["byCategory"]) == bucket["count"]
            assert sum(c["count"] for c in bucket["byConfidence"]) == bucket["count"]
    # checked by hand against the file in tests/test_analytics.py; here the same week over HTTP
    yemen = server.data(BUCKETS, {"n": "Yemen"})["entity"]["timelineBuckets"]["buckets"]
    week = next(b for b in yemen if b["start"] == "2015-09-14")
    assert week["end"] == "2015-09-20"
    assert week["count"] == sum(c["count"] for c in week["byCategory"]) > 0


CO_OCCURRING = """query($n: String!, $after: String) { entity(name: $n) {
  coOccurring(first: 1, after: $after) { totalCount eventsScanned complete
    edges { cursor node { entity { name } sharedEventCount sharedEventIds
      sharedEvents(first: 3) { id confidence { level } } } }
    pageInfo { hasNextPage endCursor } } } }"""


def test_co_occurring_ranks_the_most_shared_pairs_and_pages(server: Server) -> None:
    for first, second, shared in facts()["most_shared_events"]:
        for a, b in ((first, second), (second, first)):
            page = server.data(CO_OCCURRING, {"n": a})["entity"]["coOccurring"]
            (top,) = page["edges"]
            assert (top["node"]["entity"]["name"], top["node"]["sharedEventCount"]) == (b, shared)
            assert len(top["node"]["sharedEventIds"]) == shared
            assert [e["id"] for e in top["node"]["sharedEvents"]] == top["node"]["sharedEventIds"][
                :3
            ]
            assert page["complete"] and page["pageInfo"]["hasNextPage"]
    # the next page continues the ranking
    first_page = server.data(CO_OCCURRING, {"n": "Yemen"})["entity"]["coOccurring"]
    after = first_page["pageInfo"]["endCursor"]
    second = server.data(CO_OCCURRING, {"n": "Yemen", "after": after})["entity"]["coOccurring"]
    assert second["edges"][0]["node"]["sharedEventCount"] <= 10
    assert second["edges"][0]["node"]["entity"]["name"] != "Saudi Arabia"
    assert second["totalCount"] == first_page["totalCount"]


PATHS = """query($a: ID!, $b: ID!, $hops: Int!, $first: Int!) {
  paths(from: $a, to: $b, maxHops: $hops, first: $first) { complete nodesVisited edgesRead
    bounds { name limit message }
    paths { hops weakestConfidence entities { name } events { id confidence { level } } } } }"""


def test_paths_through_shared_events(server: Server) -> None:
    saudi, yemen = entity(server, "Saudi Arabia"), entity(server, "Yemen")
    found = server.data(PATHS, {"a": saudi, "b": yemen, "hops": 1, "first": 100})["paths"]
    assert found["complete"] and found["bounds"] == []
    assert len(found["paths"]) == 10
    for path in found["paths"]:
        assert path["hops"] == 1
        assert [e["name"] for e in path["entities"]] == ["Saudi Arabia", "Yemen"]
        assert path["weakestConfidence"] == path["events"][0]["confidence"]["level"]
    syria = entity(server, "Syria")
    longer = server.data(PATHS, {"a": syria, "b": yemen, "hops": 3, "first": 3})["paths"]
    assert [p["hops"] for p in longer["paths"]][0] == 2
    assert len(longer["paths"][0]["events"]) == 2 and len(longer["paths"][0]["entities"]) == 3
    # refusals say why
    variables = {"a": syria, "b": syria, "hops": 2, "first": 3}
    assert error(server, PATHS, variables) == "from and to are the same entity"
    variables = {"a": syria, "b": yemen, "hops": 7, "first": 3}
    assert error(server, PATHS, variables) == "maxHops must be between 1 and 6, got 7"
    variables = {"a": syria, "b": yemen, "hops": 2, "first": 101}
    assert error(server, PATHS, variables) == "first must be between 1 and 100, got 101"
    variables = {"a": "en_nope", "b": yemen, "hops": 2, "first": 3}
    assert error(server, PATHS, variables) == "no entity with id 'en_nope'"


NEIGHBOURHOOD = """query($id: ID!, $limit: Int!) {
  neighbourhood(id: $id, hops: 2, limit: $limit, filter: {relationships: [INVOLVES]}) {
    center complete bounds { name limit }
    nodes { id label name hops node { __typename } }
    edges { id source target relationship label roles } } }"""


def test_neighbourhood_is_a_graph_view_with_stable_ids(server: Server) -> None:
    yemen = entity(server, "Yemen")
    view = server.data(NEIGHBOURHOOD, {"id": yemen, "limit": 12})["neighbourhood"]
    assert view["center"] == yemen and len(view["nodes"]) == 12
    assert view["complete"] is False and view["bounds"] == [{"name": "nodes", "limit": 12.0}]
    assert view["nodes"][0] == {
        "id": yemen,
        "label": "ENTITY",
        "name": "Yemen",
        "hops": 0,
        "node": {"__typename": "Entity"},
    }
    shown = {n["id"] for n in view["nodes"]}
    for edge in view["edges"]:
        assert edge["relationship"] == "INVOLVES" and {edge["source"], edge["target"]} <= shown
        assert edge["id"] == f"INVOLVES:{edge['source']}:{edge['target']}:"
        assert edge["label"].startswith("involves")
    assert {n["label"] for n in view["nodes"][1:]} <= {"EVENT", "ENTITY"}
    again = server.data(NEIGHBOURHOOD, {"id": yemen, "limit": 12})["neighbourhood"]
    assert again == view
    assert "between 1 and 100" in error(server, NEIGHBOURHOOD, {"id": yemen, "limit": 101})


RANKINGS = """query($metric: Metric!, $after: String) {
  rankings(from: "2015-09-01", to: "2015-09-30", metric: $metric, first: 5, after: $after) {
    metric from to eventsScanned entityCount linkCount complete bounds { name }
    entities { rank score sharedEvents partners entity { id name } }
    pageInfo { hasNextPage endCursor }
    communities(first: 3) { size members(first: 2) { name } } } }"""


def test_rankings_and_communities(server: Server) -> None:
    degree = server.data(RANKINGS, {"metric": "DEGREE"})["rankings"]
    assert degree["eventsScanned"] == 427 and degree["complete"]
    ranked = degree["entities"]
    assert [r["rank"] for r in ranked] == [1, 2, 3, 4, 5]
    assert ranked[0]["entity"]["name"] == "United States"
    assert [r["score"] for r in ranked] == sorted((r["score"] for r in ranked), reverse=True)
    assert all(r["score"] == r["sharedEvents"] for r in ranked)  # weighted degree
    after = degree["pageInfo"]["endCursor"]
    following = server.data(RANKINGS, {"metric": "DEGREE", "after": after})["rankings"]
    assert following["entities"][0]["rank"] == 6
    sizes = [c["size"] for c in degree["communities"]]
    assert len(sizes) == 3 and sizes == sorted(sizes, reverse=True)
    pagerank = server.data(RANKINGS, {"metric": "PAGERANK"})["rankings"]
    assert 0 < pagerank["entities"][0]["score"] < 1
    assert pagerank["communities"] == degree["communities"]  # the same graph, seeded
