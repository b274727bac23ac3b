"""Atom feeds at plain URLs, for feed readers: `/feeds/verified.atom` and `/feeds/disputed.atom`,
the latest events to reach that confidence level, newest change first (the `RECENTLY_VERIFIED`
and `NEWLY_DISPUTED` orders of `events`, through the same store read).

Written with feedgen (docs/decisions.md): it escapes text, formats RFC 3339 dates and emits the
elements Atom requires (id, title, updated, an author), which a hand-written template would
have to get right by itself. A feed carries the same validators as a GET page (api.delivery):
an ETag made of the change log entry its read includes, 304 while nothing was written.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

from feedgen.feed import FeedGenerator
from starlette.requests import Request
from starlette.responses import Response

from api.conditional import none_match
from graph.confidence import Policy
from graph.history import history
from graph.model import Node
from graph.store import EventFilter, EventQuery, GraphStore

ATOM = "application/atom+xml; charset=utf-8"
ENTRIES = 50  # events per feed
LEVELS = ("verified", "disputed")  # the feeds served, by level
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _moment(text: str) -> datetime:
    """An RFC 3339 timestamp or a date as an aware datetime (UTC); the epoch if neither."""
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return EPOCH
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def atom(level: str, events: list[Node], base: str) -> bytes:
    """The Atom document of `events` (those that reached `level`, newest change first)."""
    feed = FeedGenerator()
    feed.id(f"{base}/feeds/{level}.atom")
    feed.title(f"newsgraph: newly {level} events")
    feed.author({"name": "newsgraph"})
    feed.link(href=f"{base}/feeds/{level}.atom", rel="self")
    feed.subtitle(f"The latest events whose confidence level became {level}.")
    latest = EPOCH
    for event in reversed(events):  # feedgen puts each new entry first
        changed = _moment(event.text("level_since"))
        latest = max(latest, changed)
        changes = history(event.id, event.props)
        why = changes[-1].detail if changes else ""
        entry = feed.add_entry()
        entry.id(f"{base}/events/{event.id}#{level}-{event.text('level_since')}")
        entry.title(event.text("summary") or event.id)
        entry.updated(changed)
        entry.published(changed)
        entry.summary(f"{level}: {why}" if why else level)
        entry.category(term=event.text("category"))
        entry.link(href=f"{base}/graphql?query=%7Bevent(id:%22{event.id}%22)%7Bsummary%7D%7D")
    feed.updated(latest)
    document: bytes = feed.atom_str(pretty=True)
    return document


def feed_endpoint(
    store: GraphStore, policy: Callable[[], Policy]
) -> Callable[[Request], Awaitable[Response]]:
    """The /feeds/{level}.atom endpoint over `store`; `policy` ranks the levels."""

    def answer(level: str, asked: str | None, base: str) -> Response:
        if asked is not None:
            latest = f'W/"{store.last_change()}-{level}"'
            if none_match(asked, latest):
                return Response(status_code=304, headers={"ETag": latest})
        tag = f'W/"{store.read_position()}-{level}"'  # before the read: it includes this
        flt = EventFilter(levels=(policy().rank(level),))
        events = store.query_events(EventQuery(flt, ENTRIES, order_by="level_since")).events
        headers = {"ETag": tag, "Cache-Control": "public, max-age=60, must-revalidate"}
        return Response(atom(level, events, base), headers=headers, media_type=ATOM)

    async def endpoint(request: Request) -> Response:
        level = request.path_params["level"]
        if level not in LEVELS:
            return Response(f"no feed '{level}': {', '.join(LEVELS)}\n", 404)
        asked = request.headers.get("if-none-match")
        base = str(request.base_url).rstrip("/")
        if store.reads_from_memory:
            return answer(level, asked, base)
        return await asyncio.to_thread(answer, level, asked, base)

    return endpoint
