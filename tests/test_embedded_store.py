"""The embedded store beyond the store contract (`graph.embedded.store`): it keeps the garbage
collector off what it holds (gc.freeze) after opening and after bulk writes (a bulk load: after
each batch), and never freezes a long-running server's garbage with it; it finds editorial
records again after reopening; its `version` counts the writes that change something."""

from __future__ import annotations

import gc
import io
import json
import sqlite3
import weakref
from collections.abc import Sequence
from pathlib import Path

import pytest

import loaders
from graph.embedded import EmbeddedStore
from graph.embedded import store as store_module
from graph.embedded.store import FREEZE_AFTER
from graph.model import CATEGORIES, Label, Node, NodeWrite, PropertyWrite, WriteBatch
from graph.search import SearchQuery, search
from graph.store import EVENT_ORDERS, EventFilter, EventQuery, Months, NodeQuery
from loaders.jsonl import RejectSink
from loaders.records import Record
from services.ingest import Ingested, Ingestor
from services.load import load_streams
from tests.conftest import EXTRACTOR, load_file, load_outlets
from tests.test_live import record


class Cycle:
    """Garbage only the cycle collector can free."""

    def __init__(self) -> None:
        self.me = self


def old_garbage() -> weakref.ref[Cycle]:
    """A reference cycle that survives a full collection while referenced (so it ages into
    the oldest generation), then becomes garbage."""
    cycle = Cycle()
    gc.collect()
    return weakref.ref(cycle)


def entities(count: int, start: int = 0) -> WriteBatch:
    return WriteBatch(
        nodes=[
            NodeWrite(f"en_{i}", Label.ENTITY, PropertyWrite(create={"name": f"E{i}"}))
            for i in range(start, start + count)
        ]
    )


def test_small_writes_leave_old_garbage_collectable(tmp_path: Path) -> None:
    store = EmbeddedStore(tmp_path / "store")
    store.setup()
    try:
        frozen = gc.get_freeze_count()
        garbage = old_garbage()
        for i in range(5):  # an editor's submissions, approvals, ... between requests
            store.write(entities(1, start=i))
        # nothing frozen by them (objects frozen before, by earlier tests, may die meanwhile:
        # the count can only fall)
        assert gc.get_freeze_count() <= frozen
        gc.collect()
        assert garbage() is None
        store.write(entities(FREEZE_AFTER, start=100))  # a loader's batch
        assert gc.get_freeze_count() > frozen
    finally:
        store.close()
        gc.unfreeze()


def test_what_opening_builds_is_frozen_with_what_it_read(tmp_path: Path) -> None:
    """The indices built from the rows on opening (directories, orders, track records) live
    as long as the store: a full collection must not walk them (their sorted lists hold an
    entry per node), so they are frozen with the rows."""
    store = EmbeddedStore(tmp_path / "store")
    store.setup()
    store.write(entities(50))
    store.close()
    gc.collect()
    store = EmbeddedStore(tmp_path / "store")
    try:
        store.setup()
        walked = {id(o) for o in gc.get_objects()}  # what the collector still walks
        held = [store._directory, store._tally, store._orders, store._tracks, store._graph]
        assert not [o for o in held if id(o) in walked]
        assert not [o for o in gc.get_referents(*held) if id(o) in walked]
        store.write(entities(1, start=50))  # still kept current when written to
        assert store.count_nodes(NodeQuery(Label.ENTITY, "name", 100)) == 51
    finally:
        store.close()
        gc.unfreeze()


def test_editorial_records_are_found_again_after_reopening(tmp_path: Path) -> None:
    store = EmbeddedStore(tmp_path / "store")
    store.setup()
    props = {"status": "pending", "submitted_at": "2026-01-01"}
    store.write(entities(3))
    store.write(
        WriteBatch(nodes=[NodeWrite("su_1", Label.SUBMISSION, PropertyWrite(create=props))])
    )
    store.close()
    store = EmbeddedStore(tmp_path / "store")
    store.setup()
    try:
        found = store.find_nodes(Label.SUBMISSION, {"status": "pending"}, "submitted_at", 10)
        assert [n.id for n in found] == ["su_1"]
    finally:
        store.close()


class CyclingIngestor(Ingestor):
    """An ingestor that leaves a reference cycle behind with every batch."""

    cycles: list[weakref.ref[Cycle]] = []

    def ingest(self, records: Sequence[tuple[int, Record]]) -> list[Ingested]:
        self.cycles.append(weakref.ref(Cycle()))
        return super().ingest(records)


def test_a_bulk_load_collects_between_batches_and_freezes_what_it_loaded(tmp_path: Path) -> None:
    store = EmbeddedStore(tmp_path / "store")
    store.setup()
    lines = (Path(loaders.__file__).parent / "sample_data" / "samples.jsonl").read_bytes()
    try:
        frozen = gc.get_freeze_count()
        ingestor = CyclingIngestor(store)
        summary = load_streams(
            store, [("s", io.BytesIO(lines))], RejectSink(None), 2, None, ingestor
        )
        assert summary.loaded > 2
        assert gc.isenabled()  # on again after the load
        assert gc.get_freeze_count() > frozen
        assert len(ingestor.cycles) > 1
        assert all(cycle() is None for cycle in ingestor.cycles)  # collected, not frozen
        gc.disable()
        try:  # a caller's choice to keep the collector off is left as it was
            load_streams(store, [("s", io.BytesIO(lines))], RejectSink(None))
            assert not gc.isenabled()
        finally:
            gc.enable()
    finally:
        store.close()
        gc.unfreeze()


def test_the_version_changes_with_every_write_that_changes_something(tmp_path: Path) -> None:
    store = EmbeddedStore(tmp_path / "store")
    store.setup()
    try:
        before = store.version
        load_outlets(store)
        after = store.version
        assert after > before
        load_outlets(store)  # the same again: nothing changes
        assert store.version == after
    finally:
        store.close()


def test_key_prefixes_are_found_again_after_reopening(tmp_path: Path) -> None:
    store = EmbeddedStore(tmp_path / "store")
    store.setup()
    node = NodeWrite("ev_1", Label.EVENT, PropertyWrite(create={"summary": "x"}))
    store.write(WriteBatch(nodes=[node], keys={"match:p|2025-01-01|raqqa#ev_1": "ev_1"}))
    store.close()
    store.setup()
    try:
        prefix = "match:p|2025-01-01|raqqa#"
        assert store.lookup_key_prefixes([prefix]) == {prefix: ["ev_1"]}
    finally:
        store.close()


def _indexed(store: EmbeddedStore) -> object:
    """What the store's indexes beside the graph answer: every event order both ways, the
    counts by category and level, and every outlet's track record, all and by month."""
    every = EventFilter()
    orders = {
        (order, newest): [
            e.id
            for e in store.query_events(
                EventQuery(every, 1000, order_by=order, newest_first=newest)
            ).events
        ]
        for order in EVENT_ORDERS
        for newest in (False, True)
    }
    counts = {
        (category, level): store.count_events(
            EventFilter(categories=(category,), levels=(level,)), 10_000
        )
        for category in CATEGORIES
        for level in range(-1, 4)
    }
    outlets = sorted(n.id for n in store.dump() if isinstance(n, Node) and n.label is Label.OUTLET)
    months = {m: store.track_records(outlets, Months(m, m)) for m in ("2025-03", "2026-01")}
    return orders, counts, store.track_records(outlets), months


def test_indexes_kept_as_events_are_rewritten_equal_indexes_built_from_the_file(
    tmp_path: Path,
) -> None:
    """A load rewrites an event for every record it gains (its day, level, orders and track
    change, or not): what the store keeps as it writes equals what it builds when opened."""
    store = EmbeddedStore(tmp_path / "store")
    store.setup()
    try:
        load_outlets(store)
        load_file(store, EXTRACTOR / "samples.jsonl", batch_size=1)
        load_file(store, EXTRACTOR / "samples.jsonl", batch_size=1)  # again: nothing changes
        kept = _indexed(store)
    finally:
        store.close()
    store.setup()
    try:
        assert _indexed(store) == kept
    finally:
        store.close()


def _search_segments(directory: Path) -> list[tuple[int, bytes]]:
    db = sqlite3.connect(directory / "graph.sqlite3")
    try:
        return db.execute("SELECT id, block FROM search_fts_data ORDER BY id").fetchall()
    finally:
        db.close()


def _optimized_again(directory: Path) -> bool:
    """Whether FTS5's 'optimize' still had work to do (the index was in several segments)."""
    before = _search_segments(directory)
    db = sqlite3.connect(directory / "graph.sqlite3")
    try:
        db.execute("INSERT INTO search_fts (search_fts) VALUES ('optimize')")
        db.commit()
    finally:
        db.close()
    return _search_segments(directory) != before


@pytest.mark.parametrize("bulk", [True, False])
def test_a_bulk_load_leaves_the_search_index_in_one_segment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, bulk: bool
) -> None:
    """A writer that indexed many documents (a bulk load) merges the search index as it
    closes, so each term's postings are one b-tree to read; a few writes leave it as FTS5
    merges it on its own."""
    monkeypatch.setattr(store_module, "TIDY_AFTER", 20 if bulk else 10**9)
    directory = tmp_path / "store"
    store = EmbeddedStore(directory)
    store.setup()
    lines = [
        json.dumps(record(f"tidy-{n}", "political", "Reuters", f"Tidy event {n} was reported"))
        for n in range(60)
    ]
    load_streams(store, [("a", io.BytesIO("\n".join(lines).encode()))], RejectSink(None), 10)
    store.close()
    assert _optimized_again(directory) is not bulk
    reopened = EmbeddedStore(directory, read_only=True)
    reopened.setup()
    try:
        hits = search(reopened, SearchQuery("tidy event 42", first=5)).hits
        assert hits and "Tidy event 42" in str(hits[0])
    finally:
        reopened.close()
