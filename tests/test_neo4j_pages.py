"""The event page on the Neo4j store: read in one statement and one transaction
(`PageReading`, `api.prefetch`), equal to what the port's batch reads give and to the embedded
store's page, and never torn by a write committed while it is read."""

from __future__ import annotations

import asyncio
import itertools
import json
import threading
import time
from pathlib import Path

import pytest
from graphql import FieldNode, FragmentDefinitionNode, OperationDefinitionNode, parse

from api import prefetch
from api.app import create_app
from api.config import AppConfig
from api.prefetch import page_parts
from graph.confidence import POLICY_SETTING, current_policy
from graph.embedded import EmbeddedStore
from graph.model import EdgeWrite, Label, Node, NodeWrite, PropertyWrite, Rel, WriteBatch
from graph.neo4j import Neo4jStore
from graph.store import PAGE_PARTS, GraphStore, PageReading, event_neighbourhood
from newsgraph.settings import load_settings
from newsgraph.wiring import make_store
from tests.conftest import EXTRACTOR, load_file, load_outlets
from tests.support.graphql import PAGE_QUERY, GraphQLClient, asgi_client, payload
from tests.support.neo4j import neo
from tests.test_direct import EVERYTHING

__all__ = ["neo"]  # the fixture


def _loaded(store: GraphStore) -> list[str]:
    load_outlets(store)
    load_file(store, EXTRACTOR / "samples.jsonl")
    return sorted(n.id for n in store.dump() if isinstance(n, Node) and n.label is Label.EVENT)


def test_the_neighbourhood_in_one_statement_equals_the_port_reads(neo: Neo4jStore) -> None:
    """Every combination of parts, for every event: the one statement reads exactly what the
    port's batch reads (a read per level and kind) give; an unknown id or another label's
    node reads nothing."""
    events = _loaded(neo)
    assert isinstance(neo, PageReading)
    for event_id in events:
        for size in range(len(PAGE_PARTS) + 1):
            for parts in itertools.combinations(PAGE_PARTS, size):
                wanted = frozenset(parts)
                one = neo.read_event_neighbourhood(event_id, wanted)
                assert one == event_neighbourhood(neo, event_id, wanted), (event_id, wanted)
                assert one.nodes[event_id].label is Label.EVENT
    everything = frozenset(PAGE_PARTS)
    outlet = next(n.id for n in neo.dump() if isinstance(n, Node) and n.label is Label.OUTLET)
    for not_an_event in ("ev_missing", outlet):
        found = neo.read_event_neighbourhood(not_an_event, everything)
        assert not found.nodes and not found.edges
        assert found == event_neighbourhood(neo, not_an_event, everything)


def _parts(query: str) -> frozenset[str]:
    document = parse(query)
    operation = next(d for d in document.definitions if isinstance(d, OperationDefinitionNode))
    fragments = {
        d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)
    }
    (event,) = operation.selection_set.selections
    assert isinstance(event, FieldNode) and event.selection_set is not None
    return page_parts(event.selection_set.selections, fragments)


def test_page_parts_follow_the_selection() -> None:
    assert _parts("{ event(id: 1) { id summary confidence { level } } }") == frozenset()
    assert _parts("{ event(id: 1) { sources { name } } }") == {"reports"}
    fragments = "{ event(id: 1) { ... on Event { entities { roles } } ...P } } "
    fragments += "fragment P on Event { place { name } }"
    assert _parts(fragments) == {"involves", "occurred_in"}
    assert _parts(PAGE_QUERY) == set(PAGE_PARTS)


def _read_transactions(
    store: Neo4jStore,
    client: GraphQLClient,
    query: str,
    event: str,
    monkeypatch: pytest.MonkeyPatch,
) -> int:
    """The read transactions one page takes (the follower's look at the change log, every 50 ms
    whatever the pages, is not counted)."""
    ticks = 0
    catch_up = store.catch_up

    def counted() -> int:
        nonlocal ticks
        ticks += 1
        return catch_up()

    with monkeypatch.context() as patched:
        patched.setattr(store, "catch_up", counted)
        before = store.read_transactions
        client.data(query, {"id": event})
        return store.read_transactions - before - ticks


def test_an_event_page_is_one_round_trip(
    neo: Neo4jStore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Counted through the store: the seed page's query, and the fuller page of the direct
    resolvers' test, each read in one transaction of one statement (the loaders made about
    ten; the policy is read again only when the change log moves); a page answers as it does
    on the embedded store, which holds the same data."""
    events = _loaded(neo)
    embedded = EmbeddedStore(tmp_path / "embedded")
    embedded.setup()
    # the page's own reads: without the response cache (which reads the log's head first,
    # and answers a page it holds with no read of the graph)
    uncached = AppConfig(response_cache_bytes=0)
    on_neo4j = GraphQLClient(create_app(neo, config=uncached))
    on_embedded = GraphQLClient(create_app(embedded, config=uncached))
    try:
        assert _loaded(embedded) == events
        on_neo4j.data(PAGE_QUERY, {"id": events[0]})  # the app's first request parses the policy
        for event_id in events:
            for query in (PAGE_QUERY, EVERYTHING):
                assert _read_transactions(neo, on_neo4j, query, event_id, monkeypatch) == 1
                page = on_neo4j.data(query, {"id": event_id})
                assert page == on_embedded.data(query, {"id": event_id}), event_id
                assert page["event"]["reports"], page
    finally:
        on_neo4j.close()
        on_embedded.close()
        embedded.close()


def test_the_loaders_alone_give_the_same_page(
    neo: Neo4jStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With nothing read ahead (every field reads through the DataLoaders, batched per level,
    several resolvers awaiting one batch), the page is the same, in more round trips."""
    events = _loaded(neo)
    client = GraphQLClient(create_app(neo, config=AppConfig(response_cache_bytes=0)))
    try:
        read_ahead = {
            e: [client.data(q, {"id": e}) for q in (PAGE_QUERY, EVERYTHING)] for e in events
        }
        monkeypatch.setattr(prefetch, "FIELD_PARTS", {})
        for event_id in events:
            assert _read_transactions(neo, client, PAGE_QUERY, event_id, monkeypatch) > 2
            alone = [client.data(q, {"id": event_id}) for q in (PAGE_QUERY, EVERYTHING)]
            assert alone == read_ahead[event_id]
    finally:
        client.close()


ROUNDS = 25
TORN_QUERY = "query T($id: ID!) { event(id: $id) { summary reports { claims { text } } } }"


def _round(event_id: str, reports: list[tuple[str, str, int]], n: int) -> WriteBatch:
    """One write that sets the event's summary and every claim of its reports to `round n`."""
    text = f"round {n}"
    return WriteBatch(
        nodes=[NodeWrite(event_id, Label.EVENT, PropertyWrite(set={"summary": text}))],
        edges=[
            EdgeWrite(
                src, Rel.REPORTS, event_id, key, PropertyWrite(set={"claim_texts": [text] * k})
            )
            for src, key, k in reports
        ],
    )


def test_a_page_read_while_writes_commit_is_never_torn(neo: Neo4jStore) -> None:
    """A writer sets an event's summary and its reports' claims to one round number per write,
    while pages are read: each page shows one round throughout. With a read per loader, the
    summary came from one transaction and the claims from another."""
    event_id = _loaded(neo)[0]
    edges = neo.edges([event_id], Rel.REPORTS, "in")[event_id]
    reports = [(e.src, e.discriminator, len(e.texts("claim_texts"))) for e in edges]
    assert reports and all(k for _, _, k in reports)
    neo.write(_round(event_id, reports, 0))
    done = threading.Event()

    def write() -> None:
        try:
            for n in range(1, ROUNDS + 1):
                neo.write(_round(event_id, reports, n))
        finally:
            done.set()

    async def read() -> list[set[str]]:
        seen: list[set[str]] = []
        async with asgi_client(create_app(neo)) as client:
            writer = threading.Thread(target=write)
            writer.start()
            while not done.is_set() or len(seen) < 5:
                response = await client.post(
                    "/graphql", json={"query": TORN_QUERY, "variables": {"id": event_id}}
                )
                event = payload(response)["event"]
                texts = {c["text"] for r in event["reports"] for c in r["claims"]}
                seen.append(texts | {event["summary"]})
            writer.join()
        return seen

    pages = asyncio.run(read())
    torn = [p for p in pages if len(p) != 1]
    assert not torn, torn[:3]
    assert len({next(iter(p)) for p in pages}) > 1, "no write committed while pages were read"


@pytest.mark.parametrize("query", [PAGE_QUERY])
def test_the_seed_page_on_the_embedded_store_reads_no_neighbourhood(
    tmp_path: Path, query: str
) -> None:
    """The embedded store reads from memory: its page does not take the one-statement path."""
    embedded = EmbeddedStore(tmp_path / "embedded")
    embedded.setup()
    client = GraphQLClient(create_app(embedded))
    try:
        event_id = _loaded(embedded)[0]
        assert not isinstance(embedded, PageReading)
        assert client.data(query, {"id": event_id})["event"]["id"] == event_id
    finally:
        client.close()
        embedded.close()


def test_the_pool_and_timeouts_come_from_the_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NEWSGRAPH_NEO4J_POOL_SIZE", "7")
    monkeypatch.setenv("NEWSGRAPH_NEO4J_READ_TIMEOUT", "2.5")
    store = make_store("bolt://127.0.0.1:7687", load_settings())  # nothing opened
    assert isinstance(store, Neo4jStore)
    assert (store.pool_size, store.read_timeout, store.write_timeout) == (7, 2.5, 120.0)
    monkeypatch.setenv("NEWSGRAPH_NEO4J_READ_TIMEOUT", "0")
    with pytest.raises(ValueError, match="NEWSGRAPH_NEO4J_READ_TIMEOUT"):
        load_settings()


def test_a_policy_another_process_writes_reaches_the_pages(neo: Neo4jStore) -> None:
    """The policy a page uses is read again once the change log moves: a new label written
    straight to the store (as `newsgraph policy` in another process would) shows within the
    follower's look at the log."""
    event_id = _loaded(neo)[0]
    client = GraphQLClient(create_app(neo))
    query = "query L($id: ID!) { event(id: $id) { confidence { level label } } }"
    try:
        before = client.data(query, {"id": event_id})["event"]["confidence"]
        policy = json.loads(current_policy(neo).to_json())
        for rung in policy["ladder"] + [policy["disputed"]]:
            rung["label"] = rung["label"] + " (new)"
        neo.write(WriteBatch(settings={POLICY_SETTING: json.dumps(policy)}))
        for _ in range(100):  # a bound on the wait, not a speed target
            after = client.data(query, {"id": event_id})["event"]["confidence"]
            if after != before:
                break
            time.sleep(0.1)
        assert after == {"level": before["level"], "label": before["label"] + " (new)"}
    finally:
        client.close()
