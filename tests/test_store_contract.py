"""The store contract: what every GraphStore does, run once per store kind."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import pytest

from graph.model import (
    Edge,
    EdgeWrite,
    Label,
    Node,
    NodeWrite,
    PropertyWrite,
    Rel,
    Value,
    WriteBatch,
)
from graph.snapshot import canonical
from graph.store import EventFilter, EventQuery, GraphReader, GraphStore, StoreError, WriteConflict
from tests.test_change_log import _another


def _event(i: int, day: str, **props: object) -> NodeWrite:
    values = {"occurred_on": day, "summary": f"event {i}", "category": "other", **props}
    return NodeWrite(f"ev_{i:03d}", Label.EVENT, PropertyWrite(set=values))  # type: ignore[arg-type]


def _graph(store: GraphStore) -> None:
    store.write(
        WriteBatch(
            nodes=[
                _event(1, "2025-03-01", confidence_rank=1, category="military"),
                _event(2, "2025-03-02", confidence_rank=2, place_ids=["pl_a"]),
                _event(3, "2025-03-02", confidence_rank=3, country_ids=["pl_c"]),
                _event(4, "2025-03-04T10:00:00.000Z", confidence_rank=0),
                NodeWrite(
                    "en_a", Label.ENTITY, PropertyWrite(create={"name": "Alpha", "type": "person"})
                ),
                NodeWrite("ou_x", Label.OUTLET, PropertyWrite(create={"name": "Xpress"})),
            ],
            edges=[
                EdgeWrite(
                    "ev_001", Rel.INVOLVES, "en_a", "", PropertyWrite(union={"roles": ["party"]})
                ),
                EdgeWrite("ev_003", Rel.INVOLVES, "en_a", "", PropertyWrite()),
                EdgeWrite("ou_x", Rel.REPORTS, "ev_003", "st_1", PropertyWrite(set={"url": "u1"})),
                EdgeWrite("ou_x", Rel.REPORTS, "ev_003", "st_2", PropertyWrite(set={"url": "u2"})),
            ],
            keys={"entity:person:alpha": "en_a"},
        )
    )


def _ids(store: GraphStore, query: EventQuery) -> list[str]:
    return [n.id for n in store.query_events(query).events]


def test_nodes_and_keys_round_trip(store: GraphStore) -> None:
    _graph(store)
    found = store.get_nodes(["en_a", "ev_001", "nope"])
    assert set(found) == {"en_a", "ev_001"}
    assert found["en_a"] == Node("en_a", Label.ENTITY, {"name": "Alpha", "type": "person"})
    assert store.lookup_keys(["entity:person:alpha", "entity:person:beta"]) == {
        "entity:person:alpha": "en_a"
    }


def test_parallel_relationships_are_kept_apart_by_key(store: GraphStore) -> None:
    _graph(store)
    reports = store.edges(["ev_003", "ev_001"], Rel.REPORTS, "in")
    assert reports["ev_001"] == []
    assert reports["ev_003"] == [
        Edge("ou_x", Rel.REPORTS, "ev_003", "st_1", {"url": "u1"}),
        Edge("ou_x", Rel.REPORTS, "ev_003", "st_2", {"url": "u2"}),
    ]
    involved = store.edges(["en_a"], Rel.INVOLVES, "in")["en_a"]
    assert [e.src for e in involved] == ["ev_001", "ev_003"]


def test_linked_gives_the_other_ends_once_each_without_properties(store: GraphStore) -> None:
    _graph(store)
    assert store.linked(["ev_003", "ev_001", "nope"], Rel.REPORTS, "in") == {
        "ev_003": ["ou_x"],  # two reports by one outlet: the outlet once
        "ev_001": [],
        "nope": [],
    }
    assert store.linked(["en_a"], Rel.INVOLVES, "in") == {"en_a": ["ev_001", "ev_003"]}
    assert store.linked(["ev_001", "ev_003"], Rel.INVOLVES, "out") == {
        "ev_001": ["en_a"],
        "ev_003": ["en_a"],
    }
    assert store.linked(["ou_x"], Rel.INVOLVES, "out") == {"ou_x": []}  # another type
    store.write(WriteBatch(unlinks=[("ev_001", Rel.INVOLVES, "en_a", "")]))
    assert store.linked(["en_a"], Rel.INVOLVES, "in") == {"en_a": ["ev_003"]}


def test_merge_rules(store: GraphStore) -> None:
    def write(rank: str, name: str, alias: str, when: str) -> None:
        merge = PropertyWrite(
            create={"created": when},
            first={"name": name},
            last={"latest": name},
            rank=rank,
            union={"aliases": [alias]},
            minimum={"first_seen": when},
            maximum={"last_seen": when},
        )
        store.write(WriteBatch(nodes=[NodeWrite("en_b", Label.ENTITY, merge)]))

    write("2", "Second", "b", "2025-01-02")
    write("1", "First", "a", "2025-01-01")
    write("3", "Third", "a", "2025-01-03")
    props = store.get_nodes(["en_b"])["en_b"].props
    assert props["created"] == "2025-01-02"
    assert (props["name"], props["latest"]) == ("First", "Third")
    assert props["aliases"] == ["a", "b"]
    assert (props["first_seen"], props["last_seen"]) == ("2025-01-01", "2025-01-03")


def test_replaying_a_batch_changes_nothing(store: GraphStore) -> None:
    _graph(store)
    before = canonical(store)
    _graph(store)
    assert canonical(store) == before


def test_a_failing_batch_writes_nothing(store: GraphStore) -> None:
    _graph(store)
    before = canonical(store)
    bad = WriteBatch(
        nodes=[NodeWrite("en_new", Label.ENTITY, PropertyWrite(create={"name": "New"}))],
        edges=[EdgeWrite("ev_001", Rel.INVOLVES, "en_missing", "", PropertyWrite())],
    )
    with pytest.raises(StoreError, match="en_missing"):
        store.write(bad)
    assert canonical(store) == before


def test_events_page_newest_first_with_cursor(store: GraphStore) -> None:
    _graph(store)
    first = store.query_events(EventQuery(EventFilter(), first=2))
    assert [n.id for n in first.events] == ["ev_004", "ev_003"] and first.has_next
    last = first.events[-1]
    after = (last.text("occurred_on"), last.id)
    rest = store.query_events(EventQuery(EventFilter(), first=5, after=after))
    assert [n.id for n in rest.events] == ["ev_002", "ev_001"] and not rest.has_next
    oldest = EventQuery(EventFilter(), first=3, newest_first=False)
    assert _ids(store, oldest) == ["ev_001", "ev_002", "ev_003"]


@pytest.mark.parametrize(
    ("flt", "expected"),
    [
        (EventFilter(categories=("military",)), ["ev_001"]),
        (EventFilter(date_from="2025-03-02", date_to="2025-03-02"), ["ev_003", "ev_002"]),
        (EventFilter(date_from="2025-03-04"), ["ev_004"]),
        (EventFilter(place="pl_a"), ["ev_002"]),
        (EventFilter(country="pl_c"), ["ev_003"]),
        (EventFilter(entity="en_a"), ["ev_003", "ev_001"]),
        (EventFilter(outlet="ou_x"), ["ev_003"]),
        (EventFilter(entity="en_a", outlet="ou_x"), ["ev_003"]),
        (EventFilter(min_confidence=2), ["ev_003", "ev_002"]),
        (EventFilter(entity="en_unknown"), []),
    ],
)
def test_event_filters(store: GraphStore, flt: EventFilter, expected: list[str]) -> None:
    _graph(store)
    assert _ids(store, EventQuery(flt, first=10)) == expected


def test_entity_timeline_pages_in_date_order(store: GraphStore) -> None:
    _graph(store)
    flt = EventFilter(entity="en_a")
    page = store.query_events(EventQuery(flt, first=1, newest_first=False))
    assert [n.id for n in page.events] == ["ev_001"] and page.has_next
    after = (page.events[0].text("occurred_on"), "ev_001")
    rest = store.query_events(EventQuery(flt, first=1, newest_first=False, after=after))
    assert [n.id for n in rest.events] == ["ev_003"] and not rest.has_next


def test_counts_and_settings(store: GraphStore) -> None:
    _graph(store)
    counts = store.counts()
    assert (counts["Event"], counts["Entity"], counts["Outlet"]) == (4, 1, 1)
    assert (counts["REPORTS"], counts["INVOLVES"]) == (2, 2)
    assert store.get_setting("confidence_policy") is None
    store.write(WriteBatch(settings={"confidence_policy": "{}"}))
    assert store.get_setting("confidence_policy") == "{}"


def test_ping_answers_while_open_and_refuses_once_closed(store: GraphStore) -> None:
    store.ping()
    _graph(store)
    store.ping()
    store.close()
    with pytest.raises(StoreError, match="not open"):
        store.ping()


def test_keys_of_lists_what_each_node_owns(store: GraphStore) -> None:
    _graph(store)
    store.write(WriteBatch(keys={"entity:person:a": "en_a", "entity:person:alpha": "ev_001"}))
    assert store.keys_of(["en_a", "ou_x"]) == {
        "en_a": ["entity:person:a", "entity:person:alpha"],
        "ou_x": [],
    }


def test_deleting_a_node_removes_its_relationships_and_frees_its_keys(store: GraphStore) -> None:
    _graph(store)
    store.write(WriteBatch(deletes=["en_a"]))
    assert store.get_nodes(["en_a"]) == {}
    assert store.edges(["ev_001"], Rel.INVOLVES, "out") == {"ev_001": []}
    assert store.lookup_keys(["entity:person:alpha"]) == {}
    assert store.counts()["INVOLVES"] == 0
    assert _ids(store, EventQuery(EventFilter(entity="en_a"), first=10)) == []


def test_a_merge_in_one_batch(store: GraphStore) -> None:
    """Move en_a's relationships and keys to a new en_b, delete en_a: all at once."""
    _graph(store)
    store.write(
        WriteBatch(
            deletes=["en_a"],
            nodes=[NodeWrite("en_b", Label.ENTITY, PropertyWrite(create={"name": "Alpha B"}))],
            edges=[
                EdgeWrite("ev_003", Rel.INVOLVES, "en_b", "", PropertyWrite(union={"roles": ["x"]}))
            ],
            rekeys={"entity:person:alpha": "en_b", "entity:person:gone": None},
            keys={"entity:person:alpha": "ev_001", "entity:person:beta": "en_b"},
        )
    )
    assert store.lookup_keys(["entity:person:alpha", "entity:person:beta"]) == {
        "entity:person:alpha": "en_b",
        "entity:person:beta": "en_b",
    }
    assert [e.src for e in store.edges(["en_b"], Rel.INVOLVES, "in")["en_b"]] == ["ev_003"]
    assert store.get_nodes(["en_a"]) == {}


def test_a_deleted_node_can_be_written_again_in_the_same_batch(store: GraphStore) -> None:
    _graph(store)
    store.write(
        WriteBatch(
            deletes=["en_a"],
            nodes=[NodeWrite("en_a", Label.ENTITY, PropertyWrite(create={"name": "Again"}))],
        )
    )
    assert store.get_nodes(["en_a"])["en_a"].props == {"name": "Again"}
    assert store.edges(["en_a"], Rel.INVOLVES, "in") == {"en_a": []}


def test_a_key_cannot_name_a_missing_node(store: GraphStore) -> None:
    _graph(store)
    before = canonical(store)
    with pytest.raises(StoreError, match="en_nowhere"):
        store.write(WriteBatch(rekeys={"entity:person:alpha": "en_nowhere"}))
    assert canonical(store) == before


def test_derive_reads_the_batch_and_writes_in_the_same_transaction(store: GraphStore) -> None:
    _graph(store)
    seen: list[list[str]] = []

    def count_reports(graph: GraphReader) -> WriteBatch:
        reports = graph.edges(["ev_003"], Rel.REPORTS, "in")["ev_003"]
        seen.append([e.discriminator for e in reports])
        owner = graph.lookup_keys(["entity:person:new"])
        merge = PropertyWrite(
            set={"reports": len(reports), "owner": owner.get("entity:person:new")}
        )
        return WriteBatch(nodes=[NodeWrite("ev_003", Label.EVENT, merge)])

    store.write(
        WriteBatch(
            edges=[
                EdgeWrite("ou_x", Rel.REPORTS, "ev_003", "st_3", PropertyWrite(set={"url": "u3"}))
            ],
            keys={"entity:person:new": "en_a"},
        ),
        derive=count_reports,
    )
    assert seen == [["st_1", "st_2", "st_3"]]  # the batch's own relationship is visible
    props = store.get_nodes(["ev_003"])["ev_003"].props
    assert (props["reports"], props["owner"]) == (3, "en_a")


def test_a_failing_derive_writes_nothing(store: GraphStore) -> None:
    _graph(store)
    before = canonical(store)

    def refuse(graph: GraphReader) -> WriteBatch:
        raise WriteConflict("a concurrent writer got there first")

    batch = WriteBatch(
        edges=[EdgeWrite("ou_x", Rel.REPORTS, "ev_003", "st_3", PropertyWrite(set={"url": "u3"}))]
    )
    with pytest.raises(WriteConflict):
        store.write(batch, derive=refuse)
    assert canonical(store) == before
    assert store.edges(["ev_003"], Rel.REPORTS, "in")["ev_003"][-1].discriminator == "st_2"


def test_unlinking_removes_one_relationship_and_a_rewrite_starts_afresh(store: GraphStore) -> None:
    _graph(store)
    involves = ("ev_001", Rel.INVOLVES, "en_a", "")
    store.write(WriteBatch(unlinks=[("ou_x", Rel.REPORTS, "ev_003", "st_1")]))
    assert store.edges(["ev_003"], Rel.REPORTS, "in")["ev_003"] == [
        Edge("ou_x", Rel.REPORTS, "ev_003", "st_2", {"url": "u2"})
    ]
    store.write(  # unlinked and written in one batch: the old roles do not survive
        WriteBatch(
            unlinks=[involves],
            edges=[EdgeWrite(*involves, PropertyWrite(union={"roles": ["mediator"]}))],
        )
    )
    assert store.edges(["ev_001"], Rel.INVOLVES, "out")["ev_001"] == [
        Edge("ev_001", Rel.INVOLVES, "en_a", "", {"roles": ["mediator"]})
    ]
    store.write(WriteBatch(unlinks=[("ev_009", Rel.INVOLVES, "en_a", "")]))  # absent: no-op
    assert store.counts()["INVOLVES"] == 2


def test_find_nodes_filters_orders_and_pages(store: GraphStore) -> None:
    def submission(i: int, at: str, status: str, event: str) -> NodeWrite:
        props = {"submitted_at": at, "status": status, "event_id": event}
        return NodeWrite(f"su_{i}", Label.SUBMISSION, PropertyWrite(set=props))

    store.write(
        WriteBatch(
            nodes=[
                submission(1, "2026-01-03", "pending", "ev_1"),
                submission(2, "2026-01-01", "pending", "ev_2"),
                submission(3, "2026-01-02", "rejected", "ev_1"),
                submission(4, "2026-01-03", "pending", "ev_1"),
                submission(5, "2026-01-01", "pending", "ev_1"),
            ]
        )
    )

    def ids(where: dict[str, str], first: int, after: tuple[str, str] | None = None) -> list[str]:
        found = store.find_nodes(Label.SUBMISSION, where, "submitted_at", first, after)
        assert all(n.label is Label.SUBMISSION for n in found)
        return [n.id for n in found]

    assert ids({"status": "pending"}, 10) == ["su_2", "su_5", "su_1", "su_4"]
    assert ids({"status": "pending"}, 2) == ["su_2", "su_5"]
    assert ids({"status": "pending"}, 10, ("2026-01-01", "su_5")) == ["su_1", "su_4"]
    assert ids({"status": "pending", "event_id": "ev_1"}, 10) == ["su_5", "su_1", "su_4"]
    assert ids({}, 10) == ["su_2", "su_5", "su_3", "su_1", "su_4"]
    assert store.find_nodes(Label.EDIT, {}, "at", 10) == []


def test_find_nodes_forgets_deleted_nodes(store: GraphStore) -> None:
    def submission(i: int) -> NodeWrite:
        props = {"submitted_at": f"2026-01-0{i}", "status": "pending"}
        return NodeWrite(f"su_{i}", Label.SUBMISSION, PropertyWrite(set=props))

    store.write(WriteBatch(nodes=[submission(1), submission(2)]))
    store.write(WriteBatch(deletes=["su_1"]))
    found = store.find_nodes(Label.SUBMISSION, {"status": "pending"}, "submitted_at", 10)
    assert [n.id for n in found] == ["su_2"]


# -- the matcher's candidates: keys by prefix ---------------------------------------------------


def _events_with_match_keys(store: GraphStore) -> None:
    store.write(
        WriteBatch(
            nodes=[_event(1, "2025-03-01"), _event(2, "2025-03-01"), _event(3, "2025-03-02")],
            keys={
                "match:p|2025-03-01|idlib#ev_001": "ev_001",
                "match:p|2025-03-01|idlib#ev_002": "ev_002",
                "match:p|2025-03-01|idlib city#ev_003": "ev_003",
                "match:e|2025-03-01|syria#ev_001": "ev_001",
                "entity:person:alpha": "ev_003",
            },
        )
    )


def test_key_prefixes_give_their_owners(store: GraphStore) -> None:
    _events_with_match_keys(store)
    found = store.lookup_key_prefixes(
        ["match:p|2025-03-01|idlib#", "match:e|2025-03-01|syria#", "match:p|2025-03-09|x#"]
    )
    # "idlib city" is another blocking key: a prefix ends at its `#`
    assert found == {
        "match:p|2025-03-01|idlib#": ["ev_001", "ev_002"],
        "match:e|2025-03-01|syria#": ["ev_001"],
        "match:p|2025-03-09|x#": [],
    }
    with pytest.raises(StoreError, match="prefix"):
        store.lookup_key_prefixes(["entity:person:"])


def test_key_prefixes_follow_rekeys_deletes_and_merges(store: GraphStore) -> None:
    _events_with_match_keys(store)
    prefix = "match:p|2025-03-01|idlib#"
    # ev_002 merged into ev_001: its key re-owned, the node deleted
    store.write(
        WriteBatch(deletes=["ev_002"], rekeys={"match:p|2025-03-01|idlib#ev_002": "ev_001"})
    )
    assert store.lookup_key_prefixes([prefix]) == {prefix: ["ev_001"]}
    # a key dropped; the owner keeps the other
    store.write(WriteBatch(rekeys={"match:p|2025-03-01|idlib#ev_001": None}))
    assert store.lookup_key_prefixes([prefix]) == {prefix: ["ev_001"]}
    # the owner deleted: its keys go with it
    store.write(WriteBatch(deletes=["ev_001"]))
    assert store.lookup_key_prefixes([prefix, "match:e|2025-03-01|syria#"]) == {
        prefix: [],
        "match:e|2025-03-01|syria#": [],
    }
    # claimed again, by another event
    store.write(WriteBatch(keys={"match:p|2025-03-01|idlib#ev_003": "ev_003"}))
    assert store.lookup_key_prefixes([prefix]) == {prefix: ["ev_003"]}


def test_key_prefixes_in_a_derive_step_see_the_write(store: GraphStore) -> None:
    _events_with_match_keys(store)
    seen: list[dict[str, list[str]]] = []

    def derive(graph: GraphReader) -> WriteBatch:
        seen.append(graph.lookup_key_prefixes(["match:p|2025-03-02|homs#"]))
        return WriteBatch()

    store.write(
        WriteBatch(
            nodes=[_event(4, "2025-03-02")], keys={"match:p|2025-03-02|homs#ev_004": "ev_004"}
        ),
        derive=derive,
    )
    assert seen[-1] == {"match:p|2025-03-02|homs#": ["ev_004"]}


def test_the_write_count_tells_whether_anything_was_written(store: GraphStore) -> None:
    before = store.write_count()
    counts: list[int | None] = []

    def derive(graph: GraphReader) -> WriteBatch:
        counts.append(graph.write_count())
        return WriteBatch()

    store.write(WriteBatch(nodes=[_event(1, "2025-03-01")]), derive=derive)
    if before is None:  # a server's graph: other processes write it
        assert counts == [None] and store.write_count() is None
    else:  # in the derive step, the count before the write; after it, another
        assert counts == [before] and store.write_count() != before


def test_a_box_and_a_circle_page_through_events_of_many_cells(store: GraphStore) -> None:
    """Events spread over many one-degree cells: each page of a box or circle filter, oldest or
    newest first, with cursors, lists exactly the events the filter admits, in order."""
    events = []
    written: dict[str, dict[str, Value]] = {}
    for n in range(60):
        lat, lon = 30.0 + (n * 7 % 23) * 0.9, 20.0 + (n * 11 % 29) * 0.7
        day = f"2025-0{1 + n % 9}-{10 + n % 19:02d}"
        props: dict[str, Value] = {"category": "military", "summary": f"e{n}", "occurred_on": day}
        props |= {"geo_lat": lat, "geo_lon": lon}
        written[f"ev_geo{n:03d}"] = props
        events.append(NodeWrite(f"ev_geo{n:03d}", Label.EVENT, PropertyWrite(create=props)))
    store.write(WriteBatch(nodes=events))
    for flt in (
        EventFilter(box=(32.0, 22.0, 45.0, 35.0)),
        EventFilter(near=(38.0, 28.0, 500.0)),
    ):
        admitted = sorted(
            (str(props["occurred_on"]), event_id)
            for event_id, props in written.items()
            if flt.admits(props)
        )
        assert 10 < len(admitted) < 60  # several cells, not all of them
        for newest_first in (False, True):
            wanted = admitted[::-1] if newest_first else admitted
            seen: list[tuple[str, str]] = []
            after: tuple[str, str] | None = None
            while True:
                page = store.query_events(EventQuery(flt, 7, newest_first, after))
                seen += [(e.text("occurred_on"), e.id) for e in page.events]
                if not page.has_next:
                    break
                after = seen[-1]
            assert seen == wanted


# -- rate limits' counts (GraphStore.hit) ------------------------------------------------------

MINUTE = timedelta(minutes=1)
T0 = datetime(2026, 12, 6, 12, 0, tzinfo=UTC)


def test_hits_are_counted_per_key_within_their_window(store: GraphStore) -> None:
    assert [store.hit("submit:a", T0, MINUTE, 2) for _ in range(3)] == [True, True, False]
    assert store.hit("submit:b", T0, MINUTE, 2)  # another key counts apart
    later = T0 + timedelta(seconds=30)
    assert not store.hit("submit:a", later, MINUTE, 2)  # a refused hit is not counted
    # a minute after the first two, they have left the window: two more fit
    after = T0 + timedelta(seconds=61)
    assert [store.hit("submit:a", after, MINUTE, 2) for _ in range(3)] == [True, True, False]
    before = canonical(store)
    assert store.hit("submit:c", after, MINUTE, 1)
    assert canonical(store) == before  # not graph data: no node, no change log entry
    assert store.last_change() == 0


def test_simultaneous_hits_from_two_processes_keep_one_count(store: GraphStore) -> None:
    # two store objects on one store (two workers of `serve --workers` on Neo4j), hitting one
    # key at once: exactly `limit` hits are counted in all
    counted: list[bool] = []
    start = threading.Barrier(2)

    def worker() -> None:
        handle = _another(store)
        handle.setup()
        try:
            start.wait()
            counted.extend(handle.hit("submit:x", T0, MINUTE, 5) for _ in range(5))
        finally:
            handle.close()

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(counted) == [False] * 5 + [True] * 5


def test_an_unknown_event_order_is_refused_alike(store: GraphStore) -> None:
    _graph(store)
    with pytest.raises(StoreError, match="events are not ordered by 'summary'"):
        store.query_events(EventQuery(EventFilter(), first=10, order_by="summary"))
    ordered = store.query_events(EventQuery(EventFilter(), first=10, order_by="occurred_on"))
    assert len(ordered.events) == 4


def test_what_no_index_term_starts_with_finds_nothing_alike(store: GraphStore) -> None:
    """The empty prefix, or one no term can start with, names no term: every store answers
    the same (nothing), however many terms the index holds."""
    _graph(store)
    assert store.search_vocabulary(["alpha"], 10) == {"alpha": [("alpha", 1)]}
    odd = ["", "Alpha", "al pha", "é"]
    assert store.search_vocabulary(odd, 10) == {p: [] for p in odd}
    lookups = [(Label.ENTITY, ("",), True), (Label.ENTITY, ("Alpha",), False)]
    assert store.search_postings(lookups, 10) == {lookup: [] for lookup in lookups}
    assert store.search_postings([(Label.ENTITY, ("al",), True)], 10) == {
        (Label.ENTITY, ("al",), True): ["en_a"]
    }
