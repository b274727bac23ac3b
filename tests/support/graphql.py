"""Calling the GraphQL app from tests: in process through httpx's ASGI transport (no server, no
port), or, for WebSocket subscriptions, served by uvicorn in the test's own event loop.

Neither runs the app's lifespan: the test opens and closes the store itself.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import uvicorn
from starlette.types import ASGIApp

ROOT = Path(__file__).resolve().parents[2]

# The seed page's query, as the site sends it (and bench/common.py too).
PAGE_QUERY = (ROOT / "api" / "event_page.graphql").read_text("utf-8")


def bearer(token: str | None) -> dict[str, str]:
    """The Authorization header of `token`; none for an anonymous caller."""
    return {"Authorization": f"Bearer {token}"} if token else {}


def asgi_client(app: ASGIApp) -> httpx.AsyncClient:
    """An HTTP client calling `app` in this process; requests come from 127.0.0.1."""
    return httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://testserver", timeout=30
    )


def payload(response: httpx.Response) -> dict[str, Any]:
    """The GraphQL answer's data, after checking it is a 200 without errors."""
    assert response.status_code == 200, response.text
    answer = response.json()
    assert "errors" not in answer, answer
    data: dict[str, Any] = answer["data"]
    return data


class GraphQLClient:
    """The app in process, for synchronous tests: each call runs on this client's own event
    loop (the Neo4j store's DataLoaders need one)."""

    def __init__(self, app: ASGIApp) -> None:
        self._runner = asyncio.Runner()
        self._http = asgi_client(app)

    def query(
        self, query: str, variables: dict[str, Any] | None = None, token: str | None = None
    ) -> httpx.Response:
        body: dict[str, Any] = {"query": query}
        if variables is not None:
            body["variables"] = variables
        request = self._http.post("/graphql", json=body, headers=bearer(token))
        return self._runner.run(request)

    def data(self, query: str, variables: dict[str, Any] | None = None) -> dict[str, Any]:
        return payload(self.query(query, variables))

    def close(self) -> None:
        self._runner.run(self._http.aclose())
        self._runner.close()


@contextlib.asynccontextmanager
async def serving(app: ASGIApp) -> AsyncIterator[str]:
    """`app` served by uvicorn in this event loop on a port the system picks; yields
    "127.0.0.1:PORT". For what needs a real socket: WebSocket subscriptions."""
    config = uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning", lifespan="off")
    server = uvicorn.Server(config)
    config.load()
    server.lifespan = config.lifespan_class(config)
    await server.startup()
    try:
        port: int = server.servers[0].sockets[0].getsockname()[1]
        yield f"127.0.0.1:{port}"
    finally:
        await server.shutdown()
