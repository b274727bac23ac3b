"""The ASGI application: GraphQL at /graphql on Starlette, the store opened in the lifespan."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import math
from collections.abc import AsyncIterator, Awaitable, Callable
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

import msgspec
from graphql import GraphQLError
from starlette.applications import Starlette
from starlette.datastructures import Headers, QueryParams
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.middleware.gzip import GZipMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route, WebSocketRoute
from starlette.types import ASGIApp, Message, Receive, Send
from starlette.websockets import WebSocket
from strawberry.asgi import GraphQL
from strawberry.http import GraphQLHTTPResponse, GraphQLRequestData
from strawberry.subscriptions import GRAPHQL_TRANSPORT_WS_PROTOCOL
from strawberry.subscriptions.protocols.graphql_transport_ws.handlers import (
    BaseGraphQLTransportWSHandler,
)
from strawberry.subscriptions.protocols.graphql_transport_ws.types import (
    ConnectionInitMessage,
    SubscribeMessage,
)
from strawberry.types import ExecutionResult

from api import fastlane, introspection
from api.audit import AuditLog, AuditRecord
from api.audit import now as audit_now
from api.auth import RateLimiter
from api.config import MAX_JSON_DEPTH, AppConfig
from api.context import RequestContext, Services
from api.delivery import Cacheable, PersistedQueries, PersistedQueryError
from api.exports import counts_endpoint, export_endpoint
from api.feeds import feed_endpoint
from api.follow import ApplyTurns, Follower
from api.forward import (
    CATCH_UP_TIMEOUT,
    CHANGE_HEADER,
    CLIENT_HEADER,
    PROCESS_HEADER,
    READ_SECONDS_HEADER,
    RETRY_AFTER,
    Analyst,
    Answer,
    UpstreamBusy,
    UpstreamUnavailable,
    Writer,
    asks_heavy,
    asks_mutation,
    is_heavy,
    is_mutation,
)
from api.hit_lane import HitLane
from api.media import Negotiated, answer, is_request_error
from api.memo import Fragments
from api.metrics import Counted, Metrics
from api.response_cache import POSITION, READS, Cached, ResponseCache, recording
from api.schema import schema
from api.shared_answers import SharedAnswers
from api.slowdown import ANALYTICS_SECONDS, INTROSPECTED, REFUSED, Paced, SlowDown
from api.sockets import LocalSockets, SocketCount
from api.tokens import (
    ANONYMOUS,
    Actor,
    AuthError,
    Tokens,
    client_key,
    parse_networks,
    request_address,
)
from graph.confidence import POLICY_SETTING, Policy, policy_of
from graph.store import GraphStore, StoreError, StoreUnavailable
from loaders.records import nested_deeper_than

log = logging.getLogger(__name__)

# Seconds between two looks at whether an open WebSocket's token was revoked.
REVOCATION_CHECK = 1.0


_ENCODE = msgspec.json.Encoder().encode


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


def _headers(scope: Any) -> list[tuple[str, str]]:
    """The request's headers, as another process of the server is sent them (`api.forward`)."""
    return [(k.decode("latin-1"), v.decode("latin-1")) for k, v in scope["headers"]]


async def _busy(waiting: str, scope: Any, send: Send) -> None:
    """429: `waiting` (e.g. "16 writes") from this server wait on another process already."""
    message = f"{waiting} from this server are waiting already; try again in {RETRY_AFTER} s"
    await _refusal(429, message, {"Retry-After": str(RETRY_AFTER)})(scope, _empty, send)


# Relayed answers at most this long are looked at for a refusal (refusals are short).
_REFUSAL_BYTES = 16 * 1024


async def _relayed(answer: Answer, scope: Any, send: Send) -> None:
    """Another process's answer, as it gave it; a GraphQL refusal among them marked for the
    client's pace (`api.slowdown`), which this worker applies, and the seconds its heavy reads
    took noted for the client's analytics time."""
    state = scope.setdefault("state", {})
    if answer.status == 200 and len(answer.body) <= _REFUSAL_BYTES and _refused(answer.body):
        state[REFUSED] = True
    response = Response(answer.body, status_code=answer.status)
    for name, value in answer.headers:
        if name.lower() == READ_SECONDS_HEADER:
            with contextlib.suppress(ValueError):
                seconds = float(value)
                if math.isfinite(seconds) and seconds > 0:
                    state[ANALYTICS_SECONDS] = [seconds]
            continue
        response.headers.append(name, value)
    await response(scope, _empty, send)


def _refused(body: bytes) -> bool:
    """Whether a GraphQL answer is a request error: errors, none of a field, no data."""
    if b'"errors"' not in body:
        return False
    try:
        decoded = msgspec.json.decode(body)
    except msgspec.DecodeError:
        return False
    if not isinstance(decoded, dict) or decoded.get("data") is not None:
        return False
    errors = decoded.get("errors")
    return (
        isinstance(errors, list)
        and bool(errors)
        and all(isinstance(e, dict) and e.get("path") is None for e in errors)
    )


def _refusal(status: int, message: str, headers: dict[str, str] | None = None) -> Response:
    return JSONResponse(
        {"data": None, "errors": [{"message": message}]}, status_code=status, headers=headers
    )


class _MessageTooLarge(Exception):
    """A WebSocket message over the body limit of its connection's actor: the socket is
    closed with 1009 (message too big), the reason naming the limit."""


@dataclass(eq=False)
class _Socket:
    """One open WebSocket: who is on it (the actor of `connection_init`, else of the
    upgrade's header), where from, and why it is refused (too many sockets)."""

    actor: Actor
    address: str | None
    client: str  # the key its sockets are counted by (the upgrade's actor and address)
    refused: str | None = None


# The socket the current task serves (set by `GraphQLApp._websocket`, read by the handler
# and by `decode_json`, which strawberry calls for each message).
_SOCKET: ContextVar[_Socket | None] = ContextVar("newsgraph_socket", default=None)


class _TransportWS(BaseGraphQLTransportWSHandler[RequestContext, None]):
    """graphql-transport-ws with newsgraph's rules: a context of its own for each operation,
    authentication by the `connection_init` payload, a cap on the operations of one socket,
    the socket closed when its token is revoked; mutations refused on a reader worker (they
    go over HTTP, where the worker sends them to the writer process, `api.forward`)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        socket = _SOCKET.get()
        assert socket is not None
        self.socket = socket
        super().__init__(*args, **kwargs)
        assert isinstance(self.view, GraphQLApp)
        self.app: GraphQLApp = self.view
        self._watcher: asyncio.Task[None] | None = None

    # strawberry reads `self.context` once for each operation it starts (and hands the
    # connection's to `on_ws_connect`): each read is a fresh context, as the socket's actor
    # now, so no operation's DataLoaders outlive it or serve another's stale reads.
    @property
    def context(self) -> RequestContext:
        return self.app.operation_context(self.socket)

    @context.setter
    def context(self, value: RequestContext) -> None:
        pass  # the connection's context, built by `get_context`: each operation has its own

    async def handle(self) -> None:
        if self.socket.refused is not None:
            await self.websocket.close(code=4429, reason=self.socket.refused)
            return
        self._watch()
        try:
            await super().handle()
        finally:
            if self._watcher is not None:
                self._watcher.cancel()

    def _watch(self) -> None:
        """Close the socket once its token is revoked (the tokens file is looked at every
        `REVOCATION_CHECK` seconds meanwhile); nothing to watch for the anonymous."""
        if self._watcher is not None or self.socket.actor.digest is None:
            return

        async def watch() -> None:
            while True:
                await asyncio.sleep(REVOCATION_CHECK)
                if not self.app.tokens.valid(self.socket.actor):
                    self.app.refused_token(
                        self.socket.address,
                        "websocket",
                        "the token was revoked: the socket was closed",
                        self.socket.actor,
                    )
                    await self.websocket.close(code=4401, reason="the token was revoked")
                    return

        self._watcher = asyncio.create_task(watch())

    async def handle_connection_init(self, message: ConnectionInitMessage) -> None:
        payload = message.get("payload")
        if isinstance(payload, dict) and not self.connection_init_received:
            try:
                actor = _payload_actor(self.app.tokens, payload)
            except AuthError as exc:
                self.app.refused_token(self.socket.address, "websocket connection_init", str(exc))
                await self.websocket.close(code=4401, reason=str(exc)[:120])
                return
            if actor is not None:
                self.socket.actor = actor
                self._watch()
        await super().handle_connection_init(message)

    async def handle_subscribe(self, message: SubscribeMessage) -> None:
        payload = message["payload"]
        if not self.connection_acknowledged or message["id"] in self.operations:
            await super().handle_subscribe(message)  # closes the socket, as the protocol says
            return
        cap = self.app.services.config.ws_max_operations
        refusal: str | None = None
        if len(self.operations) >= cap:
            refusal = (
                f"this WebSocket runs {cap} operations already, the most one may run at once: "
                "complete one first, or open another connection"
            )
        elif self.app.writer is not None and asks_mutation(
            payload.get("query"), payload.get("operationName")
        ):
            refusal = (
                "mutations are not taken over WebSocket by this server (it runs workers): "
                "send them with an HTTP POST to the same /graphql"
            )
        if refusal is not None:
            error = GraphQLError(refusal)
            await self.send_message(
                {"id": message["id"], "type": "error", "payload": [error.formatted]}
            )
            return
        await super().handle_subscribe(message)


def _payload_actor(tokens: Tokens, payload: dict[str, object]) -> Actor | None:
    """The actor a `connection_init` payload names: `{"Authorization": "Bearer ..."}` (any
    case) or `{"token": "..."}`; None when it names none. A bad one is an `AuthError`."""
    given = next((v for k, v in payload.items() if k.lower() == "authorization"), None)
    token = payload.get("token")
    if given is None and token is None:
        return None
    if given is not None:
        if not isinstance(given, str):
            raise AuthError("connection_init: Authorization must be 'Bearer <token>'")
        return tokens.authenticate(given)
    if not isinstance(token, str) or not token:
        raise AuthError("connection_init: token must be a string")
    return tokens.token_actor(token)


class GraphQLApp(GraphQL[RequestContext, None]):
    graphql_transport_ws_handler_class = _TransportWS

    def __init__(
        self,
        store: GraphStore,
        tokens: Tokens,
        services: Services,
        writer: Writer | None = None,
        behind_workers: bool = False,
        analyst: Analyst | None = None,
        follows_log: bool | None = None,
        sockets: SocketCount | None = None,
        shared: SharedAnswers | None = None,
    ) -> None:
        # GraphiQL for a browser's GET, unless the config turns it off (then 404). WebSockets
        # speak graphql-transport-ws only (`_TransportWS`); the legacy graphql-ws protocol is
        # not offered: its handler would bypass the rules above.
        super().__init__(
            schema,
            graphql_ide="graphiql" if services.config.graphiql else None,
            subscription_protocols=(GRAPHQL_TRANSPORT_WS_PROTOCOL,),
            max_subscriptions_per_connection=services.config.ws_max_operations,
        )
        self.store = store
        self.tokens = tokens
        self.services = services
        # a reader worker's way to the writer process (`api.forward`), which answers mutations
        self.writer = writer
        # the writer process: its callers are workers, who say who their client is
        self.behind_workers = behind_workers
        # a reader worker's way to the analyst process (`api.forward`), which answers queries
        # selecting heavy fields
        self.analyst = analyst
        # whether this process follows the change log (every reader, the analyst among them)
        # or writes it (the writer process)
        self.follows_log = not behind_workers if follows_log is None else follows_log
        self.role = "writer" if not self.follows_log else "analyst" if behind_workers else "reader"
        self._last_policy: Policy | None = None  # the policy last read (`_policy`)
        self._policy_at: int | None = None  # the change log entry it was read at (Neo4j)
        self._trusted = parse_networks(services.config.trusted_proxies)
        # open WebSockets by client key (`_Socket.client`): this process's, or shared by the
        # workers of `serve --workers` (api.sockets)
        self.sockets: SocketCount = sockets if sockets is not None else LocalSockets()
        # /metrics (api.metrics); the writer process counts errors, its workers the requests
        self.metrics = Metrics(clients=not behind_workers, writer=writer)
        # automatic persisted queries (api.delivery)
        self.persisted = PersistedQueries(services.config.persisted_queries)
        # anonymous answers kept in memory (api.response_cache); not in the writer process,
        # which answers only mutations
        size = services.config.response_cache_bytes
        self.response_cache = (
            ResponseCache(store, size, self.metrics, shared)
            if size and self.role != "writer"
            else None
        )

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        # A bad bearer token is refused before GraphQL runs: 401, in GraphQL's error shape.
        headers = Headers(scope=scope)
        try:
            actor = self.tokens.authenticate(headers.get("authorization"))
            scope.setdefault("state", {})["actor"] = actor  # for `get_context`
        except AuthError as exc:
            self.refused_token(self._address(scope), "authenticate", str(exc))
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
        if scope["type"] == "websocket":
            await self._websocket(scope, receive, send, actor)
            return
        try:
            fast = self.services.config.fast_lane and actor is ANONYMOUS
            if fast and fastlane.takes(scope, headers):
                body = await _body(receive) if scope["method"] == "POST" else None
                follower = self._follower()
                async with follower.reading():
                    stamped = self._stamped(scope, send, follower)
                    if await fastlane.answer(self, scope, body, stamped):
                        return
                if body is not None:
                    receive = _replay(body)
            if self.analyst is not None and scope["method"] == "GET":
                params = QueryParams(scope.get("query_string", b""))
                heavy = asks_heavy(params.get("query"), params.get("operationName"))
                if heavy and await self._to_analyst(scope, None, actor, send):
                    return
            if (self.writer is not None or self.analyst is not None) and scope["method"] == "POST":
                body = await _body(receive)
                if self.writer is not None and is_mutation(body):
                    await self._forward(scope, body, actor, send)
                    return
                heavy = self.analyst is not None and is_heavy(body)
                if heavy and await self._to_analyst(scope, body, actor, send):
                    return
                receive = _replay(body)
            follower = self._follower()
            async with follower.reading():
                await super().__call__(scope, receive, self._stamped(scope, send, follower))
        except Refused as exc:  # raised while reading the request: nothing was sent yet
            await _refusal(exc.status, str(exc))(scope, receive, send)
        except PersistedQueryError as exc:
            # As Apollo's server answers it (200, the code in the error's extensions), so its
            # clients send the query again; never kept by a cache.
            error = {"message": str(exc), "extensions": {"code": exc.code}}
            refusal = JSONResponse({"errors": [error]}, headers={"Cache-Control": "no-store"})
            await refusal(scope, receive, send)

    def should_render_graphql_ide(self, request: Any) -> bool:
        # A GET naming a persisted query (no `query` of its own) is an operation, not a
        # browser asking for GraphiQL.
        if request.query_params.get("extensions") is not None:
            return False
        return super().should_render_graphql_ide(request)

    async def parse_http_body(self, request: Any) -> GraphQLRequestData | list[GraphQLRequestData]:
        parsed = await super().parse_http_body(request)
        if isinstance(parsed, GraphQLRequestData):
            parsed.query = self.persisted.resolve(parsed.query, parsed.extensions)
        return parsed

    async def _websocket(self, scope: Any, receive: Receive, send: Send, actor: Actor) -> None:
        """A WebSocket, counted against its client's cap (refused past it by the handler,
        once accepted, so that the client sees why); a message over its actor's body limit
        closes it (1009)."""
        address = self._address(scope)
        socket = _Socket(actor, address, client_key(actor, address))
        cap = self.services.config.ws_max_sockets_per_client
        taken = await self._sockets_call(self.sockets.take, socket.client, cap)
        if not taken:
            socket.refused = f"too many WebSockets from this client (at most {cap} at once)"
        token = _SOCKET.set(socket)
        try:
            # A subscription's socket lives long: it holds no lease (docs/changes.md).
            self._follower()
            await super().__call__(scope, receive, send)
        except _MessageTooLarge as exc:
            with contextlib.suppress(Exception):
                await send({"type": "websocket.close", "code": 1009, "reason": str(exc)})
        finally:
            _SOCKET.reset(token)
            if taken:
                await self._sockets_call(self.sockets.give_back, socket.client)

    async def _sockets_call(self, call: Callable[..., Any], *args: Any) -> Any:
        """A call of the socket count: at once from memory, else off the event loop (it may
        wait for another process's lock)."""
        if self.sockets.in_memory:
            return call(*args)
        return await asyncio.to_thread(call, *args)

    def refused_token(
        self, address: str | None, action: str, reason: str, who: Actor | None = None
    ) -> None:
        """Record in the audit a token refused to a client at `address` (`who` None: one
        that names nobody) or a socket closed because the token of `who` was revoked."""
        audit = self.services.audit
        if audit is None:
            return
        audit.record(
            AuditRecord(
                at=audit_now(),
                actor=who.name if who is not None else "unknown",
                role=str(who.role) if who is not None else "none",
                client=client_key(who or ANONYMOUS, address),
                action=action,
                outcome="refused",
                reason=reason,
                process=self.role,
            )
        )

    def audited(
        self, endpoint: Callable[[Request], Awaitable[Response]]
    ) -> Callable[[Request], Awaitable[Response]]:
        """`endpoint` (the exports'), its answers recorded in the audit: a token holder's, and
        every refusal (api.audit)."""

        async def wrapped(request: Request) -> Response:
            response = await endpoint(request)
            audit = self.services.audit
            if audit is None:
                return response
            try:
                actor: Actor | None = self.tokens.authenticate(request.headers.get("authorization"))
            except AuthError:
                actor = None
            refused = response.status_code >= 400
            if actor is ANONYMOUS and not refused:
                return response
            reason = ""
            if refused and isinstance(response, JSONResponse):
                with contextlib.suppress(ValueError, KeyError, IndexError, TypeError):
                    reason = json.loads(bytes(response.body))["errors"][0]["message"]
            query = request.url.query
            audit.record(
                AuditRecord(
                    at=audit_now(),
                    actor=actor.name if actor is not None else "unknown",
                    role=str(actor.role) if actor is not None else "none",
                    client=client_key(actor or ANONYMOUS, self._address(request.scope)),
                    action=f"GET {request.url.path}" + (f"?{query}" if query else ""),
                    outcome="failed"
                    if response.status_code >= 500
                    else "refused"
                    if refused
                    else "ok",
                    reason=reason,
                    process=self.role,
                )
            )
            return response

        return wrapped

    def operation_context(self, socket: _Socket) -> RequestContext:
        """A fresh context for one operation of a WebSocket, as the socket's actor now."""
        return RequestContext(
            self.store,
            self._policy(),
            actor=socket.actor,
            client=client_key(socket.actor, socket.address),
            services=self.services,
        )

    def _address(self, scope: Any) -> str | None:
        """The client's address: the connection's, or, from a trusted proxy
        (`NEWSGRAPH_TRUSTED_PROXIES`), what its X-Forwarded-For says."""
        return request_address(scope, self._trusted)

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
            self.listen(follower)
            follower.start(ticking=self.follows_log)
        return follower

    def listen(self, follower: Follower) -> None:
        """Have `follower` tell this app's response cache what it applies."""
        if self.response_cache is not None:
            follower.listeners.append(self.response_cache.absorb)

    def _stamped(self, scope: Any, send: Send, follower: Follower) -> Send:
        """`send`, adding to the answer the change log entry it includes (`CHANGE_HEADER`):
        the writer process names the latest commit (its own write's or later); the analyst's,
        the CPU seconds its heavy reads took (`READ_SECONDS_HEADER`), for the worker."""

        async def stamped(message: Message) -> None:
            if message["type"] == "http.response.start":
                seq = follower.position if self.follows_log else self.store.last_change()
                headers = list(message.get("headers", []))
                headers.append((CHANGE_HEADER.encode(), str(seq).encode()))
                headers.append((PROCESS_HEADER.encode(), self.role.encode()))
                spent = scope.get("state", {}).get(ANALYTICS_SECONDS)
                if self.behind_workers and isinstance(spent, list) and spent[0] > 0:
                    headers.append((READ_SECONDS_HEADER.encode(), f"{spent[0]:.6f}".encode()))
                message = {**message, "headers": headers}
            await send(message)

        return stamped

    async def _forward(self, scope: Any, body: bytes, actor: Actor, send: Send) -> None:
        """Send a mutation to the writer process; answer with its answer once this worker's
        memory shows the write."""
        assert self.writer is not None
        client = client_key(actor, self._address(scope))
        try:
            answer = await self.writer.send(body, _headers(scope), client)
        except UpstreamBusy:
            await _busy(f"{self.writer.queue} writes", scope, send)
            return
        except UpstreamUnavailable as exc:
            log.error("the writer process cannot be reached: %s", exc)
            message = "the writer is not available now; try again shortly"
            await _refusal(503, message, {"Retry-After": str(RETRY_AFTER)})(scope, _empty, send)
            return
        follower = self.services.follower
        if follower is not None and answer.seq:
            await follower.reach(answer.seq, CATCH_UP_TIMEOUT)
        await _relayed(answer, scope, send)

    async def _to_analyst(self, scope: Any, body: bytes | None, actor: Actor, send: Send) -> bool:
        """Send a query selecting heavy fields to the analyst process (a POST of `body`, or
        the GET of the request's query string) and answer with its answer; False when the
        analyst cannot be reached (restarting): the worker answers it itself then."""
        assert self.analyst is not None
        client = client_key(actor, self._address(scope))
        try:
            answer = await self.analyst.send(
                body, _headers(scope), client, query_string=scope.get("query_string", b"")
            )
        except UpstreamBusy:
            await _busy(f"{self.analyst.queue} analytics requests", scope, send)
            return True
        except UpstreamUnavailable as exc:
            log.warning("the analyst process cannot be reached (%s): answered here", exc)
            return False
        await _relayed(answer, scope, send)
        return True

    def encode_json(self, data: object) -> bytes:
        # What json.dumps(separators=(",", ":")) writes, but UTF-8 as it is (no \u escapes),
        # several times faster: msgspec, the store's encoder already (graph.embedded.codec)
        return _ENCODE(data)

    def decode_json(self, data: str | bytes) -> object:
        socket = _SOCKET.get()
        if socket is not None:  # a WebSocket message: held to its actor's body limit
            config = self.services.config
            anonymous = socket.actor.digest is None
            limit = config.max_body_bytes if anonymous else config.max_body_bytes_with_token
            size = len(data) if isinstance(data, bytes) else len(data.encode("utf-8"))
            if size > limit:
                who = "without a token" if anonymous else "with a token"
                raise _MessageTooLarge(f"message over {limit:,} bytes, the limit {who}")
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
        state = request.scope.setdefault("state", {})
        # held to the client's pace (api.slowdown): a refusal, an introspection answer
        if is_request_error(result):
            state[REFUSED] = True
        introspected = introspection.asked()
        if introspected:
            state[INTROSPECTED] = True
        reads = state.get(READS)
        # an answer with errors is not kept (api.response_cache), nor an introspection answer:
        # served from the cache it would pass no pace (its result is kept by api.introspection)
        if reads is not None and not introspected:
            reads.answered = True
            reads.errors = bool(result.errors)
        await self.metrics.answered(request, result)
        return response

    async def get_context(self, request: Request | WebSocket, response: Any) -> RequestContext:
        # Fresh DataLoaders per request: a loader kept across requests would cache forever.
        actor: Actor = request.state.actor
        client = client_key(actor, self._address(request.scope))
        if self.behind_workers:  # the worker says who its client is
            client = request.headers.get(CLIENT_HEADER) or client
        store = self.store
        if store.reads_from_memory:
            policy = self._policy()
        else:
            # A store that reads from a server: the policy is read again only when the change
            # log moved since it was read (the follower looks every 50 ms; a policy change
            # made here moves it before the mutation answers), off the event loop.
            follower = self.services.follower
            at = follower.position if follower is not None and follower.ticking else None
            state = request.scope.get("state", {})
            kept_at = state.get(POSITION) if state.get(READS) is not None else None
            if kept_at is not None and (at is None or at < kept_at):
                # an answer the response cache may keep: its policy must include every entry
                # its reads do (the follower may not have looked at the log since)
                at = kept_at
            if at is not None and at == self._policy_at and self._last_policy is not None:
                policy = self._last_policy
            else:
                policy = await asyncio.to_thread(self._policy)
                self._policy_at = at
        reads = request.scope.get("state", {}).get(READS)
        if reads is not None:  # an answer the response cache may keep: its reads noted
            store = recording(store, reads)
        context = RequestContext(store, policy, actor=actor, client=client, services=self.services)
        # what its heavy reads take, charged to its client's analytics time (api.slowdown)
        request.scope.setdefault("state", {})[ANALYTICS_SECONDS] = context.read_seconds
        return context

    def policy(self) -> Policy:
        """The store's policy, parsed again only when its stored text changes."""
        return self._policy()

    def _policy(self) -> Policy:
        """The store's policy (parsed again only when its stored text changes: `policy_of`)."""
        try:
            stored = self.store.get_setting(POLICY_SETTING)
        except StoreUnavailable:
            # The server is down: the policy last read (the default before any), so that the
            # request reaches its fields, which answer the outage as a GraphQL error.
            return self._last_policy if self._last_policy is not None else policy_of(None)
        self._last_policy = policy_of(stored)
        return self._last_policy


def _middleware(
    config: AppConfig, metrics: Metrics, slowdown: SlowDown | None, cached: Cached | None
) -> list[Middleware]:
    """In front, the response cache's answers as the layers below made them (`api.hit_lane`,
    with the fast lane); counting, the clients' pace (`api.slowdown`: in a process answering
    clients), compression (starlette's GZipMiddleware: answers over `gzip_minimum_size` bytes
    to clients that accept it) and, for a site on other origins, CORS."""
    stack = []
    if cached is not None and config.fast_lane:
        lane = Middleware(
            HitLane,
            cached=cached,
            metrics=metrics,
            slowdown=slowdown,
            cors=bool(config.cors_origins),
            size=config.response_cache_bytes // 4,
        )
        stack.append(lane)
    stack.append(Middleware(Counted, metrics=metrics))
    if slowdown is not None and slowdown.active:
        # inside the count: its time and the 429 it may answer are what the client saw
        stack.append(Middleware(Paced, slowdown=slowdown))
    if config.cors_origins:
        stack.append(
            Middleware(
                CORSMiddleware,
                allow_origins=list(config.cors_origins),
                allow_methods=["GET", "POST"],
                allow_headers=["Authorization", "Content-Type", "Accept", "If-None-Match"],
                expose_headers=["ETag", CHANGE_HEADER],
                max_age=600,
            )
        )
    stack.append(Middleware(GZipMiddleware, minimum_size=config.gzip_minimum_size))
    return stack


def _cached(graphql: GraphQLApp, app: ASGIApp) -> Cached | None:
    """The response cache in front of `app`, when `graphql` has one (else None)."""
    cache = graphql.response_cache
    if cache is None:
        return None
    return Cached(app, cache, graphql.persisted.kept, graphql.services.config.max_body_bytes)


def create_app(
    store: GraphStore,
    tokens: Tokens | None = None,
    config: AppConfig | None = None,
    on_startup: Callable[[], None] | None = None,
    writer: Writer | None = None,
    behind_workers: bool = False,
    analyst: Analyst | None = None,
    follows_log: bool | None = None,
    sockets: SocketCount | None = None,
    turns: ApplyTurns | None = None,
    shared_answers: SharedAnswers | None = None,
) -> Starlette:
    """The app serving `store`; the lifespan calls `store.setup()` and `store.close()`, and
    follows the store's change log meanwhile (`api.follow`).
    The entry point builds `tokens` (none: every caller is anonymous) and `config` (the
    submission rate) from its settings (`newsgraph.wiring.app_arguments`). A reader worker of
    `newsgraph serve --workers` gets `writer` (mutations go there) and `analyst` (queries
    selecting heavy fields go there); the writer process, `behind_workers`; the analyst
    process, `behind_workers` and `follows_log` (it reads, as a worker does). The workers
    share `sockets`, the count of open WebSockets (api.sockets); else the app counts its own;
    `turns`, how they take turns to apply the change log (api.follow), and the answers their
    response caches share, `shared_answers` (api.shared_answers; closed with the app)."""
    tokens = tokens if tokens is not None else Tokens()
    config = config if config is not None else AppConfig()
    audit = (
        AuditLog(config.audit_file, config.audit_days, config.audit_max_refusals)
        if config.audit_file
        else None
    )
    services = Services(
        submissions=RateLimiter(config.submit_rate),
        config=config,
        tokens=tokens,
        audit=audit,
        fragments=Fragments(config.kept_fragments) if config.kept_fragments else None,
    )

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        store.setup()
        if on_startup is not None:
            on_startup()
        follower = services.follower = Follower(store, services.hub, turns=turns)
        graphql.listen(follower)
        follower.start(ticking=graphql.follows_log)
        try:
            yield
        finally:
            await follower.stop()
            services.follower = None
            if writer is not None:
                await writer.close()
            if analyst is not None:
                await analyst.close()
            if audit is not None:
                await asyncio.to_thread(audit.close)
            if shared_answers is not None:
                shared_answers.close()
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
            follower = services.follower
            following = graphql.follows_log and follower is not None
            change = follower.position if following and follower else store.last_change()
            return JSONResponse({"status": "ready", "change": change})
        if writer is not None:
            reason = await graphql.writer_ready()
            if reason is not None:
                return JSONResponse({"status": "unavailable", "reason": reason}, status_code=503)
        return JSONResponse({"status": "ready"})

    graphql = GraphQLApp(
        store,
        tokens,
        services,
        writer,
        behind_workers,
        analyst,
        follows_log,
        sockets,
        shared_answers,
    )
    services.process = graphql.role
    # The clients' pace, applied where clients connect: not in the writer or the analyst
    # process, whose callers are workers (each refusal they answer is paced by the worker).
    slowdown = SlowDown(config) if not behind_workers else None
    if slowdown is not None:  # what a persisted query's hash asks for, when it is paced
        slowdown.persisted = graphql.persisted.kept
    negotiated = Negotiated(graphql)
    cached = _cached(graphql, negotiated)
    app = Starlette(
        routes=[
            # GraphQL over HTTP: the answer's media type and status from Accept (api.media)
            # GET answers with validators and cache headers (api.delivery)
            # anonymous queries answered from memory while nothing they read changed
            # (api.response_cache)
            Route(
                "/graphql",
                Cacheable(cached or negotiated, store, config.cache_max_age),
                methods=["GET", "POST"],
            ),
            WebSocketRoute("/graphql", graphql),
            # Atom feeds of newly verified and disputed events (api.feeds)
            Route("/feeds/{level}.atom", feed_endpoint(store, graphql.policy)),
            Route("/health", health),
            Route("/ready", ready),
            Route("/metrics", graphql.metrics.endpoint),  # Prometheus (api.metrics)
            # files for analysts and editors (api.exports)
            Route(
                "/export/{format}",
                graphql.audited(export_endpoint(store, tokens)),  # type: ignore[arg-type]
                methods=["GET"],
            ),
            Route(
                "/export/counts/{format}",
                graphql.audited(counts_endpoint(store, tokens)),  # type: ignore[arg-type]
                methods=["GET"],
            ),
        ],
        middleware=_middleware(config, graphql.metrics, slowdown, cached),
        lifespan=lifespan,
    )
    app.state.slowdown = slowdown  # what it did, for tests
    app.state.fragments = services.fragments  # what it kept, for tests
    return app
