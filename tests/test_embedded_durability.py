"""The embedded store survives restarts and kills, and keeps a second process out."""

from __future__ import annotations

import json
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

from graph.embedded import EmbeddedStore
from graph.embedded.fileformat import DB_FILE
from graph.model import Edge, Label, Node, Rel
from graph.snapshot import INGEST_CLOCKS, canonical
from tests.conftest import DATA, EXTRACTOR, load_file, load_outlets, shared_file

NEWSGRAPH = Path(sys.executable).parent / "newsgraph"
COPIES = 4  # wikitimes repeated under new event ids, so a load lasts long enough to kill


def big_input(tmp_path: Path) -> tuple[Path, int]:
    """wikitimes concatenated COPIES times, each copy's events under their own ids."""
    lines = shared_file(DATA / "wikitimes-2015-09.jsonl").read_text("utf-8").splitlines()
    out: list[str] = []
    for copy in range(COPIES):
        for line in lines:
            record = json.loads(line)
            record["event"]["id"] = f"{record['event']['id']}-copy{copy}"
            out.append(json.dumps(record, ensure_ascii=False))
    path = tmp_path / "wikitimes-x.jsonl"
    path.write_text("\n".join(out) + "\n", "utf-8")
    return path, len(out)


def stored_events(directory: Path) -> int:
    """Events committed to the store's file, read without taking the store's lock."""
    db = directory / DB_FILE
    if not db.exists():
        return 0
    try:
        conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=1)
        try:
            row = conn.execute("SELECT count(*) FROM nodes WHERE label = 'Event'").fetchone()
        finally:
            conn.close()
    except sqlite3.OperationalError:  # schema not created yet
        return 0
    return int(row[0])


def assert_consistent(store: EmbeddedStore) -> None:
    """Every relationship's ends and every key's owner exist; every event is fully written."""
    items = list(store.dump())
    nodes = {i.id: i for i in items if isinstance(i, Node)}
    for edge in (i for i in items if isinstance(i, Edge)):
        assert edge.src in nodes and edge.dst in nodes, f"dangling {edge}"
    for pair in (i for i in items if isinstance(i, tuple)):
        key, owner = pair
        assert key.startswith("setting:") or owner in nodes, f"key {key} of missing {owner}"
    events = [n for n in nodes.values() if n.label is Label.EVENT]
    reports = store.edges([e.id for e in events], Rel.REPORTS, "in")
    for event in events:
        assert reports[event.id], f"event {event.id} without its reports"
        assert event.props.get("confidence"), f"event {event.id} without its rating"


def test_restart_gives_the_same_graph(tmp_path: Path) -> None:
    first = EmbeddedStore(tmp_path / "store")
    first.setup()
    load_outlets(first)
    load_file(first, EXTRACTOR / "samples.jsonl")
    before = canonical(first)
    first.close()

    reopened = EmbeddedStore(tmp_path / "store")
    reopened.setup()
    try:
        assert reopened.counts()["Event"] == 3
        assert canonical(reopened) == before
    finally:
        reopened.close()


def test_two_processes_on_one_directory_both_write_and_each_sees_the_other(
    tmp_path: Path,
) -> None:
    first = EmbeddedStore(tmp_path / "store")
    second = EmbeddedStore(tmp_path / "store")
    first.setup()
    second.setup()  # no whole-store lock any more: one write at a time, any number of stores
    try:
        load_outlets(first)
        assert second.counts()["Outlet"] == 0  # not followed yet
        second.catch_up()
        assert canonical(second) == canonical(first)
        load_file(second, EXTRACTOR / "samples.jsonl")  # builds on what `first` wrote
        first.catch_up()
        assert canonical(first) == canonical(second)
        assert first.counts()["Event"] == 3
    finally:
        first.close()
        second.close()


def run_load(source: Path, store: Path, cwd: Path) -> subprocess.Popen[bytes]:
    args = [str(NEWSGRAPH), "load", str(source), "--store", str(store), "--batch-size", "20"]
    args += ["--rejects", str(cwd / "rejects.jsonl")]
    return subprocess.Popen(args, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def test_killed_load_leaves_a_consistent_store_and_a_rerun_completes_it(tmp_path: Path) -> None:
    assert NEWSGRAPH.exists(), f"the console script {NEWSGRAPH} is not installed"
    source, total = big_input(tmp_path)
    killed_dir = tmp_path / "killed"

    loading = run_load(source, killed_dir, tmp_path)
    deadline = time.monotonic() + 15
    try:
        while not total // 4 <= stored_events(killed_dir) < total:
            assert loading.poll() is None, f"load ended before it could be killed: {loading}"
            assert time.monotonic() < deadline, "the load did not get a quarter way in 15 s"
            time.sleep(0.005)
        loading.send_signal(signal.SIGKILL)
    finally:
        loading.kill()
        _, stderr = loading.communicate(timeout=10)
    assert loading.returncode == -signal.SIGKILL, stderr.decode()
    committed = stored_events(killed_dir)
    assert 0 < committed < total, "the kill did not land part-way"

    store = EmbeddedStore(killed_dir)
    store.setup()
    try:
        assert store.counts()["Event"] == committed
        assert_consistent(store)
    finally:
        store.close()

    rerun = run_load(source, killed_dir, tmp_path)
    stdout, stderr = rerun.communicate(timeout=30)
    assert rerun.returncode == 0, stderr.decode()
    assert f"loaded:         {total}" in stdout.decode()

    reference = EmbeddedStore(tmp_path / "reference")
    reference.setup()
    try:
        load_file(reference, source, batch_size=20)
        expected = canonical(reference, ignore=INGEST_CLOCKS)
    finally:
        reference.close()
    completed = EmbeddedStore(killed_dir)
    completed.setup()
    try:
        assert completed.counts()["Event"] == total
        assert canonical(completed, ignore=INGEST_CLOCKS) == expected
    finally:
        completed.close()
