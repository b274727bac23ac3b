"""WebSocket rules (issue 16), over real sockets served by uvicorn in the test's event loop: who
is on a socket (`connection_init` payload, else the upgrade's header), a context of its own for
each operation, caps on sockets per client and operations per socket, messages held to the
body limits, revocation that closes open sockets, and the tokens file's permissions."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from api.app import create_app
from api.config import AppConfig
from api.tokens import (
    AuthError,
    Role,
    TokenConfigError,
    TokenEntry,
    Tokens,
    token_hash,
    write_token_file,
)
from graph.embedded import EmbeddedStore
from graph.store import GraphStore
from newsgraph.cli import load_bundled_samples
from tests.support.graphql import bearer, serving
from tests.support.websocket import PROTOCOL, WAIT, Client
from tests.test_live import record

EDITOR_TOKEN = "ws-editor-token-0123456789abcdefghijkl"
LOADER_TOKEN = "ws-loader-token-0123456789abcdefghijkl"
PENDING = "{ pendingSubmissions(first: 1) { edges { node { id } } } }"
SOURCES = "query($id: ID!) { event(id: $id) { sources { name } } }"
INGEST = """mutation($records: [JSON!]!) {
  ingest(records: $records) { results { status eventId } }
}"""


def tokens() -> Tokens:
    return Tokens.configured(f"editor:alice:{EDITOR_TOKEN},loader:extractor:{LOADER_TOKEN}")


@pytest.fixture(scope="module")
def sample_store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GraphStore]:
    store = EmbeddedStore(tmp_path_factory.mktemp("ws") / "store")
    store.setup()
    try:
        load_bundled_samples(store)
        yield store
    finally:
        store.close()


@contextlib.asynccontextmanager
async def socket(
    url: str, init: dict[str, Any] | None = None, headers: dict[str, str] | None = None
) -> AsyncIterator[Client]:
    """A graphql-transport-ws connection, initialised with `init` as the payload."""
    async with connect(
        url, subprotocols=[PROTOCOL], additional_headers=headers, open_timeout=WAIT
    ) as raw:
        client = Client(raw)
        await client.send({"type": "connection_init", "payload": init or {}})
        assert await client.receive() == {"type": "connection_ack"}
        yield client


async def closed(client: Client) -> tuple[int | None, str | None]:
    """Wait for the server to close the socket; its code and reason."""
    with pytest.raises(ConnectionClosed):
        while True:
            await asyncio.wait_for(client.socket.recv(), WAIT)
    return client.socket.close_code, client.socket.close_reason


async def once(client: Client, query: str, variables: dict[str, Any] | None = None) -> Any:
    """A query sent over the socket: its whole `next` payload (data and errors)."""
    operation = uuid.uuid4().hex
    payload = {"query": query, "variables": variables or {}}
    await client.send({"id": operation, "type": "subscribe", "payload": payload})
    message = await client.receive()
    assert message["id"] == operation, message
    if message["type"] == "next":
        assert await client.receive() == {"id": operation, "type": "complete"}
    return message


def run(app: Starlette, scenario: Callable[[str], Awaitable[None]]) -> None:
    async def main() -> None:
        async with serving(app) as served:
            await scenario(served)

    asyncio.run(main())


# -- who is on the socket ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "init",
    [
        {"Authorization": f"Bearer {EDITOR_TOKEN}"},
        {"authorization": f"bearer {EDITOR_TOKEN}"},
        {"token": EDITOR_TOKEN},
    ],
    ids=["Authorization", "lower-case", "token"],
)
def test_connection_init_authenticates_the_socket(
    sample_store: GraphStore, init: dict[str, Any]
) -> None:
    app = create_app(sample_store, tokens())

    async def scenario(served: str) -> None:
        async with socket(f"ws://{served}/graphql") as anonymous:
            message = await once(anonymous, PENDING)
            assert message["type"] == "next"
            assert "needs the editor or admin role; you are anonymous" in str(message["payload"])
        async with socket(f"ws://{served}/graphql", init) as editor:
            message = await once(editor, PENDING)
            assert message["type"] == "next" and "errors" not in message["payload"], message

    run(app, scenario)


def test_without_a_token_in_connection_init_the_upgrade_header_counts(
    sample_store: GraphStore,
) -> None:
    app = create_app(sample_store, tokens())

    async def scenario(served: str) -> None:
        async with socket(f"ws://{served}/graphql", headers=bearer(EDITOR_TOKEN)) as editor:
            message = await once(editor, PENDING)
            assert "errors" not in message["payload"], message
        # connection_init's token wins over the header's
        async with socket(
            f"ws://{served}/graphql", {"token": LOADER_TOKEN}, headers=bearer(EDITOR_TOKEN)
        ) as loader:
            message = await once(loader, PENDING)
            assert "you are extractor (loader)" in str(message["payload"]), message

    run(app, scenario)


@pytest.mark.parametrize(
    ("init", "reason"),
    [
        ({"token": "not-a-token"}, "the bearer token is not valid"),
        ({"Authorization": "Basic abc"}, "Authorization header must be 'Bearer <token>'"),
        ({"token": 42}, "connection_init: token must be a string"),
    ],
)
def test_a_bad_token_in_connection_init_closes_the_socket(
    sample_store: GraphStore, init: dict[str, Any], reason: str
) -> None:
    app = create_app(sample_store, tokens())

    async def scenario(served: str) -> None:
        async with connect(f"ws://{served}/graphql", subprotocols=[PROTOCOL]) as raw:
            client = Client(raw)
            await client.send({"type": "connection_init", "payload": init})
            assert await closed(client) == (4401, reason)

    run(app, scenario)


# -- a context per operation -------------------------------------------------------------------


def test_each_operation_reads_afresh_on_a_long_lived_socket(store: GraphStore) -> None:
    """Two queries on one socket, a write between them: the second sees the write (one
    context for the socket's life would answer from the first query's memo)."""
    app = create_app(store, tokens())
    tag = uuid.uuid4().hex[:8]

    async def ingest(served: str, outlet: str) -> str:
        async with httpx.AsyncClient(timeout=WAIT) as http:
            response = await http.post(
                f"http://{served}/graphql",
                json={
                    "query": INGEST,
                    "variables": {"records": [record(f"fresh-{tag}", "cyber", outlet, "Hack.")]},
                },
                headers=bearer(LOADER_TOKEN),
            )
        (result,) = response.json()["data"]["ingest"]["results"]
        event_id: str = result["eventId"]
        return event_id

    async def scenario(served: str) -> None:
        event_id = await ingest(served, "Reuters")
        async with socket(f"ws://{served}/graphql") as client:
            first = await once(client, SOURCES, {"id": event_id})
            assert first["payload"]["data"]["event"]["sources"] == [{"name": "Reuters"}]
            await ingest(served, f"Gazette {tag}")
            second = await once(client, SOURCES, {"id": event_id})
            names = {s["name"] for s in second["payload"]["data"]["event"]["sources"]}
            assert names == {"Reuters", f"Gazette {tag}"}

    run(app, scenario)


# -- caps --------------------------------------------------------------------------------------


def test_operations_per_socket_are_capped(sample_store: GraphStore) -> None:
    app = create_app(sample_store, config=AppConfig(ws_max_operations=2))

    async def scenario(served: str) -> None:
        async with socket(f"ws://{served}/graphql") as client:
            query = "subscription { eventAdded { id } }"
            await client.subscribe(query)
            await client.subscribe(query)
            third = await client.subscribe(query)
            message = await client.receive()
            assert (message["type"], message["id"]) == ("error", third)
            assert message["payload"][0]["message"].startswith(
                "this WebSocket runs 2 operations already, the most one may run at once"
            )

    run(app, scenario)


def test_sockets_per_client_are_capped(sample_store: GraphStore) -> None:
    app = create_app(sample_store, config=AppConfig(ws_max_sockets_per_client=2))

    async def scenario(served: str) -> None:
        url = f"ws://{served}/graphql"
        async with socket(url), socket(url), connect(url, subprotocols=[PROTOCOL]) as raw:
            assert await closed(Client(raw)) == (
                4429,
                "too many WebSockets from this client (at most 2 at once)",
            )
        # once the others closed, the client may open one again
        async with socket(url) as again:
            assert (await once(again, "{ __typename }"))["type"] == "next"

    run(app, scenario)


def test_messages_are_held_to_the_body_limits(sample_store: GraphStore) -> None:
    config = AppConfig(max_body_bytes=1000, max_body_bytes_with_token=5000)
    app = create_app(sample_store, tokens(), config)
    padded = "{ __typename }" + " " * 2000  # 2 kB: over the anonymous limit, under the other

    async def scenario(served: str) -> None:
        url = f"ws://{served}/graphql"
        async with socket(url, {"token": EDITOR_TOKEN}) as editor:
            assert (await once(editor, padded))["type"] == "next"
        async with socket(url) as anonymous:
            await anonymous.send({"id": "1", "type": "subscribe", "payload": {"query": padded}})
            assert await closed(anonymous) == (
                1009,
                "message over 1,000 bytes, the limit without a token",
            )

    run(app, scenario)


# -- revocation --------------------------------------------------------------------------------


def write_tokens(path: Path, *entries: tuple[str, Role, str]) -> None:
    write_token_file(
        path, [TokenEntry(name=n, role=r, sha256=token_hash(t)) for n, r, t in entries]
    )


def test_a_revoked_token_closes_its_sockets_and_is_refused_without_restart(
    sample_store: GraphStore, tmp_path: Path
) -> None:
    path = tmp_path / "tokens.json"
    write_tokens(path, ("alice", Role.EDITOR, EDITOR_TOKEN), ("bob", Role.EDITOR, LOADER_TOKEN))
    app = create_app(sample_store, Tokens.configured(tokens_file=path))

    async def scenario(served: str) -> None:
        url = f"ws://{served}/graphql"
        async with (
            socket(url, {"token": EDITOR_TOKEN}) as alice,
            socket(url, {"token": LOADER_TOKEN}) as bob,
        ):
            assert "errors" not in (await once(alice, PENDING))["payload"]
            write_tokens(path, ("bob", Role.EDITOR, LOADER_TOKEN))  # alice's is revoked
            assert await closed(alice) == (4401, "the token was revoked")
            assert "errors" not in (await once(bob, PENDING))["payload"]  # bob's stays
        async with httpx.AsyncClient(timeout=WAIT) as http:
            response = await http.post(
                f"http://{served}/graphql", json={"query": PENDING}, headers=bearer(EDITOR_TOKEN)
            )
        assert response.status_code == 401
        assert response.json()["errors"][0]["message"] == "the bearer token is not valid"

    run(app, scenario)


def test_a_token_added_to_the_file_works_without_restart(tmp_path: Path) -> None:
    path = tmp_path / "tokens.json"
    write_tokens(path)
    tokens = Tokens.configured(tokens_file=path)
    tokens.CHECK_EVERY = 0.0
    write_tokens(path, ("alice", Role.EDITOR, EDITOR_TOKEN))
    assert tokens.authenticate(f"Bearer {EDITOR_TOKEN}").name == "alice"


def test_a_tokens_file_broken_under_a_running_server_accepts_none_of_its_tokens(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "tokens.json"
    write_tokens(path, ("alice", Role.EDITOR, EDITOR_TOKEN))
    tokens = Tokens.configured(tokens_file=path)
    tokens.CHECK_EVERY = 0.0
    path.write_text("{", encoding="utf-8")
    with caplog.at_level(logging.ERROR):
        assert tokens.valid(tokens.authenticate(None))  # the anonymous reader stays
        with pytest.raises(AuthError, match="the bearer token is not valid"):
            tokens.authenticate(f"Bearer {EDITOR_TOKEN}")
    assert "not JSON" in caplog.text and EDITOR_TOKEN not in caplog.text


def test_a_tokens_file_others_may_write_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "tokens.json"
    write_tokens(path, ("alice", Role.EDITOR, EDITOR_TOKEN))
    path.chmod(0o620)
    with pytest.raises(TokenConfigError, match=r"others may write it \(mode 0620\); run chmod 600"):
        Tokens.configured(tokens_file=path)


def test_a_tokens_file_others_may_read_is_warned_about(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "tokens.json"
    write_tokens(path, ("alice", Role.EDITOR, EDITOR_TOKEN))
    path.chmod(0o644)
    with caplog.at_level(logging.WARNING):
        tokens = Tokens.configured(tokens_file=path)
    assert len(tokens) == 1
    assert "others may read it (mode 0644)" in caplog.text


def test_the_revoke_command_says_when_it_takes_effect(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from newsgraph.cli import main

    path = tmp_path / "tokens.json"
    write_tokens(path, ("alice", Role.EDITOR, EDITOR_TOKEN))
    result = CliRunner().invoke(main, ["token", "revoke", "--name", "alice", "--file", str(path)])
    assert result.exit_code == 0, result.output
    assert "refuses it within a second" in result.output
    assert json.loads(path.read_text("utf-8")) == {"tokens": []}
