"""The change log (`GraphStore.last_change`, `changes`, `catch_up`), on every store: one entry
per committed write that changed something, numbered in turn, naming what the write changed,
and nowhere in what the graph's reads return.

Truncation is tested with `graph.store.CHANGE_LOG_KEEP` lowered: the stores read it when they
append, so a test can make it small.
"""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta

import pytest
from neo4j.exceptions import ServiceUnavailable

import graph.store
from graph.embedded import EmbeddedStore
from graph.model import EdgeWrite, Label, Node, NodeWrite, PropertyWrite, Rel, WriteBatch
from graph.neo4j import Neo4jStore, changelog
from graph.search import SEARCHABLE, find
from graph.store import Change, ChangeLogTruncated, GraphReader, GraphStore, StoreError
from tests.conftest import BOLT
from tests.support.neo4j import neo

__all__ = ["neo"]  # the fixture


def _entity(node_id: str, name: str, **props: object) -> NodeWrite:
    values = {"name": name, **props}
    return NodeWrite(node_id, Label.ENTITY, PropertyWrite(set=values))  # type: ignore[arg-type]


def _event(node_id: str, summary: str) -> NodeWrite:
    values = {"summary": summary, "occurred_on": "2026-05-01", "category": "other"}
    return NodeWrite(node_id, Label.EVENT, PropertyWrite(set=values))


def _graph() -> WriteBatch:
    """Two events, an entity and an outlet, their relationships, keys and a setting: every
    merge rule, so that writing it again tries each one."""
    return WriteBatch(
        nodes=[
            _event("ev_1", "one"),
            _event("ev_2", "two"),
            NodeWrite(
                "en_a",
                Label.ENTITY,
                PropertyWrite(
                    create={"type": "person"},
                    first={"name": "Alpha"},
                    rank="1",
                    union={"aliases": ["A", "Alf"]},
                    minimum={"ingested_at": "2026-05-01T00:00:00.000Z"},
                ),
            ),
            NodeWrite(
                "ou_x", Label.OUTLET, PropertyWrite(create={"name": "Xpress", "group": None})
            ),
        ],
        edges=[
            EdgeWrite("ev_1", Rel.INVOLVES, "en_a", "", PropertyWrite(union={"roles": ["party"]})),
            EdgeWrite("ev_2", Rel.INVOLVES, "en_a", "", PropertyWrite()),
            EdgeWrite("ou_x", Rel.REPORTS, "ev_1", "st_1", PropertyWrite(set={"url": "u1"})),
            EdgeWrite("ou_x", Rel.REPORTS, "ev_2", "st_2", PropertyWrite(last={"url": "u2"})),
        ],
        keys={"entity:person:alpha": "en_a"},
        settings={"policy": "{}"},
    )


def _another(store: GraphStore) -> GraphStore:
    """Another store object on the same store as `store` (its own connection), not set up."""
    if isinstance(store, Neo4jStore):
        server = BOLT.server(0)
        return Neo4jStore(store.uri, server.user, server.password, store.database)
    if isinstance(store, EmbeddedStore):
        return EmbeddedStore(store.directory)
    raise AssertionError(f"no second handle for {store!r}")


@pytest.fixture
def keep_few(monkeypatch: pytest.MonkeyPatch) -> Iterator[int]:
    """The change log keeps its latest 5 entries (and truncates the older ones as writes
    append)."""
    monkeypatch.setattr(graph.store, "CHANGE_LOG_KEEP", 5)
    yield 5


def _named(n: int) -> WriteBatch:
    """A write that changes something each time: entity en_a renamed `n`."""
    return WriteBatch(nodes=[_entity("en_a", f"name {n}")])


def test_a_new_store_has_an_empty_change_log(store: GraphStore) -> None:
    assert store.last_change() == 0
    assert store.changes(0) == []
    assert store.catch_up() == 0


def test_each_write_that_changes_something_appends_one_entry_numbered_in_turn(
    store: GraphStore,
) -> None:
    before = datetime.now().astimezone()
    for n in range(3):
        store.write(_named(n))
        assert store.last_change() == n + 1
    entries = store.changes(0)
    assert [c.seq for c in entries] == [1, 2, 3]
    moments = [datetime.fromisoformat(c.at) for c in entries]
    for moment in moments:
        assert moment.utcoffset() == timedelta(0)  # UTC
        assert moment >= before - timedelta(seconds=5)
    assert moments == sorted(moments)
    assert all(c.nodes == ("en_a",) for c in entries)


def test_the_change_log_outlives_the_store_object(store: GraphStore) -> None:
    store.write(_graph())
    entries = store.changes(0)
    store.close()
    store.setup()
    assert store.last_change() == 1
    assert store.changes(0) == entries


def test_an_entry_names_what_its_write_changed(store: GraphStore) -> None:
    batch = _graph()
    batch.created = ["ev_1", "ev_2"]
    batch.level_changes = [("ev_1", '{"level": "likely"}')]
    store.write(batch)
    [entry] = store.changes(0)
    assert set(entry.nodes) == {"ev_1", "ev_2", "en_a", "ou_x"}
    assert set(entry.relationships) == {
        ("ev_1", Rel.INVOLVES, "en_a", ""),
        ("ev_2", Rel.INVOLVES, "en_a", ""),
        ("ou_x", Rel.REPORTS, "ev_1", "st_1"),
        ("ou_x", Rel.REPORTS, "ev_2", "st_2"),
    }
    assert entry.settings == ("policy",)
    assert entry.created == ("ev_1", "ev_2")
    assert entry.level_changes == (("ev_1", '{"level": "likely"}'),)
    assert entry.deleted == () and entry.unlinked == ()

    # A changed property, an explicit unlink, and a node deleted with its relationships.
    store.write(
        WriteBatch(
            nodes=[_event("ev_1", "one, revised")],
            deletes=["ev_2"],
            unlinks=[("ou_x", Rel.REPORTS, "ev_1", "st_1")],
        )
    )
    entry = store.changes(1)[0]
    assert entry.seq == 2
    assert "ev_1" in entry.nodes
    assert entry.deleted == ("ev_2",)
    assert set(entry.unlinked) == {
        ("ou_x", Rel.REPORTS, "ev_1", "st_1"),  # unlinked
        ("ev_2", Rel.INVOLVES, "en_a", ""),  # removed with ev_2
        ("ou_x", Rel.REPORTS, "ev_2", "st_2"),  # removed with ev_2
    }
    assert entry.created == () and entry.level_changes == () and entry.settings == ()


def test_an_entry_still_names_the_relationships_a_later_write_removed(store: GraphStore) -> None:
    store.write(_graph())
    store.write(WriteBatch(unlinks=[("ou_x", Rel.REPORTS, "ev_1", "st_1")]))
    first, second = store.changes(0)
    assert ("ou_x", Rel.REPORTS, "ev_1", "st_1") in first.relationships
    assert second.unlinked == (("ou_x", Rel.REPORTS, "ev_1", "st_1"),)


def test_a_write_that_changes_nothing_appends_nothing(store: GraphStore) -> None:
    store.write(_graph())
    store.write(_graph())  # every value as stored already
    store.write(WriteBatch(unlinks=[("ev_1", Rel.INVOLVES, "ou_x", "")], deletes=["ev_none"]))
    assert store.last_change() == 1

    # One node of two changes: the entry has it.
    store.write(WriteBatch(nodes=[_event("ev_1", "one"), _event("ev_2", "two, revised")]))
    assert store.last_change() == 2
    assert "ev_2" in store.changes(1)[0].nodes


def test_a_failed_write_appends_nothing(store: GraphStore) -> None:
    store.write(_named(0))
    missing_end = WriteBatch(
        nodes=[_entity("en_b", "Beta")],
        edges=[EdgeWrite("en_b", Rel.INVOLVES, "nowhere", "", PropertyWrite())],
    )
    with pytest.raises(StoreError):
        store.write(missing_end)

    def refuse(_: GraphReader) -> WriteBatch:
        raise StoreError("the derive step refuses")

    with pytest.raises(StoreError, match="refuses"):
        store.write(_named(1), refuse)
    assert store.last_change() == 1
    assert store.get_nodes(["en_b"]) == {}


def test_a_write_and_its_derive_step_make_one_entry(store: GraphStore) -> None:
    first = WriteBatch(nodes=[_event("ev_1", "one")], created=["ev_1"])

    def derive(reader: GraphReader) -> WriteBatch:
        assert "ev_1" in reader.get_nodes(["ev_1"])
        return WriteBatch(
            nodes=[
                NodeWrite("ev_1", Label.EVENT, PropertyWrite(set={"confidence": "likely"})),
                _entity("en_a", "Alpha"),
            ],
            created=["ev_2"],
            level_changes=[("ev_1", "to likely")],
        )

    store.write(first, derive)
    assert store.last_change() == 1
    [entry] = store.changes(0)
    assert set(entry.nodes) == {"ev_1", "en_a"}
    assert set(entry.created) == {"ev_1", "ev_2"}
    assert entry.level_changes == (("ev_1", "to likely"),)

    # Nothing new in the batch, but the derive step changes something: one entry.
    def rerate(_: GraphReader) -> WriteBatch:
        change = PropertyWrite(set={"confidence": "verified"})
        return WriteBatch(nodes=[NodeWrite("ev_1", Label.EVENT, change)])

    store.write(WriteBatch(nodes=[_event("ev_1", "one")]), rerate)
    assert store.last_change() == 2
    assert store.changes(1)[0].nodes == ("ev_1",)


def test_changes_come_in_pages_oldest_first(store: GraphStore) -> None:
    for n in range(5):
        store.write(_named(n))
    assert [c.seq for c in store.changes(0, 2)] == [1, 2]
    assert [c.seq for c in store.changes(2, 2)] == [3, 4]
    assert [c.seq for c in store.changes(4, 2)] == [5]
    assert store.changes(5) == []
    assert [c.seq for c in store.changes(1)] == [2, 3, 4, 5]


def test_truncated_entries_are_refused_by_name(store: GraphStore, keep_few: int) -> None:
    writes = 5 * keep_few
    for n in range(writes):
        store.write(_named(n))
    assert store.last_change() == writes
    # The latest `keep_few` are always there...
    kept = store.changes(writes - keep_few)
    assert [c.seq for c in kept] == list(range(writes - keep_few + 1, writes + 1))
    # ...and the first ones are gone, which a reader from the start is told.
    with pytest.raises(ChangeLogTruncated):
        store.changes(0)
    with pytest.raises(ChangeLogTruncated):
        store.changes(1, limit=1)


def test_catch_up_brings_reads_to_what_others_wrote(store: GraphStore) -> None:
    store.write(_named(0))
    assert store.catch_up() == 1  # its own writes too
    other = _another(store)
    other.setup()
    try:
        assert other.catch_up() == 1
        other.write(WriteBatch(nodes=[_entity("en_b", "Beta")], created=["en_b"]))
        assert store.catch_up() == 2
        assert store.get_nodes(["en_b"])["en_b"].text("name") == "Beta"  # reads show it
        [entry] = store.changes(1)
        assert entry.seq == 2 and entry.nodes == ("en_b",) and entry.created == ("en_b",)
        store.write(_named(1))
        assert other.catch_up() == 3
        assert [c.seq for c in other.changes(1)] == [2, 3]
    finally:
        other.close()


def test_catch_up_far_behind_the_truncation_does_not_fail(store: GraphStore, keep_few: int) -> None:
    other = _another(store)
    other.setup()
    try:
        for n in range(5 * keep_few):
            other.write(_named(n))
    finally:
        other.close()
    latest = store.last_change()
    assert store.catch_up() == latest  # behind what the log keeps: no error, read afresh
    assert store.get_nodes(["en_a"])["en_a"].text("name") == f"name {5 * keep_few - 1}"
    store.write(_named(-1))
    assert store.catch_up() == latest + 1


def test_the_change_log_is_not_part_of_the_graph(store: GraphStore) -> None:
    store.write(_graph())
    store.write(_named(1))
    store.write(WriteBatch(deletes=["ev_2"]))
    assert store.last_change() == 3
    nodes = [item for item in store.dump() if isinstance(item, Node)]
    assert sorted(n.id for n in nodes) == ["en_a", "ev_1", "ou_x"]
    counts = store.counts()
    assert sum(counts[label] for label in Label) == 3
    assert counts[Label.ENTITY] == 1 and counts[Label.EVENT] == 1
    assert [d.id for d in find(store, "name", SEARCHABLE, 10)] == ["en_a"]
    assert store.get_nodes(["1", "2", "3", "head"]) == {}


def test_neo4j_a_retried_write_appends_one_entry(
    neo: Neo4jStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A write whose first try fails after appending (a lost connection) is retried; the
    failed try's entry went with its transaction."""
    append = changelog.append
    tries: list[int] = []

    def fail_once(*args: object, **kwargs: object) -> int:
        seq = append(*args, **kwargs)  # type: ignore[arg-type]
        tries.append(seq)
        if len(tries) == 1:
            raise ServiceUnavailable("the connection dropped before the commit")
        return seq

    monkeypatch.setattr(changelog, "append", fail_once)
    neo.write(_graph())
    assert tries == [1, 1]  # the second try appended the same entry afresh
    assert neo.last_change() == 1
    assert [c.seq for c in neo.changes(0)] == [1]


def test_neo4j_a_write_retried_after_its_commit_appends_one_entry(
    neo: Neo4jStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A write that committed but whose answer was lost is tried again: it then finds
    everything written, changes nothing and appends nothing."""
    retry = neo._retry
    lost: list[bool] = []

    def answer_lost_once(attempt: object) -> object:
        def committed_then_lost() -> object:
            result = attempt()  # type: ignore[operator]
            if not lost:
                lost.append(True)
                raise ServiceUnavailable("the answer to the commit was lost")
            return result

        return retry(committed_then_lost)

    monkeypatch.setattr(neo, "_retry", answer_lost_once)
    batch = _graph()
    batch.created = ["ev_1"]
    neo.write(batch)
    assert lost == [True]
    assert neo.last_change() == 1
    assert neo.changes(0)[0].created == ("ev_1",)


def test_neo4j_concurrent_writers_get_consecutive_entries(neo: Neo4jStore) -> None:
    """Writers on their own connections at once: every write has its entry, no seq is given
    twice or skipped."""
    others = [_another(neo) for _ in range(3)]
    for other in others:
        other.setup()
    try:

        def write_some(i: int, other: GraphStore) -> None:
            for n in range(5):
                other.write(WriteBatch(nodes=[_entity(f"en_{i}", f"name {n}")]))

        with ThreadPoolExecutor(len(others)) as pool:
            for future in [pool.submit(write_some, i, o) for i, o in enumerate(others)]:
                future.result()
    finally:
        for other in others:
            other.close()
    entries: list[Change] = neo.changes(0)
    assert [c.seq for c in entries] == list(range(1, 16))
    assert sorted(c.nodes for c in entries) == sorted(
        (f"en_{i}",) for i in range(3) for _ in range(5)
    )


def test_neo4j_truncation_keeps_between_keep_and_twice_keep_entries(
    neo: Neo4jStore, keep_few: int
) -> None:
    """Each write truncates at most a bounded number of entries, and the log never holds
    fewer than `keep` of them nor twice as many."""
    for n in range(1, 5 * keep_few + 1):
        neo.write(_named(n))
        assert len(neo.changes(max(0, n - keep_few))) == min(n, keep_few)
        if n >= 2 * keep_few:
            with pytest.raises(ChangeLogTruncated):
                neo.changes(n - 2 * keep_few)


def test_neo4j_an_entry_names_only_what_changed(neo: Neo4jStore) -> None:
    """A statement reports only the rows whose stored values it changed."""
    neo.write(_graph())
    batch = _graph()
    batch.nodes[1] = _event("ev_2", "two, revised")
    batch.edges[2] = EdgeWrite("ou_x", Rel.REPORTS, "ev_1", "st_1", PropertyWrite(set={"url": "v"}))
    neo.write(batch)
    [entry] = neo.changes(1)
    assert entry.nodes == ("ev_2",)
    assert entry.relationships == (("ou_x", Rel.REPORTS, "ev_1", "st_1"),)
    assert entry.settings == () and entry.deleted == () and entry.unlinked == ()
