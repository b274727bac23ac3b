"""The ASGI application: GraphQL at /graphql on Starlette, the store opened in the lifespan."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable
from typing import Any

from starlette.applications import Starlette
from starlette.datastructures import Headers
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket
from strawberry.asgi import GraphQL

from api.auth import RateLimiter
from api.config import AppConfig
from api.context import RequestContext, Services
from api.schema import schema
from api.tokens import Actor, AuthError, Tokens, client_key
from graph.confidence import POLICY_SETTING, Policy, current_policy
from graph.store import GraphStore


class GraphQLApp(GraphQL[RequestContext, None]):
    def __init__(self, store: GraphStore, tokens: Tokens, services: Services) -> None:
        super().__init__(schema)
        self.store = store
        self.tokens = tokens
        self.services = services
        self._cached: tuple[str | None, Policy] | None = None

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        # A bad bearer token is refused before GraphQL runs: 401, in GraphQL's error shape.
        headers = Headers(scope=scope)
        try:
            # kept in the request's state for `get_context`
            scope.setdefault("state", {})["actor"] = self.tokens.authenticate(
                headers.get("authorization")
            )
        except AuthError as exc:
            if scope["type"] == "websocket":
                await send({"type": "websocket.close", "code": 4401, "reason": str(exc)})
                return
            body = {"data": None, "errors": [{"message": str(exc)}]}
            response = JSONResponse(body, status_code=401, headers={"WWW-Authenticate": "Bearer"})
            await response(scope, receive, send)
            return
        await super().__call__(scope, receive, send)

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
    services = Services(submissions=RateLimiter(config.submit_rate))

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
        return JSONResponse({"status": "ok", "counts": store.counts()})

    graphql = GraphQLApp(store, tokens, services)
    return Starlette(
        routes=[
            Route("/graphql", graphql, methods=["GET", "POST"]),
            WebSocketRoute("/graphql", graphql),
            Route("/health", health),
        ],
        lifespan=lifespan,
    )
