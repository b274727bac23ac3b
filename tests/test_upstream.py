"""How a worker reaches the writer and the analyst (`api.forward.Upstream`): HTTP/1.1 over a
Unix socket, against a real uvicorn server, as `serve --workers` runs them: the answer comes
back whole, connections are used again, a restarted or gone process is told apart from a
busy one, and a slow one times out."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import uvicorn

from api import forward
from api.forward import (
    CHANGE_HEADER,
    CLIENT_HEADER,
    Upstream,
    UpstreamBusy,
    UpstreamUnavailable,
)

Scope = dict[str, Any]


class Recorder:
    """An ASGI app standing for the writer: echoes what it got, once `release` is set."""

    def __init__(self) -> None:
        self.release = asyncio.Event()
        self.release.set()

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            while (await receive())["type"] != "lifespan.shutdown":
                pass
            return
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        await self.release.wait()
        headers = {k.decode(): v.decode() for k, v in scope["headers"]}
        if scope["path"] == "/ready":
            answer = json.dumps({"change": 7}).encode()
        else:
            got = {"path": scope["path"], "query": scope["query_string"].decode()}
            answer = json.dumps({**got, "body": body.decode(), "headers": headers}).encode()
        await send(
            {
                "type": "http.response.start",
                "status": 200 if scope["path"] != "/fail" else 500,
                "headers": [
                    (b"content-type", b"application/json"),
                    (CHANGE_HEADER.encode(), b"41"),
                    (b"x-not-passed-on", b"1"),
                ],
            }
        )
        # sent in two parts, as a streamed answer would be
        await send({"type": "http.response.body", "body": answer[:5], "more_body": True})
        await send({"type": "http.response.body", "body": answer[5:]})


@contextlib.asynccontextmanager
async def serving(app: Recorder, socket: Path) -> AsyncIterator[uvicorn.Server]:
    config = uvicorn.Config(app, uds=str(socket), log_level="warning", lifespan="off")
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    while not server.started:
        await asyncio.sleep(0.01)
    try:
        yield server
    finally:
        server.should_exit = True
        await task


def run(coroutine: Any) -> Any:
    return asyncio.run(coroutine)


def test_an_answer_comes_back_whole_with_the_headers_passed_on(tmp_path: Path) -> None:
    async def main() -> None:
        app, socket = Recorder(), tmp_path / "w.sock"
        async with serving(app, socket):
            upstream = Upstream(str(socket), queue=4)
            body = json.dumps({"query": "mutation { x }"}).encode()
            headers = [("Authorization", "Bearer t"), ("Cookie", "c=1"), ("accept", "a/b")]
            answer = await upstream.send(body, headers, "client-1")
            assert answer.status == 200
            assert answer.seq == 41
            got = json.loads(answer.body)
            assert got["path"] == "/graphql"
            assert got["body"] == body.decode()
            # what a worker passes on, and only that: its client's key added
            assert got["headers"]["authorization"] == "Bearer t"
            assert got["headers"]["accept"] == "a/b"
            assert got["headers"][CLIENT_HEADER] == "client-1"
            assert "cookie" not in got["headers"]
            # and what comes back to the client
            assert ("content-type", "application/json") in answer.headers
            assert all(k != "x-not-passed-on" for k, _ in answer.headers)
            # a GET carries its query string
            answer = await upstream.send(None, [], "client-1", query_string=b"query=%7Bx%7D")
            assert json.loads(answer.body)["query"] == "query=%7Bx%7D"
            assert await upstream.ready() == 7
            await upstream.close()

    run(main())


def test_a_connection_is_used_again(tmp_path: Path) -> None:
    async def main() -> None:
        app, socket = Recorder(), tmp_path / "w.sock"
        async with serving(app, socket) as server:
            upstream = Upstream(str(socket), queue=4)
            for _ in range(5):
                await upstream.send(b"{}", [], "c")
            assert len(server.server_state.connections) == 1
            await upstream.close()

    run(main())


def test_a_restarted_process_is_reached_again(tmp_path: Path) -> None:
    async def main() -> None:
        app, socket = Recorder(), tmp_path / "w.sock"
        upstream = Upstream(str(socket), queue=4)
        async with serving(app, socket):
            assert (await upstream.send(b"{}", [], "c")).status == 200
        # gone: told apart from busy
        with pytest.raises(UpstreamUnavailable):
            await upstream.send(b"{}", [], "c")
        assert await upstream.ready() is None
        # back: the connection the old process closed is not used
        async with serving(app, socket):
            assert (await upstream.send(b"{}", [], "c")).status == 200
        await upstream.close()

    run(main())


def test_an_idle_connection_is_not_kept_past_its_time(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def main() -> None:
        app, socket = Recorder(), tmp_path / "w.sock"
        async with serving(app, socket) as server:
            upstream = Upstream(str(socket), queue=4)
            await upstream.send(b"{}", [], "c")
            monkeypatch.setattr(forward, "IDLE_SECONDS", 0.0)
            await upstream.send(b"{}", [], "c")
            await asyncio.sleep(0.1)  # the server sees the old one closed
            assert len(server.server_state.connections) == 1
            await upstream.close()

    run(main())


def test_a_full_queue_is_refused_at_once_and_a_slow_answer_times_out(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def main() -> None:
        app, socket = Recorder(), tmp_path / "w.sock"
        async with serving(app, socket):
            upstream = Upstream(str(socket), queue=2)
            app.release.clear()
            waiting = [asyncio.create_task(upstream.send(b"{}", [], "c")) for _ in range(2)]
            await asyncio.sleep(0.1)
            with pytest.raises(UpstreamBusy):
                await upstream.send(b"{}", [], "c")
            app.release.set()
            assert [(await w).status for w in waiting] == [200, 200]
            # both connections kept for the next requests
            assert len(upstream._idle) == 2
            # an answer that does not come in time: unavailable, its connection dropped
            monkeypatch.setattr(upstream, "timeout", 0.2)
            app.release.clear()
            with pytest.raises(UpstreamUnavailable):
                await upstream.send(b"{}", [], "c")
            assert upstream.waiting == 0
            app.release.set()
            assert (await upstream.send(b"{}", [], "c")).status == 200
            await upstream.close()

    run(main())
