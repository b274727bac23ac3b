"""uvicorn's HTTP protocol (httptools), sending each answer in one write instead of two.

uvicorn writes a response's status line and headers as soon as the app starts it, then the body
when the app sends it: two sends, so two trips through the kernel's TCP path for every page (on
loopback the receiver's side of each runs in the sender's time too). Under the benchmark the two
were a fifth of a worker's CPU (py-spy, `docs/benchmarks.md`). `HeldHeadersProtocol` holds the
status line and headers of a response until the body's first write, and sends both at once; the
bytes on the wire are the same. Nothing else changes: what uvicorn writes whole (its own error
answers, `100 Continue`, which a client waits for before it sends a body) goes out at once; an
answer that ends with no body write (a HEAD) sends its head as it ends, and closing the
connection sends what is held first; a WebSocket gets the transport itself.

Under `serve --workers`, it also moves kept-alive connections between the workers while they
are between requests (`newsgraph.balance`): all of them away from a worker about to apply a
batch of the change log (`ApplyTurns`), and back, one as each answer ends, to even the spread.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import TYPE_CHECKING, Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from newsgraph.balance import Balance

if TYPE_CHECKING:
    from prometheus_client import Counter

_STATUS_LINE = b"HTTP/1.1 "
_INTERIM = b"HTTP/1.1 1"  # 100 Continue and other 1xx: the client waits for them
_HEADERS_END = b"\r\n\r\n"


class HeldHeaders:
    """A transport that holds a response's head (status line and headers, written alone) and
    sends it with the next write, or when the connection is closed."""

    def __init__(self, transport: asyncio.Transport) -> None:
        self._transport = transport
        self._held = b""

    def write(self, data: bytes | bytearray | memoryview) -> None:
        if self._held:
            data, self._held = self._held + bytes(data), b""
        elif (
            isinstance(data, bytes)
            and data.startswith(_STATUS_LINE)
            and not data.startswith(_INTERIM)
            and data.endswith(_HEADERS_END)
        ):
            self._held = data
            return
        self._transport.write(data)

    def flush(self) -> None:
        """Send what is held (an answer that ends without a body write: a HEAD)."""
        if self._held:
            held, self._held = self._held, b""
            self._transport.write(held)

    def close(self) -> None:
        self.flush()
        self._transport.close()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._transport, name)


log = logging.getLogger(__name__)
# How long a worker about to apply waits for the answers in flight on its connections (each
# handed to another worker as it ends), and how often it looks.
DRAIN_WAIT = 0.05
DRAIN_POLL = 0.001
_handed: Counter | None = None


def _count_handed(reason: str) -> None:
    global _handed
    if _handed is None:
        # made on first use: after `serve` set the metrics' directory (api.metrics)
        from prometheus_client import Counter

        _handed = Counter(
            "newsgraph_connections_handed",
            "Connections a worker handed to another (serve --workers): when accepted or as an "
            "answer ended, to spread them evenly (spread); before applying a batch of the "
            "change log (apply)",
            ["reason"],
        )
    _handed.labels(reason).inc()


class HeldHeadersProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol over `HeldHeaders` (`uvicorn.Config(http=...)`); under
    `serve --workers`, its connections counted and spread over the workers (`balance`)."""

    # the worker's share of the spreading of connections (newsgraph.balance), if any
    balance: Balance | None = None
    # this worker's counted connections (those a worker about to apply hands away)
    live: set[HeldHeadersProtocol] = set()
    _counted = False
    _in_message = False
    # handed by another worker (not accepted here): not handed on before its first answer here,
    # so that a connection never bounces between two workers while both are busy
    adopted = False

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._raw = transport
        self.transport = HeldHeaders(transport)  # type: ignore[assignment]
        balance = self.balance
        if balance is None:
            return
        balance.opened()
        self._counted = True
        HeldHeadersProtocol.live.add(self)
        if self.adopted:
            return  # handed here just now: it moves again only once it was answered here
        target = balance.target()
        if target is not None:
            self.hand_to(target, "spread")

    def between_requests(self) -> bool:
        """Whether nothing of a request is read or answered here: the connection can move."""
        cycle = self.cycle
        return (
            self._counted
            and not self._in_message
            and (cycle is None or cycle.response_complete)
            and not self.pipeline
            and not self._raw.is_closing()
            and self._raw.get_write_buffer_size() == 0
        )

    def hand_to(self, target: int, reason: str) -> bool:
        """Hand this connection (between requests) to worker `target`; False when it stays."""
        balance = self.balance
        sock = self._raw.get_extra_info("socket")
        if balance is None or sock is None:
            return False
        self._raw.pause_reading()  # nothing more read here: the other worker reads the rest
        if not balance.hand_off(sock.fileno(), target):
            self._raw.resume_reading()
            return False
        _count_handed(reason)
        self._uncount()
        if self.timeout_keep_alive_task is not None:
            self.timeout_keep_alive_task.cancel()
            self.timeout_keep_alive_task = None
        self._raw.abort()  # this process's descriptor only: the connection lives on there
        return True

    def on_message_begin(self) -> None:
        self._in_message = True
        super().on_message_begin()

    def on_message_complete(self) -> None:
        self._in_message = False
        super().on_message_complete()

    def connection_lost(self, exc: Exception | None) -> None:
        self._uncount()
        super().connection_lost(exc)

    def _uncount(self) -> None:
        if self._counted and self.balance is not None:
            self._counted = False
            self.balance.closed()
        HeldHeadersProtocol.live.discard(self)

    def on_response_complete(self) -> None:
        transport = self.transport
        if isinstance(transport, HeldHeaders):
            transport.flush()
        super().on_response_complete()
        balance = self.balance
        if balance is not None and self.between_requests():
            target = balance.target()
            if target is not None:
                self.hand_to(target, "spread")

    def handle_websocket_upgrade(self) -> None:
        # the WebSocket protocol takes the connection over with the transport itself (and
        # this protocol hears no more of it: it stops counting now)
        self._uncount()
        self.transport = self._raw
        super().handle_websocket_upgrade()


class ApplyTurns:
    """`api.follow.ApplyTurns` for a worker of `serve --workers`: its turn to apply taken
    from the others, and its connections between requests handed to a worker that is not
    applying just before its memory changes (`newsgraph.balance`)."""

    def __init__(self, balance: Balance) -> None:
        self.balance = balance

    def at(self, position: int) -> None:
        self.balance.at(position)

    async def begin(self, hand: bool = True) -> None:
        if not await self.balance.take_turn(hand):
            log.info("applying without the turn: another worker held it too long")
        if not hand:
            return
        # Hand over what is between requests now, and each other connection as its answer
        # ends (`on_response_complete`, this worker applying), then wait (a bounded time) for
        # those answers: a request that came in after the apply was queued would wait for it.
        self.hand()
        deadline = time.monotonic() + DRAIN_WAIT
        while time.monotonic() < deadline and any(
            not connection.between_requests() for connection in HeldHeadersProtocol.live
        ):
            await asyncio.sleep(DRAIN_POLL)

    def hand(self) -> None:
        balance = self.balance
        for connection in list(HeldHeadersProtocol.live):
            if not connection.between_requests():
                continue
            target = balance.target()
            if target is None:
                return
            connection.hand_to(target, "apply")

    def end(self) -> None:
        self.balance.give_turn()
