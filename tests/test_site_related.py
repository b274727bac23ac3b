"""`Event.related` on the sample data, on each store kind: the events sharing entities and
places with an event, near it in time, ranked and explained by what they share."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.conftest import EXTRACTOR, STORE_KINDS, fresh_store, shared_file
from tests.support.graphql import GraphQLClient
from tests.support.served import served

RELATED = """query($id: ID!, $first: Int) {
  event(id: $id) {
    related(first: $first) {
      event { id summary }
      score daysApart reasons
      sharedEntities { name }
      sharedPlaces { name }
    }
  }
}"""


@pytest.fixture(scope="module", params=STORE_KINDS)
def site(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[GraphQLClient]:
    store = fresh_store(request.param, tmp_path_factory.mktemp(f"related-{request.param}"))
    store.setup()
    try:
        yield from served(store, shared_file(EXTRACTOR / "samples.jsonl"))
    finally:
        store.close()


def _event(site: GraphQLClient, summary: str) -> str:
    edges = site.data("{ events(first: 10) { edges { node { id summary } } } }")["events"]["edges"]
    return str(next(e["node"]["id"] for e in edges if summary in e["node"]["summary"]))


def _related(site: GraphQLClient, event_id: str, first: int = 5) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = site.data(RELATED, {"id": event_id, "first": first})["event"][
        "related"
    ]
    return found


def test_related_events_ranked_by_what_they_share(site: GraphQLClient) -> None:
    treaty, witkoff, kyiv = (
        _event(site, "Lukashenko met"),
        _event(site, "Witkoff"),
        _event(site, "Kyiv"),
    )
    related = _related(site, treaty)
    assert [r["event"]["id"] for r in related] == [witkoff, kyiv]
    best, next_best = related
    # the same day, in Moscow, with Putin, Trump and Witkoff
    assert sorted(e["name"] for e in best["sharedEntities"]) == [
        "Donald Trump",
        "Steve Witkoff",
        "Vladimir Putin",
    ]
    assert [p["name"] for p in best["sharedPlaces"]] == ["Moscow"]
    assert best["daysApart"] == 0
    assert best["score"] == 5.0
    assert "both involve Vladimir Putin" in best["reasons"]
    assert "both occurred in Moscow" in best["reasons"]
    assert best["reasons"][-1] == "the same day"
    # the next day, elsewhere, sharing one entity: 1 + 1 / (1 + 1/7)
    assert next_best["daysApart"] == 1
    assert next_best["sharedPlaces"] == []
    assert len(next_best["sharedEntities"]) == 1
    assert next_best["score"] == pytest.approx(1.875)
    assert next_best["reasons"][-1] == "1 day apart"
    # the relation is symmetric in what is shared; `first` bounds the list
    back = _related(site, witkoff, first=1)
    assert [r["event"]["id"] for r in back] == [treaty]
    assert back[0]["score"] == 5.0


def test_an_event_sharing_nothing_has_no_related(site: GraphQLClient) -> None:
    kyiv = _event(site, "Kyiv")
    found = [r["event"]["summary"] for r in _related(site, kyiv)]
    assert len(found) == 1 and "Lukashenko met" in found[0]  # only the one sharing an entity


@pytest.mark.parametrize("first", [0, 21])
def test_first_out_of_range_is_refused_naming_it(site: GraphQLClient, first: int) -> None:
    answer = site.query(RELATED, {"id": _event(site, "Kyiv"), "first": first}).json()
    assert answer["data"] is None or answer["data"]["event"] is None
    assert "first must be between 1 and 20" in answer["errors"][0]["message"]
