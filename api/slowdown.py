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
connections."""

from __future__ import annotations

import asyncio
import json
import math
import time
from collections import Counter
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.auth import RateLimiter
from api.config import AppConfig
from api.tokens import ANONYMOUS, Actor, client_key, parse_networks, request_address

# The scope's state keys under which the GraphQL app marks an answer (`api.app`).
REFUSED = "newsgraph.refused"
INTROSPECTED = "newsgraph.introspected"
# A sleep is this much past the moment `limits` frees the window, which counts a hit still
# inside it at that very moment.
_MARGIN = 0.001


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
        self.trusted = parse_networks(config.trusted_proxies)
        # answers held back and let through, and answered 429 past the bound, by kind
        # (refusal, introspection): what tests and logs look at
        self.delayed: Counter[str] = Counter()
        self.turned_away: Counter[str] = Counter()

    @property
    def active(self) -> bool:
        return self.refusals is not None or self.introspection is not None

    def client(self, scope: Scope) -> str:
        """The key of the request's client: its token's name (as the GraphQL app found it),
        else its address."""
        actor: Any = scope.get("state", {}).get("actor")
        address = request_address(scope, self.trusted)
        return client_key(actor if isinstance(actor, Actor) else ANONYMOUS, address)

    def pace_of(self, scope: Scope, status: int) -> tuple[str, Pace] | None:
        """Which pace an answer of `status` to this request is held to, if any."""
        state = scope.get("state", {})
        if 400 <= status < 500 or state.get(REFUSED):
            return ("refusal", self.refusals) if self.refusals is not None else None
        if state.get(INTROSPECTED) and self.introspection is not None:
            return "introspection", self.introspection
        return None


def _too_many(kind: str, pace: Pace, retry_after: float) -> tuple[Message, Message]:
    """The 429 answered instead of an answer past the bound: GraphQL's error shape."""
    seconds = max(1, math.ceil(retry_after))
    what = "refused requests" if kind == "refusal" else "introspection queries"
    message = f"too many {what} from this client (more than {pace.rate}): try again in {seconds} s"
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
    sent; past the bound, a 429 sent instead of it."""

    def __init__(self, app: ASGIApp, slowdown: SlowDown) -> None:
        self.app = app
        self.slowdown = slowdown

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        slowdown = self.slowdown
        if scope["type"] != "http" or not slowdown.active:
            await self.app(scope, receive, send)
            return
        replaced = False

        async def paced(message: Message) -> None:
            nonlocal replaced
            if replaced:
                return  # the body of an answer a 429 replaced
            if message["type"] == "http.response.start":
                found = slowdown.pace_of(scope, message["status"])
                if found is not None:
                    kind, pace = found
                    waited, retry_after = await pace.wait(slowdown.client(scope))
                    if retry_after is not None:
                        slowdown.turned_away[kind] += 1
                        replaced = True
                        start, body = _too_many(kind, pace, retry_after)
                        await send(start)
                        await send(body)
                        return
                    if waited:
                        slowdown.delayed[kind] += 1
            await send(message)

        await self.app(scope, receive, paced)
