"""The slow-down of what an abusive client repeats (issue 16, docs/security.md): as nginx's
`limit_req` with a delay, a client's refused requests beyond `AppConfig.refusal_rate`, and its
introspection answers beyond `AppConfig.introspection_rate`, wait (asleep: no CPU) until its
window allows them, at most `AppConfig.slowdown_max_delay` seconds; one still not allowed then
is answered 429 with Retry-After instead.

A client in a closed loop sends again as soon as it has an answer, so every cheap answer (a
413, a refusal by a limit, an introspection served from memory) lets it take more of the CPU
that pages need; held back, the loop slows to the rate. Pages are never held back: only the
answers above are, so a reader behind the same address as an attacker is served as before.

One place, `Paced`, the outermost middleware of a process that answers clients, decides at the
answer's `http.response.start`: a 4xx is a refusal; so is a GraphQL answer the app marked in
the scope's state (`REFUSED`: a request error, what `application/graphql-response+json` answers
400), and an introspection answer is marked `INTROSPECTED` (`api.app`). A client is keyed as
the submission limit keys it (`api.tokens.client_key`: its token's name, else its address,
from a trusted proxy's X-Forwarded-For). The windows are `limits`' moving windows in this
process's memory (`api.auth.RateLimiter`): each worker of `serve --workers` paces its own
connections.

An anonymous client's analytics are paced by what they cost, in seconds (`TokenBucket`, a
token bucket per client address: `AppConfig.analytics_time_rate` seconds a second, and a burst
of `analytics_time_burst`): each operation selecting a field of `api.forward.ANALYTICS_FIELDS`
(the heavy fields, `search`, `find`, `eventCounts`) is charged, as its answer starts, the CPU
seconds its reads of the store took in their threads (`api.heavy`: in this process, or in the
analyst's, whose answer says it), at least `ANALYTICS_FLOOR` (an answer from the response
cache too). An algorithm's computation in a heavy process (at the lowest priority, and within
its own time budget) is not charged: it takes no time from pages (docs/security.md). A client
in debt has its next such operation wait, asleep, before it runs (nothing was computed for it
yet), until the debt is paid, at most `slowdown_max_delay` seconds; then a 429 with
Retry-After. Other requests of the client, pages among them, never wait. A request with an
Authorization header is a token holder's, accountable, and not paced by its analytics time.

An anonymous client's request bodies over `PACED_BODY` bytes (a page's is about 1 KiB) are
paced by their size the same way (`AppConfig.body_rate` bytes a second and a burst of
`body_burst`): charged as declared before the app reads them, waiting first while the client
owes, then a 429. One client sending valid 60 KiB operations in a closed loop was answered
2,500 times a second, every one read and parsed (docs/security.md)."""

from __future__ import annotations

import asyncio
import json
import math
import time
from collections import Counter
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qsl

from cachetools import LRUCache
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.auth import RateLimiter
from api.config import AppConfig
from api.forward import ANALYTICS_FIELDS, asks_analytics
from api.tokens import ANONYMOUS, Actor, client_key, parse_networks, request_address

# The scope's state keys under which the GraphQL app marks an answer (`api.app`).
REFUSED = "newsgraph.refused"
INTROSPECTED = "newsgraph.introspected"
# A sleep is this much past the moment `limits` frees the window, which counts a hit still
# inside it at that very moment.
_MARGIN = 0.001
# The scope's state key of the CPU seconds a request's heavy reads took (`api.heavy`, in this
# process, or in the analyst's, as its answer says): what its analytics operation is charged.
ANALYTICS_SECONDS = "newsgraph.analytics_seconds"
# The least an analytics operation is charged (seconds), however fast it was answered (from
# the response cache, or refused): with the default rate, 25 such answers a second.
ANALYTICS_FLOOR = 0.01
# Clients whose analytics time is remembered (the least recently seen forgotten first).
ANALYTICS_CLIENTS = 100_000
# The path of the GraphQL endpoint, where analytics are asked for.
GRAPHQL_PATH = "/graphql"
# A request that names none of these (nor a persisted query) selects no analytics field: found
# without parsing its JSON, so that pages pay a few scans of their bytes at most.
_MAY_ASK = tuple(name.encode() for name in sorted(ANALYTICS_FIELDS)) + (b"persistedQuery",)
# An anonymous body over this many bytes is paced by its size (`AppConfig.body_rate`): a page's
# is about 1 KiB, a persisted query's or a GET's none.
PACED_BODY = 16 * 1024
# Anonymous clients' keys remembered by (peer, X-Forwarded-For), so that a page does not parse
# addresses again; forgotten all at once past this many.
_KEYS = 10_000


def _may_ask(raw: bytes) -> bool:
    return any(name in raw for name in _MAY_ASK)


class TokenBucket:
    """A token bucket per client of `rate` units a second and `burst` units (an anonymous
    client's seconds of analytics, or bytes of big bodies), kept as the moment its charges are
    paid off at that rate (the generic cell rate algorithm: one float per client). A request
    is charged what it took (`charge`); a client may start one when what it owes is within its
    burst (`owed`)."""

    def __init__(
        self, rate: float, burst: float, max_delay: float, floor: float = ANALYTICS_FLOOR
    ) -> None:
        self.rate = rate
        self.burst = burst
        self.max_delay = max_delay
        self.floor = floor
        self._paid_at: LRUCache[str, float] = LRUCache(maxsize=ANALYTICS_CLIENTS)

    def owed(self, client: str, now: float) -> float:
        """Seconds until `client` may start another request this bucket pays for (0: now)."""
        paid_at = self._paid_at.get(client)
        if paid_at is None:
            return 0.0
        return max(0.0, paid_at - now - self.burst / self.rate)

    def charge(self, client: str, units: float, now: float) -> None:
        """Charge `client` a request that took `units` (at least `floor`)."""
        paid_at = max(self._paid_at.get(client, now), now)
        self._paid_at[client] = paid_at + max(units, self.floor) / self.rate

    async def wait(self, client: str) -> tuple[bool, float | None]:
        """Wait until `client` may start a request this bucket pays for: whether it waited,
        and None when it may go or, after `max_delay` seconds, the seconds it still owes
        (Retry-After)."""
        deadline = time.monotonic() + self.max_delay
        waited = False
        while (owed := self.owed(client, time.monotonic())) > 0:
            waited = True
            left = deadline - time.monotonic()
            if owed > left:
                if left > 0:
                    await asyncio.sleep(left)  # so that a closed loop still slows
                return True, max(owed - left, 0.0)
            await asyncio.sleep(owed + _MARGIN)  # another operation may have been charged since
        return waited, None


class Pace:
    """One `limits` rate per client; `wait` lets an answer through within it, else asleep
    until the client's window allows it, for at most `max_delay` seconds."""

    def __init__(self, rate: str, max_delay: float) -> None:
        self.limiter = RateLimiter(rate)
        self.rate = rate
        self.max_delay = max_delay

    async def wait(self, client: str) -> tuple[bool, float | None]:
        """Let one of `client`'s answers through: whether it waited, and None when it went
        through (counted in its window) or, after `max_delay` seconds, the seconds until its
        window allows one more (the answer's Retry-After)."""
        deadline = time.monotonic() + self.max_delay
        waited = False
        while not self.limiter.hit(client):
            waited = True
            free_in = self.limiter.free_in(client) + _MARGIN
            left = deadline - time.monotonic()
            if free_in > left:
                # Not within the bound: sleep to it, so that a closed loop still slows.
                if left > 0:
                    await asyncio.sleep(left)
                return True, max(free_in - left, 0.0)
            await asyncio.sleep(free_in)  # another waiting answer may take the slot first
        return waited, None


class SlowDown:
    """The app's paces, from its config (none when a rate is empty), and what they did."""

    def __init__(self, config: AppConfig) -> None:
        delay = config.slowdown_max_delay
        self.refusals = Pace(config.refusal_rate, delay) if config.refusal_rate else None
        self.introspection = (
            Pace(config.introspection_rate, delay) if config.introspection_rate else None
        )
        self.analytics = (
            TokenBucket(
                config.analytics_time_rate,
                config.analytics_time_burst,
                config.slowdown_max_delay,
            )
            if config.analytics_time_rate > 0
            else None
        )
        # an anonymous client's bytes of bodies over `PACED_BODY`: the same bucket, of bytes
        self.bodies = (
            TokenBucket(config.body_rate, config.body_burst, config.slowdown_max_delay, 0.0)
            if config.body_rate > 0
            else None
        )
        # the largest body looked at for the analytics it asks for: an anonymous client's
        self.max_body = config.max_body_bytes
        # the query kept under a persisted query's hash (the GraphQL app's, `api.delivery`)
        self.persisted: Callable[[str], str | None] = lambda _digest: None
        self.trusted = parse_networks(config.trusted_proxies)
        self._keys: dict[tuple[str | None, bytes | None], str] = {}
        # answers held back and let through, and answered 429 past the bound, by kind
        # (refusal, introspection): what tests and logs look at
        self.delayed: Counter[str] = Counter()
        self.turned_away: Counter[str] = Counter()

    @property
    def active(self) -> bool:
        return (
            self.refusals is not None
            or self.introspection is not None
            or self.analytics is not None
            or self.bodies is not None
        )

    def asks_analytics(self, scope: Scope, body: bytes | None) -> bool:
        """Whether a request to the GraphQL endpoint (its POST `body`, or else its query
        string) asks for an operation selecting a field of `ANALYTICS_FIELDS`."""
        if body is None:
            raw = scope.get("query_string", b"")
            if not _may_ask(raw):
                return False
            fields: Any = dict(parse_qsl(raw.decode("latin-1")))
            extensions = fields.get("extensions")
            if isinstance(extensions, str):
                try:
                    fields["extensions"] = json.loads(extensions)
                except ValueError:
                    return False
        else:
            if not _may_ask(body):
                return False
            try:
                fields = json.loads(body)
            except ValueError:  # not JSON, not UTF-8: refused by the app
                return False
        if not isinstance(fields, dict):
            return False  # a batch, or not a request: refused by the app
        query = fields.get("query")
        if query is None:
            persisted = (fields.get("extensions") or {}).get("persistedQuery")
            digest = persisted.get("sha256Hash") if isinstance(persisted, dict) else None
            query = self.persisted(digest.lower()) if isinstance(digest, str) else None
        return asks_analytics(query, fields.get("operationName"))

    def client(self, scope: Scope) -> str:
        """The key of the request's client: its token's name (as the GraphQL app found it),
        else its address."""
        actor: Any = scope.get("state", {}).get("actor")
        address = request_address(scope, self.trusted)
        return client_key(actor if isinstance(actor, Actor) else ANONYMOUS, address)

    def anonymous_client(self, scope: Scope) -> str:
        """The key of a request's client without a token (its address), remembered."""
        peer = scope["client"][0] if scope.get("client") else None
        forwarded = None
        if self.trusted:
            headers = scope.get("headers", ())
            forwarded = next((v for name, v in headers if name == b"x-forwarded-for"), None)
        key = self._keys.get((peer, forwarded))
        if key is None:
            if len(self._keys) >= _KEYS:
                self._keys.clear()
            address = request_address(scope, self.trusted)
            key = self._keys[(peer, forwarded)] = client_key(ANONYMOUS, address)
        return key

    def pace_of(self, scope: Scope, status: int) -> tuple[str, Pace] | None:
        """Which pace an answer of `status` to this request is held to, if any."""
        state = scope.get("state", {})
        if 400 <= status < 500 or state.get(REFUSED):
            return ("refusal", self.refusals) if self.refusals is not None else None
        if state.get(INTROSPECTED) and self.introspection is not None:
            return "introspection", self.introspection
        return None


def _too_many(kind: str, rate: str, retry_after: float) -> tuple[Message, Message]:
    """The 429 answered instead of an answer past the bound: GraphQL's error shape."""
    seconds = max(1, math.ceil(retry_after))
    what = {
        "refusal": "refused requests",
        "introspection": "introspection queries",
        "analytics": "analytics",
        "bodies": "large request bodies",
    }[kind]
    message = f"too many {what} from this client (more than {rate}): try again in {seconds} s"
    error = {"message": message, "extensions": {"code": "RATE_LIMITED"}}
    body = json.dumps({"data": None, "errors": [error]}).encode()
    start: Message = {
        "type": "http.response.start",
        "status": 429,
        "headers": [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
            (b"retry-after", str(seconds).encode()),
            (b"cache-control", b"no-store"),
        ],
    }
    return start, {"type": "http.response.body", "body": body}


class Paced:
    """Middleware: each answer held to its client's pace (`SlowDown.pace_of`) before it is
    sent; past the bound, a 429 sent instead of it. An anonymous client's analytics operation
    waits before it runs while the client owes analytics time (`TokenBucket`), and is
    charged as its answer starts."""

    def __init__(self, app: ASGIApp, slowdown: SlowDown) -> None:
        self.app = app
        self.slowdown = slowdown

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        slowdown = self.slowdown
        if scope["type"] != "http" or not slowdown.active:
            await self.app(scope, receive, send)
            return
        anonymous = _anonymous_graphql(scope)
        bodies = slowdown.bodies if anonymous else None
        size = _declared_size(scope) if bodies is not None else 0
        if bodies is not None and size > PACED_BODY:
            # a big anonymous body: paid for, in bytes, before it is read further
            sender = slowdown.anonymous_client(scope)
            rate = f"{bodies.rate:g} bytes a second of bodies over {PACED_BODY:,} bytes"
            if not await _held(slowdown, "bodies", bodies, sender, rate, send):
                return
            bodies.charge(sender, size, time.monotonic())
        timed = slowdown.analytics if anonymous else None
        client = ""
        posted = scope["method"] == "POST"
        body: list[bytes | None] = [None]  # the POST body, once read whole (within max_body)
        if timed is not None:
            client = slowdown.anonymous_client(scope)
            if timed.owed(client, time.monotonic()) > 0:
                # in debt: what the request asks must be known before it runs
                if posted:
                    body[0], receive = await _read(receive, scope, slowdown.max_body)
                if (body[0] is not None or not posted) and slowdown.asks_analytics(scope, body[0]):
                    rate = f"{timed.rate:g} s of analytics a second"
                    if not await _held(slowdown, "analytics", timed, client, rate, send):
                        return
            elif posted:
                receive = _keeping(receive, body, slowdown.max_body)
        replaced = False

        async def paced(message: Message) -> None:
            nonlocal replaced
            if replaced:
                return  # the body of an answer a 429 replaced
            if message["type"] == "http.response.start":
                whole = body[0] is not None or not posted
                if timed is not None and whole and slowdown.asks_analytics(scope, body[0]):
                    spent = scope.get("state", {}).get(ANALYTICS_SECONDS)
                    seconds = spent[0] if isinstance(spent, list) else 0.0
                    timed.charge(client, seconds, time.monotonic())
                found = slowdown.pace_of(scope, message["status"])
                if found is not None:
                    kind, pace = found
                    waited, retry_after = await pace.wait(slowdown.client(scope))
                    if retry_after is not None:
                        slowdown.turned_away[kind] += 1
                        replaced = True
                        start, end = _too_many(kind, pace.rate, retry_after)
                        await send(start)
                        await send(end)
                        return
                    if waited:
                        slowdown.delayed[kind] += 1
            await send(message)

        await self.app(scope, receive, paced)


async def _held(
    slowdown: SlowDown, kind: str, bucket: TokenBucket, client: str, rate: str, send: Send
) -> bool:
    """Hold a request while `client` owes `bucket`: True when it may go on; False when a 429
    with Retry-After was sent instead (past the longest wait)."""
    waited, retry_after = await bucket.wait(client)
    if retry_after is not None:
        slowdown.turned_away[kind] += 1
        for message in _too_many(kind, rate, retry_after):
            await send(message)
        return False
    if waited:
        slowdown.delayed[kind] += 1
    return True


def _anonymous_graphql(scope: Scope) -> bool:
    """Whether a request is a GET or POST to the GraphQL endpoint without an Authorization
    header (a token holder's is accountable, and not paced by its analytics or bodies)."""
    if scope.get("path") != GRAPHQL_PATH or scope["method"] not in ("GET", "POST"):
        return False
    return not any(name == b"authorization" for name, _ in scope.get("headers", ()))


def _declared_size(scope: Scope) -> int:
    """The request body's size as its Content-Length declares it (0: none declared)."""
    for name, value in scope.get("headers", ()):
        if name == b"content-length" and value.isdigit():
            return int(value)
    return 0


async def _read(receive: Receive, scope: Scope, limit: int) -> tuple[bytes | None, Receive]:
    """The request's body, if at most `limit` bytes (None if longer, or declared longer:
    refused by the app, unread), and a `receive` giving what was read again, then the rest."""
    if _declared_size(scope) > limit:
        return None, receive
    read: list[Message] = []
    size = 0
    while True:
        message = await receive()
        read.append(message)
        if message["type"] != "http.request":
            break
        size += len(message.get("body", b""))
        if size > limit or not message.get("more_body", False):
            break
    body = b"".join(m.get("body", b"") for m in read if m["type"] == "http.request")
    whole = read[-1]["type"] == "http.request" and not read[-1].get("more_body", False)

    async def again() -> Message:
        if read:
            return read.pop(0)
        return await receive()

    return (body if whole and size <= limit else None), again


def _keeping(receive: Receive, body: list[bytes | None], limit: int) -> Receive:
    """`receive`, keeping in `body[0]` the request's body once read whole (within `limit`)."""
    chunks: list[bytes] = []
    size = 0

    async def keeping() -> Message:
        nonlocal size
        message = await receive()
        if message["type"] == "http.request" and size <= limit:
            chunk = message.get("body", b"")
            chunks.append(chunk)
            size += len(chunk)
            if not message.get("more_body", False) and size <= limit:
                body[0] = chunks[0] if len(chunks) == 1 else b"".join(chunks)
        return message

    return keeping
