"""The fast lane (api.fastlane) answers exactly what the whole way answers, on each store kind.

Two apps serve one loaded store: one with the fast lane (the default), one with it off. Every
request goes to the second, then twice to the first (the whole way's answer teaches the fast
lane the document: the documents known are the process's), then to the second again; status,
body and headers must be equal each time, and the tests check which requests the fast lane answered:
an anonymous POST or GET of a document answered before, and nothing else (tokens, other media
types, persisted queries, errors, refusals by the variables' limits or the cost budget).
"""

from __future__ import annotations

import gc
import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from api.app import create_app
from api.config import AppConfig
from api.fastlane import KNOWN, Counts
from api.response_cache import CACHE_HEADER
from api.tokens import Tokens
from graph.model import Edge, Node
from graph.store import GraphStore
from tests.support.graphql import PAGE_QUERY, GraphQLClient, bearer

EDITOR = "editor-token-0123456789abcdefghijklmnop"
EVENTS = """query Events($first: Int!, $after: String) {
  events(first: $first, after: $after) {
    totalCount
    edges { cursor node { id summary occurredOn entities { entity { name type } roles } } }
    pageInfo { hasNextPage endCursor }
  }
}"""
TWO = """
query One($id: ID!) { event(id: $id) { id summary } }
query Two($id: ID!) { event(id: $id) { id category sources { name } } }
"""
# Headers that say when or how an answer was made, not what it is.
VARYING = {"date", "server"}


class Client(GraphQLClient):
    def send(self, method: str, body: Any, headers: dict[str, str]) -> httpx.Response:
        if method == "GET_METRICS":
            request = self._http.get("/metrics")
        elif method == "GET":
            params = {k: v if isinstance(v, str) else json.dumps(v) for k, v in body.items()}
            request = self._http.get("/graphql", params=params, headers=headers)
        elif isinstance(body, bytes):
            request = self._http.post("/graphql", content=body, headers=headers)
        else:
            request = self._http.post("/graphql", json=body, headers=headers)
        return self._runner.run(request)


def _client(store: GraphStore, fast: bool, **config: Any) -> Client:
    tokens = Tokens.configured(f"editor:alice:{EDITOR}")
    settings = AppConfig(**{"response_cache_bytes": 0, "fast_lane": fast, **config})
    return Client(create_app(store, tokens, settings))


@pytest.fixture
def lanes(sampled: GraphStore) -> Iterator[tuple[Client, Client]]:
    KNOWN.clear()
    fast, whole = _client(sampled, True), _client(sampled, False)
    try:
        yield fast, whole
    finally:
        fast.close()
        whole.close()


def _answer(response: httpx.Response) -> tuple[int, dict[str, str], Any]:
    headers = {k: v for k, v in response.headers.items() if k not in VARYING}
    try:
        body = response.json()
    except ValueError:  # strawberry's refusals are plain text
        body = response.text
    return response.status_code, headers, body


def _both(
    lanes: tuple[Client, Client],
    body: Any,
    *,
    method: str = "POST",
    headers: dict[str, str] | None = None,
) -> tuple[Any, int]:
    """The answer of both apps, asked twice each (equal every time), and how many of the two
    asks of the fast app the fast lane answered."""
    fast, whole = lanes
    sent = headers or {}
    expected = _answer(whole.send(method, body, sent))
    before = Counts.answered
    for _ in range(2):
        assert _answer(fast.send(method, body, sent)) == expected
    assert _answer(whole.send(method, body, sent)) == expected
    return expected, Counts.answered - before


def _counts(client: Client) -> dict[tuple[str, str], float]:
    """/graphql requests by operation type and status, from the app's /metrics."""
    text = client.send("GET_METRICS", None, {}).text
    counts: dict[tuple[str, str], float] = {}
    for line in text.splitlines():
        if line.startswith("newsgraph_requests_total{") and 'route="/graphql"' in line:
            labels = dict(
                part.split("=") for part in line[line.index("{") + 1 : line.index("}")].split(",")
            )
            key = (labels["operation"].strip('"'), labels["status"].strip('"'))
            counts[key] = float(line.rsplit(" ", 1)[1])
    return counts


def _events(lanes: tuple[Client, Client]) -> list[str]:
    data = lanes[1].data(EVENTS, {"first": 50})["events"]
    return [edge["node"]["id"] for edge in data["edges"]]


def test_every_page_answers_the_same_in_the_fast_lane(lanes: tuple[Client, Client]) -> None:
    ids = _events(lanes)
    assert len(ids) >= 3
    taken = 0
    for event_id in ids:
        (status, headers, answer), fast = _both(
            lanes, {"query": PAGE_QUERY, "variables": {"id": event_id}}
        )
        assert status == 200 and "errors" not in answer
        assert answer["data"]["event"]["id"] == event_id
        assert headers["content-type"] == "application/json"
        taken += fast
    # the whole way's first answer taught the fast lane: every ask of the fast app is its
    assert taken == 2 * len(ids)
    # and /metrics counts them as it counts the whole way's (both apps got the same requests,
    # the whole one once more for the list of events)
    counted, whole_counted = (_counts(client) for client in lanes)
    assert counted["query", "200"] == whole_counted["query", "200"] - 1 == 2 * len(ids)


def test_a_page_answered_leaves_nothing_it_read_to_the_collector(
    lanes: tuple[Client, Client],
) -> None:
    """Once the fast lane has answered pages, the nodes and relationships they read are freed
    at once, not left in reference cycles for the collector to find: it walks what cycles
    hold, and on Neo4j (a page's nodes are read for it) those walks were the slowest pages'
    pauses (docs/neo4j.md, "Pauses")."""
    fast, _ = lanes
    ids = _events(lanes)[:10]
    for event_id in ids:  # the whole way's answers teach the fast lane the document
        fast.data(PAGE_QUERY, {"id": event_id})
    gc.collect()
    gc.disable()
    try:
        before = Counts.answered
        for event_id in ids:
            assert fast.data(PAGE_QUERY, {"id": event_id})["event"]["id"] == event_id
        assert Counts.answered - before == len(ids)
        gc.set_debug(gc.DEBUG_SAVEALL)  # what the collector finds is kept, to be looked at
        gc.collect()
        left = [o for o in gc.garbage if isinstance(o, Node | Edge)]
    finally:
        gc.set_debug(0)
        gc.garbage.clear()
        gc.enable()
    assert not left, left[:3]


def test_listings_aliases_and_operations_by_name(lanes: tuple[Client, Client]) -> None:
    ids = _events(lanes)
    first, _ = _both(lanes, {"query": EVENTS, "variables": {"first": 2}})
    cursor = first[2]["data"]["events"]["pageInfo"]["endCursor"]
    _, fast = _both(lanes, {"query": EVENTS, "variables": {"first": 2, "after": cursor}})
    assert fast == 2
    for name in ("One", "Two"):
        body = {"query": TWO, "variables": {"id": ids[0]}, "operationName": name}
        (status, _, answer), fast = _both(lanes, body)
        assert status == 200 and answer["data"]["event"]["id"] == ids[0]
        assert fast == 2  # each operation of the document is learnt on its own
    # no operation name in a document of two operations: strawberry's to decide (it runs the
    # first), the fast lane leaves it alone
    _, fast = _both(lanes, {"query": TWO, "variables": {"id": ids[0]}})
    assert fast == 0


def test_errors_and_unknown_ids_take_the_whole_way(lanes: tuple[Client, Client]) -> None:
    ids = _events(lanes)
    _both(lanes, {"query": PAGE_QUERY, "variables": {"id": ids[0]}})
    (status, _, answer), fast = _both(lanes, {"query": PAGE_QUERY, "variables": {"id": "ev_nope"}})
    assert fast == 0 and status == 200
    assert "no event with id 'ev_nope'" in answer["errors"][0]["message"]
    # a variable of the wrong type, a missing one, one too long
    for variables in ({"id": 5}, {}, {"id": "x" * 20_000}):
        (_, _, answer), fast = _both(lanes, {"query": PAGE_QUERY, "variables": variables})
        assert fast == 0 and answer["errors"], variables


def test_the_cost_budget_holds_in_the_fast_lane(sampled: GraphStore) -> None:
    fast, whole = _client(sampled, True, max_cost=400), _client(sampled, False, max_cost=400)
    try:
        lanes = (fast, whole)
        (_, _, answer), taken = _both(lanes, {"query": EVENTS, "variables": {"first": 2}})
        assert "errors" not in answer and taken == 2
        (_, _, answer), taken = _both(lanes, {"query": EVENTS, "variables": {"first": 100}})
        assert taken == 0
        assert answer["errors"][0]["extensions"]["code"] == "COST_LIMIT"
    finally:
        fast.close()
        whole.close()


def test_only_anonymous_json_posts_take_the_fast_lane(lanes: tuple[Client, Client]) -> None:
    ids = _events(lanes)
    page = {"query": PAGE_QUERY, "variables": {"id": ids[0]}}
    _both(lanes, page)  # learnt
    # what strawberry alone handles: tokens, persisted queries, batches, other bodies, GETs
    # with empty variables or a name given twice, mutations
    for method, body, headers in (
        ("POST", page, bearer(EDITOR)),
        ("GET", page, bearer(EDITOR)),
        ("POST", {**page, "extensions": {}}, {}),
        ("GET", {**page, "extensions": {}}, {}),
        ("GET", {**page, "variables": ""}, {}),
        ("GET", {"query": "mutation { __typename }"}, {}),
        ("POST", [page], {}),
        ("POST", json.dumps(page).encode(), {"content-type": "text/plain"}),
        ("POST", page, {"accept": "text/event-stream"}),
    ):
        (status, _, answer), fast = _both(lanes, body, method=method, headers=headers)
        assert fast == 0, (method, headers, answer)
    # a GET of a known document (as a CDN-cached page asks): the fast lane's, its ETag and
    # Cache-Control from the same middleware
    (status, answered, _), fast = _both(lanes, page, method="GET")
    assert status == 200 and fast == 2
    assert answered["etag"] and answered["cache-control"].startswith("public")
    # the media type asked for is answered by the same middleware on both lanes
    (_, answered, _), fast = _both(
        lanes, page, headers={"accept": "application/graphql-response+json"}
    )
    assert answered["content-type"].startswith("application/graphql-response+json")
    assert fast == 2


def test_bad_bodies_are_refused_alike(lanes: tuple[Client, Client]) -> None:
    ids = _events(lanes)
    _both(lanes, {"query": PAGE_QUERY, "variables": {"id": ids[0]}})
    for body in (b"{", b"[]", b'{"query": 5}', b'{"query": "{ event(id: \\"x\\") { id } }", '):
        (status, _, answer), fast = _both(lanes, body, headers={"content-type": "application/json"})
        assert fast == 0 and status == 400, (body, answer)


def test_a_document_learnt_under_looser_limits_is_refused_alike(sampled: GraphStore) -> None:
    # The apps of one process share the schema, and so its documents known: one learnt by an
    # app whose literal strings may be longer is still refused by the validation of an app
    # whose may not (api.limits.string_length_rule).
    KNOWN.clear()
    loose = _client(sampled, True)
    strict, strict_whole = (_client(sampled, fast, max_string_length=8) for fast in (True, False))
    try:
        event_id = _events((loose, loose))[0]
        assert len(event_id) > 8
        body = {"query": f'{{ event(id: "{event_id}") {{ id summary }} }}'}
        for _ in range(2):
            assert "errors" not in loose.send("POST", body, {}).json()
        before = Counts.answered
        expected = _answer(strict_whole.send("POST", body, {}))
        assert "longer than 8 characters" in expected[2]["errors"][0]["message"]
        assert _answer(strict.send("POST", body, {})) == expected
        assert Counts.answered == before
    finally:
        for client in (loose, strict, strict_whole):
            client.close()


def test_with_the_response_cache_the_lane_answers_misses_the_cache_keeps(
    sampled: GraphStore,
) -> None:
    """The response cache on (the default size) in both apps: a page asked for the first time
    is a miss the fast lane answers (the whole way's first answer taught it the document),
    kept by the cache like the whole way's; asked again, both answer it from the cache, the
    same bytes and headers."""
    size = 8 * 1024 * 1024
    fast, whole = (
        _client(sampled, True, response_cache_bytes=size),
        _client(sampled, False, response_cache_bytes=size),
    )
    try:
        lanes = (fast, whole)
        ids = _events(lanes)
        for event_id in ids:
            page = {"query": PAGE_QUERY, "variables": {"id": event_id}}
            expected = _answer(whole.send("POST", page, {}))
            before = Counts.answered
            first = _answer(fast.send("POST", page, {}))
            assert Counts.answered - before == 1  # a miss: the fast lane's
            assert first == expected and first[1][CACHE_HEADER] == "miss"
            again = _answer(fast.send("POST", page, {}))
            assert Counts.answered - before == 1  # a hit: the cache's
            assert again[1][CACHE_HEADER] == "hit"
            assert again[2] == expected[2] == _answer(whole.send("POST", page, {}))[2]
    finally:
        fast.close()
        whole.close()
