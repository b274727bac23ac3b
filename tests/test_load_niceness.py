"""`newsgraph load` yields the CPU to a server beside it: it runs at a niceness (issue 14,
docs/operations.md "Loading while serving")."""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

from tests.conftest import EXTRACTOR, shared_file
from tests.test_embedded_durability import NEWSGRAPH


def _without_setting() -> dict[str, str]:
    """The environment without the tests' own NEWSGRAPH_LOAD_NICENESS (tests/conftest.py)."""
    return {k: v for k, v in os.environ.items() if k != "NEWSGRAPH_LOAD_NICENESS"}


def _niceness_while_loading(tmp_path: Path, *extra: str, env: dict[str, str]) -> int:
    """The niceness of a `newsgraph load` reading stdin, seen once it opened the store (it
    waits on stdin then); the load then completes."""
    tmp_path.mkdir(exist_ok=True)
    store = tmp_path / "store"
    args = [str(NEWSGRAPH), "load", "-", "--store", str(store), *extra]
    args += ["--rejects", str(tmp_path / "rejects.jsonl")]
    loading = subprocess.Popen(
        args,
        cwd=tmp_path,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env={**_without_setting(), **env},
    )
    assert loading.stdin is not None
    try:
        deadline = time.monotonic() + 60
        while not (store / "graph.sqlite3").exists():  # opened after its niceness was set
            assert loading.poll() is None, loading.communicate()[1].decode()
            assert time.monotonic() < deadline, "the load did not open its store in 60 s"
            time.sleep(0.05)
        niceness = os.getpriority(os.PRIO_PROCESS, loading.pid)
        records = shared_file(EXTRACTOR / "samples.jsonl").read_bytes()
        out, err = loading.communicate(records, timeout=120)
        assert loading.returncode == 0, err.decode()
        assert b"events" in out
    finally:
        if loading.poll() is None:
            loading.kill()
            loading.wait()
    return niceness


def test_a_load_runs_at_niceness_5_by_default(tmp_path: Path) -> None:
    assert os.getpriority(os.PRIO_PROCESS, 0) < 5
    assert _niceness_while_loading(tmp_path, env={}) == 5


def test_the_niceness_is_a_setting_and_a_flag(tmp_path: Path) -> None:
    base = os.getpriority(os.PRIO_PROCESS, 0)
    assert _niceness_while_loading(tmp_path / "a", env={"NEWSGRAPH_LOAD_NICENESS": "8"}) == 8
    flagged = _niceness_while_loading(
        tmp_path / "b", "--niceness", "0", env={"NEWSGRAPH_LOAD_NICENESS": "8"}
    )
    assert flagged == base  # 0: left as it was started


def test_a_bad_niceness_is_refused_naming_it(tmp_path: Path) -> None:
    source = tmp_path / "records.jsonl"
    source.write_bytes(shared_file(EXTRACTOR / "samples.jsonl").read_bytes())
    args = [str(NEWSGRAPH), "load", str(source), "--store", str(tmp_path / "store")]
    flag = subprocess.run([*args, "--niceness", "20"], capture_output=True, timeout=60)
    assert flag.returncode == 2
    assert "--niceness" in flag.stderr.decode()
    env = {**_without_setting(), "NEWSGRAPH_LOAD_NICENESS": "high"}
    setting = subprocess.run(args, capture_output=True, timeout=60, env=env)
    assert setting.returncode == 2
    assert "NEWSGRAPH_LOAD_NICENESS" in setting.stderr.decode()
    assert not (tmp_path / "store" / "graph.sqlite3").exists()  # nothing loaded
