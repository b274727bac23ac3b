"""The graph, or the part of it around some events, for other tools (`newsgraph export`):

- `graphml` and `gexf` (Gephi, yEd, networkx): one node per node and one edge per
  relationship, with their properties (lists as JSON text; these formats have no lists);
- `cytoscape-json`: Cytoscape.js elements (`{"elements": {"nodes": [...], "edges": [...]}}`),
  and `redirects`: each id merged away (by the loader or an editor) and the node it merged into;
  graphml and gexf give a node the ids merged into it as `merged_ids` (JSON text);
- `jsonl`: extractor records, version 1, that `newsgraph load` turns back into the graph
  (`services.unload`; what survives the round trip is in docs/analytics.md).

What is exported is chosen by `services.selection.select`.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator
from typing import IO, Any

import networkx as nx

from graph.model import FIRST_RANK, LAST_RANK, Value
from graph.store import EVERYTHING, EventFilter, GraphStore
from services.selection import Selection, select
from services.unload import RecordsSummary, write_records

FORMATS = ("graphml", "gexf", "cytoscape-json", "jsonl")
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
    nx.write_gexf(to_networkx(chosen), out, encoding="utf-8", prettyprint=True)


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
