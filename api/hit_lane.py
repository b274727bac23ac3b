"""The hit lane: an anonymous POST whose answer the response cache holds, answered before the
app's layers run (docs/site.md).

Finding a kept answer is cheap (a digest of the request's bytes, a look-up, a check against
the change log), but on its way out the answer passed through every layer of the app, each
wrapping its two messages: the count and timing (`api.metrics.Counted`), the clients' pace
(`api.slowdown.Paced`), compression (starlette's GZipMiddleware), starlette's exception layer
and router, the validators (`api.delivery.Cacheable`) and the cache's own. Measured on cached
event pages (2 workers, 8 clients): 0.073 ms of CPU a page a worker with the layers in front,
0.046 without them; 5,950 against 10,100 pages a second (docs/benchmarks.md, issue 17).

So the first time the cache answers a request through the whole app, what left the app (its
status, headers and body, compressed or not as that request asked) is recorded, keyed by the
request's bytes and Accept header (the cache's own alias of the request) and whether it
accepts gzip, with the kept answer it was made from. While the cache still holds that same
answer, unchanged by any write since (`ResponseCache.current`), the same request is answered
with what was recorded, its two per-request headers set again (the change log entry it
includes, the cache's outcome), counted as a hit by the cache and as a request by the metrics,
as the layers would have. The recording goes with its answer: a write that changes what the
answer read makes the cache drop it, and the request goes the whole way again; an answer the
cache evicts takes its records with it. A record of an uncompressed answer shares the kept
answer's bytes, so only its headers count against the lane's bound (a quarter of the cache's):
counted again, the lane held a quarter of the pages the cache did, and on a site with more
pages than that the rest went the whole way at every hit.

What could make an answer differ goes the whole way, as it came:
- anything but an anonymous POST to /graphql of `application/json` (a GET's validators depend
  on the change log entry of each request, `api.delivery`);
- a body the pace charges by size (over `api.slowdown.PACED_BODY`), or a client owing
  analytics time (`Paced` holds it first); an operation asking an analytics field is never
  recorded (its pace charges it when answered);
- an `Origin` header when CORS is configured (its headers depend on the origin);
- a request the cache has not keyed yet, an answer not recorded yet, or not the one the cache
  holds now.

`tests/test_hit_lane.py` compares the answers, headers included, of the lane and of the app.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

from cachetools import LRUCache
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.forward import CHANGE_HEADER
from api.response_cache import (
    CACHE_HEADER,
    HIT_BODY,
    PER_REQUEST,
    Cached,
    raw_key,
    read_body,
)
from api.slowdown import GRAPHQL_PATH, PACED_BODY
from graph.store import StoreError

if TYPE_CHECKING:
    from api.metrics import Metrics
    from api.slowdown import SlowDown

_HIT = (CACHE_HEADER.encode(), b"hit")
_CHANGE = CHANGE_HEADER.encode()


@dataclass(frozen=True, slots=True)
class Recorded:
    """What left the app for a request the cache answered: `source` is the kept answer's body
    it was made from (the very object: an answer made again is another)."""

    source: bytes
    headers: tuple[tuple[bytes, bytes], ...]  # without the per-request ones (the status: 200)
    body: bytes


class Counts:
    """How many requests the hit lane answered in this process (what tests look at)."""

    answered = 0


def _size(recorded: Recorded) -> int:
    # An identity answer's body is the kept answer's own bytes, counted by the cache, and its
    # record goes when the kept answer does (`HitLane._dropped`): only its headers count here.
    body = 0 if recorded.body is recorded.source else len(recorded.body)
    return body + 64 * (len(recorded.headers) + 2)


class HitLane:
    """In front of the app's layers: anonymous POSTs the response cache holds, answered as
    recorded (see the module)."""

    def __init__(
        self,
        app: ASGIApp,
        cached: Cached,
        metrics: Metrics,
        slowdown: SlowDown | None,
        cors: bool,
        size: int,
    ) -> None:
        self.app = app
        self.cached = cached
        self.metrics = metrics
        self.slowdown = slowdown if slowdown is not None and slowdown.active else None
        self.cors = cors
        # bounded in bytes as `_size` counts them
        self.recorded: LRUCache[tuple[str, bool], Recorded] = LRUCache(
            maxsize=max(size, 1), getsizeof=_size
        )
        # the records made from each kept answer (by the cache's key), dropped when it ends
        self._made: dict[str, set[tuple[str, bool]]] = {}
        cached.cache.on_end = self._dropped

    def _dropped(self, key: str | None) -> None:
        """The cache no longer keeps the answer to `key` (None: any answer): its records go
        too, so that none holds bytes the cache let go of."""
        if key is None:
            self.recorded = LRUCache(maxsize=self.recorded.maxsize, getsizeof=_size)
            self._made.clear()
            return
        for at in self._made.pop(key, ()):
            self.recorded.pop(at, None)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        cached = self.cached
        if scope["type"] != "http" or scope["method"] != "POST" or scope["path"] != GRAPHQL_PATH:
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()  # as `Counted` times it: from the request's arrival
        # the headers the layers read, each as starlette reads it (the first of its name)
        accept = encoding = media = length = None
        for name, value in scope["headers"]:
            if name == b"authorization" or (name == b"origin" and self.cors):
                await self.app(scope, receive, send)
                return
            if name == b"accept":
                accept = value if accept is None else accept
            elif name == b"accept-encoding":
                encoding = value if encoding is None else encoding
            elif name == b"content-type":
                media = value if media is None else media
            elif name == b"content-length":
                length = value if length is None else length
        if (
            media is None
            or media.split(b";")[0].strip().lower() != b"application/json"
            or length is None
            or not length.isdigit()
            or int(length) > min(cached.max_body, PACED_BODY)
        ):
            await self.app(scope, receive, send)
            return
        slowdown = self.slowdown
        if slowdown is not None and slowdown.analytics is not None:
            client = slowdown.anonymous_client(scope)
            if slowdown.analytics.owed(client, time.monotonic()) > 0:
                await self.app(scope, receive, send)  # its pace decides, the whole way
                return
        body, receive = await read_body(receive, cached.max_body)
        if body is None:
            await self.app(scope, receive, send)
            return
        accepted = accept.decode("latin-1") if accept is not None else None
        alias = raw_key(b"P", body, accepted)
        gzip = encoding is not None and b"gzip" in encoding
        key = cached.known(alias)
        if key is None:
            await self.app(scope, receive, send)
            return
        recorded = self.recorded.get((alias, gzip))
        if recorded is not None and await self._answer(cached, key, recorded, send):
            Counts.answered += 1
            if self.metrics.clients:
                self.metrics.request(GRAPHQL_PATH, "query", 200, time.perf_counter() - start)
            return
        await self._record(scope, receive, send, key, (alias, gzip), body)

    async def _answer(self, cached: Cached, key: str, recorded: Recorded, send: Send) -> bool:
        """Answer as recorded if the cache holds the answer it was made from, else False
        (nothing sent)."""
        cache = cached.cache
        try:
            seen = await cache.follow()
        except StoreError:  # the log cannot be read now: the whole way decides
            return False
        entry = cache.current(key)
        if entry is None or entry.body is not recorded.source:
            return False
        cache.answered(key)
        position = str(cache.position or seen).encode()
        headers = [*recorded.headers, (_CHANGE, position), _HIT]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": recorded.body})
        return True

    async def _record(
        self,
        scope: Scope,
        receive: Receive,
        send: Send,
        key: str,
        at: tuple[str, bool],
        body: bytes,
    ) -> None:
        """The whole way, what left the app recorded when the cache answered it."""
        sent: list[Message] = []

        async def recording(message: Message) -> None:
            sent.append(message)
            await send(message)

        await self.app(scope, receive, recording)
        source = scope.get("state", {}).get(HIT_BODY)
        if not isinstance(source, bytes) or len(sent) != 2:
            return
        start, end = sent
        if (
            start["type"] != "http.response.start"
            or start["status"] != 200
            or end["type"] != "http.response.body"
            or end.get("more_body", False)
        ):
            return
        slowdown = self.slowdown
        if slowdown is not None and slowdown.asks_analytics(scope, body):
            return  # charged by its pace when answered
        headers = tuple((k, v) for k, v in start.get("headers", []) if k.lower() not in PER_REQUEST)
        recorded = Recorded(source, headers, end.get("body", b""))
        kept = self.cached.cache.current(key)
        if kept is not None and kept.body is source and _size(recorded) <= self.recorded.maxsize:
            self.recorded[at] = recorded
            self._made.setdefault(key, set()).add(at)
