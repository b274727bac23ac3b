"""Which part of the graph an export takes: everything, or the events an `EventFilter` matches
with everything around them. Read through the store port: the whole graph with `dump`, or the
matching events (`query_events`) and the relationships around them (`edges`), in batches."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from graph import keys
from graph.analytics import chunks, edge_id
from graph.model import EDITORIAL_LABELS, EDITORIAL_RELS, ENTITY_TYPES, Edge, Label, Node, Rel
from graph.store import EVERYTHING, EventFilter, EventQuery, GraphStore


@dataclass
class Selection:
    """Nodes by id and relationships by stable id: what an export writes; and `redirects`,
    each id merged away into one of the nodes and the node it merged into (so links to old ids
    keep working downstream)."""

    nodes: dict[str, Node] = field(default_factory=dict)
    edges: dict[str, Edge] = field(default_factory=dict)
    redirects: dict[str, str] = field(default_factory=dict)

    def add_edges(self, found: Iterable[Edge]) -> None:
        for edge in found:
            self.edges.setdefault(edge_id(edge), edge)

    def by_type(self, rel: Rel) -> list[Edge]:
        return [self.edges[i] for i in sorted(self.edges) if self.edges[i].type is rel]


def select(store: GraphStore, flt: EventFilter = EVERYTHING) -> Selection:
    """The whole graph (`dump`), or the events `flt` matches with their reports, outlets,
    stories, entities, places and countries, and the relationships among those. Editorial
    records (submissions, the editorial log) are not part of an export."""
    chosen = Selection()
    if flt == EVERYTHING:
        for item in store.dump():
            if isinstance(item, Node) and item.label not in EDITORIAL_LABELS:
                chosen.nodes[item.id] = item
            elif isinstance(item, Edge) and item.type not in EDITORIAL_RELS:
                chosen.edges[edge_id(item)] = item
            elif isinstance(item, tuple) and item[0].startswith(keys.MERGED):
                chosen.redirects[item[0].removeprefix(keys.MERGED)] = item[1]
        chosen.redirects = dict(sorted(chosen.redirects.items()))
        return chosen
    events: list[str] = []
    after: tuple[str, str] | None = None
    while True:
        page = store.query_events(EventQuery(flt, 1000, newest_first=False, after=after))
        events += [e.id for e in page.events]
        if not page.has_next or not page.events:
            break
        after = (page.events[-1].text("occurred_on"), page.events[-1].id)
    around: list[tuple[Rel, Any]] = [
        (Rel.REPORTS, "in"),
        (Rel.DESCRIBES, "in"),
        (Rel.INVOLVES, "out"),
        (Rel.OCCURRED_IN, "out"),
    ]
    for rel, direction in around:
        for batch in chunks(events):
            for found in store.edges(batch, rel, direction).values():
                chosen.add_edges(found)
    stories = sorted({e.src for e in chosen.by_type(Rel.DESCRIBES)})
    places = sorted({e.dst for e in chosen.by_type(Rel.OCCURRED_IN)})
    for batch in chunks(places):
        for found in store.edges(batch, Rel.IN_COUNTRY, "out").values():
            chosen.add_edges(found)
    for batch in chunks(stories):
        for found in store.edges(batch, Rel.PUBLISHED, "in").values():
            chosen.add_edges(found)
    ids = sorted({end for e in chosen.edges.values() for end in (e.src, e.dst)} | set(events))
    for batch in chunks(ids):
        chosen.nodes.update(store.get_nodes(batch))
        for owner, owned in store.keys_of(batch).items():
            for key in owned:
                if key.startswith(keys.MERGED):
                    chosen.redirects[key.removeprefix(keys.MERGED)] = owner
    chosen.redirects = dict(sorted(chosen.redirects.items()))
    return chosen


def find_entity(store: GraphStore, text: str) -> str:
    """The id of the entity named `text` (any alias, any type) or with that id; LookupError
    when none or several are."""
    node = store.get_nodes([text]).get(text)
    if node is not None and node.label is Label.ENTITY:
        return node.id
    wanted = [k for kind in ENTITY_TYPES for k in keys.entity_keys(kind, [text])]
    owners = sorted(set(store.lookup_keys(wanted).values()))
    if not owners:
        raise LookupError(f"no entity is known by the name '{text}'")
    if len(owners) > 1:
        raise LookupError(
            f"'{text}' names {len(owners)} entities ({', '.join(owners)}): give an id"
        )
    return owners[0]
