"""The ASGI application: GraphQL at /graphql on Starlette, the store opened in the lifespan."""

from __future__ import annotations

import contextlib
import json
import logging
from collections.abc import AsyncIterator, Callable
from typing import Any

from starlette.applications import Starlette
from starlette.datastructures import Headers
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route, WebSocketRoute
from starlette.types import Message, Receive
from starlette.websockets import WebSocket
from strawberry.asgi import GraphQL

from api.auth import RateLimiter
from api.config import AppConfig
from api.context import RequestContext, Services
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


def _refusal(status: int, message: str, headers: dict[str, str] | None = None) -> Response:
    return JSONResponse(
        {"data": None, "errors": [{"message": message}]}, status_code=status, headers=headers
    )


class GraphQLApp(GraphQL[RequestContext, None]):
    def __init__(self, store: GraphStore, tokens: Tokens, services: Services) -> None:
        # GraphiQL for a browser's GET, unless the config turns it off (then 404).
        super().__init__(schema, graphql_ide="graphiql" if services.config.graphiql else None)
        self.store = store
        self.tokens = tokens
        self.services = services
        self._cached: tuple[str | None, Policy] | None = None

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
            await super().__call__(scope, receive, send)
        except Refused as exc:  # raised while reading the request: nothing was sent yet
            await _refusal(exc.status, str(exc))(scope, receive, send)

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

    async def get_context(self, request: Request | WebSocket, response: Any) -> RequestContext:
        # Fresh DataLoaders per request: a loader kept across requests would cache forever.
        actor: Actor = request.state.actor
        address = request.client.host if request.client is not None else None
        return RequestContext(
            self.store,
            self._policy(),
            actor=actor,
            client=client_key(actor, address),
            services=self.services,
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
) -> Starlette:
    """The app serving `store`; the lifespan calls `store.setup()` and `store.close()`.
    The entry point builds `tokens` (none: every caller is anonymous) and `config` (the
    submission rate) from its settings (`newsgraph.wiring.app_arguments`)."""
    tokens = tokens if tokens is not None else Tokens()
    config = config if config is not None else AppConfig()
    services = Services(submissions=RateLimiter(config.submit_rate), config=config)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        store.setup()
        if on_startup is not None:
            on_startup()
        try:
            yield
        finally:
            store.close()

    async def health(request: Request) -> Response:
        # Liveness: the process answers. Constant time; the store is not read (that is /ready).
        return JSONResponse({"status": "ok"})

    def ready(request: Request) -> Response:
        # Readiness: the store answers a cheap read (`GraphStore.ping`). Not async, so Starlette
        # runs it in its thread pool: a store that is slow to refuse never holds the event loop.
        try:
            store.ping()
        except StoreError as exc:
            return JSONResponse({"status": "unavailable", "reason": str(exc)}, status_code=503)
        except Exception as exc:
            log.exception("the readiness check failed")
            reason = f"the store's check failed unexpectedly ({type(exc).__name__}); see the log"
            return JSONResponse({"status": "unavailable", "reason": reason}, status_code=503)
        return JSONResponse({"status": "ready"})

    graphql = GraphQLApp(store, tokens, services)
    return Starlette(
        routes=[
            Route("/graphql", graphql, methods=["GET", "POST"]),
            WebSocketRoute("/graphql", graphql),
            Route("/health", health),
            Route("/ready", ready),
        ],
        lifespan=lifespan,
    )
