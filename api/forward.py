"""Mutations sent by a reader worker to the writer process (`newsgraph serve --workers N`).

A worker reads from its own memory and never writes: a request whose operation is a mutation
is sent whole, with its headers, to the writer process over a Unix socket; the writer's
answer comes back as it is, once this worker's memory shows the write (read your writes: the
writer says which change log entry its answer includes, `CHANGE_HEADER`). A worker keeps at
most `queue` mutations waiting on the writer; past that it refuses at once with 429 and
`Retry-After`, so a burst of writes never turns into an unbounded wait. docs/changes.md.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache

import httpx
from graphql import GraphQLError, OperationDefinitionNode, OperationType, parse

# Every GraphQL answer over HTTP names the latest change log entry it includes.
CHANGE_HEADER = "x-newsgraph-change"
# The writer trusts the client key a worker sends (it listens only on a private socket).
CLIENT_HEADER = "x-newsgraph-client"
# How long a worker waits for the writer's answer, and then for its own memory to show it.
WRITER_TIMEOUT = 300.0
CATCH_UP_TIMEOUT = 10.0
# Seconds a refused client is told to wait.
RETRY_AFTER = 1


class WriterBusy(Exception):
    """The queue of mutations waiting on the writer is full."""


class WriterUnavailable(Exception):
    """The writer process does not answer (restarting, or gone)."""


@dataclass(frozen=True, slots=True)
class Answer:
    status: int
    headers: list[tuple[str, str]]
    body: bytes
    seq: int  # the change log entry the answer includes (0: unknown)


@lru_cache(maxsize=256)
def _kinds(query: str) -> dict[str | None, OperationType]:
    """Each operation of a document by name (None: the one anonymous operation)."""
    document = parse(query, max_tokens=20_000)
    return {
        (op.name.value if op.name is not None else None): op.operation
        for op in document.definitions
        if isinstance(op, OperationDefinitionNode)
    }


def is_mutation(body: bytes) -> bool:
    """Whether a POST body asks for a mutation. A body that is not a GraphQL request is not:
    it is answered (and refused) where it is, with the usual errors."""
    try:
        request = json.loads(body)
    except ValueError:
        return False
    if not isinstance(request, dict):
        return False
    return asks_mutation(request.get("query"), request.get("operationName"))


def asks_mutation(query: object, name: object) -> bool:
    """Whether the operation `name` (or the one operation) of the document `query` is a
    mutation; False for anything that is not a GraphQL document."""
    if not isinstance(query, str) or (name is not None and not isinstance(name, str)):
        return False
    try:
        kinds = _kinds(query) if len(query) <= 100_000 else {}
    except GraphQLError:
        return False
    if name is None:
        return len(kinds) == 1 and next(iter(kinds.values())) is OperationType.MUTATION
    return kinds.get(name) is OperationType.MUTATION


class Writer:
    """The writer process, as a worker reaches it."""

    def __init__(self, socket: str, queue: int) -> None:
        self.socket = socket
        self.queue = queue
        self.waiting = 0
        self._client: httpx.AsyncClient | None = None

    def client(self) -> httpx.AsyncClient:
        if self._client is None:
            self._client = httpx.AsyncClient(
                transport=httpx.AsyncHTTPTransport(uds=self.socket),
                base_url="http://writer",
                timeout=WRITER_TIMEOUT,
            )
        return self._client

    async def close(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    async def ready(self) -> int | None:
        """The writer's latest commit when it is ready, else None."""
        try:
            response = await self.client().get("/ready", timeout=5.0)
        except httpx.TransportError:
            return None
        if response.status_code != 200:
            return None
        change = response.json().get("change")
        return change if isinstance(change, int) else None

    async def send(self, body: bytes, headers: list[tuple[str, str]], client: str) -> Answer:
        """The writer's answer to the mutation in `body`; `WriterBusy` when `queue`
        mutations of this worker are waiting already, `WriterUnavailable` when the writer
        cannot be reached."""
        if self.waiting >= self.queue:
            raise WriterBusy
        self.waiting += 1
        try:
            sent = [(k, v) for k, v in headers if k.lower() in _PASSED]
            sent.append((CLIENT_HEADER, client))
            response = await self.client().post("/graphql", content=body, headers=sent)
        except httpx.TransportError as exc:
            raise WriterUnavailable(str(exc) or type(exc).__name__) from exc
        finally:
            self.waiting -= 1
        kept = [(k, v) for k, v in response.headers.items() if k.lower() in _RETURNED]
        seq = response.headers.get(CHANGE_HEADER, "0")
        return Answer(
            response.status_code, kept, response.content, int(seq) if seq.isdigit() else 0
        )


# What a worker passes on to the writer, and back.
_PASSED = {"authorization", "content-type", "accept"}
_RETURNED = {"content-type", "www-authenticate", "retry-after", CHANGE_HEADER}
