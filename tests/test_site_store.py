"""The directories through the store port (`list_nodes`, `count_nodes`), on every store."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from graph.confidence import Policy, Report
from graph.embedded import EmbeddedStore
from graph.model import Edge, EdgeWrite, Label, NodeWrite, PropertyWrite, Rel, WriteBatch
from graph.store import (
    EventFilter,
    EventQuery,
    GraphStore,
    Months,
    NodeQuery,
    StoreError,
    TrackRecord,
)
from services.rating import track


def _node(node_id: str, label: Label, **props: object) -> NodeWrite:
    return NodeWrite(node_id, label, PropertyWrite(set=props))  # type: ignore[arg-type]


def _graph(store: GraphStore) -> None:
    store.write(
        WriteBatch(
            nodes=[
                _node("en_1", Label.ENTITY, name="Charlie", type="person"),
                _node("en_2", Label.ENTITY, name="Alpha", type="organization"),
                _node("en_3", Label.ENTITY, name="Bravo", type="person"),
                _node("en_4", Label.ENTITY, name="Alpha", type="person"),
                _node("ou_1", Label.OUTLET, name="Wire", tier="trusted", country="GB"),
                _node("ou_2", Label.OUTLET, name="Echo", tier="trusted", country="US"),
                _node("ou_3", Label.OUTLET, name="Daily", tier="unknown", country="GB"),
                _node("pl_c", Label.PLACE, name="Ukraine", kind="country"),
                _node("pl_k", Label.PLACE, name="Kyiv", kind="place"),
                _node("pl_l", Label.PLACE, name="Lviv", kind="place"),
                _node("pl_p", Label.PLACE, name="Paris", kind="place"),
                _node("st_1", Label.STORY, slug="b-story", published_on="2026-01-02"),
                _node("st_2", Label.STORY, slug="a-story", published_on="2026-01-03"),
                _node("st_3", Label.STORY, slug="c-story", published_on=None),
            ],
            edges=[
                EdgeWrite("pl_k", Rel.IN_COUNTRY, "pl_c", "", PropertyWrite()),
                EdgeWrite("pl_l", Rel.IN_COUNTRY, "pl_c", "", PropertyWrite()),
                EdgeWrite("ou_1", Rel.PUBLISHED, "st_1", "", PropertyWrite()),
                EdgeWrite("ou_1", Rel.PUBLISHED, "st_2", "", PropertyWrite()),
                EdgeWrite("ou_1", Rel.PUBLISHED, "st_3", "", PropertyWrite()),
                EdgeWrite("ou_2", Rel.PUBLISHED, "st_3", "", PropertyWrite()),
            ],
        )
    )


def _ids(store: GraphStore, query: NodeQuery) -> list[str]:
    found = store.list_nodes(query)
    assert all(n.label is query.label for n in found)
    return [n.id for n in found]


def test_a_directory_is_ordered_filtered_and_paged_both_ways(store: GraphStore) -> None:
    _graph(store)
    everyone = NodeQuery(Label.ENTITY, "name", 10)
    assert _ids(store, everyone) == ["en_2", "en_4", "en_3", "en_1"]
    assert store.count_nodes(everyone) == 4
    people = NodeQuery(Label.ENTITY, "name", 2, where=(("type", "person"),))
    assert _ids(store, people) == ["en_4", "en_3"]
    assert _ids(store, replace(people, after=("Bravo", "en_3"))) == ["en_1"]
    assert store.count_nodes(people) == 3
    backward = NodeQuery(Label.ENTITY, "name", 2, descending=True)
    assert _ids(store, backward) == ["en_1", "en_3"]
    before = NodeQuery(Label.ENTITY, "name", 5, after=("Bravo", "en_3"), descending=True)
    assert _ids(store, before) == ["en_4", "en_2"]


def test_filters_combine_and_unknown_values_list_nothing(store: GraphStore) -> None:
    _graph(store)
    trusted_gb = NodeQuery(Label.OUTLET, "name", 10, where=(("tier", "trusted"), ("country", "GB")))
    assert _ids(store, trusted_gb) == ["ou_1"]
    assert store.count_nodes(trusted_gb) == 1
    nowhere = NodeQuery(Label.OUTLET, "name", 10, where=(("country", "ZZ"),))
    assert _ids(store, nowhere) == []
    assert store.count_nodes(nowhere) == 0


def test_near_lists_a_countrys_places_and_an_outlets_stories(store: GraphStore) -> None:
    _graph(store)
    in_ukraine = NodeQuery(Label.PLACE, "name", 10, near="pl_c")
    assert _ids(store, in_ukraine) == ["pl_k", "pl_l"]
    assert store.count_nodes(in_ukraine) == 2
    assert store.count_nodes(NodeQuery(Label.PLACE, "name", 10, where=(("kind", "place"),))) == 3
    wire = NodeQuery(Label.STORY, "published_on", 10, near="ou_1", descending=True)
    # a story without a publication date is not in that order, only in the slug's
    assert _ids(store, wire) == ["st_2", "st_1"]
    assert store.count_nodes(wire) == 2
    by_slug = NodeQuery(Label.STORY, "slug", 1, near="ou_1", after=("a-story", "st_2"))
    assert _ids(store, by_slug) == ["st_1"]
    assert store.count_nodes(NodeQuery(Label.STORY, "slug", 1, near="ou_1")) == 3
    assert _ids(store, NodeQuery(Label.STORY, "slug", 10, near="nope")) == []
    assert _ids(store, NodeQuery(Label.STORY, "slug", 10, near="pl_c")) == []


def test_the_directories_follow_writes_and_deletes(store: GraphStore) -> None:
    _graph(store)
    store.write(
        WriteBatch(nodes=[_node("en_3", Label.ENTITY, name="Zulu", type="group")], deletes=["en_2"])
    )
    assert _ids(store, NodeQuery(Label.ENTITY, "name", 10)) == ["en_4", "en_1", "en_3"]
    people = NodeQuery(Label.ENTITY, "name", 10, where=(("type", "person"),))
    assert _ids(store, people) == ["en_4", "en_1"]
    assert store.count_nodes(people) == 2
    groups = NodeQuery(Label.ENTITY, "name", 10, where=(("type", "group"),))
    assert store.count_nodes(groups) == 1


def test_an_outlets_stories_follow_writes(store: GraphStore) -> None:
    """Listed and counted after each write, in either order and from a cursor (the embedded
    store keeps the sorted listing until the graph changes)."""
    _graph(store)
    newest = NodeQuery(Label.STORY, "published_on", 10, near="ou_1", descending=True)
    assert _ids(store, newest) == ["st_2", "st_1"]
    store.write(
        WriteBatch(
            nodes=[
                _node("st_4", Label.STORY, slug="d-story", published_on="2026-01-04"),
                _node("st_1", Label.STORY, slug="b-story", published_on="2026-01-05"),
            ],
            edges=[EdgeWrite("ou_1", Rel.PUBLISHED, "st_4", "", PropertyWrite())],
        )
    )
    assert _ids(store, newest) == ["st_1", "st_4", "st_2"]
    assert store.count_nodes(newest) == 3
    after = NodeQuery(
        Label.STORY, "published_on", 1, near="ou_1", descending=True, after=("2026-01-05", "st_1")
    )
    assert _ids(store, after) == ["st_4"]
    store.write(WriteBatch(deletes=["st_4"]))
    assert _ids(store, newest) == ["st_1", "st_2"]
    assert store.count_nodes(NodeQuery(Label.STORY, "slug", 1, near="ou_1")) == 3


def test_a_query_naming_what_is_not_listed_is_refused(store: GraphStore) -> None:
    with pytest.raises(StoreError):
        store.list_nodes(NodeQuery(Label.ENTITY, "summary", 10))
    with pytest.raises(StoreError):
        store.count_nodes(NodeQuery(Label.ENTITY, "name", 10, where=(("tier", "x"),)))


def test_events_are_counted_up_to_a_cap(store: GraphStore) -> None:
    def event(i: int, day: str, category: str) -> NodeWrite:
        props = {"occurred_on": day, "summary": f"e{i}", "category": category}
        return _node(f"ev_{i}", Label.EVENT, **props)

    store.write(
        WriteBatch(
            nodes=[
                event(1, "2025-03-01", "military"),
                event(2, "2025-03-02T10:00:00.000Z", "military"),
                event(3, "2025-03-03", "political"),
                event(4, "2025-03-04", "military"),
                _node("en_1", Label.ENTITY, name="A", type="person"),
            ],
            edges=[
                EdgeWrite("ev_2", Rel.INVOLVES, "en_1", "", PropertyWrite()),
                EdgeWrite("ev_3", Rel.INVOLVES, "en_1", "", PropertyWrite()),
            ],
        )
    )
    assert store.count_events(EventFilter(), 100) == 4
    assert store.count_events(EventFilter(), 3) == 3
    military = EventFilter(categories=("military",))
    assert store.count_events(military, 100) == 3
    assert store.count_events(military, 2) == 2
    window = EventFilter(categories=("military",), date_from="2025-03-02", date_to="2025-03-03")
    assert store.count_events(window, 100) == 1
    assert store.count_events(EventFilter(entity="en_1"), 100) == 2
    assert store.count_events(EventFilter(entity="en_1", categories=("military",)), 100) == 1
    assert store.count_events(EventFilter(entity="en_nope"), 100) == 0


def test_event_counts_follow_changes_and_deletes(store: GraphStore) -> None:
    def event(i: int, category: str, rank: int) -> NodeWrite:
        props = {"occurred_on": "2025-01-01", "category": category, "confidence_rank": rank}
        return _node(f"ev_{i}", Label.EVENT, **props)

    store.write(
        WriteBatch(nodes=[event(1, "legal", 0), event(2, "legal", 2), event(3, "cyber", 3)])
    )
    legal = EventFilter(categories=("legal",))
    assert store.count_events(legal, 100) == 2
    assert store.count_events(EventFilter(categories=("legal",), min_confidence=1), 100) == 1
    assert store.count_events(EventFilter(min_confidence=2), 100) == 2
    store.write(WriteBatch(nodes=[event(2, "cyber", 3)], deletes=["ev_1"]))
    assert store.count_events(legal, 100) == 0
    assert store.count_events(EventFilter(categories=("cyber", "legal")), 100) == 2


def test_an_embedded_reader_lists_and_counts_what_another_process_wrote(tmp_path: Path) -> None:
    writer, reader = EmbeddedStore(tmp_path), EmbeddedStore(tmp_path, read_only=True)
    writer.setup()
    reader.setup()
    try:
        _graph(writer)
        writer.write(WriteBatch(nodes=[_node("en_5", Label.ENTITY, name="Aaron", type="person")]))
        writer.write(WriteBatch(deletes=["en_1"]))
        reader.catch_up()
        people = NodeQuery(Label.ENTITY, "name", 10, where=(("type", "person"),))
        assert _ids(reader, people) == _ids(writer, people) == ["en_5", "en_4", "en_3"]
        assert reader.count_nodes(people) == 3
        reopened = EmbeddedStore(tmp_path, read_only=True)
        reopened.setup()
        try:
            assert _ids(reopened, people) == ["en_5", "en_4", "en_3"]
        finally:
            reopened.close()
    finally:
        reader.close()
        writer.close()


def test_events_in_other_orders_and_of_exact_levels(store: GraphStore) -> None:
    def event(i: int, extracted: str, since: str | None, rank: int) -> NodeWrite:
        props: dict[str, object] = {
            "occurred_on": f"2025-01-0{i}",
            "category": "other",
            "last_extracted_at": extracted,
            "confidence_rank": rank,
        }
        if since is not None:
            props["level_since"] = since
        return _node(f"ev_{i}", Label.EVENT, **props)

    store.write(
        WriteBatch(
            nodes=[
                event(1, "2026-01-05", "2026-01-01", 3),
                event(2, "2026-01-02", "2026-01-04", 0),
                event(3, "2026-01-03", None, 3),
                event(4, "2026-01-04", "2026-01-03", 3),
                _node("en_1", Label.ENTITY, name="A", type="person"),
            ],
            edges=[
                EdgeWrite(f"ev_{i}", Rel.INVOLVES, "en_1", "", PropertyWrite()) for i in (1, 2, 4)
            ],
        )
    )

    def ids(flt: EventFilter, order_by: str, first: int = 10, **more: object) -> list[str]:
        page = store.query_events(EventQuery(flt, first, order_by=order_by, **more))  # type: ignore[arg-type]
        return [n.id for n in page.events]

    everything = EventFilter()
    assert ids(everything, "last_extracted_at") == ["ev_1", "ev_4", "ev_3", "ev_2"]
    assert ids(everything, "level_since") == ["ev_2", "ev_4", "ev_1"]  # ev_3 never changed
    assert ids(everything, "level_since", newest_first=False) == ["ev_1", "ev_4", "ev_2"]
    verified = EventFilter(levels=(3,))
    assert ids(verified, "level_since") == ["ev_4", "ev_1"]
    assert ids(verified, "level_since", 1, after=("2026-01-03", "ev_4")) == ["ev_1"]
    assert ids(EventFilter(levels=(0, 3), entity="en_1"), "level_since") == ["ev_2", "ev_4", "ev_1"]
    assert ids(EventFilter(levels=(3,), entity="en_1"), "last_extracted_at", 1) == ["ev_1"]
    assert ids(EventFilter(levels=(0,)), "occurred_on") == ["ev_2"]
    assert store.count_events(verified, 100) == 3
    assert store.count_events(EventFilter(levels=(0,), entity="en_1"), 100) == 1


def test_track_records_add_up_the_events_entries(store: GraphStore) -> None:
    def event(i: int, *track: str) -> NodeWrite:
        props = {"occurred_on": "2025-01-01", "category": "other", "track": list(track)}
        return _node(f"ev_{i}", Label.EVENT, **props)

    def reports(i: int, *outlets: str) -> list[EdgeWrite]:
        return [EdgeWrite(o, Rel.REPORTS, f"ev_{i}", "st", PropertyWrite()) for o in outlets]

    store.write(
        WriteBatch(
            nodes=[
                _node("ou_a", Label.OUTLET, name="A"),
                _node("ou_ab", Label.OUTLET, name="AB"),
                event(1, "ou_a|cf", "ou_ab|c"),
                event(2, "ou_a|df"),
                event(3, "ou_ab|f", "ou_a|r"),
            ],
            edges=reports(1, "ou_a", "ou_ab") + reports(2, "ou_a") + reports(3, "ou_ab", "ou_a"),
        )
    )
    found = store.track_records(["ou_a", "ou_ab", "ou_nope"])
    assert found["ou_a"] == TrackRecord(reports=3, corroborated=1, disputed=1, first=2, retracted=1)
    assert found["ou_a"].sole_source == 1
    assert found["ou_ab"] == TrackRecord(reports=2, corroborated=1, disputed=0, first=1)
    assert found["ou_nope"] == TrackRecord()
    store.write(WriteBatch(nodes=[event(2, "ou_a|c")], deletes=["ev_1"]))
    assert store.track_records(["ou_a"])["ou_a"] == TrackRecord(
        reports=2, corroborated=1, retracted=1
    )


def test_track_records_over_a_window_of_months(store: GraphStore) -> None:
    def event(i: int, on: str | None, *track: str) -> NodeWrite:
        props: dict[str, object] = {"category": "other", "track": list(track)}
        if on is not None:
            props["occurred_on"] = on
        return _node(f"ev_{i}", Label.EVENT, **props)

    store.write(
        WriteBatch(
            nodes=[
                _node("ou_a", Label.OUTLET, name="A"),
                event(1, "2024-12-31", "ou_a|c"),
                event(2, "2025-01-01", "ou_a|d"),
                event(3, "2025-01-31", "ou_a|f"),
                event(4, "2025-03-02", "ou_a|c"),
                event(5, None, "ou_a|r"),  # no date: in the whole record only
            ],
            edges=[
                EdgeWrite("ou_a", Rel.REPORTS, f"ev_{i}", "st", PropertyWrite())
                for i in range(1, 6)
            ],
        )
    )

    def record(since: str | None, until: str | None) -> TrackRecord:
        return store.track_records(["ou_a", "ou_x"], Months(since, until))["ou_a"]

    assert record(None, None).reports == 5
    assert record("2025-01", "2025-01") == TrackRecord(reports=2, disputed=1, first=1)
    assert record("2025-01", None) == TrackRecord(reports=3, corroborated=1, disputed=1, first=1)
    assert record(None, "2025-02") == TrackRecord(reports=3, corroborated=1, disputed=1, first=1)
    assert record("2025-04", None) == TrackRecord()
    assert store.track_records(["ou_x"], Months("2025-01", None))["ou_x"] == TrackRecord()
    # an event moved to another month moves its entry with it
    store.write(WriteBatch(nodes=[event(4, "2025-01-15", "ou_a|c")]))
    assert record("2025-03", "2025-03") == TrackRecord()
    assert record("2025-01", "2025-01").corroborated == 1


def test_an_events_track_flags_each_outlet() -> None:
    def report(outlet: str, group: str, on: str, retracted: bool = False) -> tuple[Edge, Report]:
        edge = Edge(outlet, Rel.REPORTS, "ev_1", f"st_{outlet}", {"story_published_on": on})
        return edge, Report(outlet, "standard", group, (), retracted=retracted)

    pairs = [
        report("ou_a", "wire", "2025-01-02"),
        report("ou_b", "wire", "2025-01-01"),  # same group as ou_a: no corroboration
        report("ou_c", "daily", "2025-01-03"),
        report("ou_d", "state", "2024-12-31", retracted=True),  # first, but retracted
    ]
    edges, views = [e for e, _ in pairs], [v for _, v in pairs]
    policy = Policy.default()
    assert track(edges, views, "likely", policy) == ["ou_a|c", "ou_b|cf", "ou_c|c", "ou_d|r"]
    alone = track(edges[:2], views[:2], "disputed", policy)
    assert alone == ["ou_a|d", "ou_b|df"]
