"""Exports over HTTP for analysts and editors: `GET /export/{format}` with the events' filter
as query parameters, the file streamed back (docs/analytics.md).

Formats: `csv` and `parquet` (one row per event, `services.table`), `jsonl` (extractor records
that `newsgraph load` reads back), `graphml`, `gexf` (with time spans: Gephi's timeline plays
it), `cytoscape-json`. Parameters (each optional, each narrowing): `from`, `to` (YYYY-MM-DD),
`category` (repeatable), `entity` (an id or a name; repeated: events involving every one),
`outlet`, `place`, `country` (ids), `minConfidence` (a level). The caller needs the analyst,
editor or admin role (a bearer token); anyone else gets 401 or 403. A bad parameter is a 400
naming it; nothing is written.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import tempfile
from collections.abc import AsyncIterator, Callable
from typing import IO

from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse

from api.tokens import Actor, AuthError, Role, Tokens
from graph.confidence import current_policy
from graph.dates import out_of_range
from graph.model import CATEGORIES, Label
from graph.store import EventFilter, GraphStore
from services.export import FORMATS as GRAPH_FORMATS
from services.export import write_cytoscape, write_gexf, write_graphml
from services.selection import Selection, find_entity, select
from services.table import (
    parquet_available,
    rows,
    write_csv,
    write_parquet,
)
from services.unload import write_records

ROLES = (Role.ANALYST, Role.EDITOR, Role.ADMIN)
FORMATS = (*GRAPH_FORMATS, "csv", "parquet")
MEDIA = {
    "csv": "text/csv; charset=utf-8",
    "parquet": "application/vnd.apache.parquet",
    "jsonl": "application/jsonl",
    "graphml": "application/graphml+xml",
    "gexf": "application/gexf+xml",
    "cytoscape-json": "application/json",
}
SUFFIX = {"cytoscape-json": "cytoscape.json"}
PARAMETERS = frozenset(
    {"from", "to", "category", "entity", "outlet", "place", "country", "minConfidence"}
)
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


def event_filter(store: GraphStore, request: Request) -> EventFilter:
    """The filter the query parameters ask for (several entities: events involving every
    one); `BadParameter` naming the first bad one."""
    params = request.query_params
    unknown = sorted(set(params) - PARAMETERS)
    if unknown:
        known = ", ".join(sorted(PARAMETERS))
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
    flt = EventFilter(
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


def export_endpoint(store: GraphStore, tokens: Tokens) -> Callable[[Request], object]:
    """The `/export/{format}` endpoint of the app serving `store`."""

    async def endpoint(request: Request) -> Response:
        try:
            actor: Actor = tokens.authenticate(request.headers.get("authorization"))
        except AuthError as exc:
            return _refusal(401, str(exc))
        if not actor.can(*ROLES):
            allowed = ", ".join(r.value for r in ROLES)
            status = 401 if actor.digest is None else 403
            return _refusal(status, f"exports need the {allowed} role; you are {actor}")
        fmt = request.path_params["format"]
        if fmt not in FORMATS:
            return _refusal(404, f"unknown format '{fmt[:40]}'; known: {', '.join(FORMATS)}")
        if fmt == "parquet" and not parquet_available():
            needs = "parquet needs pyarrow on the server: pip install 'newsgraph[tables]'"
            return _refusal(501, needs)

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

        async def chunks() -> AsyncIterator[bytes]:
            try:
                while chunk := written.read(CHUNK):
                    yield chunk
            finally:
                written.close()

        name = f"newsgraph-events.{SUFFIX.get(fmt, fmt)}"
        headers = {"Content-Disposition": f'attachment; filename="{name}"'}
        return StreamingResponse(chunks(), media_type=MEDIA[fmt], headers=headers)

    return endpoint
