"""Anonymous submissions (issue 16): who the client is (trusted proxies, IPv6 by /64), the caps
on pending submissions per event and per client, and their expiry; on both stores, and on a
real `newsgraph serve`, where a worker works out the client and the writer process counts it."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from api.app import create_app
from api.config import AppConfig
from api.tokens import (
    ANONYMOUS,
    Actor,
    Role,
    address_key,
    client_address,
    client_key,
    parse_networks,
)
from graph.model import Label, Rel
from graph.store import GraphStore
from services.editing import EditorialError
from services.editorial import Editorial, SubmissionLimits
from services.ingest import Ingestor
from tests.conftest import FIXED_NOW, load_outlets
from tests.support.serve import free_port, start_server, stop_server
from tests.test_change_log import _another
from tests.test_editorial import seed_record

SUBMIT = """mutation($event: ID!, $url: String!) {
  submitSource(eventId: $event, url: $url, outletName: "Reuters") { id status }
}"""


# -- who the client is -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("address", "key"),
    [
        ("198.51.100.7", "198.51.100.7"),
        ("2001:db8:1:2:aaaa:bbbb:cccc:dddd", "2001:db8:1:2::/64"),
        ("2001:db8:1:2::1", "2001:db8:1:2::/64"),
        ("::ffff:198.51.100.7", "198.51.100.7"),
        (None, "unknown"),
    ],
)
def test_ipv6_clients_are_keyed_by_their_64(address: str | None, key: str) -> None:
    assert address_key(address) == key
    assert client_key(ANONYMOUS, address) == f"address:{key}"
    assert client_key(Actor("alice", Role.EDITOR), address) == "token:alice"


PROXIES = parse_networks("10.0.0.1, 172.16.0.0/12")


@pytest.mark.parametrize(
    ("peer", "forwarded", "client"),
    [
        ("203.0.113.9", "198.51.100.7", "203.0.113.9"),  # not a proxy: the header is ignored
        ("10.0.0.1", "198.51.100.7", "198.51.100.7"),
        ("10.0.0.1", "1.2.3.4, 198.51.100.7", "198.51.100.7"),  # the client wrote 1.2.3.4
        ("10.0.0.1", "198.51.100.7, 172.16.5.5", "198.51.100.7"),  # two proxies
        ("10.0.0.1", None, "10.0.0.1"),
        ("10.0.0.1", "10.0.0.1", "10.0.0.1"),  # only proxies: the first of them
    ],
)
def test_x_forwarded_for_counts_only_from_trusted_proxies(
    peer: str, forwarded: str | None, client: str
) -> None:
    assert client_address(peer, forwarded, PROXIES) == client
    assert client_address(peer, forwarded, []) == peer


def test_a_bad_trusted_proxy_is_refused_naming_it() -> None:
    with pytest.raises(ValueError, match="'10.0.0.300' is not an IP address or network"):
        parse_networks("10.0.0.1, 10.0.0.300")


# -- caps and expiry, on both stores -----------------------------------------------------------


@pytest.fixture
def seeded(store: GraphStore) -> Iterator[tuple[GraphStore, str]]:
    load_outlets(store)
    (result,) = Ingestor(store).ingest([(1, seed_record())])
    yield store, result.event_id


def editorial(store: GraphStore, days: int = 0, **limits: Any) -> Editorial:
    now = FIXED_NOW + timedelta(days=days)
    return Editorial(store, now=lambda: now, limits=SubmissionLimits(**limits))


def submit(work: Editorial, event_id: str, n: int, client: str) -> str:
    given = {"url": f"https://example.org/story-{n}", "outletName": "Example"}
    return work.submit(event_id, given, "anonymous", client=client).id


def test_an_event_takes_at_most_its_cap_of_pending_submissions(
    seeded: tuple[GraphStore, str],
) -> None:
    store, event_id = seeded
    work = editorial(store, per_event=2)
    first = submit(work, event_id, 1, "address:198.51.100.1")
    submit(work, event_id, 2, "address:198.51.100.2")
    with pytest.raises(EditorialError, match="has 2 submissions waiting for review already"):
        submit(work, event_id, 3, "address:198.51.100.3")
    work.reject(first, "not a source", "alice")  # reviewed: no longer waiting
    submit(work, event_id, 3, "address:198.51.100.3")


def test_a_client_has_at_most_its_cap_of_pending_submissions(
    seeded: tuple[GraphStore, str],
) -> None:
    store, event_id = seeded
    work = editorial(store, per_client=2)
    submit(work, event_id, 1, "address:198.51.100.1")
    submit(work, event_id, 2, "address:198.51.100.1")
    with pytest.raises(EditorialError, match="this client has 2 submissions waiting"):
        submit(work, event_id, 3, "address:198.51.100.1")
    submit(work, event_id, 3, "address:198.51.100.2")  # another client
    # the address itself is not kept, only a hash to count by
    (node,) = [n for n in work.pending(10) if n.text("url").endswith("story-3")]
    assert "198.51.100" not in str(node.props)


def test_pending_submissions_expire_when_read(seeded: tuple[GraphStore, str]) -> None:
    store, event_id = seeded
    early = submit(editorial(store), event_id, 1, "address:198.51.100.1")
    later = editorial(store, days=31, per_client=1)
    assert later.pending(10) == [] and later.pending(10, event_id=event_id) == []
    with pytest.raises(EditorialError, match=f"submission {early} has expired: .* 30 days"):
        later.approve(early, "alice")
    assert early in [n.id for n in editorial(store, days=29).pending(10)]  # not expired yet
    # an expired submission no longer counts against its client
    fresh = submit(later, event_id, 2, "address:198.51.100.1")
    assert [n.id for n in later.pending(10)] == [fresh]


def test_expired_submissions_are_removed_by_later_ones(seeded: tuple[GraphStore, str]) -> None:
    """What a reader submitted does not stay stored for ever: once expired, the next
    submissions remove it (a few at a time) and the editorial log says so, by id only."""
    store, event_id = seeded
    old = [
        submit(editorial(store, days=day), event_id, day, f"address:198.51.100.{day}")
        for day in (0, 1, 2)
    ]
    reviewed = old[2]
    editorial(store, days=2).reject(reviewed, "not a source", "alice")
    recent = submit(editorial(store, days=20), event_id, 4, "address:198.51.100.4")
    # all three 30 days old: each submission removes at most `sweep` (here 1) expired ones,
    # oldest first
    later = editorial(store, days=33, sweep=1)
    submit(later, event_id, 5, "address:198.51.100.5")
    assert set(store.get_nodes(old)) == {old[1], reviewed}  # the oldest went first
    submit(later, event_id, 6, "address:198.51.100.6")
    assert set(store.get_nodes(old)) == {reviewed}  # a reviewed one is kept, as its log is
    assert recent in store.get_nodes([recent])  # not expired
    edges = store.edges([event_id], Rel.SUBMITTED_FOR, "in")[event_id]
    assert not {e.src for e in edges} & set(old[:2])  # no link to a removed one is left
    log = store.find_nodes(Label.EDIT, {"action": "expired"}, "at", 10, None)
    removed = [json.loads(str(n.props["removed"])) for n in log]
    assert sorted(i for r in removed for i in r) == sorted(old[:2])
    assert all("example.org" not in str(n.props) for n in log)  # ids and times, not content
    assert later.sweep_expired(10) == []  # nothing left to remove


# -- the rate per client, counted in the store -------------------------------------------------


def test_a_clients_rate_is_one_count_in_the_store(seeded: tuple[GraphStore, str]) -> None:
    store, event_id = seeded
    rate = SubmissionLimits(per_client=50, rate=3, rate_text="3/minute")
    work = Editorial(store, now=lambda: FIXED_NOW, limits=rate)
    client = "address:198.51.100.1"
    first = submit(work, event_id, 1, client)
    for n in (2, 3):
        submit(work, event_id, n, client)
    before = store.last_change()
    message = r"too many submissions from this client \(at most 3/minute\); try again later"
    with pytest.raises(EditorialError, match=message):
        submit(work, event_id, 4, client)
    assert store.last_change() == before  # refused: nothing written to the graph
    work.reject(first, "not a source", "alice")  # the rate counts submissions, reviewed or not
    with pytest.raises(EditorialError, match=message):
        submit(work, event_id, 4, client)
    submit(work, event_id, 4, "address:198.51.100.2")  # another client
    # another process writing to the same store sees the same count
    other = _another(store)
    other.setup()
    try:
        elsewhere = Editorial(other, now=lambda: FIXED_NOW, limits=rate)
        with pytest.raises(EditorialError, match=message):
            submit(elsewhere, event_id, 5, client)
    finally:
        other.close()
    # once the window has passed them, the client may submit again
    later = Editorial(store, now=lambda: FIXED_NOW + timedelta(minutes=1, seconds=1), limits=rate)
    submit(later, event_id, 6, client)


# -- through the API ---------------------------------------------------------------------------


def test_submit_source_names_the_cap(seeded: tuple[GraphStore, str]) -> None:
    store, event_id = seeded
    app = create_app(store, config=AppConfig(max_pending_per_client=1))

    async def scenario() -> list[dict[str, Any]]:
        transport = httpx.ASGITransport(app=app, client=("198.51.100.1", 1234))
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
            answers = []
            for n in range(2):
                variables = {"event": event_id, "url": f"https://example.org/{n}"}
                # the header is not a trusted proxy's: it changes nothing
                headers = {"X-Forwarded-For": f"203.0.113.{n}"}
                response = await http.post(
                    "/graphql", json={"query": SUBMIT, "variables": variables}, headers=headers
                )
                answers.append(response.json())
            return answers

    first, second = asyncio.run(scenario())
    assert first["data"]["submitSource"]["status"] == "PENDING"
    assert second["errors"][0]["message"].startswith("this client has 1 submissions waiting")


def test_a_served_worker_takes_the_client_from_a_trusted_proxy(tmp_path: Path) -> None:
    """`newsgraph serve --workers`: the worker works out the client from X-Forwarded-For of a
    trusted proxy (here the test, on 127.0.0.1), and the writer process rate-limits by it."""
    port = free_port()
    env = {"NEWSGRAPH_TRUSTED_PROXIES": "127.0.0.1, ::1", "NEWSGRAPH_SUBMIT_RATE": "2/minute"}
    process = start_server(tmp_path / "store", port, samples=True, env=env)
    try:
        url = f"http://127.0.0.1:{port}/graphql"
        events = httpx.post(url, json={"query": "{ events(first: 1) { edges { node { id } } } }"})
        event_id = events.json()["data"]["events"]["edges"][0]["node"]["id"]
        count = 0

        def submit_from(forwarded: str) -> str | None:
            """The refusal, or None when the submission was taken."""
            nonlocal count
            count += 1
            variables = {"event": event_id, "url": f"https://example.org/{count}"}
            response = httpx.post(
                url,
                json={"query": SUBMIT, "variables": variables},
                headers={"X-Forwarded-For": forwarded},
                timeout=30,
            )
            answer = response.json()
            return answer["errors"][0]["message"] if "errors" in answer else None

        assert submit_from("198.51.100.7") is None
        assert submit_from("198.51.100.7") is None
        refusal = submit_from("198.51.100.7")
        assert refusal is not None and refusal.startswith("too many submissions from this client")
        # what a client writes left of the address the proxy saw is not believed
        assert submit_from("192.0.2.1, 198.51.100.7") is not None
        assert submit_from("198.51.100.8") is None  # another client
        # IPv6: one /64 is one client
        assert submit_from("2001:db8:1:2::1") is None
        assert submit_from("2001:db8:1:2::2") is None
        assert submit_from("2001:db8:1:2:ffff::3") is not None
        assert submit_from("2001:db8:1:3::1") is None
    finally:
        stop_server(process)
