"""The embedded store shared by processes: one writer at a time, readers following the change
log, and memory that never runs ahead of the file (issue 14)."""

from __future__ import annotations

import asyncio
import random
import signal
import sqlite3
import subprocess
import time
from pathlib import Path

import pytest

from api.follow import Follower
from api.hub import Hub
from graph import store as port
from graph.embedded import EmbeddedStore, changelog
from graph.model import EdgeWrite, Label, Node, NodeWrite, PropertyWrite, Rel, WriteBatch
from graph.snapshot import INGEST_CLOCKS, canonical
from graph.store import ChangeLogTruncated, GraphReader, StoreError
from tests.conftest import DATA, EXTRACTOR, load_file, load_outlets, shared_file
from tests.test_embedded_durability import NEWSGRAPH, assert_consistent, big_input


def _open(directory: Path, read_only: bool = False) -> EmbeddedStore:
    store = EmbeddedStore(directory, read_only=read_only)
    store.setup()
    return store


def _fresh(directory: Path) -> object:
    """What a process opening the store now would read."""
    store = _open(directory, read_only=True)
    try:
        return canonical(store)
    finally:
        store.close()


def _random_batch(rng: random.Random, step: int, known: list[str]) -> WriteBatch:
    """Writes, rewrites, deletes, unlinks and re-keys over a small id space, so that entries
    remove what earlier ones wrote and write again what they removed."""
    batch = WriteBatch()
    for _ in range(rng.randint(1, 4)):
        node = f"n{rng.randint(0, 12)}"
        label = Label.ENTITY if node < "n6" else Label.EVENT
        props: dict[str, object] = {
            "name": f"{node}-{step}",
            "occurred_on": f"2025-01-{step % 28 + 1:02d}",
        }
        batch.nodes.append(NodeWrite(node, label, PropertyWrite(set=props)))  # type: ignore[arg-type]
        known.append(node)
    ids = sorted({w.id for w in batch.nodes})
    for _ in range(rng.randint(0, 3)):
        src, dst = rng.choice(ids), rng.choice(ids)
        batch.edges.append(
            EdgeWrite(src, Rel.INVOLVES, dst, rng.choice(["", "a"]), PropertyWrite(set={"w": step}))
        )
    if rng.random() < 0.5:
        batch.keys[f"match:k{rng.randint(0, 5)}#{ids[0]}"] = ids[0]
        batch.keys[f"entity:{rng.randint(0, 5)}"] = ids[-1]
    if rng.random() < 0.3 and known:
        gone = rng.choice(known)
        if gone not in ids:
            batch.deletes.append(gone)
    if rng.random() < 0.2:
        batch.rekeys[f"entity:{rng.randint(0, 5)}"] = None
    if rng.random() < 0.2:
        batch.settings[f"s{rng.randint(0, 2)}"] = str(step)
    return batch


def test_readers_following_random_writes_from_two_writers_match_the_file(tmp_path: Path) -> None:
    directory = tmp_path / "store"
    writers = [_open(directory), _open(directory)]
    reader = _open(directory, read_only=True)
    rng = random.Random(14)
    known: list[str] = []
    try:
        for step in range(120):
            writer = writers[rng.randint(0, 1)]
            try:
                writer.write(_random_batch(rng, step, known))
            except StoreError:
                continue  # a relationship to a node deleted meanwhile: refused whole
            if rng.random() < 0.4:
                reader.catch_up()
                assert canonical(reader) == _fresh(directory), f"reader differs after {step}"
        for store in (*writers, reader):
            store.catch_up()
        expected = _fresh(directory)
        assert all(canonical(store) == expected for store in (*writers, reader))
        assert reader.last_change() == writers[0].last_change() > 50
    finally:
        for store in (*writers, reader):
            store.close()


def test_entries_read_again_after_writing_or_applying_them_are_the_files(
    tmp_path: Path,
) -> None:
    """A process keeps the latest entries it wrote or read decoded (`changelog.Recent`):
    what `changes` gives from them is what a process reading the file gives."""
    directory = tmp_path / "store"
    writers = [_open(directory), _open(directory)]
    reader = _open(directory, read_only=True)
    file = _open(directory, read_only=True)  # reads the log from the file: it applies nothing
    rng = random.Random(7)
    known: list[str] = []
    try:
        for step in range(60):
            writer = writers[rng.randint(0, 1)]
            try:
                writer.write(_random_batch(rng, step, known))
            except StoreError:
                continue
            if rng.random() < 0.5:
                reader.apply_changes(reader.fetch_changes())
            for store in (writer, reader):
                position = store.read_position()
                for after in {0, max(0, position - rng.randint(1, 20)), position - 1, position}:
                    if after < 0:
                        continue
                    limit = rng.choice([1, 3, 1000])
                    assert store.changes(after, limit) == file.changes(after, limit), (step, after)
    finally:
        for store in (*writers, reader, file):
            store.close()


def test_a_reader_knows_how_much_it_lacks_before_reading_it(tmp_path: Path) -> None:
    """`pending_bytes` (what decides whether a worker of `serve --workers` takes its turn and
    hands its connections away before reading a batch): nothing when current, more for a
    bigger batch, nothing again once applied."""
    directory = tmp_path / "store"
    writer = _open(directory)
    reader = _open(directory, read_only=True)
    try:
        assert reader.pending_bytes() == 0
        writer.write(_batch(1))
        small = reader.pending_bytes()
        assert small > 0
        reader.apply_changes(reader.fetch_changes())
        assert reader.pending_bytes() == 0
        writer.write(_batch(100, start=1))
        assert reader.pending_bytes() > 2 * small
        reader.apply_changes(reader.fetch_changes())
        assert reader.pending_bytes() == 0
        assert len(reader.find_nodes(Label.ENTITY, {}, "name", 1000)) == 101
    finally:
        writer.close()
        reader.close()


def _batch(count: int, start: int = 0) -> WriteBatch:
    return WriteBatch(
        nodes=[
            NodeWrite(f"en_{i}", Label.ENTITY, PropertyWrite(create={"name": f"E{i}"}))
            for i in range(start, start + count)
        ]
    )


def test_the_log_has_each_committed_write_once_with_what_it_changed(tmp_path: Path) -> None:
    directory = tmp_path / "store"
    writer = _open(directory)
    reader = _open(directory, read_only=True)
    try:
        assert reader.catch_up() == 0
        event = NodeWrite("ev_1", Label.EVENT, PropertyWrite(set={"occurred_on": "2025-01-01"}))
        writer.write(WriteBatch(nodes=[event], created=["ev_1"], level_changes=[("ev_1", "{}")]))
        writer.write(WriteBatch(nodes=[event]))  # the same values: no change, no entry
        writer.write(WriteBatch(deletes=["ev_1"]))
        assert reader.catch_up() == 2
        changes = reader.changes(0)
        assert [c.seq for c in changes] == [1, 2]
        assert changes[0].nodes == ("ev_1",) and changes[0].created == ("ev_1",)
        assert changes[0].level_changes == (("ev_1", "{}"),)
        assert changes[1].deleted == ("ev_1",)
        assert reader.catch_up() == 2 and reader.changes(2) == []
        assert reader.get_nodes(["ev_1"]) == {}
    finally:
        writer.close()
        reader.close()


def test_a_read_only_store_refuses_writes_and_a_missing_one_is_named(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match="no store at"):
        _open(tmp_path / "nothing", read_only=True)
    assert not (tmp_path / "nothing").exists()  # a reader creates nothing
    _open(tmp_path / "store").close()
    reader = _open(tmp_path / "store", read_only=True)
    try:
        with pytest.raises(StoreError, match="read-only"):
            reader.write(WriteBatch(settings={"a": "b"}))
    finally:
        reader.close()


def test_a_reader_behind_the_retained_log_reads_the_store_afresh(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(port, "CHANGE_LOG_KEEP", 5)
    monkeypatch.setattr(changelog, "TRUNCATE_EVERY", 2)
    directory = tmp_path / "store"
    writer = _open(directory)
    reader = _open(directory, read_only=True)
    try:
        for step in range(20):
            writer.write(WriteBatch(settings={"step": str(step)}))
        with pytest.raises(ChangeLogTruncated, match="no longer holds"):
            reader.changes(0)
        assert [c.seq for c in reader.changes(15)] == [16, 17, 18, 19, 20]
        reader.catch_up()  # far behind: rebuilt
        assert reader.get_setting("step") == "19"
        assert canonical(reader) == canonical(writer)
    finally:
        writer.close()
        reader.close()


def _failing_derive(graph: GraphReader) -> WriteBatch:
    raise RuntimeError("the derive step failed")


def test_a_write_failing_after_memory_changed_leaves_memory_as_the_file(tmp_path: Path) -> None:
    directory = tmp_path / "store"
    store = _open(directory)
    try:
        load_outlets(store)
        load_file(store, EXTRACTOR / "samples.jsonl")
        before = canonical(store)
        seq = store.last_change()
        events = [n for n in store.dump() if getattr(n, "label", None) is Label.EVENT]
        doomed = WriteBatch(
            nodes=[NodeWrite("ev_new", Label.EVENT, PropertyWrite(set={"summary": "x"}))],
            deletes=[events[0].id],  # type: ignore[union-attr]
            settings={"policy": "changed"},
        )
        with pytest.raises(RuntimeError):
            store.write(doomed, derive=_failing_derive)
        assert canonical(store) == before == _fresh(directory)
        assert store.last_change() == seq
    finally:
        store.close()


def test_a_full_disk_leaves_every_process_at_what_was_committed(tmp_path: Path) -> None:
    directory = tmp_path / "store"
    store = _open(directory)
    reader = _open(directory, read_only=True)
    try:
        load_outlets(store)
        committed = canonical(store)
        seq = store.last_change()
        # SQLite's own limit on the file's pages stands for a full disk: the next pages fail
        pages = store._conn().execute("PRAGMA page_count").fetchone()[0]
        store._conn().execute(f"PRAGMA max_page_count = {pages}")
        with pytest.raises(StoreError, match="full"):
            load_file(store, EXTRACTOR / "samples.jsonl")
        assert canonical(store) == committed == _fresh(directory)
        assert store.last_change() == seq
        reader.catch_up()
        assert canonical(reader) == committed
        store._conn().execute("PRAGMA max_page_count = 1073741823")  # room again
        load_file(store, EXTRACTOR / "samples.jsonl")
        reader.catch_up()
        assert canonical(reader) == canonical(store) == _fresh(directory)
    finally:
        store.close()
        reader.close()


def test_a_reader_never_shows_part_of_a_batch_of_a_writer_killed_mid_load(
    tmp_path: Path,
) -> None:
    source, total = big_input(tmp_path)
    directory = tmp_path / "store"
    _open(directory).close()
    reader = _open(directory, read_only=True)
    args = [str(NEWSGRAPH), "load", str(source), "--store", str(directory)]
    args += ["--batch-size", "20", "--rejects", str(tmp_path / "rejects.jsonl")]
    loading = subprocess.Popen(args, cwd=tmp_path, stderr=subprocess.PIPE)
    try:
        seen = 0
        deadline = time.monotonic() + 30
        while seen < total // 4:
            assert loading.poll() is None, "the load ended before it could be killed"
            assert time.monotonic() < deadline, "the load did not get a quarter way in 30 s"
            reader.catch_up()
            assert_consistent(reader)  # every event with its reports and rating: whole batches
            seen = reader.counts()["Event"]
        loading.send_signal(signal.SIGKILL)
        loading.wait(timeout=10)
        reader.catch_up()
        assert_consistent(reader)
        assert canonical(reader) == _fresh(directory)
        rerun = subprocess.run(args, cwd=tmp_path, capture_output=True, timeout=300)
        assert rerun.returncode == 0, rerun.stderr.decode()
        reader.catch_up()
        assert reader.counts()["Event"] == total
        assert canonical(reader) == _fresh(directory)
    finally:
        loading.kill()
        loading.communicate(timeout=10)
        reader.close()


def test_a_store_of_format_2_gains_its_change_log_when_a_writer_opens_it(tmp_path: Path) -> None:
    directory = tmp_path / "store"
    store = _open(directory)
    load_outlets(store)
    before = canonical(store)
    store.close()
    db = sqlite3.connect(directory / "graph.sqlite3")
    db.execute("DROP TABLE changes")
    db.execute("UPDATE meta SET value = '2' WHERE name = 'format'")
    db.commit()
    db.close()
    with pytest.raises(StoreError, match="format 2"):
        _open(directory, read_only=True)
    store = _open(directory)
    try:
        assert canonical(store) == before and store.last_change() == 0
    finally:
        store.close()
    reader = _open(directory, read_only=True)
    reader.close()


def test_two_loads_at_once_end_where_one_after_the_other_ends(tmp_path: Path) -> None:
    """Two `newsgraph load` processes on one store, started together, interleave batch by
    batch (each waits for the other's write) and leave the graph that loading the two files
    one after the other leaves, but for which spelling of a name came first (the rule of a
    name is "first": the batches' order decides it)."""
    lines = shared_file(DATA / "wikitimes-2015-09.jsonl").read_text("utf-8").splitlines()
    halves = [tmp_path / "first.jsonl", tmp_path / "second.jsonl"]
    halves[0].write_text("\n".join(lines[0::2]) + "\n", "utf-8")  # sharing outlets, entities
    halves[1].write_text("\n".join(lines[1::2]) + "\n", "utf-8")

    def load(directory: Path, source: Path) -> subprocess.Popen[bytes]:
        args = [str(NEWSGRAPH), "load", str(source), "--store", str(directory)]
        args += ["--batch-size", "25", "--rejects", str(tmp_path / "rejects.jsonl")]
        return subprocess.Popen(args, cwd=tmp_path, stderr=subprocess.PIPE)

    together = tmp_path / "together"
    _open(together).close()
    running = [load(together, half) for half in halves]
    for process in running:
        _, stderr = process.communicate(timeout=300)
        assert process.returncode == 0, stderr.decode()
    apart = tmp_path / "apart"
    for half in halves:
        process = load(apart, half)
        _, stderr = process.communicate(timeout=300)
        assert process.returncode == 0, stderr.decode()
    one, other = _open(together, read_only=True), _open(apart, read_only=True)
    try:
        assert one.counts()["Event"] == len(lines) > 400
        assert canonical(one, INGEST_CLOCKS | {"name"}) == canonical(
            other, INGEST_CLOCKS | {"name"}
        )
        for node in one.dump():
            if isinstance(node, Node) and node.label is Label.OUTLET:
                assert node.text("name") in node.texts("aliases")
        assert_consistent(one)
    finally:
        one.close()
        other.close()


class _Turns:
    """`api.follow.ApplyTurns` as a worker of `serve --workers` takes them, recording when."""

    def __init__(self) -> None:
        self.held = False
        self.turns = 0
        self.handing: list[bool] = []  # each turn's: whether its connections were handed
        self.handed = 0  # `hand` called

    def at(self, position: int) -> None:
        pass

    async def begin(self, hand: bool = True) -> None:
        self.held = True
        self.turns += 1
        self.handing.append(hand)

    def hand(self) -> None:
        self.handed += 1

    def end(self) -> None:
        self.held = False


def test_a_worker_changes_memory_only_in_its_turn_even_for_an_entry_committed_as_it_looked(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Under `serve --workers` the workers apply in turns (the other serves the pages
    meanwhile). An entry committed just after a worker read what was pending used to be read
    and applied at once, outside the turn: both workers then applied it at the same moment and
    every page in flight waited (session 13: 140-176 ms, the slowest pages of a load)."""
    directory = tmp_path / "store"
    _open(directory).close()
    reader = _open(directory, read_only=True)
    turns = _Turns()
    applied_in_turn: list[bool] = []
    apply = reader.apply_changes

    def recorded(pending: port.PendingChanges) -> int:
        applied_in_turn.append(turns.held)
        return apply(pending)

    monkeypatch.setattr(reader, "apply_changes", recorded)
    measure = reader.pending_bytes

    def racing() -> int:  # in the follower's thread
        size = measure()
        other = _open(directory)  # another process, as the writer of `serve --workers` is
        try:
            other.write(_batch(1))  # committed right after its size was read
        finally:
            other.close()
        return size

    async def run() -> None:
        follower = Follower(reader, Hub(), turns=turns)
        monkeypatch.setattr(reader, "pending_bytes", racing)
        await follower.tick()
        monkeypatch.setattr(reader, "pending_bytes", measure)
        assert applied_in_turn == []
        assert reader.find_nodes(Label.ENTITY, {}, "name", 10) == []
        await follower.tick()  # the next look takes the turn
        assert applied_in_turn == [True] and turns.turns == 1 and not turns.held
        assert [n.id for n in reader.find_nodes(Label.ENTITY, {}, "name", 10)] == ["en_0"]
        assert follower.position == reader.read_position() == reader.last_change()
        await follower.tick()  # nothing pending: no turn taken
        assert turns.turns == 1
        # a small entry keeps the connections (applied in milliseconds), a load's batch hands
        # them to the other workers first
        assert turns.handing == [False] and turns.handed == 0
        other = _open(directory)
        try:
            other.write(_batch(10_000, start=1))
        finally:
            other.close()
        await follower.tick()
        assert turns.handing == [False, True] and turns.handed == 1
        assert applied_in_turn == [True, True]
        assert len(reader.find_nodes(Label.ENTITY, {}, "name", 20_000)) == 10_001

    try:
        asyncio.run(run())
    finally:
        reader.close()
