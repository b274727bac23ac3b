"""The ASGI application: GraphQL at /graphql on Starlette, the store opened in the lifespan."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import AsyncIterator, Callable
from typing import Any

from graphql import GraphQLError
from starlette.applications import Starlette
from starlette.datastructures import Headers
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route, WebSocketRoute
from starlette.types import Message, Receive, Send
from starlette.websockets import WebSocket
from strawberry.asgi import GraphQL
from strawberry.http import GraphQLHTTPResponse
from strawberry.subscriptions import GRAPHQL_TRANSPORT_WS_PROTOCOL, GRAPHQL_WS_PROTOCOL
from strawberry.subscriptions.protocols.graphql_transport_ws.handlers import (
    BaseGraphQLTransportWSHandler,
)
from strawberry.subscriptions.protocols.graphql_transport_ws.types import SubscribeMessage
from strawberry.types import ExecutionResult

from api.auth import RateLimiter
from api.config import AppConfig
from api.context import RequestContext, Services
from api.follow import Follower
from api.forward import (
    CATCH_UP_TIMEOUT,
    CHANGE_HEADER,
    CLIENT_HEADER,
    RETRY_AFTER,
    Writer,
    WriterBusy,
    WriterUnavailable,
    asks_mutation,
    is_mutation,
)
from api.media import Negotiated, answer
from api.metrics import Counted, Metrics
from api.schema import schema
from api.tokens import ANONYMOUS, Actor, AuthError, Tokens, client_key
from graph.confidence import POLICY_SETTING, Policy, current_policy
from graph.store import GraphStore, StoreError
from loaders.records import nested_deeper_than

log = logging.getLogger(__name__)

# How deep the arrays and objects of a request's JSON may nest (an `ingest` of records needs 9):
# deeper, Python's parser would recurse until RecursionError, a crash.
MAX_JSON_DEPTH = 64


class Refused(Exception):
    """A request refused before GraphQL runs: its status and message, sent in GraphQL's error
    shape by `GraphQLApp.__call__`."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


class _TooDeep(json.JSONDecodeError):
    """JSON nested deeper than MAX_JSON_DEPTH; a JSONDecodeError, so that strawberry's
    WebSocket handlers refuse such a message as they refuse one that is not JSON."""


def _too_large(limit: int, actor: Actor) -> str:
    who = "without a token" if actor is ANONYMOUS else "with a token"
    return f"the request body is larger than {limit:,} bytes, the limit for a request {who}"


def _limited(receive: Receive, limit: int, actor: Actor) -> Receive:
    """`receive`, raising `Refused` (413) as soon as the body it has passed on is over `limit`
    bytes: a body without Content-Length (chunked), or longer than it said."""
    seen = 0

    async def limited() -> Message:
        nonlocal seen
        message = await receive()
        if message["type"] == "http.request":
            seen += len(message.get("body", b""))
            if seen > limit:
                raise Refused(413, _too_large(limit, actor))
        return message

    return limited


async def _body(receive: Receive) -> bytes:
    """The whole request body (its size already limited by `_limited`)."""
    chunks = []
    while True:
        message = await receive()
        if message["type"] != "http.request":
            break
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            break
    return b"".join(chunks)


def _replay(body: bytes) -> Receive:
    """A `receive` giving `body` again, then waiting for the client to go."""
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return {"type": "http.disconnect"}

    return replay


async def _empty() -> Message:
    return {"type": "http.disconnect"}


def _refusal(status: int, message: str, headers: dict[str, str] | None = None) -> Response:
    return JSONResponse(
        {"data": None, "errors": [{"message": message}]}, status_code=status, headers=headers
    )


class _TransportWS(BaseGraphQLTransportWSHandler[RequestContext, None]):
    """graphql-transport-ws, refusing mutations on a reader worker: they go over HTTP, where
    the worker sends them to the writer process (`api.forward`)."""

    async def handle_subscribe(self, message: SubscribeMessage) -> None:
        view = self.view
        payload = message["payload"]
        if (
            isinstance(view, GraphQLApp)
            and view.writer is not None
            and asks_mutation(payload.get("query"), payload.get("operationName"))
        ):
            error = GraphQLError(
                "mutations are not taken over WebSocket by this server (it runs workers): "
                "send them with an HTTP POST to the same /graphql"
            )
            await self.send_message(
                {"id": message["id"], "type": "error", "payload": [error.formatted]}
            )
            return
        await super().handle_subscribe(message)


class GraphQLApp(GraphQL[RequestContext, None]):
    graphql_transport_ws_handler_class = _TransportWS

    def __init__(
        self,
        store: GraphStore,
        tokens: Tokens,
        services: Services,
        writer: Writer | None = None,
        behind_workers: bool = False,
    ) -> None:
        # GraphiQL for a browser's GET, unless the config turns it off (then 404). A worker
        # speaks graphql-transport-ws only, where it refuses mutations (`_TransportWS`).
        super().__init__(
            schema,
            graphql_ide="graphiql" if services.config.graphiql else None,
            subscription_protocols=(GRAPHQL_TRANSPORT_WS_PROTOCOL,)
            if writer is not None
            else (GRAPHQL_TRANSPORT_WS_PROTOCOL, GRAPHQL_WS_PROTOCOL),
        )
        self.store = store
        self.tokens = tokens
        self.services = services
        # a reader worker's way to the writer process (`api.forward`), which answers mutations
        self.writer = writer
        # the writer process: its callers are workers, who say who their client is
        self.behind_workers = behind_workers
        self._cached: tuple[str | None, Policy] | None = None
        # /metrics (api.metrics); the writer process counts errors, its workers the requests
        self.metrics = Metrics(clients=not behind_workers, writer=writer)

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        # A bad bearer token is refused before GraphQL runs: 401, in GraphQL's error shape.
        headers = Headers(scope=scope)
        try:
            actor = self.tokens.authenticate(headers.get("authorization"))
            scope.setdefault("state", {})["actor"] = actor  # for `get_context`
        except AuthError as exc:
            if scope["type"] == "websocket":
                await send({"type": "websocket.close", "code": 4401, "reason": str(exc)})
                return
            response = _refusal(401, str(exc), {"WWW-Authenticate": "Bearer"})
            await response(scope, receive, send)
            return
        if scope["type"] == "http":
            config = self.services.config
            limit = (
                config.max_body_bytes if actor is ANONYMOUS else config.max_body_bytes_with_token
            )
            declared = headers.get("content-length", "")
            if declared.isdigit() and int(declared) > limit:  # refused before reading any of it
                await _refusal(413, _too_large(limit, actor))(scope, receive, send)
                return
            receive = _limited(receive, limit, actor)  # counted as it streams in, too
        try:
            if scope["type"] != "http":
                # A subscription's socket lives long: it holds no lease (docs/changes.md).
                self._follower()
                await super().__call__(scope, receive, send)
                return
            if self.writer is not None and scope["method"] == "POST":
                body = await _body(receive)
                if is_mutation(body):
                    await self._forward(scope, body, actor, send)
                    return
                receive = _replay(body)
            follower = self._follower()
            async with follower.reading():
                await super().__call__(scope, receive, self._stamped(send, follower))
        except Refused as exc:  # raised while reading the request: nothing was sent yet
            await _refusal(exc.status, str(exc))(scope, receive, send)

    async def writer_ready(self) -> str | None:
        """Why this worker is not ready to serve (the writer process is not, or this worker's
        memory does not show the writer's latest commit yet), or None."""
        assert self.writer is not None
        seq = await self.writer.ready()
        if seq is None:
            return "the writer process is not ready yet"
        if not await self._follower().reach(seq, CATCH_UP_TIMEOUT):
            return "this worker has not caught up with the writer yet"
        return None

    def _follower(self) -> Follower:
        """The app's follower of the change log: started by the lifespan, or here by the first
        request when whoever runs the app has turned the lifespan off (then it stops with the
        event loop, and another loop running the app gets its own)."""
        follower = self.services.follower
        if follower is None or not follower.runs_here():
            follower = self.services.follower = Follower(self.store, self.services.hub)
            follower.start(ticking=not self.behind_workers)
        return follower

    def _stamped(self, send: Send, follower: Follower) -> Send:
        """`send`, adding to the answer the change log entry it includes (`CHANGE_HEADER`):
        the writer process names the latest commit (its own write's or later)."""

        async def stamped(message: Message) -> None:
            if message["type"] == "http.response.start":
                seq = self.store.last_change() if self.behind_workers else follower.position
                headers = list(message.get("headers", []))
                headers.append((CHANGE_HEADER.encode(), str(seq).encode()))
                message = {**message, "headers": headers}
            await send(message)

        return stamped

    async def _forward(self, scope: Any, body: bytes, actor: Actor, send: Send) -> None:
        """Send a mutation to the writer process; answer with its answer once this worker's
        memory shows the write."""
        assert self.writer is not None
        headers = [(k.decode("latin-1"), v.decode("latin-1")) for k, v in scope["headers"]]
        address = scope["client"][0] if scope.get("client") else None
        try:
            answer = await self.writer.send(body, headers, client_key(actor, address))
        except WriterBusy:
            message = (
                f"{self.writer.queue} writes from this server are waiting already; "
                f"try again in {RETRY_AFTER} s"
            )
            await _refusal(429, message, {"Retry-After": str(RETRY_AFTER)})(scope, _empty, send)
            return
        except WriterUnavailable as exc:
            log.error("the writer process cannot be reached: %s", exc)
            message = "the writer is not available now; try again shortly"
            await _refusal(503, message, {"Retry-After": str(RETRY_AFTER)})(scope, _empty, send)
            return
        follower = self.services.follower
        if follower is not None and answer.seq:
            await follower.reach(answer.seq, CATCH_UP_TIMEOUT)
        response = Response(answer.body, status_code=answer.status)
        for name, value in answer.headers:
            response.headers.append(name, value)
        await response(scope, _empty, send)

    def decode_json(self, data: str | bytes) -> object:
        # Checked before parsing: Python's parser would recurse until RecursionError.
        text = data.decode("utf-8") if isinstance(data, bytes) else data
        if nested_deeper_than(text, MAX_JSON_DEPTH):
            message = f"arrays and objects nested deeper than {MAX_JSON_DEPTH} levels"
            raise _TooDeep(message, text[:80], 0)
        return json.loads(text)

    def parse_json(self, data: str | bytes) -> object:
        try:
            return self.decode_json(data)
        except _TooDeep as exc:
            raise Refused(400, f"the request's JSON has {exc.msg}") from None
        except UnicodeDecodeError:
            raise Refused(400, "the request body is not UTF-8 text") from None
        except json.JSONDecodeError as exc:
            raise Refused(400, f"the request body is not JSON: {exc.msg}") from None

    async def process_result(
        self, request: Request, result: ExecutionResult
    ) -> GraphQLHTTPResponse:
        # GraphQL over HTTP: the answer as the client's Accept asks (api.media), counted.
        response = answer(request, await super().process_result(request, result), result)
        await self.metrics.answered(request, result)
        return response

    async def get_context(self, request: Request | WebSocket, response: Any) -> RequestContext:
        # Fresh DataLoaders per request: a loader kept across requests would cache forever.
        actor: Actor = request.state.actor
        address = request.client.host if request.client is not None else None
        client = client_key(actor, address)
        if self.behind_workers:  # the worker says who its client is
            client = request.headers.get(CLIENT_HEADER) or client
        return RequestContext(
            self.store, self._policy(), actor=actor, client=client, services=self.services
        )

    def _policy(self) -> Policy:
        """The store's policy, parsed again only when its stored text changes."""
        stored = self.store.get_setting(POLICY_SETTING)
        if self._cached is None or self._cached[0] != stored:
            self._cached = (stored, current_policy(self.store))
        return self._cached[1]


def create_app(
    store: GraphStore,
    tokens: Tokens | None = None,
    config: AppConfig | None = None,
    on_startup: Callable[[], None] | None = None,
    writer: Writer | None = None,
    behind_workers: bool = False,
) -> Starlette:
    """The app serving `store`; the lifespan calls `store.setup()` and `store.close()`, and
    follows the store's change log meanwhile (`api.follow`).
    The entry point builds `tokens` (none: every caller is anonymous) and `config` (the
    submission rate) from its settings (`newsgraph.wiring.app_arguments`). A reader worker of
    `newsgraph serve --workers` gets `writer` (mutations go there); the writer process,
    `behind_workers`."""
    tokens = tokens if tokens is not None else Tokens()
    config = config if config is not None else AppConfig()
    services = Services(submissions=RateLimiter(config.submit_rate), config=config)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        store.setup()
        if on_startup is not None:
            on_startup()
        follower = services.follower = Follower(store, services.hub)
        follower.start(ticking=not behind_workers)
        try:
            yield
        finally:
            await follower.stop()
            services.follower = None
            if writer is not None:
                await writer.close()
            store.close()

    async def health(request: Request) -> Response:
        # Liveness: the process answers. Constant time; the store is not read (that is /ready).
        return JSONResponse({"status": "ok"})

    def check_store() -> Response | None:
        # A cheap read (`GraphStore.ping`), in a worker thread: a store that is slow to refuse
        # never holds the event loop.
        try:
            store.ping()
        except StoreError as exc:
            return JSONResponse({"status": "unavailable", "reason": str(exc)}, status_code=503)
        except Exception as exc:
            log.exception("the readiness check failed")
            reason = f"the store's check failed unexpectedly ({type(exc).__name__}); see the log"
            return JSONResponse({"status": "unavailable", "reason": reason}, status_code=503)
        return None

    async def ready(request: Request) -> Response:
        # Readiness: the store answers; the writer process names the latest commit (workers
        # wait for it); a worker is ready once the writer is and its memory shows that commit.
        refused = await asyncio.to_thread(check_store)
        if refused is not None:
            return refused
        if behind_workers:
            return JSONResponse({"status": "ready", "change": store.last_change()})
        if writer is not None:
            reason = await graphql.writer_ready()
            if reason is not None:
                return JSONResponse({"status": "unavailable", "reason": reason}, status_code=503)
        return JSONResponse({"status": "ready"})

    graphql = GraphQLApp(store, tokens, services, writer, behind_workers)
    return Starlette(
        routes=[
            # GraphQL over HTTP: the answer's media type and status from Accept (api.media)
            Route("/graphql", Negotiated(graphql), methods=["GET", "POST"]),
            WebSocketRoute("/graphql", graphql),
            Route("/health", health),
            Route("/ready", ready),
            Route("/metrics", graphql.metrics.endpoint),  # Prometheus (api.metrics)
        ],
        middleware=[Middleware(Counted, metrics=graphql.metrics)],
        lifespan=lifespan,
    )
