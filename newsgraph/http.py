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
"""

from __future__ import annotations

import asyncio
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from newsgraph.balance import Balance

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


class HeldHeadersProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol over `HeldHeaders` (`uvicorn.Config(http=...)`); under
    `serve --workers`, its connections counted and spread over the workers (`balance`)."""

    # the worker's share of the spreading of connections (newsgraph.balance), if any
    balance: Balance | None = None
    _counted = False

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._raw = transport
        self.transport = HeldHeaders(transport)  # type: ignore[assignment]
        balance = self.balance
        if balance is None:
            return
        balance.opened()
        self._counted = True
        target = balance.target()
        sock = transport.get_extra_info("socket")
        if target is None or sock is None:
            return
        transport.pause_reading()  # nothing of it read here: the other worker reads it all
        if balance.hand_off(sock.fileno(), target):
            transport.abort()  # this process's descriptor only: the connection lives on there
        else:
            transport.resume_reading()

    def connection_lost(self, exc: Exception | None) -> None:
        self._uncount()
        super().connection_lost(exc)

    def _uncount(self) -> None:
        if self._counted and self.balance is not None:
            self._counted = False
            self.balance.closed()

    def on_response_complete(self) -> None:
        transport = self.transport
        if isinstance(transport, HeldHeaders):
            transport.flush()
        super().on_response_complete()

    def handle_websocket_upgrade(self) -> None:
        # the WebSocket protocol takes the connection over with the transport itself (and
        # this protocol hears no more of it: it stops counting now)
        self._uncount()
        self.transport = self._raw
        super().handle_websocket_upgrade()
