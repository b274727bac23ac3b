"""Connections spread evenly over the reader workers of `newsgraph serve --workers N`.

Each worker listens on a socket of its own on the port (SO_REUSEPORT), and the kernel picks the
worker of a new connection by a hash of its addresses: eight connections over two workers come
out 4/4 only about one time in four, 5/3 or 6/2 most times. Pages over keep-alive connections
then queue behind the busier worker's other clients, and its clients' latencies (the p99 of a
site) are half again the other worker's, while the other waits for work.

So each worker counts its open HTTP connections in a slot of a small shared file (`counts`,
one 8-byte count per worker, each written by its worker only), and a worker that accepts a
connection while it holds more than one more than the least busy worker hands the connection
to that worker before reading anything from it: the socket itself, sent over a Unix datagram
socket with SCM_RIGHTS, which the other worker adopts as if it had accepted
it. A connection moves only towards a worker holding fewer, so none moves twice. A worker that
cannot be reached (restarting), or whose inbox is full, keeps the connection. A WebSocket
stops counting when it upgrades (few, and long-lived: they are capped per client, api.sockets).

A worker applying a batch of the change log holds every page it is asked meanwhile (memory
changes whole, between pages, `api.follow`): tens of milliseconds of CPU, stretched in wall
time when the loader and the other workers share the cores. So the workers take **turns** to
apply (an exclusive lock on a file beside the counts, waited for at most `TURN_WAIT`), each
says in the shared file while it applies, and, for a load's batch, just before it changes
memory it hands every kept-alive connection that is between requests to the least busy worker
that is not applying (`ApplyTurns`, `newsgraph.http`): the pages asked on them meanwhile are
answered there. A small entry (an editor's write, an `ingest`: 1-3 ms to apply) is applied in
the turn with the connections kept (`api.follow.HAND_OVER_BYTES`).
Connections also move back, one at a time as each answer ends, from a worker holding more than
one more than the least busy one that is not applying, so the spread is even again after each
apply. A connection in the middle of a request stays where it is (it waits for the apply). A
connection moves only to a worker whose memory is not behind the one it leaves (each says in
the file which change log entry it shows), so a client's answers never go back in time.
"""

from __future__ import annotations

import array
import asyncio
import contextlib
import fcntl
import logging
import mmap
import os
import socket
import struct
import time
from collections.abc import Callable
from pathlib import Path

log = logging.getLogger(__name__)

_SLOT = struct.Struct("<q")
COUNTS = "counts"
_ARRAYS = 3  # connections, applying, position: one slot a worker each
TURN = "apply.lock"
# How long a worker waits for its turn to apply before applying anyway (a worker reading the
# whole store again, having fallen behind the log's retention, holds its turn for seconds:
# the others' lag matters more than where a few pages wait), and how often it looks.
TURN_WAIT = 0.5
TURN_POLL = 0.002


def prepare(directory: str | Path, workers: int) -> None:
    """Create the shared counts for `workers` workers in `directory` (by `serve`): each one's
    open connections, whether each is applying, and the change log entry its memory shows."""
    (Path(directory) / COUNTS).write_bytes(bytes(_SLOT.size * workers * _ARRAYS))


def _address(directory: Path, index: int) -> str:
    return str(directory / f"worker-{index}.sock")


class Balance:
    """One worker's part: its count, the others' counts, and its socket for connections handed
    to it."""

    def __init__(self, directory: str | Path, index: int, workers: int) -> None:
        self.directory = Path(directory)
        self.index = index
        self.workers = workers
        with open(self.directory / COUNTS, "r+b") as file:
            self._counts = mmap.mmap(file.fileno(), _SLOT.size * workers * _ARRAYS)
        self._set(0)  # a worker started again holds nothing yet
        self._flag(False)  # nor applies anything yet
        self.at(0)  # nor shows anything yet (its follower says what, once it starts)
        self.handed = 0  # connections this worker gave to others (tests and logs)
        self.applying = False  # this worker's turn to apply (`take_turn`)
        self.handing = False  # and it hands its connections away meanwhile
        self._inbox: socket.socket | None = None
        self._turn = os.open(self.directory / TURN, os.O_RDWR | os.O_CREAT, 0o600)

    def _get(self, index: int) -> int:
        value: int = _SLOT.unpack_from(self._counts, index * _SLOT.size)[0]
        return value

    def _set(self, value: int) -> None:
        _SLOT.pack_into(self._counts, self.index * _SLOT.size, value)

    def _flag(self, applying: bool) -> None:
        _SLOT.pack_into(self._counts, (self.workers + self.index) * _SLOT.size, int(applying))

    def _applies(self, index: int) -> bool:
        flag: int = _SLOT.unpack_from(self._counts, (self.workers + index) * _SLOT.size)[0]
        return flag != 0

    def _position(self, index: int) -> int:
        value: int = _SLOT.unpack_from(self._counts, (2 * self.workers + index) * _SLOT.size)[0]
        return value

    def at(self, position: int) -> None:
        """This worker's memory shows every change log entry up to `position`."""
        offset = (2 * self.workers + self.index) * _SLOT.size
        _SLOT.pack_into(self._counts, offset, position)

    def opened(self) -> None:
        self._set(self._get(self.index) + 1)

    def closed(self) -> None:
        self._set(max(0, self._get(self.index) - 1))

    def counts(self) -> list[int]:
        return [self._get(i) for i in range(self.workers)]

    def target(self) -> int | None:
        """The worker to hand a connection counted here to: the least busy of the others
        that are not applying and whose memory is not behind this one's (a client's answers
        never go back in time), when this one is applying and handing its connections away
        (`take_turn`) or holds more than one more than it; else None (kept here)."""
        counts = self.counts()
        here = self._position(self.index)
        others = [
            i
            for i in range(self.workers)
            if i != self.index and not self._applies(i) and self._position(i) >= here
        ]
        if not others:
            return None
        least = min(others, key=counts.__getitem__)
        if self.handing or counts[self.index] > counts[least] + 1:
            return least
        return None

    async def take_turn(self, hand_away: bool = True) -> bool:
        """Wait (on the running loop, at most `TURN_WAIT`) until no other worker applies, and
        say that this one does; False when the wait ran out (it applies anyway, saying so
        too: nobody hands it connections meanwhile). `hand_away`: its connections go to the
        others meanwhile, each as its answer ends (`target`); else they stay (an apply of a
        few milliseconds costs the pages less than moving every connection twice)."""
        deadline = time.monotonic() + TURN_WAIT
        taken = False
        while True:
            try:
                fcntl.flock(self._turn, fcntl.LOCK_EX | fcntl.LOCK_NB)
                taken = True
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    break
                await asyncio.sleep(TURN_POLL)
        self.applying = True
        self.handing = hand_away
        self._flag(True)
        return taken

    def give_turn(self) -> None:
        """This worker's apply is over (whether or not it had the turn)."""
        self.applying = self.handing = False
        self._flag(False)
        with contextlib.suppress(OSError):
            fcntl.flock(self._turn, fcntl.LOCK_UN)

    def hand_off(self, fd: int, index: int) -> bool:
        """Send the connection `fd` to worker `index`; False when it cannot be reached, or
        its inbox is full (a worker too busy to adopt what it was handed already: a blocking
        send would hold this worker's event loop until that one reads)."""
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sender:
            sender.setblocking(False)
            try:
                # (socket.send_fds leaves its address out before Python 3.12)
                rights = [(socket.SOL_SOCKET, socket.SCM_RIGHTS, array.array("i", [fd]))]
                sender.sendmsg([b"c"], rights, 0, _address(self.directory, index))
            except OSError:
                return False
        self.handed += 1
        return True

    def receive(self, adopt: Callable[[socket.socket], None]) -> None:
        """Listen for connections handed to this worker, on the running loop: each is given
        to `adopt`."""
        path = _address(self.directory, self.index)
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)
        inbox = self._inbox = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        inbox.bind(path)
        inbox.setblocking(False)

        def ready() -> None:
            while True:
                try:
                    _, fds, _, _ = socket.recv_fds(inbox, 1, 8)
                except BlockingIOError:
                    return
                except OSError as exc:
                    log.warning("a handed connection could not be received: %s", exc)
                    return
                for fd in fds:
                    adopt(socket.socket(fileno=fd))

        asyncio.get_running_loop().add_reader(inbox.fileno(), ready)

    def close(self) -> None:
        if self._inbox is not None:
            with contextlib.suppress(Exception):
                asyncio.get_running_loop().remove_reader(self._inbox.fileno())
            self._inbox.close()
            self._inbox = None
        self._set(0)
        self.give_turn()
