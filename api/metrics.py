"""Prometheus metrics of the app, served at /metrics (docs/operations.md).

- `newsgraph_requests_total{route, operation, status}` and
  `newsgraph_request_duration_seconds{route, operation}`: every HTTP request a client made,
  by route (/graphql, /health, /ready, /metrics, other), GraphQL operation type (query,
  mutation, subscription; `unknown` when the document does not parse; `none` when GraphQL did
  not run) and status;
- `newsgraph_graphql_errors_total{kind}`: GraphQL answers with errors, once for each kind
  they carry: `request` (the operation
  never ran: parse, validation, variables, limits), `field` (a resolver's refusal: a bad id, a
  page size), `internal` (masked as "Unexpected error." and logged);
- `newsgraph_refusals_total{reason}`: requests refused by a limit: `token` (401), `body_size`
  (413), `too_many` (429: the writer's queue, a client's budget), `unavailable` (503),
  `malformed` (a 4xx before GraphQL: not JSON, no query, a mutation over GET), and the query
  limits by name (`depth`, `aliases`, `tokens`, `string_length`, `variables`,
  `introspection`, `dates`, `cost`);
- `newsgraph_response_cache_total{outcome}`: anonymous queries answered from the response cache
  (`hit`) or made (`miss`), of those made the ones asked for the first time and so not kept
  (`first`), answers `stored`, dropped for room (`eviction`) and dropped by a write that
  changed what they read (`invalidation`) (api.response_cache);
- `newsgraph_write_queue`: mutations a reader worker has waiting on the writer process
  (`api.forward.Writer.waiting`), summed over the live workers.

Under `newsgraph serve` every process writes its metrics to the directory in
`PROMETHEUS_MULTIPROC_DIR` (prometheus-client's multiprocess mode) and /metrics, answered by
whichever worker the connection reaches, adds them all up. prometheus-client is imported when
an app is made, not with this module: the variable must be set before its import.
"""

from __future__ import annotations

import json
import os
import re
import time
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from graphql import GraphQLError, OperationDefinitionNode, parse
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from strawberry.types import ExecutionResult

from api.config import MAX_JSON_DEPTH
from api.forward import Writer, is_mutation
from loaders.records import nested_deeper_than

if TYPE_CHECKING:
    from prometheus_client import CollectorRegistry

MULTIPROCESS_DIR = "PROMETHEUS_MULTIPROC_DIR"
ROUTES = frozenset({"/graphql", "/health", "/ready", "/metrics"})
# The scope's state key under which the GraphQL app notes the operation it answered.
OUTCOME = "newsgraph.metrics_outcome"
# strawberry's MaskErrors message for an internal failure (api.schema).
INTERNAL = "Unexpected error."
# Query texts longer than this are parsed again rather than kept (as api.limits' caches).
_CACHED_QUERY_LENGTH = 10_000

# Request errors that are a limit's refusal, by the limit's own message.
_LIMITS = [
    ("depth", re.compile(r"exceeds maximum operation depth")),
    ("aliases", re.compile(r"aliases found\. Allowed")),
    ("tokens", re.compile(r"contains more than \d+ tokens")),
    ("string_length", re.compile(r"is longer than [\d,]+ characters")),
    ("variables", re.compile(r"variables: at most")),
    ("introspection", re.compile(r"introspection has been disabled")),
    ("dates", re.compile(r"outside the supported dates")),
    ("cost", re.compile(r"\bcost\b|\bbudget\b", re.IGNORECASE)),
]
_STATUS_REASONS = {401: "token", 413: "body_size", 429: "too_many", 503: "unavailable"}


def limit_of(error: GraphQLError) -> str | None:
    """The limit whose refusal `error` is, or None."""
    for name, pattern in _LIMITS:
        if pattern.search(error.message):
            return name
    return None


@lru_cache(maxsize=256)
def _cached_operation(query: str, name: str | None) -> str:
    return _parse_operation(query, name)


def _parse_operation(query: str, name: str | None) -> str:
    try:
        document = parse(query, no_location=True, max_tokens=20_000)
    except GraphQLError:
        return "unknown"
    operations = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
    if name is None:
        return operations[0].operation.value if len(operations) == 1 else "unknown"
    for operation in operations:
        if operation.name is not None and operation.name.value == name:
            return operation.operation.value
    return "unknown"


def operation_of(query: object, name: object) -> str:
    """The type of the operation `name` (or the one operation) of `query`: query, mutation,
    subscription, or unknown."""
    if not isinstance(query, str) or (name is not None and not isinstance(name, str)):
        return "unknown"
    if len(query) > _CACHED_QUERY_LENGTH:
        return _parse_operation(query, name)
    return _cached_operation(query, name)


@dataclass(slots=True)
class _Outcome:
    operation: str


class Metrics:
    """The metrics of one app (one process); `clients`: whether the process answers clients
    (the writer process behind workers answers workers, who count the requests)."""

    def __init__(self, clients: bool = True, writer: Writer | None = None) -> None:
        import prometheus_client as prom  # here: after PROMETHEUS_MULTIPROC_DIR is set

        self.clients = clients
        self._children: dict[tuple[str, str, int], tuple[Any, Any]] = {}
        self.registry = registry = prom.CollectorRegistry()
        self.requests = prom.Counter(
            "newsgraph_requests",
            "HTTP requests by route, GraphQL operation type and status",
            ["route", "operation", "status"],
            registry=registry,
        )
        self.latency = prom.Histogram(
            "newsgraph_request_duration_seconds",
            "Time from a request's arrival to the end of its answer",
            ["route", "operation"],
            registry=registry,
        )
        self.errors = prom.Counter(
            "newsgraph_graphql_errors",
            "GraphQL answers with errors of a kind: request (never ran), field, internal",
            ["kind"],
            registry=registry,
        )
        self.refusals = prom.Counter(
            "newsgraph_refusals",
            "Requests refused by a limit, by reason",
            ["reason"],
            registry=registry,
        )
        self.response_cache = prom.Counter(
            "newsgraph_response_cache",
            "Anonymous queries answered from the response cache (hit) or made (miss), made and "
            "not kept as asked for the first time (first); answers stored, evicted for room, "
            "and dropped by a write (invalidation)",
            ["outcome"],
            registry=registry,
        )
        self.write_queue = prom.Gauge(
            "newsgraph_write_queue",
            "Mutations waiting on the writer process (serve --workers), over the live workers",
            registry=registry,
            multiprocess_mode="livesum",
        )
        if writer is not None:
            # set as it changes, not read twice a request (a gauge's set is a write to its
            # process's file) for a value that only writes change
            self.write_queue.set(writer.waiting)
            writer.watchers.append(self.write_queue.set)

    def request(self, route: str, operation: str, status: int, seconds: float) -> None:
        """Count a request and its time; each label set's children kept (prometheus' `labels`
        looks them up under a lock, each request)."""
        key = (route, operation, status)
        children = self._children.get(key)
        if children is None:
            children = self._children[key] = (
                self.requests.labels(route, operation, str(status)),
                self.latency.labels(route, operation),
            )
        children[0].inc()
        children[1].observe(seconds)

    async def answered(self, request: Request, result: ExecutionResult) -> None:
        """Count a GraphQL answer: its errors, a limit's refusal, and note its operation type
        for the request's count."""
        state = request.scope.setdefault("state", {})
        # noted already for a query of the fast lane (api.fastlane): nothing to parse
        if not isinstance(state.get(OUTCOME), _Outcome):
            state[OUTCOME] = _Outcome(await _operation_asked(request))
        kinds: set[str] = set()
        limits: set[str] = set()
        for error in result.errors or ():
            if error.path is not None:
                kinds.add("internal" if error.message == INTERNAL else "field")
            else:
                kinds.add("request")
                limit = limit_of(error)
                if limit is not None:
                    limits.add(limit)
        for kind in kinds:
            self.errors.labels(kind).inc()
        for limit in limits:
            self.refusals.labels(limit).inc()

    def note(self, state: dict[str, Any], operation: str) -> None:
        """Note the operation type of a request answered without GraphQL running (a cached
        answer, api.response_cache), for its count."""
        state[OUTCOME] = _Outcome(operation)

    def middleware(self, app: ASGIApp) -> ASGIApp:
        """`app`, its requests counted and timed."""
        return Counted(app, self)

    async def endpoint(self, request: Request) -> Response:
        """GET /metrics: every process's metrics under `newsgraph serve`, else this one's."""
        from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

        registry = self.registry
        if os.environ.get(MULTIPROCESS_DIR):
            registry = _multiprocess_registry()
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)


def _multiprocess_registry() -> CollectorRegistry:
    from prometheus_client import CollectorRegistry, multiprocess

    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
    return registry


def process_gone(pid: int) -> None:
    """Forget the live gauges of a process that exited (multiprocess mode)."""
    if os.environ.get(MULTIPROCESS_DIR):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(pid)  # type: ignore[no-untyped-call]


async def _operation_asked(request: Request) -> str:
    """The type of the operation a GraphQL request asks for (`operation_of`)."""
    if request.method == "GET":
        params = request.query_params
        return operation_of(params.get("query"), params.get("operationName"))
    try:
        data: Any = json.loads(await request.body())  # read once already: kept
    except (ValueError, RuntimeError):
        return "unknown"
    if not isinstance(data, dict):
        return "unknown"
    return operation_of(data.get("query"), data.get("operationName"))


def _asks_mutation(body: bytes) -> bool:
    """Whether a body the app did not answer itself asked for a mutation (which the writer
    process answered); checked for depth first, as the app checks it (`api.app`)."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return not nested_deeper_than(text, MAX_JSON_DEPTH) and is_mutation(body)


class Counted:
    """An ASGI app, its requests counted and timed by `metrics`."""

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        metrics = self.metrics
        if scope["type"] != "http" or not metrics.clients:
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        route = scope["path"] if scope["path"] in ROUTES else "other"
        status = 500  # an exception before any answer: the server answers 500
        chunks: list[bytes] = []
        keep = route == "/graphql" and scope["method"] == "POST"

        async def counted_receive() -> Message:
            message = await receive()
            if keep and message["type"] == "http.request":
                chunks.append(message.get("body", b""))
            return message

        async def counted_send(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, counted_receive, counted_send)
        finally:
            outcome = scope.get("state", {}).get(OUTCOME)
            if isinstance(outcome, _Outcome):
                operation = outcome.operation
            elif (
                keep
                and status < 500
                and status not in _STATUS_REASONS
                and _asks_mutation(b"".join(chunks))
            ):
                operation = "mutation"  # answered by the writer process
            else:
                operation = "none"
                reason = _STATUS_REASONS.get(status)
                if reason is None and route == "/graphql" and 400 <= status < 500:
                    reason = "malformed"
                if reason is not None and route == "/graphql":
                    metrics.refusals.labels(reason).inc()
            metrics.request(route, operation, status, time.perf_counter() - start)
