"""The app over a store holding the outlet registry and one file of records, as fixtures yield
it: a GraphQL client, and with `with_http` an ASGI httpx client beside it (for the REST routes)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import httpx

from api.app import create_app
from api.tokens import Tokens
from graph.store import GraphStore
from tests.conftest import load_file, load_outlets
from tests.support.graphql import GraphQLClient, asgi_client


def served(store: GraphStore, records: Path) -> Iterator[GraphQLClient]:
    """Load the registry and `records` into `store`, then yield a client of the app over it."""
    load_outlets(store)
    load_file(store, records)
    client = GraphQLClient(create_app(store))
    try:
        yield client
    finally:
        client.close()


def with_http(
    store: GraphStore, records: Path, tokens: str
) -> Iterator[tuple[GraphQLClient, httpx.AsyncClient]]:
    """As `served`, the app configured with `tokens`, and an ASGI httpx client beside."""
    load_outlets(store)
    load_file(store, records)
    app = create_app(store, Tokens.configured(tokens))
    client = GraphQLClient(app)
    http = asgi_client(app)
    try:
        yield client, http
    finally:
        client.close()
        asyncio.run(http.aclose())
