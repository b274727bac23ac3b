"""The ASGI application: GraphQL at /graphql on Starlette, the store opened in the lifespan."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from strawberry.asgi import GraphQL

from api.dataloaders import Loaders
from api.schema import schema
from graph.confidence import POLICY_SETTING, Policy, current_policy
from graph.store import GraphStore


class GraphQLApp(GraphQL[Loaders, None]):
    def __init__(self, store: GraphStore) -> None:
        super().__init__(schema)
        self.store = store
        self._cached: tuple[str | None, Policy] | None = None

    async def get_context(self, request: Any, response: Any) -> Loaders:
        # Fresh DataLoaders per request: a loader kept across requests would cache forever.
        return Loaders(self.store, self._policy())

    def _policy(self) -> Policy:
        """The store's policy, parsed again only when its stored text changes."""
        stored = self.store.get_setting(POLICY_SETTING)
        if self._cached is None or self._cached[0] != stored:
            self._cached = (stored, current_policy(self.store))
        return self._cached[1]


def create_app(store: GraphStore, on_startup: Callable[[], None] | None = None) -> Starlette:
    """The app serving `store`; the lifespan calls `store.setup()` and `store.close()`."""

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

    graphql = GraphQLApp(store)
    return Starlette(
        routes=[Route("/graphql", graphql, methods=["GET", "POST"]), Route("/health", health)],
        lifespan=lifespan,
    )
