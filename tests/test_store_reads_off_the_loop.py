"""A store that reads from a server (Neo4j) is never read on the event loop's thread by the
public listings (`RequestContext.read`): the events and their totals, timelines, directories
and their totals, a name's lookup, a country filter's; nor by the editors' queues and log
(`pendingSubmissions`, `submission`, `editorialLog`, `possibleDuplicates`,
`flaggedLocations`), by mutations, their writes and their reads of what they wrote
(`RequestContext.call`), or by a subscription's reads. The embedded store reads from memory,
at once, on the loop.

The store is the real one, watched: each call of a port method notes the thread it ran on.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import threading
from collections.abc import AsyncGenerator
from typing import Any

from api.context import RequestContext
from api.follow import Follower
from api.hub import Hub
from api.schema import schema
from api.tokens import Actor, Role
from graph.confidence import current_policy
from graph.model import Label, NodeWrite, PropertyWrite, WriteBatch
from graph.store import GraphStore
from tests.conftest import EXTRACTOR, load_file, load_outlets, shared_file

QUERIES = [
    "{ events(first: 3) { totalCount totalCountIsExact edges { node { id } } } }",
    '{ entity(name: "Vladimir Putin") { timeline(first: 2) { totalCount edges { node { id } } } } '
    "}",
    '{ outlet(name: "Reuters") { events(first: 2) { edges { node { id } } } } }',
    "{ entities(first: 2) { totalCount edges { node { name } } } }",
    "{ outlets(first: 2) { totalCount edges { node { name } } } }",
    "{ places(first: 2) { totalCount edges { node { name } } } }",
    "{ stories(first: 2) { totalCount edges { node { slug } } } }",
    '{ events(first: 2, filter: {country: "RU"}) { totalCount edges { node { id } } } }',
]

# The port's reads these listings make; others (a node's relationships) go through DataLoaders,
# which read in threads already.
LISTINGS = frozenset({"query_events", "count_events", "list_nodes", "count_nodes", "lookup_keys"})


class Watched:
    """`store`, noting for each call of a method of `watched` (None: of every method) whether
    it ran on the event loop's thread."""

    def __init__(
        self, store: GraphStore, loop_thread: int, watched: frozenset[str] | None = LISTINGS
    ) -> None:
        self._store = store
        self._loop_thread = loop_thread
        self._watched = watched
        self.on_loop: list[str] = []
        self.off_loop: list[str] = []

    def __getattr__(self, name: str) -> Any:
        found = getattr(self._store, name)
        if not callable(found) or (self._watched is not None and name not in self._watched):
            return found

        def read(*args: Any, **kwargs: Any) -> Any:
            here = threading.get_ident() == self._loop_thread
            (self.on_loop if here else self.off_loop).append(name)
            return found(*args, **kwargs)

        return read


def test_public_listings_read_a_server_off_the_event_loop(store: GraphStore) -> None:
    load_outlets(store)
    load_file(store, EXTRACTOR / "samples.jsonl")

    async def run() -> Watched:
        watched = Watched(store, threading.get_ident())
        for query in QUERIES:
            context = RequestContext(watched, current_policy(store))
            result = await schema.execute(query, context_value=context)
            assert not result.errors, (query, result.errors)
        return watched

    watched = asyncio.run(run())
    assert {"query_events", "count_events", "list_nodes", "count_nodes", "lookup_keys"} <= {
        *watched.on_loop,
        *watched.off_loop,
    }
    if store.reads_from_memory:
        assert not watched.off_loop  # memory: read at once, no thread
    else:
        assert not watched.on_loop, watched.on_loop


ADMIN = Actor("alice", Role.ADMIN)


async def _run(context: RequestContext, query: str, **variables: Any) -> dict[str, Any]:
    result = await schema.execute(query, variable_values=variables, context_value=context)
    assert not result.errors, (query, result.errors)
    assert result.data is not None
    return result.data


def _assert_threads(watched: Watched, store: GraphStore, step: str) -> None:
    assert watched.on_loop or watched.off_loop, f"{step}: read nothing"
    if store.reads_from_memory:
        assert not watched.off_loop, (step, watched.off_loop)  # memory: at once, no thread
    else:
        assert not watched.on_loop, (step, watched.on_loop)


def test_editors_queues_and_mutations_use_a_server_off_the_event_loop(store: GraphStore) -> None:
    """Each step alone: its every call of the store ran off the loop (Neo4j) or on it, at once
    (embedded); a step that still read or wrote on the loop fails by name."""
    load_outlets(store)
    load_file(store, EXTRACTOR / "samples.jsonl")

    async def run() -> None:
        loop = threading.get_ident()

        async def step(query: str, **variables: Any) -> dict[str, Any]:
            watched = Watched(store, loop, None)
            context = RequestContext(watched, current_policy(store), actor=ADMIN)
            data = await _run(context, query, **variables)
            _assert_threads(watched, store, query)
            return data

        events = await step(
            "{ events(first: 5) { edges { node { id reports { id } "
            "entities { entity { id } } } } } }"
        )
        nodes = [e["node"] for e in events["events"]["edges"]]
        first, second = nodes[0]["id"], nodes[1]["id"]
        entities = [x["entity"]["id"] for n in nodes for x in n["entities"]]
        outlets = await step('{ outlet(name: "Reuters") { id } }')
        outlet = outlets["outlet"]["id"]

        await step("{ pendingSubmissions { edges { node { id } } } }")
        await step("{ editorialLog(first: 5) { edges { node { id action } } } }")
        await step("{ possibleDuplicates { edges { node { id } } } }")
        await step("{ flaggedLocations { edges { node { id } } } }")
        submit = """mutation($e: ID!, $u: String!) {
          submitSource(eventId: $e, url: $u, outletName: "Example") { id } }"""
        one = (await step(submit, e=first, u="https://example.org/one"))["submitSource"]["id"]
        two = (await step(submit, e=first, u="https://example.org/two"))["submitSource"]["id"]
        await step("query($id: ID!) { submission(id: $id) { id status } }", id=one)
        await step("mutation($id: ID!) { approveSubmission(id: $id) { message } }", id=one)
        await step(
            'mutation($id: ID!) { rejectSubmission(id: $id, reason: "no") { status } }', id=two
        )
        await step('mutation($id: ID!) { updateOutlet(id: $id, group: "g1") { name } }', id=outlet)
        merged = await step(
            "mutation($a: ID!, $b: ID!) { mergeEntities(from: $a, into: $b) { "
            "entity { id } merge { id } } }",
            a=entities[0],
            b=next(e for e in entities if e != entities[0]),
        )
        await step(
            "mutation($m: ID!) { splitEntity(mergeId: $m) { entity { id } } }",
            m=merged["mergeEntities"]["merge"]["id"],
        )
        kept = await step(
            "mutation($a: ID!, $b: ID!) { keepApart(eventA: $a, eventB: $b) { edit { id } } }",
            a=first,
            b=second,
        )
        undo = "mutation($e: ID!) { undoEdit(editId: $e) { edit { action } } }"
        await step(undo, e=kept["keepApart"]["edit"]["id"])
        merged = await step(
            "mutation($a: ID!, $b: ID!) { mergeEvents(from: $a, into: $b) { "
            "event { id } edit { id } } }",
            a=second,
            b=first,
        )
        await step(undo, e=merged["mergeEvents"]["edit"]["id"])
        await step(
            'mutation($id: ID!) { correctEvent(id: $id, reason: "typo", summary: "Fixed") { '
            "event { summary } } }",
            id=first,
        )
        await step("mutation($id: ID!) { unpinEvent(id: $id) { event { summary } } }", id=first)
        await step(
            'mutation($e: ID!) { correctLocation(eventId: $e, place: "Moscow", country: "RU") '
            "{ event { id } } }",
            e=first,
        )
        await step(
            'mutation($r: ID!) { retractReport(reportId: $r, reason: "withdrawn", '
            'retractedOn: "2025-03-20") { event { id } } }',
            r=nodes[2]["reports"][0]["id"],
        )
        lines = shared_file(EXTRACTOR / "samples.jsonl").read_text("utf-8").splitlines()
        record = json.loads(lines[0])
        record["source_story"] = {**record["source_story"], "slug": "another-story"}
        await step(
            "mutation($r: [JSON!]!) { ingest(records: $r) { loaded merged rejected } }",
            r=[record],
        )
        policy = json.loads(current_policy(store).to_json())
        await step(
            "mutation($p: JSON!) { setConfidencePolicy(policy: $p) { eventsChanged } }",
            p=policy,
        )

    asyncio.run(run())


def test_a_subscription_reads_a_server_off_the_event_loop(store: GraphStore) -> None:
    """`eventAdded` checks its filter and reads each new event; `confidenceChanged` checks
    its event: off the loop on Neo4j."""
    load_outlets(store)
    load_file(store, EXTRACTOR / "samples.jsonl")
    [event_id] = [n.id for n in store.find_nodes(Label.EVENT, {}, "occurred_on", 1)]

    async def run() -> None:
        loop = threading.get_ident()
        watched = Watched(store, loop, None)
        context = RequestContext(watched, current_policy(store))
        stream = await schema.subscribe(
            "subscription($id: ID!) { confidenceChanged(eventId: $id) { level } }",
            variable_values={"id": event_id},
            context_value=context,
        )
        assert isinstance(stream, AsyncGenerator)
        pending = asyncio.ensure_future(anext(stream))
        await _subscribed(context)
        pending.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await pending
        await stream.aclose()
        _assert_threads(watched, store, "confidenceChanged")

        watched = Watched(store, loop, None)
        context = RequestContext(watched, current_policy(store))
        russian = await _run(
            RequestContext(store, current_policy(store)),
            '{ events(first: 1, filter: {country: "RU"}) { edges { node { id } } } }',
        )
        [edge] = russian["events"]["edges"]
        new_id = edge["node"]["id"]
        added = await schema.subscribe(
            'subscription { eventAdded(filter: {country: "RU"}) { id } }', context_value=context
        )
        assert isinstance(added, AsyncGenerator)
        pending = asyncio.ensure_future(anext(added))
        await _subscribed(context)
        context.hub.publish([new_id], [])
        result = await asyncio.wait_for(pending, 30)
        assert not result.errors and result.data == {"eventAdded": {"id": new_id}}
        await added.aclose()
        _assert_threads(watched, store, "eventAdded")

    asyncio.run(run())


async def _subscribed(context: RequestContext) -> None:
    """Wait until the subscription's stream holds its inbox (its arguments checked)."""
    while not context.hub.subscribers:
        await asyncio.sleep(0.01)


def test_the_follower_reads_a_servers_log_off_the_event_loop(store: GraphStore) -> None:
    """What a mutation awaits before it answers (`Follower.wrote`: the log's head and its new
    entries, published) and the follower's look every interval (`tick`): in worker threads on
    Neo4j; at once on the embedded store's `wrote`."""
    load_outlets(store)

    async def run() -> None:
        watched = Watched(store, threading.get_ident(), None)
        hub = Hub()
        follower = Follower(watched, hub)
        with hub.subscribe(lambda update: update) as inbox:
            for look in ("wrote", "tick"):
                watched.on_loop.clear()
                watched.off_loop.clear()
                before = follower.position
                if look == "wrote":
                    load_file(store, EXTRACTOR / "samples.jsonl")
                else:  # another process's write: a new event
                    new = NodeWrite("ev_new", Label.EVENT, PropertyWrite(set={"summary": "new"}))
                    store.write(WriteBatch(nodes=[new], created=["ev_new"]))
                await (follower.wrote() if look == "wrote" else follower.tick())
                assert follower.position > before, look
                updates, dropped = await inbox.take()
                assert updates and not dropped, look
                if not store.reads_from_memory:
                    assert watched.off_loop and not watched.on_loop, (look, watched.on_loop)
                elif look == "wrote":
                    assert watched.on_loop and not watched.off_loop, watched.off_loop

    asyncio.run(run())
