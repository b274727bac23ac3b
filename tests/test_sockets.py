"""The count of open WebSockets per client that the workers of `serve --workers` share
(`api.sockets`): one cap across processes, and a process that is gone counts nothing."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from api.sockets import LocalSockets, SharedSockets

HOLD = """
import sys
from api.sockets import SharedSockets
count = SharedSockets(sys.argv[1])
print(sum(count.take("address:10.0.0.1", 3) for _ in range(int(sys.argv[2]))), flush=True)
sys.stdin.read()  # holds its sockets until told to go
"""


def _holder(path: Path, sockets: int) -> tuple[subprocess.Popen[str], int]:
    """Another process taking `sockets` for one client: the process, and how many it got."""
    process = subprocess.Popen(
        [sys.executable, "-c", HOLD, str(path), str(sockets)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    return process, int(process.stdout.readline())


def test_the_cap_holds_across_processes_and_a_process_gone_counts_nothing(
    tmp_path: Path,
) -> None:
    path = tmp_path / "sockets.sqlite"
    here = SharedSockets(str(path))
    other, taken = _holder(path, 2)
    try:
        assert taken == 2
        assert here.take("address:10.0.0.1", 3)  # the third, in all
        assert not here.take("address:10.0.0.1", 3)
        assert here.take("address:10.0.0.2", 3)  # another client counts apart
        assert here.held("address:10.0.0.1") == 3
    finally:
        other.kill()  # gone without giving its sockets back
        other.communicate()
    assert here.take("address:10.0.0.1", 3)  # its two count no more
    assert here.held("address:10.0.0.1") == 2
    here.give_back("address:10.0.0.1")
    here.give_back("address:10.0.0.1")
    assert here.held("address:10.0.0.1") == 0
    here.close()


def test_a_server_of_one_process_counts_in_memory() -> None:
    count = LocalSockets()
    assert count.take("c", 1) and not count.take("c", 1)
    count.give_back("c")
    assert count.take("c", 1)
