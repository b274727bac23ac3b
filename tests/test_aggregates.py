"""Event counts by period, category, confidence and country (`eventCounts(groupBy:)`, issue 18)
on both stores, checked against counts computed from the events themselves; the bound on
events counted; bad arguments refused naming them."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest

from graph import analytics
from graph.store import EventFilter, EventQuery, GraphStore, tally_key
from tests.conftest import load_file, load_outlets
from tests.support.analyst import write_records
from tests.support.graphql import GraphQLClient
from tests.support.served import served

EVERY = """query($f: EventFilterInput) { events(first: 100, filter: $f) { edges { node {
  id occurredOn category confidence { level } country { id } } } } }"""
COUNTS = """query($f: EventFilterInput, $by: [CountBy!], $interval: Interval!) {
  eventCounts(filter: $f, groupBy: $by, interval: $interval) {
    eventsScanned complete groupBy interval
    countries { count place { id } }
    groups { count start end category confidence country { id } } } }"""


@pytest.fixture
def client(store: GraphStore, tmp_path: Path) -> Iterator[GraphQLClient]:
    yield from served(store, write_records(tmp_path / "analyst.jsonl"))


def _start(day: str, interval: str) -> str:
    found = date.fromisoformat(day[:10])
    if interval == "WEEK":
        found -= timedelta(days=found.weekday())
    elif interval == "MONTH":
        found = found.replace(day=1)
    return found.isoformat()


def _expected(
    events: list[dict[str, Any]], by: list[str], interval: str
) -> Counter[tuple[Any, ...]]:
    counts: Counter[tuple[Any, ...]] = Counter()
    for e in events:
        counts[
            (
                _start(e["occurredOn"], interval) if "PERIOD" in by else None,
                e["category"] if "CATEGORY" in by else None,
                e["confidence"]["level"] if "CONFIDENCE" in by else None,
                (e["country"] or {}).get("id") if "COUNTRY" in by else None,
            )
        ] += 1
    return counts


@pytest.mark.parametrize(
    ("by", "interval", "flt"),
    [
        (["PERIOD"], "MONTH", None),
        (["PERIOD", "CATEGORY"], "WEEK", None),
        (["CATEGORY", "CONFIDENCE", "COUNTRY"], "MONTH", None),
        (["PERIOD", "CATEGORY", "CONFIDENCE", "COUNTRY"], "DAY", None),
        (["COUNTRY", "PERIOD"], "MONTH", {"tiers": ["TRUSTED"], "from": "2025-02-01"}),
        (["CONFIDENCE"], "MONTH", {"roles": ["target"], "categories": ["MILITARY", "CYBER"]}),
        ([], "MONTH", {"entityTypes": ["COUNTRY"]}),
    ],
)
def test_counts_equal_those_of_the_events_themselves(
    client: GraphQLClient, by: list[str], interval: str, flt: dict[str, Any] | None
) -> None:
    events = [e["node"] for e in client.data(EVERY, {"f": flt})["events"]["edges"]]
    assert events
    answer = client.data(COUNTS, {"f": flt, "by": by, "interval": interval})["eventCounts"]
    assert answer["complete"] is True
    assert answer["eventsScanned"] == len(events)
    assert answer["groupBy"] == list(dict.fromkeys(by))
    listed = Counter(
        {
            (g["start"], g["category"], g["confidence"], (g["country"] or {}).get("id")): g["count"]
            for g in answer["groups"]
        }
    )
    assert len(listed) == len(answer["groups"])  # each combination once
    assert listed == (_expected(events, by, interval) if by else Counter())
    if by:
        assert sum(g["count"] for g in answer["groups"]) == len(events)
        assert answer["groups"] == sorted(
            answer["groups"], key=lambda g: (g["start"] is None, g["start"] or "")
        )
    countries = Counter((e["country"] or {}).get("id") for e in events if e["country"])
    assert {c["place"]["id"]: c["count"] for c in answer["countries"]} == dict(countries)


def test_a_period_ends_where_the_next_begins(client: GraphQLClient) -> None:
    answer = client.data(COUNTS, {"f": None, "by": ["PERIOD"], "interval": "MONTH"})
    for group in answer["eventCounts"]["groups"]:
        start, end = date.fromisoformat(group["start"]), date.fromisoformat(group["end"])
        assert start.day == 1 and (end + timedelta(days=1)).day == 1 and end.month == start.month


def test_only_the_oldest_events_count_past_the_bound(store: GraphStore, tmp_path: Path) -> None:
    load_outlets(store)
    load_file(store, write_records(tmp_path / "analyst.jsonl"))
    flt = EventFilter(categories=("military", "diplomatic"))
    oldest = store.query_events(EventQuery(flt, first=7, newest_first=False)).events
    counted = analytics.aggregate(store, flt, ["period", "category"], "day", max_events=7)
    assert counted.total == 7 and not counted.complete
    assert [b.name for b in counted.bounds] == ["events"]
    expected = Counter((tally_key(e.props)[0], e.text("category")) for e in oldest)
    assert {(str(g.start), g.category): g.count for g in counted.groups} == expected
    whole = analytics.aggregate(store, flt, ["category"])
    assert whole.complete and whole.total == store.count_events(flt, 1000) > 7
    few = analytics.aggregate(store, flt, ["period", "category"], "day", max_groups=2)
    assert len(few.groups) == 2 and [b.name for b in few.bounds] == ["groups"]


def test_nothing_matches_no_groups(store: GraphStore) -> None:
    counted = analytics.aggregate(store, EventFilter(entity="en_nobody"), ["country"])
    assert (counted.total, counted.groups, counted.complete) == (0, [], True)


def test_shorthands_and_filter_are_not_given_together(client: GraphQLClient) -> None:
    query = """{ eventCounts(from: "2025-01-01", filter: {tones: [DENIED]}) { eventsScanned } }"""
    assert [e["message"] for e in client.query(query).json()["errors"]] == [
        "eventCounts: with `filter`, give from, to, minConfidence and categories inside it"
    ]
