"""The response cache (api.response_cache), on each store kind: an anonymous query answered again
from memory with the same body; a write, through the API or straight to the store, makes the
next read fresh; an editor's answer is never kept or served from it; room is bounded."""

from __future__ import annotations

import asyncio
import hashlib
import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

import api.response_cache as response_cache
import graph.store
from api.app import create_app
from api.config import AppConfig
from api.follow import Follower
from api.hub import Hub
from api.response_cache import CACHE_HEADER, Entry, ResponseCache, edges_read, node_read
from api.tokens import Tokens
from graph.embedded import EmbeddedStore
from graph.model import EdgeWrite, Label, NodeWrite, PropertyWrite, Rel, WriteBatch
from graph.store import ChangeLogTruncated, GraphStore
from tests.conftest import EXTRACTOR, load_file, load_outlets, shared_file
from tests.support.graphql import PAGE_QUERY, GraphQLClient, bearer

LOADER = "loader-token-0123456789abcdefghijklmnop"
EDITOR = "editor-token-0123456789abcdefghijklmnop"
INGEST = """mutation($records: [JSON!]!) {
  ingest(records: $records) { loaded merged rejected results { index status eventId reason } }
}"""
EVENTS = "{ events(first: 10) { totalCount edges { node { id summary } } } }"


class Client(GraphQLClient):
    def post(self, body: dict[str, Any], token: str | None = None) -> httpx.Response:
        return self._runner.run(self._http.post("/graphql", json=body, headers=bearer(token)))

    def get(self, params: dict[str, Any]) -> httpx.Response:
        query = {k: v if isinstance(v, str) else json.dumps(v) for k, v in params.items()}
        return self._runner.run(self._http.get("/graphql", params=query))

    def page(self, event_id: str, token: str | None = None) -> httpx.Response:
        answer = self.post({"query": PAGE_QUERY, "variables": {"id": event_id}}, token)
        assert answer.status_code == 200, answer.text
        assert "errors" not in answer.json(), answer.text
        return answer

    def metrics(self) -> str:
        return self._runner.run(self._http.get("/metrics")).text


def _app(store: GraphStore, size: int | None = None) -> Client:
    config = AppConfig() if size is None else AppConfig(response_cache_bytes=size)
    tokens = Tokens.configured(f"loader:extractor:{LOADER},editor:alice:{EDITOR}")
    return Client(create_app(store, tokens, config))


@pytest.fixture
def site(store: GraphStore) -> Iterator[Client]:
    load_outlets(store)
    load_file(store, shared_file(EXTRACTOR / "samples.jsonl"))
    client = _app(store)
    try:
        yield client
    finally:
        client.close()


def _event(site: Client, summary: str) -> str:
    edges = site.data(EVENTS)["events"]["edges"]
    return str(next(e["node"]["id"] for e in edges if summary in e["node"]["summary"]))


def _counted(site: Client, outcome: str) -> float:
    """The response cache's count of `outcome` in /metrics (0 before the first)."""
    name = f'newsgraph_response_cache_total{{outcome="{outcome}"}} '
    lines = [line for line in site.metrics().splitlines() if line.startswith(name)]
    return float(lines[0].removeprefix(name)) if lines else 0.0


def _sources(answer: httpx.Response) -> list[str]:
    return sorted(s["name"] for s in answer.json()["data"]["event"]["sources"])


def test_a_hit_answers_the_same_body(site: Client) -> None:
    event_id = _event(site, "Witkoff")
    first = site.page(event_id)
    assert first.headers[CACHE_HEADER] == "miss"
    again = site.page(event_id)
    assert again.headers[CACHE_HEADER] == "hit"
    assert again.content == first.content
    assert again.headers["content-type"] == first.headers["content-type"]
    # a GET of the same query and variables is the same answer: kept once
    got = site.get({"query": PAGE_QUERY, "variables": {"id": event_id}})
    assert got.headers[CACHE_HEADER] == "hit"
    assert got.content == first.content
    assert got.headers["etag"]
    # other variables, another answer
    other = site.page(_event(site, "Kyiv"))
    assert other.headers[CACHE_HEADER] == "miss"
    assert other.content != first.content
    counted = site.metrics()
    # two page hits and the listing asked again by `_event`
    assert 'newsgraph_response_cache_total{outcome="hit"} 3.0' in counted
    assert 'newsgraph_response_cache_total{outcome="stored"}' in counted


def test_a_write_through_the_api_makes_the_next_read_fresh(site: Client) -> None:
    event_id = _event(site, "Lukashenko met")
    before = site.page(event_id)
    assert site.page(event_id).headers[CACHE_HEADER] == "hit"
    assert "Associated Press" not in _sources(before)
    # the extractor reports the same event from another outlet
    lines = shared_file(EXTRACTOR / "samples.jsonl").read_text("utf-8").splitlines()
    records = [json.loads(line) for line in lines if line.strip()]
    record = records[0]
    story = {**record["source_story"], "outlet": "Associated Press", "slug": "treaty-2"}
    record["source_story"] = story
    record["event"]["reports"] = [{"outlet": "Associated Press", "claims": []}]
    loaded = site.post({"query": INGEST, "variables": {"records": [record]}}, LOADER)
    result = loaded.json()["data"]["ingest"]["results"][0]
    assert result["eventId"] == event_id, loaded.text
    after = site.page(event_id)
    assert after.headers[CACHE_HEADER] == "miss"
    assert "Associated Press" in _sources(after)
    assert site.page(event_id).content == after.content


def test_a_write_to_the_store_makes_the_next_read_fresh(site: Client, store: GraphStore) -> None:
    """Another process's write (a `newsgraph load`): the cache follows the change log."""
    event_id = _event(site, "Witkoff")
    site.page(event_id)
    listing = site.data(EVENTS)
    assert site.post({"query": EVENTS}).headers[CACHE_HEADER] == "hit"
    entity = next(e["entity"] for e in site.page(event_id).json()["data"]["event"]["entities"])
    renamed = PropertyWrite(set={"name": "Renamed Person"})
    store.write(WriteBatch(nodes=[NodeWrite(entity["id"], Label.ENTITY, renamed)]))
    after = site.page(event_id)
    assert after.headers[CACHE_HEADER] == "miss"
    names = [e["entity"]["name"] for e in after.json()["data"]["event"]["entities"]]
    assert "Renamed Person" in names
    # a listing is dropped by any write (it may list what the write added)
    assert site.post({"query": EVENTS}).headers[CACHE_HEADER] == "miss"
    assert site.data(EVENTS) == listing


def test_an_untouched_page_stays_kept_across_a_write(site: Client, store: GraphStore) -> None:
    kept, other = _event(site, "Witkoff"), _event(site, "Kyiv")
    site.page(kept)
    other_page = site.page(other).json()["data"]["event"]
    entity = other_page["entities"][0]["entity"]["id"]
    assert entity not in json.dumps(site.page(kept).json())
    store.write(
        WriteBatch(nodes=[NodeWrite(entity, Label.ENTITY, PropertyWrite(set={"name": "X"}))])
    )
    assert site.page(kept).headers[CACHE_HEADER] == "hit"
    assert site.page(other).headers[CACHE_HEADER] == "miss"
    # an outlet of the kept page reports the other event: the other page changes, not this one
    outlet = site.page(kept).json()["data"]["event"]["sources"][0]["id"]
    story = store.edges([other], Rel.DESCRIBES, "in")[other][0].src
    report = EdgeWrite(outlet, Rel.REPORTS, other, story, PropertyWrite())
    store.write(WriteBatch(edges=[report]))
    assert site.page(kept).headers[CACHE_HEADER] == "hit"
    fresh = site.page(other)
    assert fresh.headers[CACHE_HEADER] == "miss"
    assert outlet in [s["id"] for s in fresh.json()["data"]["event"]["sources"]]


def test_an_editors_answer_is_never_kept_or_served(site: Client) -> None:
    event_id = _event(site, "Witkoff")
    edited = site.page(event_id, EDITOR)
    assert CACHE_HEADER not in edited.headers
    assert CACHE_HEADER not in site.page(event_id, EDITOR).headers
    assert site.page(event_id).headers[CACHE_HEADER] == "miss"  # the editor's was not kept
    assert site.page(event_id).headers[CACHE_HEADER] == "hit"
    assert CACHE_HEADER not in site.page(event_id, EDITOR).headers  # nor served to them


def test_errors_mutations_and_heavy_fields_are_not_kept(site: Client) -> None:
    unknown = {"query": PAGE_QUERY, "variables": {"id": "ev_missing"}}
    assert site.post(unknown).headers[CACHE_HEADER] == "miss"
    assert site.post(unknown).headers[CACHE_HEADER] == "miss"
    heavy = {"query": "{ rankings(first: 3) { entity { name } } }"}
    assert CACHE_HEADER not in site.post(heavy).headers


def test_room_is_bounded_and_evictions_counted(store: GraphStore) -> None:
    load_outlets(store)
    load_file(store, shared_file(EXTRACTOR / "samples.jsonl"))
    site = _app(store, size=6000)
    try:
        ids = [e["node"]["id"] for e in site.data(EVENTS)["events"]["edges"]]
        for event_id in ids:
            site.page(event_id)
        assert 'newsgraph_response_cache_total{outcome="eviction"}' in site.metrics()
        assert site.page(ids[-1]).headers[CACHE_HEADER] == "hit"  # the latest stays
    finally:
        site.close()


def test_when_kept_answers_go_unasked_a_page_is_kept_from_its_second_asking(
    store: GraphStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Pages asked once each (a crawler), in a cache with room for about two: the kept ones are
    evicted without ever being asked again, so from then on a page asked for the first time
    passes by the cache (no cache header, counted `first`) and is kept from its second
    asking."""
    monkeypatch.setattr(response_cache, "USEFUL_MIN", 3)
    load_outlets(store)
    load_file(store, shared_file(EXTRACTOR / "samples.jsonl"))
    site = _app(store, size=6000)
    try:
        ids = [e["node"]["id"] for e in site.data(EVENTS)["events"]["edges"]]
        for n in range(6):  # six requests of one page, each its own key (its text)
            variant = {"query": PAGE_QUERY + " " * n, "variables": {"id": ids[0]}}
            assert site.post(variant).status_code == 200
        assert 'newsgraph_response_cache_total{outcome="eviction"}' in site.metrics()
        passed_by = _counted(site, "first")
        last = ids[-1]
        first = site.page(last)
        assert CACHE_HEADER not in first.headers
        kept = site.page(last)
        assert kept.headers[CACHE_HEADER] == "miss"
        again = site.page(last)
        assert again.headers[CACHE_HEADER] == "hit"
        assert again.content == kept.content == first.content
        assert _counted(site, "first") == passed_by + 1
    finally:
        site.close()


def test_an_answer_made_while_a_write_committed_is_kept_only_if_untouched(
    store: GraphStore,
) -> None:
    cache = ResponseCache(store, 1_000_000)
    cache.position = 0

    def entry(*ids: str) -> Entry:
        return Entry(200, (), b"{}", tuple(node_read(i) for i in ids))

    assert cache.keep("kept", entry("en_c"), seen=0)
    batch = WriteBatch(nodes=[NodeWrite("en_a", Label.ENTITY, PropertyWrite(set={"name": "A"}))])
    store.write(batch)
    store.catch_up()
    head = store.read_position()
    cache._apply(head, cache._read_changes)
    assert not cache.keep("read-a", entry("en_a"), seen=0)
    assert not cache.keep("wide", Entry(200, (), b"{}", None), seen=0)
    assert cache.keep("read-b", entry("en_b"), seen=0)
    assert cache.keep("read-a-after", entry("en_a"), seen=head)
    # a cache holding nothing notes nothing: what was made before the write is made again
    empty = ResponseCache(store, 1_000_000)
    empty.position = 0
    store.write(WriteBatch(nodes=[NodeWrite("en_d", Label.ENTITY, PropertyWrite(set={"n": 1}))]))
    store.catch_up()
    empty._apply(store.read_position(), empty._read_changes)
    assert not empty.keep("read-b", entry("en_b"), seen=0)
    assert empty.keep("read-b", entry("en_b"), seen=store.read_position())


def test_a_persisted_query_is_answered_from_the_cache(site: Client) -> None:
    digest = hashlib.sha256(PAGE_QUERY.encode()).hexdigest()
    event_id = _event(site, "Witkoff")
    persisted = {"persistedQuery": {"version": 1, "sha256Hash": digest}}
    variables = {"id": event_id}
    first = site.post({"query": PAGE_QUERY, "variables": variables, "extensions": persisted})
    assert first.headers[CACHE_HEADER] == "miss"
    short = site.get({"variables": variables, "extensions": persisted})
    assert short.headers[CACHE_HEADER] == "hit"
    assert short.content == first.content


def test_a_truncated_change_log_drops_what_was_kept_and_the_cache_goes_on(
    site: Client, store: GraphStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Writes the cache never looked at (no request came) until the log truncated them: it
    cannot know what they changed, so it drops everything kept, answers afresh and keeps
    answers again from the log's head."""
    monkeypatch.setattr(graph.store, "CHANGE_LOG_KEEP", 5)
    event_id = _event(site, "Witkoff")
    site.page(event_id)
    assert site.page(event_id).headers[CACHE_HEADER] == "hit"
    entity = next(e["entity"] for e in site.page(event_id).json()["data"]["event"]["entities"])
    seen = store.last_change()
    for n in range(20):  # the log keeps the latest 5: the entries after `seen` go
        renamed = PropertyWrite(set={"name": f"Renamed {n}"})
        store.write(WriteBatch(nodes=[NodeWrite(entity["id"], Label.ENTITY, renamed)]))
    with pytest.raises(ChangeLogTruncated):
        store.changes(seen)
    after = site.page(event_id)
    assert after.headers[CACHE_HEADER] == "miss"
    names = [e["entity"]["name"] for e in after.json()["data"]["event"]["entities"]]
    assert "Renamed 19" in names
    # dropped as invalidated, all at once: none of it counted as evicted for room
    assert _counted(site, "invalidation") >= 2
    assert _counted(site, "eviction") == 0
    assert site.page(event_id).headers[CACHE_HEADER] == "hit"  # kept again
    # and it follows the log from there: the next write makes the page fresh again
    renamed = PropertyWrite(set={"name": "Renamed last"})
    store.write(WriteBatch(nodes=[NodeWrite(entity["id"], Label.ENTITY, renamed)]))
    fresh = site.page(event_id)
    assert fresh.headers[CACHE_HEADER] == "miss"
    assert "Renamed last" in [
        e["entity"]["name"] for e in fresh.json()["data"]["event"]["entities"]
    ]
    assert site.page(event_id).headers[CACHE_HEADER] == "hit"


def test_an_entry_drops_exactly_the_answers_that_read_what_it_touched(store: GraphStore) -> None:
    """Answers reading one node, some a relationship list too: an entry touching the list
    drops the answers that read it and no other; one touching the node drops every answer
    reading it; an answer checked once is not dropped again by an entry it was checked
    against; an answer made again is kept once; a wide answer goes with any entry, and an
    entry touching everything (a setting) drops them all."""
    cache = ResponseCache(store, 1_000_000)
    cache.position = 0
    shared = node_read("en_a")
    listed = edges_read("en_a", Rel.INVOLVES, "in")
    alone = node_read("en_b")

    def entry(*reads: str) -> Entry:
        return Entry(200, (), b"{}", reads)

    def note(seq: int, *reads: str) -> None:
        cache._note(seq, reads)
        cache.position = seq

    kept = {"k1": (shared, listed), "k2": (shared, listed), "k3": (shared,), "k4": (alone,)}
    for key, reads in kept.items():
        assert cache.keep(key, entry(*reads), seen=0)
    assert cache.keep("k2", entry(shared, listed), seen=0)  # made again: kept once
    assert len(cache) == 4
    assert cache.keep("wide", Entry(200, (), b"{}", None), seen=0)
    note(1, listed)
    assert [k for k in kept if cache.get(k) is not None] == ["k3", "k4"]
    assert cache.get("wide") is None
    assert len(cache) == 2  # the changed ones dropped as they were asked
    others = [f"o{i}" for i in range(4)]
    for key in others:
        assert cache.keep(key, entry(alone, node_read(key)), seen=1)
    note(2, shared)
    assert [k for k in kept if cache.get(k) is not None] == ["k4"]
    assert [k for k in others if cache.get(k) is not None] == others
    note(3, node_read("o0"))
    assert [k for k in others if cache.get(k) is not None] == others[1:]
    assert cache.get("k4") is not None  # checked up to entry 3 ...
    note(4, node_read("unrelated"))
    assert cache.get("k4") is not None  # ... and against entry 4 only
    note(5, alone)
    assert cache.get("k4") is None
    assert not any(cache.get(k) is not None for k in others)
    assert cache.keep("k4", entry(alone), seen=5)
    cache._note(6, None)  # a setting: everything
    cache.position = 6
    assert cache.get("k4") is None
    assert not cache.keep("late", entry(alone), seen=5)  # made before it: not kept


def test_the_follower_tells_the_cache_what_it_applied(store: GraphStore) -> None:
    """Another process's batch, read and decoded by this process's follower (in its thread),
    drops the kept answers that read what it changed as it is applied, before any request
    comes: the cache has checked up to it and has nothing left to read on the event loop. On
    the embedded store the reader is a read-only store on the writer's directory; on Neo4j,
    the follower reads the server's log."""
    writer = store
    first = WriteBatch(
        nodes=[NodeWrite(i, Label.ENTITY, PropertyWrite(set={"name": i})) for i in "ab"]
    )
    writer.write(first)
    reader = store
    if isinstance(store, EmbeddedStore):
        reader = EmbeddedStore(store.directory, read_only=True)
        reader.setup()

    async def run() -> None:
        follower = Follower(reader, Hub())
        cache = ResponseCache(reader, 1_000_000)
        follower.listeners.append(cache.absorb)
        seen = await cache.follow()
        for key in "ab":
            assert cache.keep(key, Entry(200, (), b"{}", (node_read(key),)), seen)
        renamed = PropertyWrite(set={"name": "A2"})
        writer.write(WriteBatch(nodes=[NodeWrite("a", Label.ENTITY, renamed)]))
        await follower.tick()
        assert follower.position == writer.last_change()
        assert cache.position == follower.position  # told, not read
        assert cache.get("a") is None
        assert cache.get("b") is not None

    try:
        asyncio.run(run())
    finally:
        if reader is not writer:
            reader.close()


def test_past_the_things_it_remembers_the_answers_seen_before_are_made_again(
    store: GraphStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The cache remembers the latest entry of at most `CHANGED` things read: a write touching
    more forgets them all at once, and the answers it can no longer check are made again
    (never answered stale); answers seen after it are kept and checked as before."""
    monkeypatch.setattr(response_cache, "CHANGED", 3)
    cache = ResponseCache(store, 1_000_000)
    cache.position = 0
    assert cache.keep("old", Entry(200, (), b"{}", (node_read("x"),)), seen=0)
    cache._note(1, [node_read(f"n{i}") for i in range(3)])
    cache._note(2, [node_read("y")])  # one more than it remembers
    cache.position = 2
    assert cache.get("old") is None  # x untouched, but nothing can say so any more
    assert cache.keep("new", Entry(200, (), b"{}", (node_read("x"),)), seen=2)
    cache._note(3, [node_read("z")])
    cache.position = 3
    assert cache.get("new") is not None
    cache._note(4, [node_read("x")])
    cache.position = 4
    assert cache.get("new") is None
