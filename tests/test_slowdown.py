"""The slow-down of what an abusive client repeats (api/slowdown.py, docs/security.md), in
process: a client's refusals and introspection answers past their rates wait for its window,
or past the bound are a 429 with Retry-After; other clients and its pages are not held back;
empty rates turn it off. The same against a real `newsgraph serve`: tests/test_abuse_served.py.

No assertion on time: a wait is seen in what the pace counted (`SlowDown.delayed`), and the
bound in the 429 that replaces an answer still not allowed (a rate of 1/hour, a bound of a
tenth of a second)."""

from __future__ import annotations

import asyncio
import hashlib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from graphql import get_introspection_query
from starlette.applications import Starlette

from api.app import create_app
from api.config import AppConfig
from api.slowdown import ANALYTICS_FLOOR, SlowDown, TokenBucket
from graph.embedded import EmbeddedStore
from newsgraph.settings import Settings, SettingsError, load_settings
from newsgraph.wiring import app_arguments

PROXY = "198.51.100.1"  # the trusted proxy the requests come through
PAGE = {"query": "{ events(first: 1) { edges { node { id } } } }"}
INTROSPECTION = {"query": get_introspection_query()}
# a GraphQL refusal answered 200 with the legacy media type: the variables' limit
_NAMES = [f"v{i}" for i in range(51)]
TOO_MANY_VARIABLES = {
    "query": "query("
    + ", ".join(f"${n}: ID!" for n in _NAMES)
    + ") { events(filter: {entities: ["
    + ", ".join(f"${n}" for n in _NAMES)
    + "]}) { edges { node { id } } } }",
    "variables": {n: "x" for n in _NAMES},
}


@pytest.fixture
def store(tmp_path: Path) -> Iterator[EmbeddedStore]:
    store = EmbeddedStore(tmp_path / "store")
    store.setup()
    yield store
    store.close()


def make_app(store: EmbeddedStore, **options: Any) -> Starlette:
    config = AppConfig(trusted_proxies=(PROXY,), **{"slowdown_max_delay": 0.1, **options})
    return create_app(store, config=config)


def slowdown_of(app: Starlette) -> SlowDown:
    slowdown = app.state.slowdown
    assert isinstance(slowdown, SlowDown)
    return slowdown


def send(app: Starlette, requests: list[tuple[str, Any]]) -> list[httpx.Response]:
    """Each (client address, body) in turn, through the trusted proxy: a dict is posted as
    JSON, bytes as they are."""

    async def scenario() -> list[httpx.Response]:
        transport = httpx.ASGITransport(app=app, client=(PROXY, 1234))
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
            answers = []
            for client, body in requests:
                headers = {"X-Forwarded-For": client, "content-type": "application/json"}
                content = body if isinstance(body, bytes) else json.dumps(body).encode()
                answers.append(await http.post("/graphql", content=content, headers=headers))
            return answers

    return asyncio.run(scenario())


def refused_for_the_pace(response: httpx.Response) -> bool:
    if response.status_code != 429:
        return False
    error = response.json()["errors"][0]
    return error["extensions"]["code"] == "RATE_LIMITED" and "try again in" in error["message"]


@pytest.mark.parametrize("body", [b"not json", TOO_MANY_VARIABLES], ids=["400", "graphql"])
def test_refusals_past_the_rate_and_the_bound_are_a_429_with_retry_after(
    store: EmbeddedStore, body: Any
) -> None:
    app = make_app(store, refusal_rate="1/hour")
    first, second = send(app, [("203.0.113.1", body), ("203.0.113.1", body)])
    assert not refused_for_the_pace(first)
    assert first.status_code == 400 or "51 variables" in first.text
    assert refused_for_the_pace(second), second.text
    assert "refused requests" in second.text and "1/hour" in second.text
    assert 3000 < int(second.headers["retry-after"]) <= 3600
    assert slowdown_of(app).turned_away["refusal"] == 1


def test_a_body_over_the_limit_is_held_back_before_its_413(store: EmbeddedStore) -> None:
    app = make_app(store, refusal_rate="1/hour", max_body_bytes=1000)
    big = b'{"query": "' + b"x" * 2000 + b'"}'
    first, second = send(app, [("203.0.113.1", big), ("203.0.113.1", big)])
    assert first.status_code == 413
    assert refused_for_the_pace(second)


def test_a_refusal_past_the_rate_waits_for_its_window_then_gets_its_own_answer(
    store: EmbeddedStore,
) -> None:
    # the second refusal comes well within 2 s of the first: it waits until the window has
    # room again (within the bound of 5 s), then is answered as it would have been
    app = make_app(store, refusal_rate="1 per 2 seconds", slowdown_max_delay=5.0)
    first, second = send(app, [("203.0.113.1", b"not json"), ("203.0.113.1", b"not json")])
    assert first.status_code == second.status_code == 400
    assert "not JSON" in second.text
    slowdown = slowdown_of(app)
    assert (slowdown.delayed["refusal"], slowdown.turned_away["refusal"]) == (1, 0)


def test_other_clients_and_the_pages_of_a_slowed_client_are_not_held_back(
    store: EmbeddedStore,
) -> None:
    app = make_app(store, refusal_rate="1/hour")
    slowed, other = "203.0.113.1", "203.0.113.2"
    answers = send(
        app,
        [
            (slowed, b"not json"),
            (slowed, b"not json"),  # over its rate: 429
            (slowed, PAGE),
            (slowed, PAGE),
            (other, b"not json"),  # another client behind the same proxy: its own answer
            (slowed, PAGE),
        ],
    )
    assert [a.status_code for a in answers] == [400, 429, 200, 200, 400, 200]
    assert all("errors" not in a.json() for a in answers[2:4] + answers[5:])
    slowdown = slowdown_of(app)
    assert slowdown.turned_away == {"refusal": 1}
    assert not slowdown.delayed


def test_introspection_past_its_rate_is_held_back(store: EmbeddedStore) -> None:
    app = make_app(store, introspection_rate="1/hour")
    # introspecting beside other fields is introspection too (and is not kept by the
    # response cache, which would answer it past the pace)
    mixed = {"query": '{ __type(name: "Event") { name } events(first: 1) { edges { cursor } } }'}
    client = "203.0.113.1"
    answers = send(
        app,
        [
            (client, INTROSPECTION),
            (client, INTROSPECTION),
            (client, mixed),
            (client, PAGE),
            ("203.0.113.2", INTROSPECTION),
        ],
    )
    assert answers[0].status_code == 200 and "__schema" in answers[0].json()["data"]
    assert refused_for_the_pace(answers[1]) and "introspection queries" in answers[1].text
    assert refused_for_the_pace(answers[2])
    assert answers[3].status_code == 200 and "errors" not in answers[3].json()
    assert answers[4].status_code == 200 and "__schema" in answers[4].json()["data"]
    assert slowdown_of(app).turned_away == {"introspection": 2}


def test_introspection_past_its_rate_waits_then_is_answered(store: EmbeddedStore) -> None:
    app = make_app(store, introspection_rate="1 per 2 seconds", slowdown_max_delay=5.0)
    answers = send(app, [("203.0.113.1", INTROSPECTION)] * 2)
    assert all(a.status_code == 200 and "__schema" in a.json()["data"] for a in answers)
    assert slowdown_of(app).delayed == {"introspection": 1}


def test_empty_rates_turn_the_slow_down_off(store: EmbeddedStore) -> None:
    app = make_app(
        store, refusal_rate="", introspection_rate="", analytics_time_rate=0, body_rate=0
    )
    answers = send(app, [("203.0.113.1", b"not json")] * 25 + [("203.0.113.1", INTROSPECTION)] * 8)
    assert [a.status_code for a in answers] == [400] * 25 + [200] * 8
    assert not slowdown_of(app).active


SEARCH = {"query": '{ search(text: "a", first: 5) { __typename } }'}
TIMELINE = {
    "query": "{ entities(first: 1) { edges { node { timelineBuckets(interval: YEAR, "
    'from: "2000-01-01", to: "2030-01-01") { total } } } } }'
}


def test_a_clients_analytics_time_is_a_token_bucket_of_seconds() -> None:
    # 0.5 s of analytics a second, 1 s at once: the moments are given, nothing sleeps
    bucket = TokenBucket(rate=0.5, burst=1.0, max_delay=5.0)
    assert bucket.owed("a", 100.0) == 0
    bucket.charge("a", 0.8, 100.0)  # within the burst
    assert bucket.owed("a", 100.0) == 0
    bucket.charge("a", 0.7, 100.0)  # 1.5 s taken: 0.5 s over the burst, paid in 1 s
    assert bucket.owed("a", 100.0) == pytest.approx(1.0)
    assert bucket.owed("a", 100.6) == pytest.approx(0.4)
    assert bucket.owed("a", 101.0) == 0
    assert bucket.owed("b", 100.0) == 0  # each client its own
    # an answer however fast (from the response cache) is charged the floor
    bucket.charge("c", 0.0, 100.0)
    for _ in range(int(1.0 / ANALYTICS_FLOOR)):
        bucket.charge("c", 0.0, 100.0)
    assert bucket.owed("c", 100.0) == pytest.approx(ANALYTICS_FLOOR / 0.5)


def test_a_client_past_its_analytics_time_waits_before_they_run_not_its_pages(
    store: EmbeddedStore,
) -> None:
    # each analytics operation costs 10 s of a rate of 1 ms a second at least (the floor):
    # the burst of 15 s lets one or two through (as fast as they were), never three: then the
    # client owes more than the bound
    app = make_app(store, analytics_time_rate=0.001, analytics_time_burst=0.015)
    slowed, other = "203.0.113.1", "203.0.113.2"
    answers = send(
        app,
        [(slowed, SEARCH)] * 3
        + [(slowed, TIMELINE), (slowed, PAGE), (other, SEARCH), (slowed, PAGE)],
    )
    codes = [a.status_code for a in answers]
    assert codes[0] == 200 and codes[2:] == [429, 429, 200, 200, 200], codes
    turned = [a for a in answers if a.status_code == 429]
    for answer in turned:
        assert refused_for_the_pace(answer)
        assert "too many analytics from this client (more than 0.001 s" in answer.text
        assert int(answer.headers["retry-after"]) >= 4
    assert all("errors" not in a.json() for a in answers if a.status_code == 200)
    assert slowdown_of(app).turned_away == {"analytics": len(turned)}


def test_a_persisted_analytics_query_is_paced_by_its_hash(store: EmbeddedStore) -> None:
    # three operations at most fit in the burst: the hash alone is paced as its query is
    app = make_app(store, analytics_time_rate=0.001, analytics_time_burst=0.03)
    query = SEARCH["query"]
    digest = hashlib.sha256(query.encode()).hexdigest()
    extensions = {"persistedQuery": {"version": 1, "sha256Hash": digest}}
    client = "203.0.113.3"
    answers = send(
        app,
        [(client, {"query": query, "extensions": extensions})]
        + [(client, {"extensions": extensions})] * 4,
    )
    assert answers[0].status_code == 200 and "errors" not in answers[0].json()
    assert refused_for_the_pace(answers[-1]) and "analytics" in answers[-1].text


def test_analytics_past_the_time_wait_then_are_answered(store: EmbeddedStore) -> None:
    # 10 ms at least each, 0.1 s a second, a burst of 5 ms: the second waits about 50 ms,
    # within the bound, then runs as it would have
    app = make_app(store, analytics_time_rate=0.1, analytics_time_burst=0.005, slowdown_max_delay=5)
    answers = send(app, [("203.0.113.4", SEARCH)] * 2)
    assert [a.status_code for a in answers] == [200, 200]
    assert all("errors" not in a.json() for a in answers)
    assert slowdown_of(app).delayed == {"analytics": 1}


def _big(padding: int) -> bytes:
    """A page's query made big with a comment (a valid operation of `padding` more bytes)."""
    return json.dumps({"query": "# " + "x" * padding + "\n" + PAGE["query"]}).encode()


def test_an_anonymous_clients_big_bodies_are_paced_by_their_bytes(store: EmbeddedStore) -> None:
    """Bodies over 16 KiB cost their size from a bucket of bytes (here 40 KiB at once, then
    next to nothing a second): past it, the client's next big body waits, then is a 429 with
    Retry-After, read by nothing; its small bodies (pages), another client's big ones and a
    token holder's are answered."""
    app = make_app(store, body_rate=1, body_burst=40_000)
    big = _big(20_000)
    answers = send(
        app,
        [("203.0.113.7", big)] * 3
        + [("203.0.113.7", PAGE), ("203.0.113.8", big), ("203.0.113.7", big)],
    )
    assert [a.status_code for a in answers] == [200, 200, 429, 200, 200, 429]
    assert refused_for_the_pace(answers[2])
    assert "large request bodies" in answers[2].json()["errors"][0]["message"]
    assert int(answers[2].headers["retry-after"]) >= 1
    assert all("errors" not in a.json() for a in answers[:2] + answers[3:5])
    assert slowdown_of(app).turned_away["bodies"] == 2


def test_a_big_body_past_the_pace_waits_then_is_answered(store: EmbeddedStore) -> None:
    app = make_app(store, body_rate=20_000, body_burst=30_000, slowdown_max_delay=5)
    answers = send(app, [("203.0.113.9", _big(20_000))] * 3)
    assert [a.status_code for a in answers] == [200, 200, 200]
    assert slowdown_of(app).delayed["bodies"] >= 1


def test_the_rates_are_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("REFUSAL_RATE", "INTROSPECTION_RATE", "SLOWDOWN_MAX_DELAY"):
        monkeypatch.delenv(f"NEWSGRAPH_{name}", raising=False)
    defaults = Settings()
    assert (defaults.refusal_rate, defaults.introspection_rate) == ("20/second", "5/second")
    monkeypatch.setenv("NEWSGRAPH_REFUSAL_RATE", "3/minute")
    monkeypatch.setenv("NEWSGRAPH_INTROSPECTION_RATE", "")
    monkeypatch.setenv("NEWSGRAPH_SLOWDOWN_MAX_DELAY", "2.5")
    config = app_arguments(load_settings()).config
    assert (config.refusal_rate, config.introspection_rate) == ("3/minute", "")
    assert config.slowdown_max_delay == 2.5
    monkeypatch.setenv("NEWSGRAPH_REFUSAL_RATE", "often")
    with pytest.raises(SettingsError, match="NEWSGRAPH_REFUSAL_RATE"):
        load_settings()
