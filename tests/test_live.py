"""Live updates: the hub, the filter matcher, and GraphQL subscriptions over a real WebSocket
(graphql-transport-ws), in-process and against a real `newsgraph serve`."""

from __future__ import annotations

import asyncio
import contextlib
import json
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from starlette.applications import Starlette
from starlette.routing import Route, WebSocketRoute
from strawberry.asgi import GraphQL
from strawberry.schema.config import StrawberryConfig
from websockets.asyncio.client import ClientConnection, connect
from websockets.typing import Subprotocol

from api.context import RequestContext, Services
from api.errors import UserError
from api.hub import Hub, Inbox, Update
from api.live import Subscription as LiveSubscription
from api.live import check_filter, matching_events
from api.nodes import Entity, Event, Outlet, Place
from api.scalars import SCALARS
from api.schema import Query, Schema
from graph import keys
from graph.confidence import current_policy
from graph.history import LevelChange
from graph.model import Label
from graph.store import EventFilter, EventQuery, GraphStore
from tests.conftest import EXTRACTOR, load_file, load_outlets
from tests.test_api import _free_port, start_server, stop_server

PROTOCOL = Subprotocol("graphql-transport-ws")
WAIT = 10.0  # seconds to wait for a message that should come
QUIET = 0.5  # seconds of silence that show a message does not come

EVENT_ADDED = """subscription($filter: EventFilterInput) {
  eventAdded(filter: $filter) { id category summary occurredOn confidence { level } }
}"""
CONFIDENCE_CHANGED = """subscription($eventId: ID) {
  confidenceChanged(eventId: $eventId) { eventId at previous level cause detail by }
}"""


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


@pytest.fixture
def loaded(store: GraphStore) -> GraphStore:
    load_outlets(store)
    load_file(store, EXTRACTOR / "samples.jsonl")
    return store


def _ids_of(store: GraphStore, label: Label, name: str) -> str:
    (node,) = [n for n in store.search(name, [label], 100) if n.text("name") == name]
    return node.id


def test_the_matcher_agrees_with_query_events(loaded: GraphStore) -> None:
    everything = loaded.query_events(EventQuery(EventFilter(), first=100)).events
    ids = [e.id for e in everything]
    assert len(ids) >= 3
    policy = current_policy(loaded)
    russia = _ids_of(loaded, Label.ENTITY, "Russia")
    tass = _ids_of(loaded, Label.OUTLET, "TASS")
    moscow = [n for n in loaded.search("Moscow", [Label.PLACE], 100)]
    ukraine = _ids_of(loaded, Label.PLACE, "Ukraine")
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
        expected = {e.id for e in loaded.query_events(EventQuery(flt, first=100)).events}
        assert {e.id for e in matching_events(loaded, flt, ids)} == expected, flt
    # Some filter keeps some and drops some, or the comparison above proves little.
    assert 0 < len(matching_events(loaded, EventFilter(outlet=tass), ids)) < len(ids)


def test_the_matcher_skips_unknown_ids_and_keeps_order(loaded: GraphStore) -> None:
    ids = [e.id for e in loaded.query_events(EventQuery(EventFilter(), first=100)).events]
    given = [*reversed(ids), "ev_missing", ids[0], _ids_of(loaded, Label.OUTLET, "TASS")]
    assert [e.id for e in matching_events(loaded, EventFilter(), given)] == list(reversed(ids))


def test_a_filter_naming_a_missing_or_wrong_node_is_refused(loaded: GraphStore) -> None:
    tass = _ids_of(loaded, Label.OUTLET, "TASS")
    russia = _ids_of(loaded, Label.ENTITY, "Russia")
    check_filter(loaded, EventFilter(entity=russia, outlet=tass))
    with pytest.raises(UserError, match="filter.entity: no entity with id 'nope'"):
        check_filter(loaded, EventFilter(entity="nope"))
    with pytest.raises(UserError, match=f"filter.place: no place with id '{tass}'"):
        check_filter(loaded, EventFilter(place=tass))


# -- subscriptions over a WebSocket, in this process -------------------------------------------


class Client:
    """A graphql-transport-ws client over one WebSocket connection."""

    def __init__(self, socket: ClientConnection) -> None:
        self.socket = socket
        self.early: list[dict[str, Any]] = []  # what came before the pong `subscribe` awaited

    async def send(self, message: dict[str, Any]) -> None:
        await self.socket.send(json.dumps(message))

    async def receive(self, timeout: float = WAIT) -> dict[str, Any]:
        if self.early:
            return self.early.pop(0)
        message: dict[str, Any] = json.loads(await asyncio.wait_for(self.socket.recv(), timeout))
        return message

    async def quiet(self) -> None:
        """Nothing arrives for a while."""
        with pytest.raises(TimeoutError):
            message = await self.receive(QUIET)
            raise AssertionError(f"unexpected message: {message}")

    async def subscribe(self, query: str, variables: dict[str, Any] | None = None) -> str:
        """Subscribe; a ping answered shows the server has read the subscribe message."""
        operation = uuid.uuid4().hex
        payload = {"query": query, "variables": variables or {}}
        await self.send({"id": operation, "type": "subscribe", "payload": payload})
        await self.send({"type": "ping"})
        while (message := json.loads(await asyncio.wait_for(self.socket.recv(), WAIT))) != {
            "type": "pong"
        }:
            self.early.append(message)
        return operation

    async def next(self, operation: str) -> dict[str, Any]:
        """The data of the operation's next result."""
        message = await self.receive()
        assert message["type"] == "next" and message["id"] == operation, message
        assert "errors" not in message["payload"], message
        data: dict[str, Any] = message["payload"]["data"]
        return data


@contextlib.asynccontextmanager
async def websocket(url: str) -> AsyncIterator[Client]:
    """A connection that has been acknowledged (connection_init / connection_ack)."""
    async with connect(url, subprotocols=[PROTOCOL], open_timeout=WAIT) as socket:
        assert socket.subprotocol == PROTOCOL
        client = Client(socket)
        await client.send({"type": "connection_init", "payload": {}})
        assert await client.receive() == {"type": "connection_ack"}
        yield client


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
    """Serve `store` with uvicorn in this event loop, run `scenario(ws_url, hub)`, stop."""
    hub = Hub(capacity)
    graphql = LiveApp(store, hub)
    app = Starlette(routes=[Route("/graphql", graphql), WebSocketRoute("/graphql", graphql)])
    port = _free_port()
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off")
    server = uvicorn.Server(config)

    async def main() -> None:
        serving = asyncio.create_task(server.serve())
        try:
            while not server.started:
                assert not serving.done(), "uvicorn stopped"
                await asyncio.sleep(0.01)
            await scenario(f"ws://127.0.0.1:{port}/graphql", hub)
        finally:
            server.should_exit = True
            await serving

    asyncio.run(main())
    return hub


async def until(condition: Callable[[], bool]) -> None:
    async with asyncio.timeout(WAIT):
        while not condition():
            await asyncio.sleep(0.01)


def write(store: GraphStore, tmp_path: Path, *records: dict[str, Any]) -> list[str]:
    """Load records as `newsgraph load` does; the ids of their events."""
    path = tmp_path / f"{uuid.uuid4().hex}.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    load_file(store, path)
    owners = store.lookup_keys([keys.event_external_key(r["event"]["id"]) for r in records])
    return [owners[keys.event_external_key(r["event"]["id"])] for r in records]


@pytest.fixture
def embedded(tmp_path: Path) -> Iterator[GraphStore]:
    from graph.embedded import EmbeddedStore

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
            await client.quiet()
            hub.publish([military], [])  # matches no filter: nothing to send
            await client.quiet()

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
                "by": "tester",
            }
            assert (await first.next(one))["confidenceChanged"] == expected
            await first.quiet()
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
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The base URL of `newsgraph serve` over the bundled samples, with a loader's token."""
    directory = tmp_path_factory.mktemp("live") / "store"
    port = _free_port()
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("NEWSGRAPH_TOKENS", f"loader:extractor:{TOKEN}")
        process = start_server(directory, port, samples=True)
    try:
        yield f"127.0.0.1:{port}"
    finally:
        stop_server(process)


async def ingest(served: str, *records: dict[str, Any]) -> list[dict[str, Any]]:
    """Send records through the ingest mutation; each record's result."""
    async with httpx.AsyncClient(timeout=WAIT) as http:
        response = await http.post(
            f"http://{served}/graphql",
            json={"query": INGEST, "variables": {"records": list(records)}},
            headers={"Authorization": f"Bearer {TOKEN}"},
        )
    assert response.status_code == 200, response.text
    payload = response.json()
    assert "errors" not in payload, payload
    results: list[dict[str, Any]] = payload["data"]["ingest"]["results"]
    for result in results:  # the status as the tests compare it, whatever its GraphQL type
        result["status"] = str(result["status"]).lower()
    assert all(r["status"] in ("loaded", "merged") for r in results), results
    return results


def test_served_new_events_reach_a_filtered_subscriber(served: str) -> None:
    tag = uuid.uuid4().hex[:8]

    async def scenario() -> None:
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
            assert (event["id"], event["summary"]) == (cyber["eventId"], f"Cyber {tag}.")
            await client.quiet()

    asyncio.run(scenario())


def test_served_confidence_changes_reach_two_subscribers(served: str) -> None:
    tag = uuid.uuid4().hex[:8]

    async def scenario() -> None:
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
            assert "extractor" in got["by"]  # the token's name
            assert (await two.next(everything))["confidenceChanged"] == got
            await one.quiet()

    asyncio.run(scenario())


def test_served_bad_filter_is_an_error_message(served: str) -> None:
    async def scenario() -> None:
        async with websocket(f"ws://{served}/graphql") as client:
            operation = await client.subscribe(EVENT_ADDED, {"filter": {"outlet": "nope"}})
            message = await client.receive()
            assert message["type"] == "error" and message["id"] == operation, message
            assert [e["message"] for e in message["payload"]] == [
                "filter.outlet: no outlet with id 'nope'"
            ]

    asyncio.run(scenario())
