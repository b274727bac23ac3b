"""Exports over HTTP for analysts and editors: `GET /export/{format}` with the events' filter
as query parameters, the file streamed back (docs/analytics.md).

Formats: `csv` and `parquet` (one row per event, `services.table`), `jsonl` (extractor records
that `newsgraph load` reads back), `graphml`, `gexf` (with time spans: Gephi's timeline plays
it), `cytoscape-json`. Parameters (each optional, each narrowing): `from`, `to` (YYYY-MM-DD),
`category` (repeatable), `entity` (an id or a name; repeated: events involving every one),
`outlet`, `place`, `country` (ids), `minConfidence` (a level). The caller needs the analyst,
editor or admin role (a bearer token); anyone else gets 401 or 403. A bad parameter is a 400
naming it; nothing is written. Filters by relationships: `role`, `entityType`, `tone`, `tier`,
`group` (each repeatable: any of them; graph.store.EventFilter).

`GET /export/counts/{format}` (csv, parquet, json): the events of the same parameters counted
by `by` (period, category, confidence, country; repeatable, in order) and `interval` (day,
week, month), one row per group (`services.table.count_rows`).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import tempfile
from collections.abc import AsyncIterator, Callable
from typing import IO, Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse

from api.tokens import Actor, AuthError, Role, Tokens
from graph.analytics import DIMENSIONS, Aggregate, Dimension, Interval, aggregate
from graph.confidence import current_policy
from graph.dates import out_of_range
from graph.model import CATEGORIES, ENTITY_TYPES, TIERS, TONES, Label
from graph.store import EventFilter, GraphStore
from services.export import FORMATS as GRAPH_FORMATS
from services.export import write_cytoscape, write_gexf, write_graphml
from services.selection import Selection, find_entity, select
from services.table import (
    count_rows,
    parquet_available,
    rows,
    write_csv,
    write_parquet,
)
from services.unload import write_records

ROLES = (Role.ANALYST, Role.EDITOR, Role.ADMIN)
FORMATS = (*GRAPH_FORMATS, "csv", "parquet")
MEDIA = {
    "json": "application/json",
    "csv": "text/csv; charset=utf-8",
    "parquet": "application/vnd.apache.parquet",
    "jsonl": "application/jsonl",
    "graphml": "application/graphml+xml",
    "gexf": "application/gexf+xml",
    "cytoscape-json": "application/json",
}
SUFFIX = {"cytoscape-json": "cytoscape.json"}
COUNT_FORMATS = ("csv", "parquet", "json")
COUNT_PARAMETERS = frozenset({"by", "interval"})
INTERVALS: tuple[Interval, ...] = ("day", "week", "month")
PARAMETERS = frozenset(
    {
        "from",
        "to",
        "category",
        "entity",
        "outlet",
        "place",
        "country",
        "minConfidence",
        "role",
        "entityType",
        "tone",
        "tier",
        "group",
    }
)
# The parameters naming a fixed vocabulary, each repeatable (any of the values).
VOCABULARIES = {"entityType": ENTITY_TYPES, "tone": TONES, "tier": TIERS}
# At most this many values of `role` or `group`, each of 1 to `MAX_NAME` characters.
MAX_NAMES = 20
MAX_NAME = 100
# At most this many entities in one export's `entity` parameters.
MAX_ENTITIES = 10
# Files up to this size are kept in memory while they are written, larger ones on disk.
SPOOL_BYTES = 8 * 1024 * 1024
CHUNK = 64 * 1024


class BadParameter(ValueError):
    pass


def _refusal(status: int, message: str) -> JSONResponse:
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
    return JSONResponse({"errors": [{"message": message}]}, status_code=status, headers=headers)


def _day(name: str, value: str) -> str:
    try:
        day = dt.date.fromisoformat(value)
    except ValueError:
        raise BadParameter(f"{name}: '{value[:40]}' is not a date (YYYY-MM-DD)") from None
    reason = out_of_range(day)
    if reason is not None:
        raise BadParameter(f"{name}: {reason}")
    return day.isoformat()


def event_filter(
    store: GraphStore, request: Request, extra: frozenset[str] = frozenset()
) -> EventFilter:
    """The filter the query parameters ask for (several entities: events involving every
    one); `BadParameter` naming the first bad one. `extra`: parameters the caller reads."""
    params = request.query_params
    unknown = sorted(set(params) - PARAMETERS - extra)
    if unknown:
        known = ", ".join(sorted(PARAMETERS | extra))
        raise BadParameter(f"{unknown[0]}: unknown parameter (known: {known})")
    single = {}
    for name in ("from", "to", "outlet", "place", "country", "minConfidence"):
        values = params.getlist(name)
        if len(values) > 1:
            raise BadParameter(f"{name}: given {len(values)} times, at most once")
        single[name] = values[0] if values else None
    date_from = _day("from", single["from"]) if single["from"] else None
    date_to = _day("to", single["to"]) if single["to"] else None
    if date_from and date_to and date_from > date_to:
        raise BadParameter("from: after to")
    rank = None
    if single["minConfidence"]:
        try:
            rank = current_policy(store).rank(single["minConfidence"])
        except ValueError as exc:
            raise BadParameter(f"minConfidence: {exc}") from None
    categories = params.getlist("category")
    for category in categories:
        if category not in CATEGORIES:
            known = ", ".join(CATEGORIES)
            raise BadParameter(f"category: '{category[:40]}' is not a category (one of {known})")
    for name, label in (("outlet", Label.OUTLET), ("place", Label.PLACE), ("country", Label.PLACE)):
        node_id = single[name]
        if node_id is not None:
            node = store.get_nodes([node_id]).get(node_id)
            if node is None or node.label is not label:
                raise BadParameter(f"{name}: no {label.value.lower()} has the id '{node_id[:40]}'")
    names = params.getlist("entity")
    if len(names) > MAX_ENTITIES:
        raise BadParameter(f"entity: given {len(names)} times, at most {MAX_ENTITIES}")
    entities = []
    for name in names:
        try:
            entities.append(find_entity(store, name))
        except LookupError as exc:
            raise BadParameter(f"entity: {exc}") from None
    chosen: dict[str, tuple[str, ...]] = {}
    for name, vocabulary in VOCABULARIES.items():
        for value in params.getlist(name):
            if value not in vocabulary:
                known = ", ".join(vocabulary)
                raise BadParameter(f"{name}: '{value[:40]}' is not one of {known}")
        chosen[name] = tuple(sorted(set(params.getlist(name))))
    flt = EventFilter(
        roles=tuple(sorted({r.lower() for r in _names("role", params.getlist("role"))})),
        entity_types=chosen["entityType"],
        tones=chosen["tone"],
        tiers=chosen["tier"],
        groups=_names("group", params.getlist("group")),
        categories=tuple(categories),
        date_from=date_from,
        date_to=date_to,
        place=single["place"],
        country=single["country"],
        entity=entities[0] if entities else None,
        all_entities=tuple(entities[1:]),
        outlet=single["outlet"],
        min_confidence=rank,
    )
    return flt


def _names(name: str, values: list[str]) -> tuple[str, ...]:
    """Roles or group names: distinct, sorted, stripped; `BadParameter` when blank, too long
    or too many."""
    found = sorted({v.strip() for v in values})
    if len(found) > MAX_NAMES:
        raise BadParameter(f"{name}: given {len(found)} values, at most {MAX_NAMES}")
    for value in found:
        if not value or len(value) > MAX_NAME:
            raise BadParameter(f"{name}: each value must have 1 to {MAX_NAME} characters")
    return tuple(found)


def _writer(fmt: str, store: GraphStore) -> Callable[[Selection, IO[bytes]], object]:
    if fmt == "csv":
        return lambda chosen, out: write_csv(rows(chosen), out)
    if fmt == "parquet":
        return lambda chosen, out: write_parquet(rows(chosen), out)
    if fmt == "graphml":
        return write_graphml
    if fmt == "gexf":
        return write_gexf
    if fmt == "cytoscape-json":
        return write_cytoscape
    return lambda chosen, out: write_records(store, chosen, out)


def _refused(tokens: Tokens, request: Request) -> JSONResponse | None:
    """The refusal of a caller without one of `ROLES`, or None."""
    try:
        actor: Actor = tokens.authenticate(request.headers.get("authorization"))
    except AuthError as exc:
        return _refusal(401, str(exc))
    if not actor.can(*ROLES):
        allowed = ", ".join(r.value for r in ROLES)
        status = 401 if actor.digest is None else 403
        return _refusal(status, f"exports need the {allowed} role; you are {actor}")
    return None


def _streamed(written: IO[bytes], fmt: str, name: str) -> StreamingResponse:
    async def chunks() -> AsyncIterator[bytes]:
        try:
            while chunk := written.read(CHUNK):
                yield chunk
        finally:
            written.close()

    headers = {"Content-Disposition": f'attachment; filename="{name}"'}
    return StreamingResponse(chunks(), media_type=MEDIA[fmt], headers=headers)


def _unservable(fmt: str, known: tuple[str, ...]) -> JSONResponse | None:
    """The refusal of a format not in `known` (404) or of parquet without pyarrow (501)."""
    if fmt not in known:
        return _refusal(404, f"unknown format '{fmt[:40]}'; known: {', '.join(known)}")
    if fmt == "parquet" and not parquet_available():
        needs = "parquet needs pyarrow on the server: pip install 'newsgraph[tables]'"
        return _refusal(501, needs)
    return None


def counts_endpoint(store: GraphStore, tokens: Tokens) -> Callable[[Request], object]:
    """The `/export/counts/{format}` endpoint: event counts as a table (csv, parquet) or JSON,
    by the `by` parameters (period, category, confidence, country; repeatable) and `interval`
    (day, week, month: the default), for the events of the filter parameters."""

    async def endpoint(request: Request) -> Response:
        refused = _refused(tokens, request)
        if refused is not None:
            return refused
        fmt = request.path_params["format"]
        unservable = _unservable(fmt, COUNT_FORMATS)
        if unservable is not None:
            return unservable

        def produce() -> tuple[IO[bytes], Aggregate]:
            flt = event_filter(store, request, COUNT_PARAMETERS)
            by, interval = _grouping(request)
            counted = aggregate(store, flt, by, interval)
            columns, table = count_rows(store, counted)
            out: IO[bytes] = tempfile.SpooledTemporaryFile(max_size=SPOOL_BYTES)  # noqa: SIM115
            if fmt == "csv":
                write_csv(table, out, columns)
            elif fmt == "parquet":
                write_parquet(table, out, columns)
            else:
                out.write(json.dumps(_counts_json(counted, table), ensure_ascii=False).encode())
            out.seek(0)
            return out, counted

        try:
            written, counted = await asyncio.to_thread(produce)
        except BadParameter as exc:
            return _refusal(400, str(exc))
        response = _streamed(written, fmt, f"newsgraph-counts.{fmt}")
        response.headers["X-Events-Counted"] = str(counted.total)
        response.headers["X-Complete"] = "true" if counted.complete else "false"
        return response

    return endpoint


def _grouping(request: Request) -> tuple[list[Dimension], Interval]:
    params = request.query_params
    by: list[Dimension] = []
    for value in params.getlist("by"):
        if value not in DIMENSIONS:
            raise BadParameter(f"by: '{value[:40]}' is not one of {', '.join(DIMENSIONS)}")
        by.append(DIMENSIONS[DIMENSIONS.index(value)])
    if not by:
        raise BadParameter(f"by: give at least one of {', '.join(DIMENSIONS)}")
    intervals = params.getlist("interval")
    if len(intervals) > 1:
        raise BadParameter(f"interval: given {len(intervals)} times, at most once")
    interval = intervals[0] if intervals else "month"
    for known in INTERVALS:
        if interval == known:
            return by, known
    raise BadParameter(f"interval: '{interval[:40]}' is not one of {', '.join(INTERVALS)}")


def _counts_json(counted: Aggregate, table: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "groupBy": list(counted.group_by),
        "interval": counted.interval,
        "eventsCounted": counted.total,
        "complete": counted.complete,
        "bounds": [
            {"name": b.name, "limit": b.limit, "message": b.message} for b in counted.bounds
        ],
        "groups": table,
    }


def export_endpoint(store: GraphStore, tokens: Tokens) -> Callable[[Request], object]:
    """The `/export/{format}` endpoint of the app serving `store`."""

    async def endpoint(request: Request) -> Response:
        refused = _refused(tokens, request)
        if refused is not None:
            return refused
        fmt = request.path_params["format"]
        unservable = _unservable(fmt, FORMATS)
        if unservable is not None:
            return unservable

        def produce() -> IO[bytes]:
            flt = event_filter(store, request)
            out: IO[bytes] = tempfile.SpooledTemporaryFile(max_size=SPOOL_BYTES)  # noqa: SIM115
            _writer(fmt, store)(select(store, flt), out)
            out.seek(0)
            return out

        try:
            written = await asyncio.to_thread(produce)
        except BadParameter as exc:
            return _refusal(400, str(exc))
        return _streamed(written, fmt, f"newsgraph-events.{SUFFIX.get(fmt, fmt)}")

    return endpoint
