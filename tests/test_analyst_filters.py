"""The analysts' filters (issue 18): by role, entity type, report tone, outlet tier and group,
on `events`, timelines, their totals and the live updates' matching, on both stores, each
checked against what the events' own pages say; bad values are refused naming the argument."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from api.live import matching_events
from graph.store import EventFilter, EventQuery, GraphStore
from tests.conftest import load_file, load_outlets
from tests.support.analyst import write_records
from tests.support.graphql import GraphQLClient
from tests.support.served import served

EVERY = """{ events(first: 100) { totalCount edges { node {
  id entities { roles entity { id name type } }
  reports { retraction { retractedOn } claims { tone } outlet { id tier group } } } } } }"""
EVENTS = """query($f: EventFilterInput, $order: Order!) {
  events(first: 100, filter: $f, order: $order) { totalCount edges { node { id } } } }"""
TIMELINE = """query($id: ID!, $f: EventFilterInput) {
  entity(id: $id) { timeline(first: 100, filter: $f) { totalCount edges { node { id } } } } }"""

Event = dict[str, Any]


@pytest.fixture
def client(store: GraphStore, tmp_path: Path) -> Iterator[GraphQLClient]:
    yield from served(store, write_records(tmp_path / "analyst.jsonl"))


def _events(client: GraphQLClient) -> list[Event]:
    found = client.data(EVERY)["events"]
    assert found["totalCount"] == len(found["edges"]) == 40
    return [e["node"] for e in found["edges"]]


def _listed(client: GraphQLClient, flt: dict[str, Any], order: str = "NEWEST_FIRST") -> set[str]:
    found = client.data(EVENTS, {"f": flt, "order": order})["events"]
    listed = {e["node"]["id"] for e in found["edges"]}
    assert found["totalCount"] == len(listed)
    return listed


def _roles(involvement: dict[str, Any]) -> set[str]:
    return {r.lower() for r in involvement["roles"]}


def _reporting(event: Event) -> list[dict[str, Any]]:
    """The outlets with a report not retracted."""
    return [r["outlet"] for r in event["reports"] if r["retraction"] is None]


def _where(events: list[Event], keep: Callable[[Event], bool]) -> set[str]:
    return {e["id"] for e in events if keep(e)}


def test_each_filter_lists_the_events_their_pages_say(client: GraphQLClient) -> None:
    events = _events(client)
    putin = next(
        i["entity"]["id"]
        for e in events
        for i in e["entities"]
        if i["entity"]["name"] == "Vladimir Putin"
    )
    expected: list[tuple[dict[str, Any], set[str]]] = [
        (
            {"roles": ["TARGET"]},
            _where(events, lambda e: any("target" in _roles(i) for i in e["entities"])),
        ),
        (
            {"roles": ["target", "party"], "entityTypes": ["COUNTRY", "GROUP"]},
            _where(
                events,
                lambda e: any(
                    _roles(i) & {"target", "party"} and i["entity"]["type"] in ("COUNTRY", "GROUP")
                    for i in e["entities"]
                ),
            ),
        ),
        (
            {"entity": putin, "roles": ["target"]},
            _where(
                events,
                lambda e: any(
                    i["entity"]["id"] == putin and "target" in _roles(i) for i in e["entities"]
                ),
            ),
        ),
        (
            {"entityTypes": ["ORGANIZATION"]},
            _where(
                events, lambda e: any(i["entity"]["type"] == "ORGANIZATION" for i in e["entities"])
            ),
        ),
        (
            {"tones": ["DENIED", "CLAIMED"]},
            _where(
                events,
                lambda e: any(
                    r["retraction"] is None
                    and {c["tone"] for c in r["claims"]} & {"DENIED", "CLAIMED"}
                    for r in e["reports"]
                ),
            ),
        ),
        (
            {"tiers": ["TRUSTED"]},
            _where(events, lambda e: any(o["tier"] == "TRUSTED" for o in _reporting(e))),
        ),
        (
            {"tiers": ["UNKNOWN"]},
            _where(events, lambda e: any(o["tier"] == "UNKNOWN" for o in _reporting(e))),
        ),
        (
            {"groups": ["russian-state-media"], "tiers": ["STATE_AFFILIATED"]},
            _where(
                events,
                lambda e: any(o["group"] == "russian-state-media" for o in _reporting(e)),
            ),
        ),
    ]
    for flt, wanted in expected:
        assert wanted and wanted != {e["id"] for e in events}, flt  # the filter tells apart
        for order in ("NEWEST_FIRST", "OLDEST_FIRST", "RECENTLY_UPDATED"):
            assert _listed(client, flt, order) == wanted, (flt, order)
    # a timeline: the entity's events where it is a target
    line = client.data(TIMELINE, {"id": putin, "f": {"roles": ["target"]}})["entity"]["timeline"]
    assert {e["node"]["id"] for e in line["edges"]} == expected[2][1]
    assert line["totalCount"] == len(expected[2][1])


def test_a_retracted_report_does_not_count(client: GraphQLClient) -> None:
    events = _events(client)
    retracted_only = {
        e["id"]
        for e in events
        if any(r["retraction"] for r in e["reports"])
        and not any(o["tier"] == "UNKNOWN" for o in _reporting(e))
        and any(r["retraction"] and r["outlet"]["tier"] == "UNKNOWN" for r in e["reports"])
    }
    assert retracted_only  # the set holds an event only a retracted report ties to the tier
    assert not retracted_only & _listed(client, {"tiers": ["UNKNOWN"]})


def test_live_updates_match_as_the_store_lists(store: GraphStore, tmp_path: Path) -> None:
    load_outlets(store)
    load_file(store, write_records(tmp_path / "analyst.jsonl"))
    every = [e.id for e in store.query_events(_query(EventFilter())).events]
    for flt in (
        EventFilter(roles=("target",)),
        EventFilter(roles=("party",), entity_types=("country",)),
        EventFilter(tones=("denied",)),
        EventFilter(tiers=("trusted",), groups=("reuters",)),
        EventFilter(entity_types=("group",), categories=("military",)),
    ):
        listed = [e.id for e in store.query_events(_query(flt)).events]
        assert [e.id for e in matching_events(store, flt, every)] == [
            i for i in every if i in listed
        ]
        assert store.count_events(flt, 1000) == len(listed)


def _query(flt: EventFilter) -> EventQuery:
    return EventQuery(flt, first=1000)


@pytest.mark.parametrize(
    ("flt", "message"),
    [
        ({"roles": []}, "filter.roles must name at least one value"),
        ({"roles": ["x" * 101]}, "filter.roles: each value must have 1 to 100 characters"),
        ({"roles": [" "]}, "filter.roles: each value must have 1 to 100 characters"),
        ({"groups": [f"g{i}" for i in range(21)]}, "filter.groups names 21 values, at most 20"),
        ({"tones": []}, "filter.tones must name at least one value"),
    ],
)
def test_a_bad_value_is_refused_naming_it(
    client: GraphQLClient, flt: dict[str, Any], message: str
) -> None:
    answer = client.query(EVENTS, {"f": flt, "order": "NEWEST_FIRST"}).json()
    assert [e["message"] for e in answer["errors"]] == [message]


def test_timeline_buckets_take_the_same_filter(client: GraphQLClient) -> None:
    events = _events(client)
    putin = next(
        i["entity"]["id"]
        for e in events
        for i in e["entities"]
        if i["entity"]["name"] == "Vladimir Putin"
    )
    query = """query($id: ID!, $f: EventFilterInput) { entity(id: $id) {
      timelineBuckets(interval: MONTH, filter: $f) { total buckets { count } } } }"""
    for flt in ({"roles": ["target", "participant"]}, {"tiers": ["TRUSTED"], "from": "2025-02-01"}):
        listed = client.data(TIMELINE, {"id": putin, "f": flt})["entity"]["timeline"]
        buckets = client.data(query, {"id": putin, "f": flt})["entity"]["timelineBuckets"]
        assert (
            buckets["total"] == listed["totalCount"] == sum(b["count"] for b in buckets["buckets"])
        )
        assert (
            0
            < listed["totalCount"]
            < len([e for e in events if any(i["entity"]["id"] == putin for i in e["entities"])])
        )
    both = """query($id: ID!) { entity(id: $id) {
      timelineBuckets(from: "2025-01-01", filter: {tones: [DENIED]}) { total } } }"""
    answer = client.query(both, {"id": putin}).json()
    assert [e["message"] for e in answer["errors"]] == [
        "timelineBuckets: with `filter`, give from, to, minConfidence and categories inside it"
    ]


def _paged(store: GraphStore, flt: EventFilter, newest_first: bool) -> list[str]:
    found: list[str] = []
    after: tuple[str, str] | None = None
    while True:
        page = store.query_events(EventQuery(flt, 3, newest_first=newest_first, after=after))
        found += [e.id for e in page.events]
        if not page.has_next:
            return found
        after = (page.events[-1].text("occurred_on"), page.events[-1].id)


def test_pages_of_a_tier_or_group_walk_every_event_once(store: GraphStore, tmp_path: Path) -> None:
    load_outlets(store)
    load_file(store, write_records(tmp_path / "analyst.jsonl", count=60, seed=3))
    every = store.query_events(EventQuery(EventFilter(), first=1000, newest_first=False)).events
    ids = [e.id for e in every]
    for flt in (
        EventFilter(tiers=("trusted",)),
        EventFilter(tiers=("unknown",), date_from="2025-02-01"),
        EventFilter(groups=("russian-state-media", "reuters")),
        EventFilter(groups=("ap",), tones=("certain",)),
    ):
        expected = [e.id for e in matching_events(store, flt, ids)]
        assert expected, flt
        assert _paged(store, flt, newest_first=False) == expected
        assert _paged(store, flt, newest_first=True) == expected[::-1]
        assert store.count_events(flt, 1000) == len(expected)
        assert store.tally_events(flt, 1000).events == len(expected)
