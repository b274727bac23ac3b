"""Live updates: the hub, the filter matcher, and GraphQL subscriptions over a real WebSocket
(graphql-transport-ws), on a test app and on the real app, both served by uvicorn in the test's
event loop (a subscription needs a socket; nothing here starts a process)."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.routing import Route, WebSocketRoute
from strawberry.asgi import GraphQL
from strawberry.schema.config import StrawberryConfig

from api.app import create_app
from api.context import RequestContext, Services
from api.errors import UserError
from api.hub import Hub, Inbox, Update
from api.live import Subscription as LiveSubscription
from api.live import check_filter, matching_events
from api.nodes import Entity, Event, Outlet, Place
from api.scalars import SCALARS
from api.schema import Query, Schema
from api.tokens import Tokens
from graph import keys
from graph.confidence import current_policy
from graph.embedded import EmbeddedStore
from graph.history import LevelChange
from graph.model import Label
from graph.search import find
from graph.store import EventFilter, EventQuery, GraphStore
from newsgraph.cli import load_bundled_samples
from tests.conftest import EXTRACTOR, load_file, load_outlets
from tests.support.graphql import bearer, serving
from tests.support.websocket import CONFIDENCE_CHANGED, EVENT_ADDED, WAIT, websocket
from tests.test_change_log import _another


def record(event_id: str, category: str, outlet: str, summary: str) -> dict[str, Any]:
    """An extractor record (version 1) of a new event, with the extractor's own event id."""
    return {
        "schema_version": 1,
        "extracted_at": "2026-11-25T12:00:00.000Z",
        "source_story": {
            "slug": f"live-{event_id}-{outlet}".lower().replace(" ", "-"),
            "outlet": outlet,
            "published_on": "2026-11-24",
        },
        "event": {
            "id": event_id,
            "category": category,
            "summary": summary,
            "occurred_on": "2026-11-24",
            "location": {"place": "Kyiv", "country": "Ukraine"},
            "entities": [{"name": "Russia", "type": "country", "role": "party"}],
            "reports": [{"outlet": outlet, "claims": [{"text": summary, "tone": "certain"}]}],
        },
    }


def change(event_id: str, previous: str | None, level: str) -> LevelChange:
    return LevelChange(
        at="2026-11-25T12:00:00.000Z",
        event_id=event_id,
        previous=previous,
        level=level,
        cause="report",
        detail="a test report",
        by="tester",
    )


# -- the hub -----------------------------------------------------------------------------------


def _everything(update: Update) -> Update | None:
    return update


async def _take(inbox: Inbox) -> tuple[list[Update], int]:
    return await asyncio.wait_for(inbox.take(), WAIT)


def test_every_subscriber_gets_what_it_selects() -> None:
    async def scenario() -> None:
        hub = Hub()
        only_a: Callable[[Update], Update | None] = lambda u: u if "a" in u.created else None  # noqa: E731
        with hub.subscribe(_everything) as first, hub.subscribe(only_a) as second:
            assert hub.subscribers == 2
            hub.publish(["a"], [])
            hub.publish(["b"], [change("b", None, "unverified")])
            hub.publish([], [])  # nothing changed: nothing to send
            assert await _take(first) == (
                [Update(("a",)), Update(("b",), (change("b", None, "unverified"),))],
                0,
            )
            assert await _take(second) == ([Update(("a",))], 0)
        assert hub.subscribers == 0

    asyncio.run(scenario())


def test_a_full_inbox_drops_its_oldest_and_says_how_many() -> None:
    async def scenario() -> None:
        hub = Hub(capacity=2)
        with hub.subscribe(_everything) as slow, hub.subscribe(_everything) as fast:
            hub.publish(["a"], [])
            assert await _take(fast) == ([Update(("a",))], 0)
            hub.publish(["b"], [])
            hub.publish(["c"], [])  # `slow` now holds b and c and has lost a
            assert await _take(fast) == ([Update(("b",)), Update(("c",))], 0)
            assert await _take(slow) == ([Update(("b",)), Update(("c",))], 1)

    asyncio.run(scenario())


def test_a_waiting_subscriber_wakes_on_publish() -> None:
    async def scenario() -> None:
        hub = Hub()
        with hub.subscribe(_everything) as inbox:
            waiting = asyncio.create_task(_take(inbox))
            await asyncio.sleep(0)
            assert not waiting.done()
            hub.publish(["a"], [])
            assert await waiting == ([Update(("a",))], 0)

    asyncio.run(scenario())


# -- the filter matcher, against the store's own filter ----------------------------------------


def _ids_of(store: GraphStore, label: Label, name: str) -> str:
    (node,) = [n for n in find(store, name, [label], 100) if n.names[0] == name]
    return node.id


def test_the_matcher_agrees_with_query_events(sampled: GraphStore) -> None:
    everything = sampled.query_events(EventQuery(EventFilter(), first=100)).events
    ids = [e.id for e in everything]
    assert len(ids) >= 3
    policy = current_policy(sampled)
    russia = _ids_of(sampled, Label.ENTITY, "Russia")
    tass = _ids_of(sampled, Label.OUTLET, "TASS")
    moscow = find(sampled, "Moscow", [Label.PLACE], 100)
    ukraine = _ids_of(sampled, Label.PLACE, "Ukraine")
    filters = [
        EventFilter(),
        EventFilter(categories=("military",)),
        EventFilter(categories=("diplomatic", "cyber")),
        EventFilter(date_from="2025-03-14"),
        EventFilter(date_to="2025-03-13"),
        EventFilter(date_from="2025-03-13", date_to="2025-03-13"),
        EventFilter(entity=russia),
        EventFilter(outlet=tass),
        EventFilter(entity=russia, outlet=tass, categories=("military",)),
        EventFilter(country=ukraine),
        EventFilter(min_confidence=policy.rank("likely")),
        EventFilter(min_confidence=policy.rank("disputed")),
        *(EventFilter(place=p.id) for p in moscow),
    ]
    for flt in filters:
        expected = {e.id for e in sampled.query_events(EventQuery(flt, first=100)).events}
        assert {e.id for e in matching_events(sampled, flt, ids)} == expected, flt
    # Some filter keeps some and drops some, or the comparison above proves little.
    assert 0 < len(matching_events(sampled, EventFilter(outlet=tass), ids)) < len(ids)


def test_the_matcher_skips_unknown_ids_and_keeps_order(sampled: GraphStore) -> None:
    ids = [e.id for e in sampled.query_events(EventQuery(EventFilter(), first=100)).events]
    given = [*reversed(ids), "ev_missing", ids[0], _ids_of(sampled, Label.OUTLET, "TASS")]
    assert [e.id for e in matching_events(sampled, EventFilter(), given)] == list(reversed(ids))


def test_a_filter_naming_a_missing_or_wrong_node_is_refused(sampled: GraphStore) -> None:
    tass = _ids_of(sampled, Label.OUTLET, "TASS")
    russia = _ids_of(sampled, Label.ENTITY, "Russia")
    check_filter(sampled, EventFilter(entity=russia, outlet=tass))
    with pytest.raises(UserError, match="filter.entity: no entity with id 'nope'"):
        check_filter(sampled, EventFilter(entity="nope"))
    with pytest.raises(UserError, match=f"filter.place: no place with id '{tass}'"):
        check_filter(sampled, EventFilter(place=tass))


# -- subscriptions over a WebSocket, in this process -------------------------------------------


def live_context(store: GraphStore, hub: Hub) -> RequestContext:
    """The context `api.app` gives a connection: the loaders, with the app's hub."""
    return RequestContext(store, current_policy(store), services=Services(hub=hub))


class LiveApp(GraphQL[RequestContext, None]):
    def __init__(self, store: GraphStore, hub: Hub) -> None:
        schema = Schema(
            query=Query,
            subscription=LiveSubscription,
            types=[Event, Entity, Outlet, Place],
            config=StrawberryConfig(scalar_map=SCALARS),
        )
        super().__init__(schema)
        self.store, self.hub = store, hub

    async def get_context(self, request: Any, response: Any) -> RequestContext:
        return live_context(self.store, self.hub)


Scenario = Callable[[str, Hub], Awaitable[None]]


def run_live(store: GraphStore, scenario: Scenario, capacity: int = 100) -> Hub:
    """Serve `store` in this event loop, run `scenario(ws_url, hub)`, stop."""
    hub = Hub(capacity)
    graphql = LiveApp(store, hub)
    app = Starlette(routes=[Route("/graphql", graphql), WebSocketRoute("/graphql", graphql)])

    async def main() -> None:
        async with serving(app) as address:
            await scenario(f"ws://{address}/graphql", hub)

    asyncio.run(main())
    return hub


async def until(condition: Callable[[], bool]) -> None:
    """Let the server's tasks run until `condition` holds (no sleeping: each turn yields once)."""
    async with asyncio.timeout(WAIT):
        while not condition():
            await asyncio.sleep(0)


def write(store: GraphStore, tmp_path: Path, *records: dict[str, Any]) -> list[str]:
    """Load records as `newsgraph load` does; the ids of their events."""
    path = tmp_path / f"{uuid.uuid4().hex}.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    load_file(store, path)
    owners = store.lookup_keys([keys.event_external_key(r["event"]["id"]) for r in records])
    return [owners[keys.event_external_key(r["event"]["id"])] for r in records]


@pytest.fixture
def embedded(tmp_path: Path) -> Iterator[GraphStore]:
    store = EmbeddedStore(tmp_path / "store")
    store.setup()
    try:
        load_outlets(store)
        load_file(store, EXTRACTOR / "samples.jsonl")
        yield store
    finally:
        store.close()


def test_a_filtered_subscriber_sees_matching_new_events_only(
    embedded: GraphStore, tmp_path: Path
) -> None:
    russia = _ids_of(embedded, Label.ENTITY, "Russia")

    async def scenario(url: str, hub: Hub) -> None:
        async with websocket(url) as client:
            filtered = {"filter": {"categories": ["CYBER"], "entity": russia}}
            operation = await client.subscribe(EVENT_ADDED, filtered)
            await until(lambda: hub.subscribers == 1)
            military, cyber = write(
                embedded,
                tmp_path,
                record("live-military", "military", "Reuters", "A military event."),
                record("live-cyber", "cyber", "Reuters", "A cyber event."),
            )
            hub.publish([military, cyber], [])
            event = (await client.next(operation))["eventAdded"]
            assert event["id"] == cyber
            assert event["category"] == "CYBER"
            assert event["summary"] == "A cyber event."
            assert event["confidence"] == {"level": "UNVERIFIED"}
            hub.publish([military], [])  # matches no filter: nothing to send
            hub.publish([cyber], [])  # ...so the next message is this one's
            assert (await client.next(operation))["eventAdded"]["id"] == cyber

    run_live(embedded, scenario)


def test_confidence_changes_of_one_event_reach_every_subscriber(embedded: GraphStore) -> None:
    events = embedded.query_events(EventQuery(EventFilter(), first=2)).events
    watched, other = events[0].id, events[1].id

    async def scenario(url: str, hub: Hub) -> None:
        async with websocket(url) as first, websocket(url) as second:
            one = await first.subscribe(CONFIDENCE_CHANGED, {"eventId": watched})
            every = await second.subscribe(CONFIDENCE_CHANGED)
            await until(lambda: hub.subscribers == 2)
            hub.publish([], [change(other, "unverified", "likely")])
            hub.publish([], [change(watched, "likely", "verified")])
            expected = {
                "eventId": watched,
                "at": "2026-11-25T12:00:00.000Z",
                "previous": "LIKELY",
                "level": "VERIFIED",
                "cause": "REPORT",
                "detail": "a test report",
                "by": "loader",  # to the public, the role a report needs, not the name
            }
            # the first message `first` gets is the second change: the other event's, published
            # before it, was not sent to it
            assert (await first.next(one))["confidenceChanged"] == expected
            received = [(await second.next(every))["confidenceChanged"] for _ in range(2)]
            assert [c["eventId"] for c in received] == [other, watched]
            assert received[1] == expected

    run_live(embedded, scenario)


def test_a_disconnect_or_complete_unsubscribes(embedded: GraphStore) -> None:
    async def scenario(url: str, hub: Hub) -> None:
        async with websocket(url) as client:
            operation = await client.subscribe(EVENT_ADDED)
            await client.subscribe(CONFIDENCE_CHANGED)
            await until(lambda: hub.subscribers == 2)
            await client.send({"id": operation, "type": "complete"})
            await until(lambda: hub.subscribers == 1)
        await until(lambda: hub.subscribers == 0)
        hub.publish(["ev_gone"], [change("ev_gone", None, "unverified")])  # nobody to tell

    hub = run_live(embedded, scenario)
    assert hub.subscribers == 0


def test_bad_arguments_are_answered_over_the_socket(embedded: GraphStore) -> None:
    async def scenario(url: str, hub: Hub) -> None:
        async with websocket(url) as client:
            cases: list[tuple[str, dict[str, Any], str]] = [
                (
                    EVENT_ADDED,
                    {"filter": {"entity": "nope"}},
                    "filter.entity: no entity with id 'nope'",
                ),
                (
                    EVENT_ADDED,
                    {"filter": {"from": "2025-03-14", "to": "2025-03-13"}},
                    "filter.from is after filter.to",
                ),
                (CONFIDENCE_CHANGED, {"eventId": "nope"}, "no event with id 'nope'"),
            ]
            for query, variables, reason in cases:
                operation = await client.subscribe(query, variables)
                message = await client.receive()
                assert message["type"] == "error" and message["id"] == operation, message
                assert [e["message"] for e in message["payload"]] == [reason]
            assert hub.subscribers == 0
            # The connection is still usable.
            await client.subscribe(CONFIDENCE_CHANGED)
            await until(lambda: hub.subscribers == 1)

    run_live(embedded, scenario)


def test_a_subscriber_that_falls_behind_is_told_and_ended(embedded: GraphStore) -> None:
    events = embedded.query_events(EventQuery(EventFilter(), first=3)).events
    ids = [e.id for e in events]

    async def scenario(url: str, hub: Hub) -> None:
        async with websocket(url) as client:
            operation = await client.subscribe(CONFIDENCE_CHANGED)
            await until(lambda: hub.subscribers == 1)
            # Three writes before the subscriber can read: the inbox holds two.
            for event_id in ids:
                hub.publish([], [change(event_id, None, "unverified")])
            received = [(await client.next(operation))["confidenceChanged"] for _ in range(2)]
            assert [c["eventId"] for c in received] == ids[1:]
            message = await client.receive()
            assert message["type"] == "next" and message["payload"]["data"] is None, message
            (error,) = message["payload"]["errors"]
            assert error["message"].startswith("this subscription fell behind and 1 update(s)")
            assert await client.receive() == {"id": operation, "type": "complete"}
            await until(lambda: hub.subscribers == 0)

    run_live(embedded, scenario, capacity=2)


# -- against a real `newsgraph serve`, triggered by the ingest mutation ------------------------

TOKEN = "live-test-token-0123456789abcdefghij"  # 32 characters at least
INGEST = """mutation($records: [JSON!]!) {
  ingest(records: $records) { results { index status eventId reason } }
}"""


@pytest.fixture(scope="module")
def live_app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Starlette]:
    """The real app over the bundled samples, with a loader's token."""
    store = EmbeddedStore(tmp_path_factory.mktemp("live") / "store")
    store.setup()
    try:
        load_bundled_samples(store)
        yield create_app(store, Tokens.configured(f"loader:extractor:{TOKEN}"))
    finally:
        store.close()


async def ingest(served: str, *records: dict[str, Any]) -> list[dict[str, Any]]:
    """Send records through the ingest mutation; each record's result."""
    async with httpx.AsyncClient(timeout=WAIT) as http:
        response = await http.post(
            f"http://{served}/graphql",
            json={"query": INGEST, "variables": {"records": list(records)}},
            headers=bearer(TOKEN),
        )
    assert response.status_code == 200, response.text
    payload = response.json()
    assert "errors" not in payload, payload
    results: list[dict[str, Any]] = payload["data"]["ingest"]["results"]
    for result in results:  # the status as the tests compare it, whatever its GraphQL type
        result["status"] = str(result["status"]).lower()
    assert all(r["status"] in ("loaded", "merged") for r in results), results
    return results


async def run_served(app: Starlette, scenario: Callable[[str], Awaitable[None]]) -> None:
    """`scenario("127.0.0.1:PORT")` with `app` served in this event loop."""
    async with serving(app) as address:
        await scenario(address)


def test_served_new_events_reach_a_filtered_subscriber(live_app: Starlette) -> None:
    tag = uuid.uuid4().hex[:8]

    async def scenario(served: str) -> None:
        async with websocket(f"ws://{served}/graphql") as client:
            operation = await client.subscribe(EVENT_ADDED, {"filter": {"categories": ["CYBER"]}})
            (military,) = await ingest(
                served, record(f"military-{tag}", "military", "Reuters", f"Military {tag}.")
            )
            (cyber,) = await ingest(
                served, record(f"cyber-{tag}", "cyber", "Reuters", f"Cyber {tag}.")
            )
            assert military["status"] == cyber["status"] == "loaded"  # new events
            event = (await client.next(operation))["eventAdded"]
            # the first event sent is the second one loaded: the military one was not sent
            assert (event["id"], event["summary"]) == (cyber["eventId"], f"Cyber {tag}.")

    asyncio.run(run_served(live_app, scenario))


def test_served_confidence_changes_reach_two_subscribers(live_app: Starlette) -> None:
    tag = uuid.uuid4().hex[:8]

    async def scenario(served: str) -> None:
        (first,) = await ingest(
            served, record(f"rated-{tag}", "political", f"Gazette {tag}", f"Vote {tag}.")
        )
        event_id = first["eventId"]
        async with (
            websocket(f"ws://{served}/graphql") as one,
            websocket(f"ws://{served}/graphql") as two,
        ):
            watching = await one.subscribe(CONFIDENCE_CHANGED, {"eventId": event_id})
            everything = await two.subscribe(CONFIDENCE_CHANGED)
            # A trusted outlet reports it too: two independent sources, one trusted.
            (second,) = await ingest(
                served, record(f"rated-{tag}", "political", "Reuters", f"Vote {tag}.")
            )
            assert (second["status"], second["eventId"]) == ("merged", event_id)
            got = (await one.next(watching))["confidenceChanged"]
            assert got["eventId"] == event_id
            assert (got["previous"], got["level"], got["cause"]) == (
                "UNVERIFIED",
                "VERIFIED",
                "REPORT",
            )
            assert got["by"] == "loader"  # to the public, the token's role, not its name
            assert (await two.next(everything))["confidenceChanged"] == got

    asyncio.run(run_served(live_app, scenario))


def test_served_bad_filter_is_an_error_message(live_app: Starlette) -> None:
    async def scenario(served: str) -> None:
        async with websocket(f"ws://{served}/graphql") as client:
            operation = await client.subscribe(EVENT_ADDED, {"filter": {"outlet": "nope"}})
            message = await client.receive()
            assert message["type"] == "error" and message["id"] == operation, message
            assert [e["message"] for e in message["payload"]] == [
                "filter.outlet: no outlet with id 'nope'"
            ]

    asyncio.run(run_served(live_app, scenario))


def test_a_write_by_another_process_reaches_a_subscriber(store: GraphStore, tmp_path: Path) -> None:
    """Live updates come from the store's change log: a load made through another store
    object (another process: the CLI, another API process on Neo4j) reaches a subscriber of
    this app, once."""
    tag = uuid.uuid4().hex[:8]
    source = tmp_path / "other.jsonl"
    source.write_text(json.dumps(record(f"far-{tag}", "cyber", "Reuters", f"Far {tag}.")) + "\n")
    app = create_app(store)

    def load_elsewhere() -> None:  # a store object of its own, in a thread of its own
        other = _another(store)
        other.setup()
        try:
            load_file(other, source)
        finally:
            other.close()

    async def scenario(served: str) -> None:
        async with websocket(f"ws://{served}/graphql") as client:
            operation = await client.subscribe(EVENT_ADDED)
            await asyncio.to_thread(load_elsewhere)
            event = (await client.next(operation))["eventAdded"]
            assert event["summary"] == f"Far {tag}."
            await client.send({"type": "ping"})  # nothing else came before the pong
            assert await client.receive() == {"type": "pong"}

    asyncio.run(run_served(app, scenario))
