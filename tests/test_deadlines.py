"""Heavy work off the event loop, with a deadline (api/heavy.py): a page is answered while a
search or a ranking runs; reading past the time budget answers `complete: false` with a
`seconds` bound; an algorithm past it answers a timeout error naming the budget. On both
stores. No timing is asserted: a blocked computation is held by an event until released."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

from api.app import create_app
from api.config import AppConfig
from graph import keys
from graph.analytics import scan
from graph.model import Label
from graph.search import find
from graph.store import EventFilter, EventQuery, GraphStore
from newsgraph.cli import load_bundled_samples
from tests.support.graphql import PAGE_QUERY, asgi_client

GUARD = 60.0  # seconds a test waits for what must happen, so that a failure cannot hang it

SEARCH = '{ search(text: "Lukashenko", first: 5) { ... on Event { id } } }'
RANKINGS = """{ rankings(metric: DEGREE) { complete eventsScanned bounds { name message }
  entities { rank entity { name } } } }"""


@pytest.fixture
def samples(store: GraphStore) -> GraphStore:
    load_bundled_samples(store)
    return store


@pytest.fixture
def release() -> Iterator[threading.Event]:
    """Set at the end of the test, whatever happens, so no blocked thread outlives it."""
    event = threading.Event()
    try:
        yield event
    finally:
        event.set()


def some_event(store: GraphStore) -> str:
    return find(store, "Lukashenko", [Label.EVENT], 1)[0].id


def blocking(fn: Callable[..., Any], started: threading.Event, release: threading.Event) -> Any:
    def blocked(*args: Any, **kwargs: Any) -> Any:
        started.set()
        release.wait(GUARD)
        return fn(*args, **kwargs)

    return blocked


async def post(http: httpx.AsyncClient, query: str, variables: dict[str, Any] | None = None) -> Any:
    response = await http.post("/graphql", json={"query": query, "variables": variables or {}})
    assert response.status_code == 200, response.text
    return response.json()


async def wait_for(event: threading.Event) -> None:
    async with asyncio.timeout(GUARD):
        while not event.is_set():
            await asyncio.sleep(0.01)


def test_a_page_is_answered_while_a_search_runs(
    samples: GraphStore, release: threading.Event, monkeypatch: pytest.MonkeyPatch
) -> None:
    event_id = some_event(samples)
    started = threading.Event()
    monkeypatch.setattr(
        samples, "search_postings", blocking(samples.search_postings, started, release)
    )

    async def run() -> None:
        async with asgi_client(create_app(samples)) as http:
            search = asyncio.create_task(post(http, SEARCH))
            await wait_for(started)  # the search is reading now, and stays until released
            page = await post(http, PAGE_QUERY, {"id": event_id})
            assert page["data"]["event"]["id"] == event_id
            assert not search.done()  # the page was answered first
            release.set()
            found = await search
            assert {"id": event_id} in found["data"]["search"]

    asyncio.run(run())


def test_an_algorithm_past_its_time_budget_is_a_timeout_error(samples: GraphStore) -> None:
    # PageRank runs in a process of the heavy pool: its answer cannot come back within a
    # microsecond, so the field answers the timeout error (and the process ends on its own).
    async def run() -> None:
        app = create_app(samples, config=AppConfig(heavy_seconds=1e-6))
        async with asgi_client(app) as http:
            answer = await post(http, RANKINGS.replace("DEGREE", "PAGERANK"))
            assert answer["data"] is None
            assert answer["errors"][0]["message"] == (
                "rankings by PAGERANK took longer than its time budget of 1e-06 s: ask for a "
                "narrower window (from, to, categories, minConfidence, types) or a cheaper metric"
            )

    asyncio.run(run())


def test_pagerank_and_communities_are_answered_within_the_budget(samples: GraphStore) -> None:
    async def run() -> None:
        async with asgi_client(create_app(samples)) as http:
            answer = await post(
                http,
                """{ rankings(metric: PAGERANK) { complete entities { rank }
                communities { size members { name } } } }""",
            )
            ranked = answer["data"]["rankings"]
            assert ranked["complete"] is True
            assert [e["rank"] for e in ranked["entities"]] == list(
                range(1, len(ranked["entities"]) + 1)
            )
            assert ranked["communities"]

    asyncio.run(run())


def test_reading_past_the_time_budget_answers_complete_false(
    samples: GraphStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    # One event a port call, each slower than the budget: reading stops after the first.
    monkeypatch.setattr(scan, "EVENT_PAGE", 1)
    slow_read = samples.query_events

    def slow(query: Any) -> Any:
        time.sleep(0.3)
        return slow_read(query)

    monkeypatch.setattr(samples, "query_events", slow)
    putin = samples.lookup_keys(keys.entity_keys("person", ["Vladimir Putin"]))
    (entity,) = set(putin.values())  # in two of the three sample events

    async def run() -> None:
        app = create_app(samples, config=AppConfig(heavy_seconds=0.2))
        async with asgi_client(app) as http:
            ranked = (await post(http, RANKINGS))["data"]["rankings"]
            assert (ranked["complete"], ranked["eventsScanned"]) == (False, 1)
            assert ranked["bounds"] == [
                {"name": "seconds", "message": "stopped after its time budget of 0.2 s"}
            ]
            answer = await post(
                http,
                """query($id: ID!) { entity(id: $id) { timelineBuckets { complete total
                bounds { name } } coOccurring { complete eventsScanned bounds { name } } } }""",
                {"id": entity},
            )
            found = answer["data"]["entity"]
            assert found["timelineBuckets"] == {
                "complete": False,
                "total": 1,
                "bounds": [{"name": "seconds"}],
            }
            assert found["coOccurring"] == {
                "complete": False,
                "eventsScanned": 1,
                "bounds": [{"name": "seconds"}],
            }

    asyncio.run(run())


def test_the_same_reads_within_the_budget_are_complete(samples: GraphStore) -> None:
    every = samples.query_events(EventQuery(EventFilter(), first=100)).events

    async def run() -> None:
        async with asgi_client(create_app(samples)) as http:
            ranked = (await post(http, RANKINGS))["data"]["rankings"]
            assert (ranked["complete"], ranked["eventsScanned"]) == (True, len(every))

    asyncio.run(run())
