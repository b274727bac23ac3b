"""The answers the workers of `serve --workers` share (api.shared_answers): a page one worker
made is answered by another from the shared level, only while it is the answer that worker
would make now: a write makes it stale for every worker, and a worker never takes an answer
made at a change log entry its own reads do not include yet. Two apps on one store stand for
two workers here (in process, as the other app tests); `tests/test_serve_workers.py` runs the
real processes."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from api.app import create_app
from api.config import AppConfig
from api.response_cache import CACHE_HEADER, Entry, ResponseCache, node_read
from api.shared_answers import SharedAnswers
from graph.model import Label, NodeWrite, PropertyWrite, WriteBatch
from graph.store import GraphStore
from tests.conftest import EXTRACTOR, load_file, load_outlets, shared_file
from tests.support.graphql import PAGE_QUERY, GraphQLClient

EVENTS = "{ events(first: 10) { edges { node { id summary } } } }"


def _page(client: GraphQLClient, event_id: str) -> tuple[str, bytes]:
    answer = client.query(PAGE_QUERY, {"id": event_id})
    assert answer.status_code == 200, answer.text
    assert "errors" not in answer.json(), answer.text
    return answer.headers[CACHE_HEADER], answer.content


@pytest.fixture
def workers(store: GraphStore, tmp_path: Path) -> Iterator[tuple[GraphQLClient, GraphQLClient]]:
    load_outlets(store)
    load_file(store, shared_file(EXTRACTOR / "samples.jsonl"))
    answers = SharedAnswers.beside(str(tmp_path / "answers"), AppConfig().response_cache_bytes)
    config = AppConfig()
    one = GraphQLClient(create_app(store, config=config, shared_answers=answers))
    two = GraphQLClient(create_app(store, config=config, shared_answers=answers))
    try:
        yield one, two
    finally:
        one.close()
        two.close()
        answers.close()


def test_a_page_one_worker_made_is_answered_by_the_other(
    workers: tuple[GraphQLClient, GraphQLClient],
) -> None:
    one, two = workers
    edges = one.data(EVENTS)["events"]["edges"]
    event_id = next(e["node"]["id"] for e in edges if "Witkoff" in e["node"]["summary"])
    made = _page(one, event_id)
    assert made[0] == "miss"
    assert _page(two, event_id) == ("hit", made[1])  # never made by the second
    assert _page(two, event_id) == ("hit", made[1])  # kept in its own memory since


def test_a_write_makes_a_shared_answer_stale_for_every_worker(
    workers: tuple[GraphQLClient, GraphQLClient], store: GraphStore
) -> None:
    one, two = workers
    edges = one.data(EVENTS)["events"]["edges"]
    event_id = next(e["node"]["id"] for e in edges if "Witkoff" in e["node"]["summary"])
    page = one.query(PAGE_QUERY, {"id": event_id}).json()["data"]["event"]
    _page(two, event_id)
    entity = page["entities"][0]["entity"]
    renamed = PropertyWrite(set={"name": "Renamed once"})
    store.write(WriteBatch(nodes=[NodeWrite(entity["id"], Label.ENTITY, renamed)]))
    seen, body = _page(two, event_id)
    assert seen == "miss"  # neither its own memory's nor the shared one: both stale
    assert b"Renamed once" in body
    # the first worker's own answer is stale too; the shared level now holds the second's
    # fresh one, made at an entry its reads include: it answers with that
    assert _page(one, event_id) == ("hit", body)


def test_an_answer_made_ahead_waits_for_the_worker_to_reach_it(
    store: GraphStore, tmp_path: Path
) -> None:
    """A worker whose reads do not include the entry an answer was made at does not take it;
    once it has read up to there, it takes it unless an entry between touched what it read."""
    shared = SharedAnswers(str(tmp_path / "answers"), 1 << 20)
    ahead = ResponseCache(store, 1_000_000, shared=shared)
    behind = ResponseCache(store, 1_000_000, shared=shared)
    ahead.position = behind.position = 0
    for seq in (1, 2):
        ahead._note(seq, [node_read(f"other{seq}")])
    ahead.position = 2
    page = Entry(200, (), b"{}", (node_read("a"),))
    assert ahead.keep("page", page, seen=2)
    assert ahead.keep("wide", Entry(200, (), b"[]", None), seen=2)
    assert behind.get("page") is None  # made at entry 2, read up to 0 here
    behind._note(1, [node_read("other1")])
    behind._note(2, [node_read("other2")])
    behind.position = 2
    assert behind.get("page") == page
    assert behind.get("wide") is not None
    behind._note(3, [node_read("a")])
    behind.position = 3
    assert behind.get("page") is None  # entry 3 changed what it read
    assert behind.get("wide") is None
    elsewhere = ResponseCache(store, 1_000_000, shared=shared)
    elsewhere.position = 3
    elsewhere._note(3, [node_read("a")])
    elsewhere._floor = 3  # it started reading the log at 3: it cannot check entry 2's answer
    assert elsewhere.get("page") is None


def test_past_its_size_it_starts_again(tmp_path: Path) -> None:
    shared = SharedAnswers(str(tmp_path / "answers"), 1 << 20)
    body = b"x" * 50_000
    for n in range(400):  # 20 MB through 1 MB: emptied again and again, never failing
        shared.put(f"k{n}", (200, (), body, (node_read("a"),), n))
    assert shared.fulls >= 10
    assert shared.get("k399") == (200, (), body, (node_read("a"),), 399)
    assert shared.get("k0") is None
    assert shared._used() <= 2 * shared.max_bytes
    big = b"y" * (1 << 20)
    shared.put("big", (200, (), big, None, 1))  # larger than it keeps: passed by
    assert shared.get("big") is None
    assert shared.get("k399") is not None


def test_a_shared_level_that_fails_never_fails_a_page(
    workers: tuple[GraphQLClient, GraphQLClient], store: GraphStore, tmp_path: Path
) -> None:
    one, _ = workers
    edges = one.data(EVENTS)["events"]["edges"]
    event_id = next(e["node"]["id"] for e in edges if "Witkoff" in e["node"]["summary"])
    broken = SharedAnswers(str(tmp_path / "broken"), 1 << 20)
    broken.close()  # every look-up and put now raises inside
    client = GraphQLClient(create_app(store, config=AppConfig(), shared_answers=broken))
    try:
        assert _page(client, event_id)[0] == "miss"
        assert _page(client, event_id)[0] == "hit"  # its own memory still keeps it
    finally:
        client.close()
