"""Delivering pages to caches: validators and cache headers on GET queries, and automatic
persisted queries (docs/site.md).

- `Cacheable` wraps the /graphql route. A GET's successful answer carries an `ETag` made of
  the change log entry its reads include at least (`GraphStore.read_position`, read before it
  runs)
  and a digest of the request (its query string and the headers the answer varies by:
  Accept, Authorization), with `Cache-Control` (public and `max-age` for the anonymous,
  private for a token's) and `Vary`. A GET whose `If-None-Match` names the ETag the request
  would get now is answered 304 without running, when the latest committed entry
  (`GraphStore.last_change`, which reads never run ahead of) is still the one in the ETag: so
  every write changes the ETag of every page, and a page is never answered 304 once a write
  may have changed it.
- `PersistedQueries` is the Apollo convention of automatic persisted queries: a request may
  send `extensions.persistedQuery.sha256Hash` instead of its query; a hash this process has not
  seen is answered with the standard `PersistedQueryNotFound` error, and the client sends the
  query with the hash once, which is then kept (an LRU of bounded size, per process).
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Callable
from typing import Any

from cachetools import LRUCache
from starlette.datastructures import Headers
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.conditional import none_match
from api.forward import CHANGE_HEADER, PROCESS_HEADER
from api.response_cache import POSITION
from graph.store import GraphStore

# The message and code Apollo's clients (and its server) use for a hash the server lacks.
NOT_FOUND = "PersistedQueryNotFound"
NOT_FOUND_CODE = "PERSISTED_QUERY_NOT_FOUND"
# The headers an answer varies by, beside the query string (the media type, the caller).
VARY = ("Accept", "Authorization")


class PersistedQueryError(Exception):
    """A persisted query the request cannot be answered for: answered as a GraphQL error with
    `code` in its extensions (`api.app`)."""

    def __init__(self, message: str, code: str) -> None:
        super().__init__(message)
        self.code = code


class PersistedQueries:
    """The queries sent with their hash, by hash, the least recently used forgotten first."""

    def __init__(self, size: int) -> None:
        self._queries: LRUCache[str, str] = LRUCache(maxsize=size)

    def kept(self, digest: str) -> str | None:
        """The query kept under `digest` (lower-case hex), if any."""
        return self._queries.get(digest)

    def resolve(self, query: str | None, extensions: dict[str, Any] | None) -> str | None:
        """The query a request runs: its own (kept under its hash when it sends one), or the
        one kept under the hash it sends instead."""
        persisted = (extensions or {}).get("persistedQuery")
        if persisted is None:
            return query
        if not isinstance(persisted, dict) or persisted.get("version") != 1:
            raise PersistedQueryError(
                "extensions.persistedQuery: only version 1 (a sha256Hash) is supported",
                "PERSISTED_QUERY_NOT_SUPPORTED",
            )
        digest = persisted.get("sha256Hash")
        if not isinstance(digest, str) or len(digest) != 64:
            raise PersistedQueryError(
                "extensions.persistedQuery.sha256Hash must be a SHA-256 hex digest",
                "BAD_USER_INPUT",
            )
        digest = digest.lower()
        if query is None:
            kept = self._queries.get(digest)
            if kept is None:
                raise PersistedQueryError(NOT_FOUND, NOT_FOUND_CODE)
            return kept
        if hashlib.sha256(query.encode()).hexdigest() != digest:
            raise PersistedQueryError("provided sha does not match query", "BAD_USER_INPUT")
        self._queries[digest] = query
        return query


def _digest(scope: Scope) -> str:
    headers = Headers(scope=scope)
    request = hashlib.sha256(scope.get("query_string", b""))
    for name in VARY:
        request.update(b"\x1f" + (headers.get(name) or "").encode())
    return request.hexdigest()[:24]


class Cacheable:
    """The GraphQL route, GET answers given validators and cache headers (see the module)."""

    def __init__(self, app: ASGIApp, store: GraphStore, max_age: int) -> None:
        self.app = app
        self.store = store
        self.max_age = max_age

    async def _read(self, read: Callable[[], int]) -> int:
        if self.store.reads_from_memory:  # memory, or one local read of the log's head
            return read()
        return await asyncio.to_thread(read)  # a round trip to the server

    def _headers(self, scope: Scope, tag: str) -> list[tuple[bytes, bytes]]:
        anonymous = Headers(scope=scope).get("authorization") is None
        control = (
            f"public, max-age={self.max_age}, must-revalidate" if anonymous else "private, no-cache"
        )
        return [
            (b"etag", tag.encode()),
            (b"cache-control", control.encode()),
            (b"vary", ", ".join(VARY).encode()),
        ]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "GET" or not scope.get("query_string"):
            await self.app(scope, receive, send)
            return
        digest = _digest(scope)
        asked = Headers(scope=scope).get("if-none-match")
        if asked is not None:
            latest = await self._read(self.store.last_change)
            tag = f'W/"{latest}-{digest}"'
            if none_match(asked, tag):
                await Response(status_code=304, headers=dict(_decoded(self._headers(scope, tag))))(
                    scope, receive, send
                )
                return
        # read before the answer is: its reads include this entry at least (and the response
        # cache follows the log up to it, api.response_cache)
        seen = await self._read(self.store.read_position)
        scope.setdefault("state", {})[POSITION] = seen

        async def tagged(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                if any(k.lower() == b"cache-control" for k, _ in headers):
                    pass  # the answer says already (a refusal: not to be kept)
                elif message["status"] == 200:
                    headers += self._headers(scope, f'W/"{_answered_at(headers, seen)}-{digest}"')
                else:
                    headers.append((b"cache-control", b"no-store"))
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, tagged)


def _answered_at(headers: list[tuple[bytes, bytes]], seen: int) -> int:
    """The change log entry an answer's reads include: `seen`, or, for an answer another
    process made (the analyst process of `serve --workers`, api.forward), the entry that
    process says it was at, if earlier."""
    found = Headers(raw=headers)
    if found.get(PROCESS_HEADER) == "analyst":
        stamped = found.get(CHANGE_HEADER, "")
        if stamped.isdigit():
            return min(seen, int(stamped))
    return seen


def _decoded(headers: list[tuple[bytes, bytes]]) -> list[tuple[str, str]]:
    return [(k.decode("latin-1"), v.decode("latin-1")) for k, v in headers]
