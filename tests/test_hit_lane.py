"""The hit lane (api.hit_lane) answers exactly what the whole way answers, on each store kind.

Two apps with a response cache serve one loaded store: one with the lanes on (the default),
one with them off. Each request is asked of both, three times (a miss, a hit the whole way
that the lane records, then a hit the lane answers); status, body and headers must be equal
each time, and the tests check which requests the lane answered: an anonymous JSON POST the
cache holds, and nothing else (tokens, GETs, CORS requests with an Origin, analytics fields),
never an answer a write changed.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette

from api.app import create_app
from api.config import AppConfig
from api.hit_lane import Counts, HitLane
from api.response_cache import CACHE_HEADER
from api.tokens import Tokens
from graph.model import Label, NodeWrite, PropertyWrite, WriteBatch
from graph.store import GraphStore
from tests.support.graphql import PAGE_QUERY, GraphQLClient

EDITOR = "editor-token-0123456789abcdefghijklmnop"
EVENTS = "{ events(first: 10) { edges { node { id summary } } } }"
SEARCH = '{ search(text: "Lukashenko") { __typename } }'
# Headers that say when an answer was made, not what it is.
VARYING = {"date", "server"}


class Client(GraphQLClient):
    def ask(self, body: Any, headers: dict[str, str], method: str = "POST") -> httpx.Response:
        if method == "GET":
            params = {"query": body["query"]}
            return self._runner.run(self._http.get("/graphql", params=params, headers=headers))
        return self._runner.run(self._http.post("/graphql", json=body, headers=headers))

    def metrics(self) -> str:
        return self._runner.run(self._http.get("/metrics")).text


def _app(store: GraphStore, lanes: bool, **config: Any) -> Starlette:
    tokens = Tokens.configured(f"editor:alice:{EDITOR}")
    return create_app(store, tokens, AppConfig(fast_lane=lanes, **config))


def _client(store: GraphStore, lanes: bool, **config: Any) -> Client:
    return Client(_app(store, lanes, **config))


@pytest.fixture
def lanes(sampled: GraphStore) -> Iterator[tuple[Client, Client]]:
    lane, whole = _client(sampled, True), _client(sampled, False)
    try:
        yield lane, whole
    finally:
        lane.close()
        whole.close()


def _answer(response: httpx.Response) -> tuple[int, dict[str, str], bytes]:
    headers = {k: v for k, v in response.headers.items() if k not in VARYING}
    return response.status_code, headers, response.content


def _thrice(
    lanes: tuple[Client, Client],
    body: Any,
    headers: dict[str, str] | None = None,
    method: str = "POST",
) -> tuple[list[str | None], int]:
    """Ask both apps three times, each answer equal to the other app's; the cache's outcome
    of each asking, and how many the lane answered."""
    lane, whole = lanes
    sent = headers or {}
    before = Counts.answered
    outcomes = []
    for _ in range(3):
        expected = _answer(whole.ask(body, sent, method))
        got = _answer(lane.ask(body, sent, method))
        assert got == expected
        outcomes.append(got[1].get(CACHE_HEADER))
    return outcomes, Counts.answered - before


def _page(event_id: str) -> dict[str, Any]:
    return {"query": PAGE_QUERY, "variables": {"id": event_id}}


def _events(lanes: tuple[Client, Client]) -> list[str]:
    """The events' ids, asked of both apps (so that both caches saw the same requests)."""
    edges = [client.data(EVENTS)["events"]["edges"] for client in lanes][1]
    return [edge["node"]["id"] for edge in edges]


def test_a_page_the_cache_holds_is_answered_the_same_in_the_lane(
    lanes: tuple[Client, Client],
) -> None:
    for event_id in _events(lanes)[:3]:
        outcomes, answered = _thrice(lanes, _page(event_id))
        assert outcomes == ["miss", "hit", "hit"]
        assert answered == 1  # the third: the second was recorded
    # another media type is another answer, recorded on its own
    outcomes, answered = _thrice(
        lanes, _page(_events(lanes)[0]), {"Accept": "application/graphql-response+json"}
    )
    assert outcomes == ["miss", "hit", "hit"]
    assert answered == 1


def test_a_compressed_answer_is_answered_compressed(lanes: tuple[Client, Client]) -> None:
    event_id = _events(lanes)[0]
    zipped = {"Accept-Encoding": "gzip"}
    outcomes, answered = _thrice(lanes, _page(event_id), zipped)
    assert answered == 1
    # (httpx decompresses the body; the headers say how it came)
    got = lanes[0].ask(_page(event_id), zipped)
    assert got.headers["content-encoding"] == "gzip"
    assert "accept-encoding" in got.headers["vary"].lower()
    assert got.content == lanes[0].ask(_page(event_id), {}).content


def test_a_write_drops_what_the_lane_recorded(
    lanes: tuple[Client, Client], sampled: GraphStore
) -> None:
    lane, whole = lanes
    event_id = _events(lanes)[0]
    _thrice(lanes, _page(event_id))
    entity = lane.data(PAGE_QUERY, {"id": event_id})["event"]["entities"][0]["entity"]
    renamed = PropertyWrite(set={"name": "Renamed Person"})
    sampled.write(WriteBatch(nodes=[NodeWrite(entity["id"], Label.ENTITY, renamed)]))
    before = Counts.answered
    after = lane.ask(_page(event_id), {})
    assert after.headers[CACHE_HEADER] == "miss"
    names = [e["entity"]["name"] for e in after.json()["data"]["event"]["entities"]]
    assert "Renamed Person" in names
    # the same answer (the entry each app's reads include is read as each answers: on Neo4j
    # the log's head may move between them)
    assert _answer(after)[2] == _answer(whole.ask(_page(event_id), {}))[2]
    assert Counts.answered == before
    # and the new answer goes the lane's way in its turn (recorded at its first hit)
    outcomes, answered = _thrice(lanes, _page(event_id))
    assert (outcomes, answered) == (["hit", "hit", "hit"], 2)


def test_only_anonymous_posts_without_analytics_take_the_lane(
    lanes: tuple[Client, Client],
) -> None:
    event_id = _events(lanes)[0]
    # a token's answer is never kept: the lane never sees it
    token = {"Authorization": f"Bearer {EDITOR}"}
    assert _thrice(lanes, _page(event_id), token) == ([None, None, None], 0)
    # a GET: its validators are made for each request
    listing = "{ events(first: 3) { edges { node { id } } } }"
    outcomes, answered = _thrice(lanes, {"query": listing}, method="GET")
    assert (outcomes, answered) == (["miss", "hit", "hit"], 0)
    # an analytics field: its pace charges it as it is answered
    outcomes, answered = _thrice(lanes, {"query": SEARCH})
    assert (outcomes, answered) == (["miss", "hit", "hit"], 0)


def test_a_cors_request_goes_the_whole_way(sampled: GraphStore) -> None:
    site = "https://site.example"
    lanes = (
        _client(sampled, True, cors_origins=(site,)),
        _client(sampled, False, cors_origins=(site,)),
    )
    try:
        event_id = _events(lanes)[0]
        outcomes, answered = _thrice(lanes, _page(event_id), {"Origin": site})
        assert (outcomes, answered) == (["miss", "hit", "hit"], 0)
        assert (
            lanes[0].ask(_page(event_id), {"Origin": site}).headers["access-control-allow-origin"]
            == site
        )
        # without an Origin (a CDN's request), the lane answers
        assert _thrice(lanes, _page(_events(lanes)[1]))[1] == 1
    finally:
        for client in lanes:
            client.close()


def test_the_lanes_answers_are_counted(lanes: tuple[Client, Client]) -> None:
    lane, whole = lanes
    for event_id in _events(lanes)[:2]:
        _thrice(lanes, _page(event_id))

    def counted(client: Client) -> dict[str, str]:
        lines = client.metrics().splitlines()
        wanted = (
            'newsgraph_requests_total{operation="query",route="/graphql",status="200"}',
            'newsgraph_request_duration_seconds_count{operation="query",route="/graphql"}',
            'newsgraph_response_cache_total{outcome="hit"}',
            'newsgraph_response_cache_total{outcome="miss"}',
        )
        return {w: line.rsplit(" ", 1)[1] for line in lines for w in wanted if line.startswith(w)}

    assert counted(lane) == counted(whole)
    assert len(counted(lane)) == 4


def test_the_lane_answers_every_page_the_cache_holds(sampled: GraphStore) -> None:
    # A cache sized for the pages, several times over: the lane answers every page it holds,
    # asked without compression (as the benchmark's client and many a CDN ask).
    # (Its records of identity answers share their bodies with the cache; counted again, the
    # lane held a quarter of the cache's bytes and the tail of the pages went the whole way
    # on every hit.)
    plain = {"Accept-Encoding": "identity"}
    probe = _client(sampled, False)
    try:
        ids = _events((probe, probe))
        total = sum(len(probe.ask(_page(event_id), plain).content) for event_id in ids)
    finally:
        probe.close()
    assert len(ids) >= 3
    lane = _client(sampled, True, response_cache_bytes=3 * total)
    try:
        for _ in range(2):  # kept, then recorded
            for event_id in ids:
                lane.ask(_page(event_id), plain)
        before = Counts.answered
        for event_id in ids:
            answer = lane.ask(_page(event_id), plain)
            assert answer.headers[CACHE_HEADER] == "hit"
            assert "content-encoding" not in answer.headers
        assert Counts.answered - before == len(ids)
    finally:
        lane.close()


def _lane(app: Starlette) -> HitLane:
    """The hit lane in front of `app` (built at its first request)."""
    layer: Any = app.middleware_stack
    while not isinstance(layer, HitLane):
        layer = layer.app
    return layer


def test_a_record_goes_when_the_cache_drops_its_answer(sampled: GraphStore) -> None:
    # Room for about two of the pages: the cache evicts, a write invalidates; the lane keeps
    # no record of an answer the cache let go of (it would hold bytes nothing counts).
    plain = {"Accept-Encoding": "identity"}
    probe = _client(sampled, False)
    try:
        ids = _events((probe, probe))
        sizes = [len(probe.ask(_page(event_id), plain).content) for event_id in ids]
    finally:
        probe.close()
    app = _app(sampled, True, response_cache_bytes=sum(sorted(sizes)[-2:]) + 600)
    lane = Client(app)
    try:
        for event_id in ids:
            for _ in range(3):
                lane.ask(_page(event_id), plain)
        cache = _lane(app).cached.cache
        recorded = _lane(app).recorded

        def kept_bodies() -> set[int]:
            return {id(kept[2]) for kept in cache._entries.values()}

        assert 0 < len(recorded) < len(ids)  # one at least was evicted, with its record
        assert {id(r.source) for r in recorded.values()} <= kept_bodies()
        entity = lane.data(PAGE_QUERY, {"id": ids[-1]})["event"]["entities"][0]["entity"]
        renamed = PropertyWrite(set={"name": "Renamed Person"})
        sampled.write(WriteBatch(nodes=[NodeWrite(entity["id"], Label.ENTITY, renamed)]))
        assert lane.ask(_page(ids[-1]), plain).headers[CACHE_HEADER] == "miss"
        recorded = _lane(app).recorded
        assert {id(r.source) for r in recorded.values()} <= kept_bodies()
    finally:
        lane.close()
