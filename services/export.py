"""The graph, or the part of it around some events, for other tools (`newsgraph export`):

- `graphml` and `gexf` (Gephi, yEd, networkx): one node per node and one edge per
  relationship, with their properties (lists as JSON text; these formats have no lists);
- `cytoscape-json`: Cytoscape.js elements (`{"elements": {"nodes": [...], "edges": [...]}}`),
  and `redirects`: each id merged away (by the loader or an editor) and the node it merged into;
  graphml and gexf give a node the ids merged into it as `merged_ids` (JSON text);
- `jsonl`: extractor records, version 1, that `newsgraph load` turns back into the graph
  (`services.unload`; what survives the round trip is in docs/analytics.md);
- `geojson`: a GeoJSON FeatureCollection (RFC 7946) of the events that have coordinates (their
  records' point, else their place's), one Point feature each, for a map library as is
  (Leaflet's `L.geoJSON`, MapLibre's `geojson` source); docs/places.md.

What is exported is chosen by `services.selection.select`.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator
from typing import IO, Any

import networkx as nx

from graph.model import FIRST_RANK, LAST_RANK, Label, Value
from graph.store import EVERYTHING, EventFilter, GraphStore
from services.selection import Selection, select
from services.unload import RecordsSummary, write_records

FORMATS = ("graphml", "gexf", "cytoscape-json", "jsonl", "geojson")
# Merge bookkeeping (ranks embed a digest of the record a value came from): not exported.
INTERNAL = frozenset({FIRST_RANK, LAST_RANK})


def _flat(props: Iterable[tuple[str, Value]]) -> dict[str, str | int | float | bool]:
    """Properties as GraphML and GEXF can hold them: no nulls, lists as JSON text."""
    flat: dict[str, str | int | float | bool] = {}
    for name, value in props:
        if name in INTERNAL or value is None:
            continue
        flat[name] = json.dumps(value, ensure_ascii=False) if isinstance(value, list) else value
    return flat


def to_networkx(chosen: Selection) -> Any:
    """A networkx MultiDiGraph: nodes with their properties, `node_type` (Event, Entity, ...)
    and `label` (what to show); edges keyed by their stable id, with their properties,
    `relationship` (also as `label`) and `edge_key` (the story of a REPORTS)."""
    graph: Any = nx.MultiDiGraph()
    merged_into: dict[str, list[str]] = {}
    for old, survivor in chosen.redirects.items():
        merged_into.setdefault(survivor, []).append(old)
    for node_id in sorted(chosen.nodes):
        node = chosen.nodes[node_id]
        attrs: dict[str, Any] = _flat(sorted(node.props.items()))
        attrs.update({"node_type": node.label.value, "label": node.title()})
        if node_id in merged_into:  # ids merged into it, which links may still name
            attrs["merged_ids"] = json.dumps(merged_into[node_id])
        graph.add_node(node_id, **attrs)
    for ident in sorted(chosen.edges):
        edge = chosen.edges[ident]
        if edge.src not in chosen.nodes or edge.dst not in chosen.nodes:
            continue
        attrs = _flat(sorted(edge.props.items()))
        attrs.update({"id": ident, "label": edge.type.value, "relationship": edge.type.value})
        attrs["edge_key"] = edge.discriminator
        graph.add_edge(edge.src, edge.dst, key=ident, **attrs)
    return graph


def write_graphml(chosen: Selection, out: IO[bytes]) -> None:
    nx.write_graphml(to_networkx(chosen), out, encoding="utf-8", prettyprint=True)


def write_gexf(chosen: Selection, out: IO[bytes]) -> None:
    """GEXF with time spans, so that Gephi's timeline plays the graph: an event lives on the
    day it occurred; any other node from the first to the last day of the events it touches
    (through any relationship, a story through the events it describes); a relationship on
    its event's day (or, between two other nodes, over the span they share)."""
    graph = to_networkx(chosen)
    add_time_spans(graph)
    nx.write_gexf(graph, out, encoding="utf-8", prettyprint=True)


def add_time_spans(graph: Any) -> None:
    """Set `start` and `end` (YYYY-MM-DD) on the nodes and edges of an exported graph."""
    days: dict[str, list[str]] = {}
    for node_id, attrs in graph.nodes(data=True):
        if attrs.get("node_type") == "Event" and attrs.get("occurred_on"):
            days[node_id] = [str(attrs["occurred_on"])[:10]]
    for src, dst in graph.edges():
        for one, other in ((src, dst), (dst, src)):
            if one in days and len(days[one]) == 1 and graph.nodes[one]["node_type"] == "Event":
                days.setdefault(other, []).append(days[one][0])
    # what touches no event directly (a country through its places, an outlet through its
    # stories) takes the days of what it touches
    for src, dst in graph.edges():
        for one, other in ((src, dst), (dst, src)):
            if other not in days and one in days:
                days[other] = list(days[one])
    spans = {node_id: (min(found), max(found)) for node_id, found in days.items() if found}
    for node_id, (start, end) in spans.items():
        graph.nodes[node_id]["start"] = start
        graph.nodes[node_id]["end"] = end
    for src, dst, attrs in graph.edges(data=True):
        ends = [n for n in (src, dst) if graph.nodes[n].get("node_type") == "Event"]
        if ends and ends[0] in spans:
            attrs["start"], attrs["end"] = spans[ends[0]]
        elif src in spans and dst in spans:
            start = max(spans[src][0], spans[dst][0])
            end = min(spans[src][1], spans[dst][1])
            if start <= end:
                attrs["start"], attrs["end"] = start, end


def cytoscape(chosen: Selection) -> dict[str, Any]:
    """Cytoscape.js elements; properties keep their JSON types (lists stay lists)."""
    nodes = []
    for node_id in sorted(chosen.nodes):
        node = chosen.nodes[node_id]
        data: dict[str, Any] = {"id": node_id, "node_type": node.label.value}
        data["label"] = node.title()
        data["props"] = {k: v for k, v in sorted(node.props.items()) if k not in INTERNAL}
        nodes.append({"data": data})
    edges = []
    for ident in sorted(chosen.edges):
        edge = chosen.edges[ident]
        if edge.src not in chosen.nodes or edge.dst not in chosen.nodes:
            continue
        props = {k: v for k, v in sorted(edge.props.items()) if k not in INTERNAL}
        data = {"id": ident, "source": edge.src, "target": edge.dst}
        data.update({"relationship": edge.type.value, "key": edge.discriminator, "props": props})
        edges.append({"data": data})
    elements = {"nodes": nodes, "edges": edges}
    # Ids merged away, each with the node it merged into: links to them still resolve.
    return {"format_version": 1, "elements": elements, "redirects": chosen.redirects}


def write_cytoscape(chosen: Selection, out: IO[bytes]) -> None:
    text = json.dumps(cytoscape(chosen), ensure_ascii=False, indent=1)
    out.write(text.encode("utf-8") + b"\n")


def geojson(chosen: Selection) -> dict[str, Any]:
    """The events of `chosen` that have coordinates as a GeoJSON FeatureCollection: a Point
    ([longitude, latitude], as RFC 7946 orders them) with what a map's popup shows."""
    features: list[dict[str, Any]] = []
    for event_id in sorted(chosen.nodes):
        event = chosen.nodes[event_id]
        if event.label is not Label.EVENT:
            continue
        lat, lon = event.props.get("geo_lat"), event.props.get("geo_lon")
        if lat is None or lon is None:
            lat, lon = event.props.get("lat"), event.props.get("lon")
        if not isinstance(lat, int | float) or not isinstance(lon, int | float):
            continue
        place = chosen.nodes.get(event.text("place_id"))
        countries = event.texts("country_ids")
        country = chosen.nodes.get(countries[0]) if countries else None
        properties: dict[str, Value] = {
            "id": event_id,
            "summary": event.text("summary"),
            "category": event.text("category"),
            "occurred_on": event.text("occurred_on"),
            "confidence": event.text("confidence") or None,
            "place": (place.text("canonical_name") or place.text("name")) if place else None,
            "country": (country.text("canonical_name") or country.text("name"))
            if country
            else None,
            "country_code": country.text("iso") or None if country else None,
            "location_check": event.text("location_check") or None,
            "location_reason": event.text("location_reason") or None,
        }
        features.append(
            {
                "type": "Feature",
                "id": event_id,
                "geometry": {"type": "Point", "coordinates": [float(lon), float(lat)]},
                "properties": properties,
            }
        )
    return {"type": "FeatureCollection", "features": features}


def export(
    store: GraphStore,
    fmt: str,
    out: IO[bytes],
    flt: EventFilter = EVERYTHING,
    on_summary: Callable[[str], None] | None = None,
) -> Selection:
    """Write the graph (or what `flt` selects) to `out` in format `fmt`."""
    if fmt not in FORMATS:
        raise ValueError(f"unknown format {fmt!r}; expected one of {', '.join(FORMATS)}")
    chosen = select(store, flt)
    if fmt == "graphml":
        write_graphml(chosen, out)
    elif fmt == "gexf":
        write_gexf(chosen, out)
    elif fmt == "cytoscape-json":
        write_cytoscape(chosen, out)
    elif fmt == "geojson":
        collection = geojson(chosen)
        out.write(json.dumps(collection, ensure_ascii=False).encode("utf-8") + b"\n")
        if on_summary is not None:
            placed = len(collection["features"])
            events = sum(1 for n in chosen.nodes.values() if n.label is Label.EVENT)
            on_summary(f"features written: {placed} ({events - placed} events without a point)")
    else:
        summary = write_records(store, chosen, out)
        if on_summary is not None:
            for line in _summary_lines(summary):
                on_summary(line)
    return chosen


def _summary_lines(summary: RecordsSummary) -> Iterator[str]:
    yield f"records written: {summary.records} ({summary.events} events)"
    if summary.out_of_order:
        yield (
            f"warning: {summary.out_of_order} records could not be ordered so that every id "
            "comes back the same"
        )
    for skipped in summary.skipped:
        yield f"skipped event {skipped}"
