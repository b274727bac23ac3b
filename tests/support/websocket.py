"""A graphql-transport-ws client over a real WebSocket, for subscription tests."""

from __future__ import annotations

import asyncio
import contextlib
import json
import uuid
from collections.abc import AsyncIterator
from typing import Any

from websockets.asyncio.client import ClientConnection, connect
from websockets.typing import Subprotocol

PROTOCOL = Subprotocol("graphql-transport-ws")
# How long to wait for a message that should come before failing (a guard against a hang, not a
# measurement: no test waits for this long when it passes).
WAIT = 10.0

EVENT_ADDED = """subscription($filter: EventFilterInput) {
  eventAdded(filter: $filter) { id category summary occurredOn confidence { level } }
}"""
CONFIDENCE_CHANGED = """subscription($eventId: ID) {
  confidenceChanged(eventId: $eventId) { eventId at previous level cause detail by }
}"""


class Client:
    """A graphql-transport-ws client over one WebSocket connection."""

    def __init__(self, socket: ClientConnection) -> None:
        self.socket = socket
        self.early: list[dict[str, Any]] = []  # what came before the pong `subscribe` awaited

    async def send(self, message: dict[str, Any]) -> None:
        await self.socket.send(json.dumps(message))

    async def receive(self) -> dict[str, Any]:
        if self.early:
            return self.early.pop(0)
        message: dict[str, Any] = json.loads(await asyncio.wait_for(self.socket.recv(), WAIT))
        return message

    async def subscribe(self, query: str, variables: dict[str, Any] | None = None) -> str:
        """Subscribe; a ping answered shows the server has read the subscribe message."""
        operation = uuid.uuid4().hex
        payload = {"query": query, "variables": variables or {}}
        await self.send({"id": operation, "type": "subscribe", "payload": payload})
        await self.send({"type": "ping"})
        while (message := json.loads(await asyncio.wait_for(self.socket.recv(), WAIT))) != {
            "type": "pong"
        }:
            self.early.append(message)
        return operation

    async def next(self, operation: str) -> dict[str, Any]:
        """The data of the operation's next result."""
        message = await self.receive()
        assert message["type"] == "next" and message["id"] == operation, message
        assert "errors" not in message["payload"], message
        data: dict[str, Any] = message["payload"]["data"]
        return data


@contextlib.asynccontextmanager
async def websocket(url: str) -> AsyncIterator[Client]:
    """A connection that has been acknowledged (connection_init / connection_ack)."""
    async with connect(url, subprotocols=[PROTOCOL], open_timeout=WAIT) as socket:
        assert socket.subprotocol == PROTOCOL
        client = Client(socket)
        await client.send({"type": "connection_init", "payload": {}})
        assert await client.receive() == {"type": "connection_ack"}
        yield client
