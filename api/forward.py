"""Requests a reader worker sends to another process of `newsgraph serve --workers N`.

- **Mutations go to the writer process.** A worker reads from its own memory and never writes:
  a request whose operation is a mutation is sent whole, with its headers, to the writer
  process over a Unix socket; the writer's answer comes back as it is, once this worker's
  memory shows the write (read your writes: the writer says which change log entry its answer
  includes, `CHANGE_HEADER`). docs/changes.md.
- **Heavy reads go to the analyst process.** An operation that selects a field whose resolver
  scans the graph or runs a graph algorithm (`HEAVY_FIELDS`, `api.heavy`) is sent whole to the
  analyst: a reader of its own, at a lower CPU priority, so that no scan shares a worker's
  GIL with the pages it serves. docs/security.md.

A worker keeps at most `queue` requests waiting on each; past that it refuses at once with 429
and `Retry-After`, so a burst never turns into an unbounded wait.

The hop is HTTP/1.1 spoken by h11 over asyncio's Unix streams, on connections kept open between
requests (`Upstream`). It was httpx: its client (URL model, auth, redirects, cookies, anyio
streams) cost a worker about 2 ms of CPU a forwarded write, half of all the worker spent on it
(1.3 ms less with h11; httpcore alone saved 0.35 ms). docs/benchmarks.md, issue 17.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache

import h11
from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    InlineFragmentNode,
    OperationDefinitionNode,
    OperationType,
    SelectionSetNode,
    parse,
)

# Every GraphQL answer over HTTP names the latest change log entry it includes.
CHANGE_HEADER = "x-newsgraph-change"
# Every GraphQL answer over HTTP names the process that answered it: "writer", "analyst" or
# "reader" (a worker, or a server of one process).
PROCESS_HEADER = "x-newsgraph-process"
# The analyst's answer says the CPU seconds its heavy reads took (`api.heavy`), which the worker
# charges to its client's analytics time (`api.slowdown`); not passed on to the client.
READ_SECONDS_HEADER = "x-newsgraph-read-seconds"
# The writer trusts the client key a worker sends (it listens only on a private socket).
CLIENT_HEADER = "x-newsgraph-client"
# How long a worker waits for the writer's answer, and then for its own memory to show it.
WRITER_TIMEOUT = 300.0
CATCH_UP_TIMEOUT = 10.0
# How long a worker waits for the analyst's answer (its fields keep to their own time budget).
ANALYST_TIMEOUT = 120.0
# Seconds a refused client is told to wait.
RETRY_AFTER = 1
# A connection to another process unused this long is closed rather than used again; the other
# process keeps an idle connection open longer (`KEEP_ALIVE`), so a request is never sent on a
# connection the other end is closing.
IDLE_SECONDS = 30.0
KEEP_ALIVE = 120


# The fields whose resolvers scan the graph or run a graph algorithm (each reads through
# `api.heavy`): an operation selecting one of them, at any depth, goes to the analyst process.
# `search` and `find` read a bounded part of the search index (docs/search.md): they stay.
HEAVY_FIELDS = frozenset(
    {"rankings", "paths", "neighbourhood", "neighbours", "coOccurring", "timelineBuckets"}
)
# The fields whose operations an anonymous client's analytics time pays for (`api.slowdown`):
# the heavy fields, and those that search the index or count events (`api.cost.SCAN_COST`
# but the event lists, which pages use).
ANALYTICS_FIELDS = HEAVY_FIELDS | {"search", "find", "eventCounts"}
# The longest document looked at (a longer one is refused by the app's limits anyway).
MAX_DOCUMENT = 100_000


class UpstreamBusy(Exception):
    """The queue of requests waiting on the other process is full."""


class UpstreamUnavailable(Exception):
    """The other process does not answer (restarting, or gone)."""


@dataclass(frozen=True, slots=True)
class Answer:
    status: int
    headers: list[tuple[str, str]]
    body: bytes
    seq: int  # the change log entry the answer includes (0: unknown)


@dataclass(frozen=True, slots=True)
class _Operation:
    kind: OperationType
    heavy: bool  # selects a field of HEAVY_FIELDS, at any depth, fragments included
    analytics: bool  # selects a field of ANALYTICS_FIELDS, the same way


@lru_cache(maxsize=256)
def _operations(query: str) -> dict[str | None, _Operation]:
    """Each operation of a document by name (None: the one anonymous operation)."""
    document = parse(query, max_tokens=20_000)
    fragments = _fragments(document)
    return {
        (op.name.value if op.name is not None else None): _Operation(
            op.operation,
            _selects(op.selection_set, fragments, set(), HEAVY_FIELDS),
            _selects(op.selection_set, fragments, set(), ANALYTICS_FIELDS),
        )
        for op in document.definitions
        if isinstance(op, OperationDefinitionNode)
    }


def _fragments(document: DocumentNode) -> dict[str, FragmentDefinitionNode]:
    return {d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)}


def _selects(
    selections: SelectionSetNode | None,
    fragments: dict[str, FragmentDefinitionNode],
    seen: set[str],
    fields: frozenset[str],
) -> bool:
    """Whether `selections` select a field named in `fields`, at any depth."""
    if selections is None:
        return False
    for node in selections.selections:
        if isinstance(node, FieldNode):
            if node.name.value in fields:
                return True
            if _selects(node.selection_set, fragments, seen, fields):
                return True
        elif isinstance(node, InlineFragmentNode):
            if _selects(node.selection_set, fragments, seen, fields):
                return True
        elif isinstance(node, FragmentSpreadNode):
            name = node.name.value
            if name not in seen and name in fragments:
                seen.add(name)  # a fragment spread in a cycle is refused by validation later
                if _selects(fragments[name].selection_set, fragments, seen, fields):
                    return True
    return False


def _operation(query: object, name: object) -> _Operation | None:
    """The operation `name` (or the one operation) of the document `query`; None for anything
    that is not a GraphQL document naming one operation (answered, and refused, where it is)."""
    if not isinstance(query, str) or (name is not None and not isinstance(name, str)):
        return None
    try:
        operations = _operations(query) if len(query) <= MAX_DOCUMENT else {}
    except GraphQLError:
        return None
    if name is None:
        return next(iter(operations.values())) if len(operations) == 1 else None
    return operations.get(name)


def _posted(body: bytes) -> tuple[object, object]:
    """The document and operation name of a POST body (None, None when it is not JSON)."""
    try:
        request = json.loads(body)
    except ValueError:
        return None, None
    if not isinstance(request, dict):
        return None, None
    return request.get("query"), request.get("operationName")


def is_mutation(body: bytes) -> bool:
    """Whether a POST body asks for a mutation. A body that is not a GraphQL request is not:
    it is answered (and refused) where it is, with the usual errors."""
    return asks_mutation(*_posted(body))


def asks_mutation(query: object, name: object) -> bool:
    """Whether the operation `name` (or the one operation) of the document `query` is a
    mutation; False for anything that is not a GraphQL document."""
    operation = _operation(query, name)
    return operation is not None and operation.kind is OperationType.MUTATION


def is_heavy(body: bytes) -> bool:
    """Whether a POST body asks for a query that selects a heavy field (`HEAVY_FIELDS`)."""
    return asks_heavy(*_posted(body))


def asks_heavy(query: object, name: object) -> bool:
    """Whether the operation `name` (or the one operation) of `query` is a query or a
    subscription selecting a field of `HEAVY_FIELDS`, at any depth."""
    operation = _operation(query, name)
    return (
        operation is not None and operation.heavy and operation.kind is not OperationType.MUTATION
    )


def asks_analytics(query: object, name: object) -> bool:
    """Whether the operation `name` (or the one operation) of `query` is a query selecting a
    field of `ANALYTICS_FIELDS`, at any depth."""
    operation = _operation(query, name)
    return operation is not None and operation.analytics and operation.kind is OperationType.QUERY


class Upstream:
    """Another process of the server, as a worker reaches it over its Unix socket: HTTP/1.1
    spoken by h11 over asyncio's streams, on connections kept open between requests."""

    name = "upstream"
    timeout = WRITER_TIMEOUT

    def __init__(self, socket: str, queue: int) -> None:
        self.socket = socket
        self.queue = queue
        self.waiting = 0
        # told each time `waiting` changes (the write queue's gauge, api.metrics)
        self.watchers: list[Callable[[int], None]] = []
        self._idle: list[_Connection] = []  # connections between requests, the latest last

    async def close(self) -> None:
        while self._idle:
            self._idle.pop().close()

    async def ready(self) -> int | None:
        """The process's latest commit when it is ready, else None."""
        try:
            status, _, content = await self._exchange("GET", "/ready", [], None, 5.0)
        except UpstreamUnavailable:
            return None
        if status != 200:
            return None
        change = json.loads(content).get("change")
        return change if isinstance(change, int) else None

    async def send(
        self,
        body: bytes | None,
        headers: list[tuple[str, str]],
        client: str,
        query_string: bytes = b"",
    ) -> Answer:
        """The other process's answer to the request: a POST of `body`, or with None a GET
        of `query_string`; `UpstreamBusy` when `queue` requests of this worker are waiting
        already, `UpstreamUnavailable` when the process cannot be reached."""
        if self.waiting >= self.queue:
            raise UpstreamBusy
        self._wait(1)
        try:
            sent = [(k, v) for k, v in headers if k.lower() in _PASSED]
            sent.append((CLIENT_HEADER, client))
            if body is None:
                target = "/graphql?" + query_string.decode("latin-1")
                status, got, content = await self._exchange("GET", target, sent, None, self.timeout)
            else:
                status, got, content = await self._exchange(
                    "POST", "/graphql", sent, body, self.timeout
                )
        finally:
            self._wait(-1)
        kept = []
        seq = "0"
        for k, v in got:
            key = k.decode("latin-1")
            if key in _RETURNED:
                kept.append((key, v.decode("latin-1")))
                if key == CHANGE_HEADER:
                    seq = v.decode("latin-1")
        return Answer(status, kept, content, int(seq) if seq.isdigit() else 0)

    def _wait(self, change: int) -> None:
        self.waiting += change
        for watcher in self.watchers:
            watcher(self.waiting)

    async def _exchange(
        self,
        method: str,
        target: str,
        headers: list[tuple[str, str]],
        body: bytes | None,
        timeout: float,
    ) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
        """(status, headers, body) of one request, on an idle connection or a new one; a
        connection is used again only once its exchange ended cleanly."""
        connection = None
        try:
            async with asyncio.timeout(timeout):
                connection = await self._connection()
                status, got, content = await connection.exchange(method, target, headers, body)
        except BaseException as exc:  # the connection is in an unknown state: not used again
            if connection is not None:
                connection.close()
            if isinstance(exc, (OSError, h11.ProtocolError, TimeoutError, _Closed)):
                raise UpstreamUnavailable(str(exc) or type(exc).__name__) from exc
            raise
        if connection.ready_for_next():
            self._idle.append(connection)
        else:
            connection.close()
        return status, got, content

    async def _connection(self) -> _Connection:
        now = time.monotonic()
        while self._idle:
            connection = self._idle.pop()
            if connection.open() and now - connection.since < IDLE_SECONDS:
                return connection
            connection.close()
        reader, writer = await asyncio.open_unix_connection(self.socket)
        return _Connection(reader, writer, self.name)


class _Closed(Exception):
    """The other process closed the connection before it answered."""


class _Connection:
    """One HTTP/1.1 connection to another process."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, host: str):
        self.reader = reader
        self.writer = writer
        self.host = host
        self.http = h11.Connection(h11.CLIENT)
        self.since = time.monotonic()  # when its last exchange ended

    async def exchange(
        self, method: str, target: str, headers: list[tuple[str, str]], body: bytes | None
    ) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
        http = self.http
        sent = [("host", self.host), *headers]
        if body is not None:
            sent.append(("content-length", str(len(body))))
        data = http.send(h11.Request(method=method, target=target, headers=sent))
        if body:
            data += http.send(h11.Data(data=body))
        data += http.send(h11.EndOfMessage())
        self.writer.write(data)
        status = 0
        got: list[tuple[bytes, bytes]] = []
        chunks: list[bytes] = []
        while True:
            event = http.next_event()
            if event is h11.NEED_DATA:
                data = await self.reader.read(65536)
                http.receive_data(data)
                continue
            if isinstance(event, h11.Response):
                status, got = event.status_code, list(event.headers)
            elif isinstance(event, h11.Data):
                chunks.append(bytes(event.data))
            elif isinstance(event, h11.EndOfMessage):
                return status, got, b"".join(chunks)
            elif isinstance(event, h11.ConnectionClosed):
                raise _Closed("the connection was closed before the answer ended")

    def ready_for_next(self) -> bool:
        """Whether the exchange ended cleanly; if so the connection is made ready for the next
        (h11's next cycle, its idle time counted from now)."""
        if self.http.our_state is h11.DONE and self.http.their_state is h11.DONE:
            self.http.start_next_cycle()
            self.since = time.monotonic()
            return True
        return False

    def open(self) -> bool:
        """Whether the other end has not closed it (a process restarted meanwhile)."""
        return not self.reader.at_eof() and not self.writer.is_closing()

    def close(self) -> None:
        self.writer.close()


class Writer(Upstream):
    """The writer process, which takes every mutation."""

    name = "writer"


class Analyst(Upstream):
    """The analyst process, which takes every query selecting a heavy field."""

    name = "analyst"
    timeout = ANALYST_TIMEOUT


# What a worker passes on to the other processes, and back.
_PASSED = {"authorization", "content-type", "accept"}
_RETURNED = {
    "content-type",
    "www-authenticate",
    "retry-after",
    CHANGE_HEADER,
    PROCESS_HEADER,
    READ_SECONDS_HEADER,
}
