"""`Event.related` on the sample data, on each store kind: the events sharing entities and
places with an event, near it in time, ranked and explained by what they share."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from graph.analytics.related import related_events
from graph.model import EdgeWrite, Label, NodeWrite, PropertyWrite, Rel, WriteBatch
from graph.store import GraphStore
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


def _ranked(store: GraphStore, event_id: str) -> list[tuple[str, tuple[str, ...], tuple[str, ...]]]:
    return [(r.event_id, r.entities, r.places) for r in related_events(store, event_id, 5)]


def test_related_events_follow_every_kind_of_write(store: GraphStore) -> None:
    """Asked before each write (the embedded store keeps the listings it read), then after: a
    new event, one moved out of the window, a relationship removed, an event deleted."""

    def event(event_id: str, day: str) -> NodeWrite:
        return NodeWrite(event_id, Label.EVENT, PropertyWrite(set={"occurred_on": day}))

    def link(src: str, rel: Rel, dst: str) -> EdgeWrite:
        return EdgeWrite(src, rel, dst, "", PropertyWrite())

    store.write(
        WriteBatch(
            nodes=[
                event("ev_a", "2025-03-10"),
                event("ev_b", "2025-03-10"),
                event("ev_c", "2025-03-20"),
                NodeWrite("en_x", Label.ENTITY, PropertyWrite(set={"name": "X"})),
                NodeWrite("en_y", Label.ENTITY, PropertyWrite(set={"name": "Y"})),
                NodeWrite("pl_m", Label.PLACE, PropertyWrite(set={"name": "M"})),
            ],
            edges=[
                link("ev_a", Rel.INVOLVES, "en_x"),
                link("ev_a", Rel.INVOLVES, "en_y"),
                link("ev_a", Rel.OCCURRED_IN, "pl_m"),
                link("ev_b", Rel.INVOLVES, "en_x"),
                link("ev_c", Rel.INVOLVES, "en_y"),
                link("ev_c", Rel.OCCURRED_IN, "pl_m"),
            ],
        )
    )
    both = ("en_x", "en_y")
    assert _ranked(store, "ev_a") == [("ev_c", ("en_y",), ("pl_m",)), ("ev_b", ("en_x",), ())]
    store.write(
        WriteBatch(
            nodes=[event("ev_d", "2025-03-11")],
            edges=[link("ev_d", Rel.INVOLVES, "en_x"), link("ev_d", Rel.INVOLVES, "en_y")],
        )
    )
    assert _ranked(store, "ev_a") == [
        ("ev_d", both, ()),
        ("ev_c", ("en_y",), ("pl_m",)),
        ("ev_b", ("en_x",), ()),
    ]
    store.write(WriteBatch(nodes=[event("ev_c", "2025-06-01")]))  # out of the 30 days
    assert _ranked(store, "ev_a") == [("ev_d", both, ()), ("ev_b", ("en_x",), ())]
    store.write(WriteBatch(unlinks=[("ev_b", Rel.INVOLVES, "en_x", "")]))
    assert _ranked(store, "ev_a") == [("ev_d", both, ())]
    store.write(WriteBatch(deletes=["ev_d"]))
    assert _ranked(store, "ev_a") == []
    store.write(WriteBatch(nodes=[event("ev_c", "2025-03-09")]))  # back, the day before
    assert _ranked(store, "ev_a") == [("ev_c", ("en_y",), ("pl_m",))]
