"""`filter.entities` on `events`, timelines and their totals (issue 18): an entity pair's
events (`ALL`) and any of several entities' (`ANY`), on both stores, checked against what each
event's own `entities` say; bad lists are refused naming the argument."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from api.app import create_app
from api.errors import UserError
from api.live import check_filter
from graph.store import EventFilter, GraphStore
from tests.conftest import EXTRACTOR, load_file, load_outlets
from tests.support.graphql import GraphQLClient

EVERY = """{ events(first: 100) { edges { node { id entities { entity { id name } } } } } }"""
EVENTS = """query($f: EventFilterInput, $order: Order!) {
  events(first: 100, filter: $f, order: $order) { totalCount edges { node { id } } } }"""
TIMELINE = """query($id: ID!, $f: EventFilterInput) {
  entity(id: $id) { timeline(first: 100, filter: $f) { totalCount edges { node { id } } } } }"""


@pytest.fixture
def client(store: GraphStore) -> Iterator[GraphQLClient]:
    load_outlets(store)
    load_file(store, EXTRACTOR / "samples.jsonl")
    served = GraphQLClient(create_app(store))
    try:
        yield served
    finally:
        served.close()


def _involved(client: GraphQLClient) -> tuple[dict[str, set[str]], dict[str, str]]:
    """Each event's entity ids, and entity ids by name, read from the events' own pages."""
    events = [e["node"] for e in client.data(EVERY)["events"]["edges"]]
    ids = {i["entity"]["name"]: i["entity"]["id"] for e in events for i in e["entities"]}
    return {e["id"]: {i["entity"]["id"] for i in e["entities"]} for e in events}, ids


def _listed(client: GraphQLClient, flt: dict[str, Any], order: str = "NEWEST_FIRST") -> set[str]:
    found = client.data(EVENTS, {"f": flt, "order": order})["events"]
    listed = {e["node"]["id"] for e in found["edges"]}
    assert found["totalCount"] == len(listed)
    return listed


def test_an_entity_pairs_events_and_any_of_several(client: GraphQLClient) -> None:
    involved, ids = _involved(client)
    putin, lukashenko, witkoff = (
        ids["Vladimir Putin"],
        ids["Alexander Lukashenko"],
        ids["Steve Witkoff"],
    )
    pair = {e for e, who in involved.items() if {putin, lukashenko} <= who}
    either = {e for e, who in involved.items() if who & {lukashenko, witkoff}}
    assert pair and either - pair  # the samples tell the two apart
    for order in ("NEWEST_FIRST", "OLDEST_FIRST", "RECENTLY_UPDATED"):
        assert _listed(client, {"entities": [putin, lukashenko]}, order) == pair
        assert (
            _listed(client, {"entities": [lukashenko, witkoff], "entitiesMatch": "ANY"}) == either
        )
    # with `entity` too: all three
    trio = {e for e, who in involved.items() if {putin, lukashenko, witkoff} <= who}
    assert _listed(client, {"entity": witkoff, "entities": [putin, lukashenko]}) == trio
    # a timeline of one entity, narrowed to those with another
    line = client.data(TIMELINE, {"id": putin, "f": {"entities": [lukashenko]}})["entity"]
    assert {e["node"]["id"] for e in line["timeline"]["edges"]} == pair
    # an entity nobody knows: nothing (as `entity` does)
    assert _listed(client, {"entities": [putin, "en_nobody"]}) == set()
    assert _listed(client, {"entities": ["en_nobody", putin], "entitiesMatch": "ANY"}) == {
        e for e, who in involved.items() if putin in who
    }


@pytest.mark.parametrize(
    ("entities", "message"),
    [
        ([], "filter.entities must name at least one entity"),
        ([f"en_{i}" for i in range(11)], "filter.entities names 11 entities, at most 10"),
    ],
)
def test_a_bad_list_is_refused_naming_it(
    client: GraphQLClient, entities: list[str], message: str
) -> None:
    answer = client.query(EVENTS, {"f": {"entities": entities}, "order": "NEWEST_FIRST"}).json()
    assert [e["message"] for e in answer["errors"]] == [message]


def test_a_subscription_refuses_an_unknown_entity(store: GraphStore) -> None:
    with pytest.raises(UserError, match="filter.entities: no entity with id 'en_nobody'"):
        check_filter(store, EventFilter(any_entities=("en_nobody",)))
