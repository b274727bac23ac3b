"""Connections handed between the reader workers of `serve --workers` (newsgraph.balance)."""

from __future__ import annotations

import asyncio
import socket
import threading
from pathlib import Path
from typing import Any

from newsgraph import balance as balance_module
from newsgraph.balance import Balance, prepare


def _inbox(directory: Path, index: int) -> socket.socket:
    """A bound inbox of worker `index` that nobody reads (a worker too busy to)."""
    inbox = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    inbox.bind(str(directory / f"worker-{index}.sock"))
    return inbox


def test_counts_and_the_target(tmp_path: Path) -> None:
    prepare(tmp_path, 2)
    first, second = Balance(tmp_path, 0, 2), Balance(tmp_path, 1, 2)
    first.opened()
    first.opened()
    assert first.counts() == second.counts() == [2, 0]
    assert first.target() == 1 and second.target() is None
    first.closed()
    assert first.target() is None
    Balance(tmp_path, 0, 2)  # worker 0 started again: it holds nothing
    assert second.counts() == [0, 0]


def test_a_connection_handed_is_adopted_there(tmp_path: Path) -> None:
    prepare(tmp_path, 2)
    sender, receiver = Balance(tmp_path, 0, 2), Balance(tmp_path, 1, 2)
    ours, theirs = socket.socketpair()

    async def hand() -> socket.socket:
        adopted: asyncio.Future[socket.socket] = asyncio.get_running_loop().create_future()
        receiver.receive(adopted.set_result)
        try:
            assert sender.hand_off(theirs.fileno(), 1)
            return await asyncio.wait_for(adopted, 5)
        finally:
            receiver.close()

    with ours, theirs, asyncio.run(hand()) as adopted:
        theirs.close()  # the sender's descriptor: the connection lives on in the adopted one
        adopted.sendall(b"hello")
        assert ours.recv(5) == b"hello"
    assert sender.handed == 1


def test_a_worker_that_cannot_be_reached_keeps_the_connection(tmp_path: Path) -> None:
    prepare(tmp_path, 2)
    sender = Balance(tmp_path, 0, 2)
    with socket.socket() as connection:
        assert not sender.hand_off(connection.fileno(), 1)  # no inbox at all
    assert sender.handed == 0


def test_a_full_inbox_never_holds_the_sender(tmp_path: Path) -> None:
    # Each handed connection waits in the other worker's inbox until its event loop reads it
    # (at most /proc/sys/net/unix/max_dgram_qlen, 10 by default); past that, a blocking send
    # would hold the sending worker's event loop as long as the other's is busy.
    prepare(tmp_path, 2)
    sender = Balance(tmp_path, 0, 2)
    results: list[bool] = []
    with _inbox(tmp_path, 1), socket.socket() as connection:

        def hand_many() -> None:
            for _ in range(100):
                results.append(sender.hand_off(connection.fileno(), 1))

        thread = threading.Thread(target=hand_many, daemon=True)
        thread.start()
        thread.join(5)
        assert not thread.is_alive(), f"held after {len(results)} hand-offs"
    assert len(results) == 100 and results[0] and not results[-1]
    assert sender.handed == results.count(True)


def test_a_worker_applying_hands_to_one_that_is_not(tmp_path: Path) -> None:
    prepare(tmp_path, 3)
    first, second, third = (Balance(tmp_path, i, 3) for i in range(3))
    for balance in (first, second, third):
        balance.at(5)
    first.opened()
    second.opened()
    second.opened()
    assert first.target() is None  # even enough, and nobody applies

    async def turns() -> None:
        assert await first.take_turn()
        # while it applies, it hands what it holds to the least busy other worker, and
        # nobody hands anything to it
        assert first.target() == 2
        third.opened()
        third.opened()
        third.opened()
        assert second.target() is None  # 2 against 3 and the one applying: stays
        first.give_turn()
        assert second.target() is None and third.target() == 0

    asyncio.run(turns())


def test_a_worker_applying_a_small_entry_keeps_its_connections(tmp_path: Path) -> None:
    """An editor's write or an `ingest` of a few records is applied in milliseconds: the
    worker takes its turn (never two apply at once) but keeps its connections, and the others
    still hand nothing to it meanwhile."""
    prepare(tmp_path, 2)
    first, second = Balance(tmp_path, 0, 2), Balance(tmp_path, 1, 2)
    for balance in (first, second):
        balance.at(5)
    first.opened()
    first.opened()
    for _ in range(4):
        second.opened()

    async def turns() -> None:
        assert await first.take_turn(hand_away=False)
        assert first.applying and not first.handing
        assert first.target() is None  # kept
        assert second.target() is None  # 4 against 2, but the other applies
        first.give_turn()
        assert second.target() == 0
        assert await first.take_turn()
        assert first.handing and first.target() == 1
        first.give_turn()
        assert not first.applying and not first.handing

    asyncio.run(turns())


def test_a_connection_never_moves_to_a_worker_behind(tmp_path: Path) -> None:
    """A client's answers never go back in time: a worker whose memory shows fewer change
    log entries gets nothing from one that shows more."""
    prepare(tmp_path, 2)
    first, second = Balance(tmp_path, 0, 2), Balance(tmp_path, 1, 2)
    first.at(8)
    second.at(7)
    for _ in range(3):
        first.opened()
    assert first.target() is None
    second.at(8)
    assert first.target() == 1


def test_one_worker_applies_at_a_time(tmp_path: Path) -> None:
    prepare(tmp_path, 2)
    first, second = Balance(tmp_path, 0, 2), Balance(tmp_path, 1, 2)

    async def turns() -> None:
        assert await first.take_turn()
        waiting = asyncio.create_task(second.take_turn())
        await asyncio.sleep(0.05)
        assert not waiting.done()  # the other waits for the turn
        first.give_turn()
        assert await waiting  # and takes it once given
        second.give_turn()

    asyncio.run(turns())


def test_a_turn_held_too_long_is_not_waited_for(tmp_path: Path, monkeypatch: Any) -> None:
    """A worker reading the whole store again holds its turn for seconds: the others apply
    anyway after `TURN_WAIT` (their lag matters more), without handing anything to it."""
    monkeypatch.setattr(balance_module, "TURN_WAIT", 0.05)
    prepare(tmp_path, 2)
    first, second = Balance(tmp_path, 0, 2), Balance(tmp_path, 1, 2)

    async def turns() -> None:
        assert await first.take_turn()
        assert not await second.take_turn()  # waited, then applies without it
        assert second.applying and second.target() is None  # the other applies too
        second.give_turn()
        first.give_turn()

    asyncio.run(turns())
