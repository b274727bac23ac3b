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
"""

from __future__ import annotations

import array
import asyncio
import contextlib
import logging
import mmap
import os
import socket
import struct
from collections.abc import Callable
from pathlib import Path

log = logging.getLogger(__name__)

_SLOT = struct.Struct("<q")
COUNTS = "counts"


def prepare(directory: str | Path, workers: int) -> None:
    """Create the shared counts for `workers` workers in `directory` (by `serve`)."""
    (Path(directory) / COUNTS).write_bytes(bytes(_SLOT.size * workers))


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
            self._counts = mmap.mmap(file.fileno(), _SLOT.size * workers)
        self._set(0)  # a worker started again holds nothing yet
        self.handed = 0  # connections this worker gave to others (tests and logs)
        self._inbox: socket.socket | None = None

    def _get(self, index: int) -> int:
        value: int = _SLOT.unpack_from(self._counts, index * _SLOT.size)[0]
        return value

    def _set(self, value: int) -> None:
        _SLOT.pack_into(self._counts, self.index * _SLOT.size, value)

    def opened(self) -> None:
        self._set(self._get(self.index) + 1)

    def closed(self) -> None:
        self._set(max(0, self._get(self.index) - 1))

    def counts(self) -> list[int]:
        return [self._get(i) for i in range(self.workers)]

    def target(self) -> int | None:
        """The worker to hand a connection just counted here to: the least busy, when this
        one holds more than one more than it; else None (kept here)."""
        counts = self.counts()
        least = min(range(self.workers), key=counts.__getitem__)
        return least if counts[self.index] > counts[least] + 1 else None

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
