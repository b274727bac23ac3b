"""Events as a table, one row per event, in the shape conflict-event data takes (UCDP GED,
ACLED): its day, category, summary, confidence, actors and their roles, place, country and
coordinates, sources and outlets. Written as CSV (always) or Parquet (with pyarrow, the
`tables` extra). `rows(selection)` gives the rows of the events an export selected;
`count_rows` a table of event counts (`graph.analytics.aggregate`).
"""

from __future__ import annotations

import csv
import io
from collections import defaultdict
from typing import IO, Any

from graph.analytics import Aggregate, Dimension
from graph.model import Label, Node, Rel
from graph.store import GraphStore
from services.selection import Selection

# The columns, in order, with their types (for Parquet; CSV writes them as text).
COLUMNS: tuple[tuple[str, str], ...] = (
    ("event_id", "string"),
    ("date", "string"),  # YYYY-MM-DD, when it happened (as the graph holds it)
    ("category", "string"),
    ("summary", "string"),
    ("confidence", "string"),  # the level: unverified, likely, verified, disputed, ...
    ("sources", "int"),  # reporting outlets, each counted once
    ("outlets", "list"),  # their names
    ("first_reported", "string"),  # the first story's extraction time, when known
    ("actors", "list"),  # every entity involved, by name
    ("actor_types", "list"),  # in the order of `actors`
    ("actor_roles", "list"),  # in the order of `actors`: roles joined by "|"
    ("place", "string"),
    ("country", "string"),
    ("country_code", "string"),  # ISO 3166-1 alpha-2, when the gazetteer knows the country
    ("admin1", "string"),  # the place's first-level region (GeoNames admin-1 code: SY.09)
    ("latitude", "float"),  # the records' point, else the place's (as the page shows it)
    ("longitude", "float"),
    ("geo_precision", "string"),  # point: a record gave it; place: the gazetteer's, for the place
    ("external_ids", "list"),
)
# How a list is written in a CSV cell: its items joined by this (an item holding it is kept
# whole; the Parquet column is a real list).
LIST_SEPARATOR = "; "


def rows(chosen: Selection) -> list[dict[str, Any]]:
    """One row per event of `chosen`, oldest first (then by id), with `COLUMNS`."""
    nodes = chosen.nodes
    reports: dict[str, list[Any]] = defaultdict(list)
    for edge in chosen.by_type(Rel.REPORTS):
        reports[edge.dst].append(edge)
    involves: dict[str, list[Any]] = defaultdict(list)
    for edge in chosen.by_type(Rel.INVOLVES):
        involves[edge.src].append(edge)
    places: dict[str, list[str]] = defaultdict(list)
    for edge in chosen.by_type(Rel.OCCURRED_IN):
        places[edge.src].append(edge.dst)
    countries: dict[str, str] = {e.src: e.dst for e in chosen.by_type(Rel.IN_COUNTRY)}
    events = sorted(
        (n for n in nodes.values() if n.label is Label.EVENT),
        key=lambda n: (n.text("occurred_on"), n.id),
    )
    out = []
    for event in events:
        outlets = sorted(
            {nodes[e.src].title() for e in reports[event.id] if e.src in nodes}, key=str.casefold
        )
        # a report's first_reported is "extracted_at|story|digest": the time comes first
        firsts = [str(e.props.get("first_reported") or "") for e in reports[event.id]]
        firsts = [f.partition("|")[0] for f in firsts if f]
        actors = sorted(
            (e for e in involves[event.id] if e.dst in nodes),
            key=lambda e: (nodes[e.dst].title().casefold(), e.dst),
        )
        place = _place(event, places[event.id], nodes)
        country = _country(place, countries, nodes)
        out.append(
            {
                "event_id": event.id,
                "date": event.text("occurred_on")[:10],
                "category": event.text("category"),
                "summary": event.text("summary"),
                "confidence": event.text("confidence"),
                "sources": len(outlets),
                "outlets": outlets,
                "first_reported": min(firsts, default=None),
                "actors": [nodes[e.dst].title() for e in actors],
                "actor_types": [nodes[e.dst].text("type") for e in actors],
                "actor_roles": ["|".join(sorted(e.texts("roles"))) for e in actors],
                "place": nodes[place].title() if place else None,
                "country": nodes[country].title() if country else None,
                "country_code": _code(place, country, nodes),
                "admin1": (nodes[place].text("admin1") or None) if place else None,
                **_point(event),
                "external_ids": sorted(event.texts("external_ids")),
            }
        )
    return out


def _place(event: Node, linked: list[str], nodes: dict[str, Node]) -> str | None:
    """The event's place as the page shows it: the one chosen by evidence (`place_id`: an
    editor's correction, else what most stories agree on), when the selection holds it; for
    an event placed before that, the first of its `place_ids` it occurred in, else any."""
    chosen = event.text("place_id")
    if chosen in nodes and chosen in linked:
        return chosen
    for place_id in event.texts("place_ids"):
        if place_id in nodes and place_id in linked:
            return place_id
    return min(linked) if linked else None


def _country(place: str | None, countries: dict[str, str], nodes: dict[str, Node]) -> str | None:
    if place is None:
        return None
    if nodes[place].text("kind") == "country":
        return place
    country = countries.get(place)
    return country if country in nodes else None


def _code(place: str | None, country: str | None, nodes: dict[str, Node]) -> str | None:
    """The ISO code of the event's country: the country node's, else its place's."""
    if country is not None and nodes[country].text("iso"):
        return nodes[country].text("iso")
    if place is not None and nodes[place].text("country_code"):
        return nodes[place].text("country_code")
    return None


def _point(event: Node) -> dict[str, Any]:
    """The event's coordinates as its page gives them (`Event.latitude`): the records' point,
    else its place's from the gazetteer (`geo_lat`), and which of the two it is."""
    given = _number(event.props.get("lat")), _number(event.props.get("lon"))
    shown = _number(event.props.get("geo_lat")), _number(event.props.get("geo_lon"))
    if "geo_lat" not in event.props:
        shown = given
    precision = None
    if shown[0] is not None and shown[1] is not None:
        precision = "point" if given == shown else "place"
    return {"latitude": shown[0], "longitude": shown[1], "geo_precision": precision}


def _number(value: object) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


# The columns of a table of event counts (`count_rows`), the dimensions' first.
COUNT_COLUMNS: dict[Dimension, tuple[tuple[str, str], ...]] = {
    "period": (("period_start", "string"), ("period_end", "string")),
    "category": (("category", "string"),),
    "confidence": (("confidence", "string"),),
    "country": (("country_id", "string"), ("country", "string")),
}


def count_rows(
    store: GraphStore, counted: Aggregate
) -> tuple[tuple[tuple[str, str], ...], list[dict[str, Any]]]:
    """The columns and rows of a table of event counts: one row per group, a column per
    dimension counted by (in `group_by` order; a country by id and name) and `count`."""
    columns = tuple(c for d in counted.group_by for c in COUNT_COLUMNS[d]) + (("count", "int"),)
    countries = sorted({g.country for g in counted.groups if g.country is not None})
    named = store.get_nodes(countries)
    table = []
    for group in counted.groups:
        row: dict[str, Any] = {
            "period_start": group.start.isoformat() if group.start else None,
            "period_end": group.end.isoformat() if group.end else None,
            "category": group.category,
            "confidence": group.confidence,
            "country_id": group.country,
            "country": named[group.country].title() if group.country in named else None,
            "count": group.count,
        }
        table.append({name: row[name] for name, _ in columns})
    return columns, table


def write_csv(
    table: list[dict[str, Any]],
    out: IO[bytes],
    columns: tuple[tuple[str, str], ...] = COLUMNS,
) -> None:
    """The rows as CSV (RFC 4180, UTF-8, a header row); lists joined by `LIST_SEPARATOR`."""
    names = [name for name, _ in columns]
    text = io.TextIOWrapper(out, encoding="utf-8", newline="", write_through=True)
    writer = csv.writer(text)
    writer.writerow(names)
    for row in table:
        writer.writerow([_cell(row[name]) for name in names])
    text.detach()


def _cell(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, list):
        return LIST_SEPARATOR.join(str(v) for v in value)
    return str(value)


def parquet_available() -> bool:
    try:
        import pyarrow  # noqa: F401
    except ImportError:
        return False
    return True


def write_parquet(
    table: list[dict[str, Any]],
    out: IO[bytes],
    columns: tuple[tuple[str, str], ...] = COLUMNS,
) -> None:
    """The rows as Parquet (pyarrow: the `tables` extra), lists as list columns."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    kinds = {
        "string": pa.string(),
        "int": pa.int64(),
        "float": pa.float64(),
        "list": pa.list_(pa.string()),
    }
    schema = pa.schema([(name, kinds[kind]) for name, kind in columns])
    pq.write_table(pa.Table.from_pylist(table, schema=schema), out)
