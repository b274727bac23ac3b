"""`/health` (liveness: the process answers, without reading the store) and `/ready` (the store
answers a cheap read, `GraphStore.ping`; 503 with the reason when not), the app called in
process, on both stores; on Neo4j also a Bolt server that goes away, and a closed port."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import threading
from pathlib import Path
from typing import Any, cast
from urllib.parse import urlsplit

import httpx
import pytest

from api.app import create_app
from graph.neo4j import Neo4jStore
from graph.store import GraphStore, StoreError
from tests.conftest import BOLT, fresh_store
from tests.support.graphql import asgi_client
from tests.support.serve import free_port


def get(store: GraphStore, path: str) -> httpx.Response:
    async def call() -> httpx.Response:
        async with asgi_client(create_app(store)) as client:
            return await client.get(path)

    return asyncio.run(call())


def answer(store: GraphStore, path: str) -> tuple[int, dict[str, Any]]:
    response = get(store, path)
    body: dict[str, Any] = response.json()
    return response.status_code, body


class Unreadable:
    """A store every use of which fails the test: what /health must not touch."""

    def __getattr__(self, name: str) -> Any:
        raise AssertionError(f"/health used the store: {name}")


def test_health_answers_without_touching_the_store() -> None:
    assert answer(cast(GraphStore, Unreadable()), "/health") == (200, {"status": "ok"})


def test_ready_and_health_on_an_open_store(store: GraphStore) -> None:
    assert answer(store, "/health") == (200, {"status": "ok"})
    assert answer(store, "/ready") == (200, {"status": "ready"})
    store.ping()  # the port's check itself


def test_a_closed_store_is_alive_but_not_ready(store: GraphStore) -> None:
    store.close()
    with pytest.raises(StoreError, match="not open"):
        store.ping()
    status, body = answer(store, "/ready")
    assert status == 503 and body["status"] == "unavailable"
    assert "not open" in body["reason"]
    assert answer(store, "/health") == (200, {"status": "ok"})


def test_an_embedded_store_whose_file_is_gone_is_not_ready(tmp_path: Path) -> None:
    store = fresh_store("embedded", tmp_path)
    store.setup()
    try:
        (tmp_path / "store" / "graph.sqlite3").rename(tmp_path / "moved.sqlite3")
        status, body = answer(store, "/ready")
        assert status == 503 and "file is gone" in body["reason"]
    finally:
        store.close()


def test_a_neo4j_store_at_a_closed_port_is_not_ready() -> None:
    store = Neo4jStore(f"bolt://127.0.0.1:{free_port()}", "neo4j", "password")
    with pytest.raises(StoreError):
        store.setup()  # `newsgraph serve` stops here: the app never starts
    status, body = answer(store, "/ready")
    assert status == 503 and body["status"] == "unavailable" and body["reason"]
    assert answer(store, "/health") == (200, {"status": "ok"})


class Forwarder:
    """A local port passing bytes to and from `target` (host, port) until `close()`: a Bolt
    server that goes away while the store is open."""

    def __init__(self, target: tuple[str, int]) -> None:
        self._target = target
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port: int = self._listener.getsockname()[1]
        self._open: list[socket.socket] = []
        self._threads = [threading.Thread(target=self._accept, daemon=True)]
        self._threads[0].start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:  # closed
                return
            upstream = socket.create_connection(self._target)
            self._open += [client, upstream]
            for source, sink in ((client, upstream), (upstream, client)):
                thread = threading.Thread(target=self._pipe, args=(source, sink), daemon=True)
                self._threads.append(thread)
                thread.start()

    @staticmethod
    def _pipe(source: socket.socket, sink: socket.socket) -> None:
        with contextlib.suppress(OSError):
            while data := source.recv(65536):
                sink.sendall(data)
        with contextlib.suppress(OSError):
            sink.shutdown(socket.SHUT_WR)

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self._listener.shutdown(socket.SHUT_RDWR)  # wakes the accepting thread
        self._listener.close()
        for sock in self._open:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()
        for thread in self._threads:
            thread.join()


def test_a_neo4j_store_whose_server_goes_away_is_not_ready(tmp_path: Path) -> None:
    fresh_store("neo4j", tmp_path)  # skips, or fails under CI, without a Bolt server
    server = BOLT.server(0)
    where = urlsplit(server.uri)
    forwarder = Forwarder((where.hostname or "127.0.0.1", where.port or 7687))
    store = Neo4jStore(
        f"bolt://127.0.0.1:{forwarder.port}", server.user, server.password, server.database
    )
    try:
        store.setup()
        assert answer(store, "/ready") == (200, {"status": "ready"})
        forwarder.close()
        status, body = answer(store, "/ready")
        assert status == 503 and body["status"] == "unavailable"
        assert body["reason"].startswith("cannot reach Neo4jStore('bolt://127.0.0.1:")
        assert answer(store, "/health") == (200, {"status": "ok"})
    finally:
        forwarder.close()
        store.close()
