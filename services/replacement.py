"""A story extracted again replaces what its earlier extractions contributed (docs/identity.md,
"A story extracted again replaces its contribution").

Each relationship a record writes says which extraction of its story wrote it: a report its
`extracted_at` (the newest extraction's, by the `last` rule), an involvement or a location a
mark `<story id>|<extracted_at>` in `story_extractions`. Inside the load's own transaction,
once the batch is applied, `replaced` compares each story's relationships with the story's
latest extraction (the DESCRIBES's `last_extracted_at`): what only older extractions named goes
(a report is removed; the story leaves an involvement's or a location's `stories`, and the
relationship goes when no story is left; an entity or place nothing links to any more goes
too), and the event's places are recomputed. An older
extraction arriving after a newer one is thus undone in the same write: it changes nothing.
Relationships written before the marks existed carry none and are left as they are.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Final

from graph.identity import Mention
from graph.model import (
    FIRST_RANK,
    LAST_RANK,
    RULES,
    Direction,
    Edge,
    EdgeId,
    EdgeWrite,
    Label,
    Node,
    NodeWrite,
    PropertyWrite,
    Rel,
    Value,
    WriteBatch,
)
from graph.store import GraphReader
from services.mentions import latest_mention

MARKS: Final = "story_extractions"  # on INVOLVES and OCCURRED_IN: <story id>|<extracted_at>
# An event's properties its earliest record gives (merge rule `first`): summary, category, day
# and coordinates.
FIRSTS = tuple(k for k, rule in RULES[Label.EVENT].items() if rule == "first")


def mark(story_id: str, extracted: str) -> str:
    """The mark of one extraction of a story on a relationship it named."""
    return f"{story_id}|{extracted}"


def marked_story(marked: str) -> str:
    """The story whose extraction left the mark `marked` (`mark`'s first part)."""
    return marked.rpartition("|")[0]


@dataclass
class Replaced:
    """What the latest extractions of the batch's stories removed: the writes, and per event
    what was dropped, in words ("re-extraction of story S dropped outlet X")."""

    batch: WriteBatch = field(default_factory=WriteBatch)
    dropped: dict[str, list[str]] = field(default_factory=dict)
    # per event, the earliest-record properties it takes again (`batch` writes them)
    firsts: dict[str, dict[str, Value]] = field(default_factory=dict)


def replaced(graph: GraphReader, described: Iterable[tuple[str, str]]) -> Replaced:
    """What the stories of `described` ((story id, event id) pairs the batch wrote) no longer
    name in their latest extraction, as the transaction sees the graph. Costs one read when
    no story of the batch has two extractions (a first load, a reload)."""
    found = Replaced()
    pairs = set(described)
    if not pairs:
        return found
    latest: dict[tuple[str, str], str] = {}
    events = sorted({e for _, e in pairs})
    for event_id, edges in graph.edges(events, Rel.DESCRIBES, "in").items():
        for e in edges:
            newest = str(e.props.get("last_extracted_at") or "")
            earliest = str(e.props.get("first_extracted_at") or "")
            if (e.src, event_id) in pairs and newest and earliest < newest:
                latest[(e.src, event_id)] = newest
    if not latest:
        return found
    events = sorted({e for _, e in latest})
    _firsts_again(graph, found, events)
    reports = graph.edges(events, Rel.REPORTS, "in")
    involved = graph.edges(events, Rel.INVOLVES, "out")
    located = graph.edges(events, Rel.OCCURRED_IN, "out")
    drops: list[tuple[str, str, str, str]] = []  # (event, story, what, the node dropped)
    relocated: set[str] = set()
    for (story, event_id), newest in sorted(latest.items()):
        for e in reports[event_id]:
            if e.discriminator == story and str(e.props.get("extracted_at") or "") < newest:
                found.batch.unlinks.append((e.src, Rel.REPORTS, e.dst, e.discriminator))
                drops.append((event_id, story, "outlet", e.src))
        for rel, edges, what in (
            (Rel.INVOLVES, involved[event_id], "entity"),
            (Rel.OCCURRED_IN, located[event_id], "place"),
        ):
            for e in edges:
                if _unnamed(found.batch, rel, e, story, newest) == "unlinked":
                    drops.append((event_id, story, what, e.dst))
                    if rel is Rel.OCCURRED_IN:
                        relocated.add(event_id)
    if drops:
        named = graph.get_nodes(sorted({n for _, s, _, d in drops for n in (s, d)}))
        for event_id, story, what, node in drops:
            slug, name = (named[i].title() if i in named else i for i in (story, node))
            text = f"re-extraction of story {slug} dropped {what} {name}"
            found.dropped.setdefault(event_id, []).append(text)
    found.batch.deletes += _orphans(graph, found.batch.unlinks)
    if relocated:
        gone = set(found.batch.unlinks)
        found.batch.nodes += _places(graph, sorted(relocated), located, gone)
    return found


def firsts_of(described: Sequence[Edge], event: Node) -> dict[str, Value]:
    """An event's `first` properties as the loader gives them, from the records (DESCRIBES)
    it holds, each as its story's latest extraction said it: the values of the one ranked
    first. A record without a mention (it had an extractor's event id) gives no coordinates:
    the event's own are kept."""
    best = min(described, key=lambda e: (str(e.props.get(LAST_RANK) or ""), e.src))
    mention: Mention | None = latest_mention(best)
    values: dict[str, Value] = {
        "category": best.props.get("category"),
        "summary": best.props.get("summary"),
        "occurred_on": best.props.get("occurred_on"),
        "lat": mention.lat if mention is not None else event.props.get("lat"),
        "lon": mention.lon if mention is not None else event.props.get("lon"),
        FIRST_RANK: best.props.get(LAST_RANK),
    }
    return {k: v for k, v in values.items() if k in FIRSTS or k == FIRST_RANK}


def _firsts_again(graph: GraphReader, found: Replaced, events: Sequence[str]) -> None:
    """The earliest-record properties of `events`, one of whose stories was extracted again,
    from each story's latest extraction: an older extraction no longer counts (the `first`
    rule kept its values, ranked earlier), whichever order the two arrived in."""
    nodes = graph.get_nodes(list(events))
    for event_id, described in graph.edges(list(events), Rel.DESCRIBES, "in").items():
        event = nodes.get(event_id)
        if event is None or not described or not all(e.props.get(LAST_RANK) for e in described):
            continue  # records written before their rank was kept: left as they are
        values = firsts_of(described, event)
        changed = {k: v for k, v in values.items() if event.props.get(k) != v}
        if changed:
            found.firsts[event_id] = changed
            found.batch.nodes.append(NodeWrite(event_id, Label.EVENT, PropertyWrite(set=changed)))


def _unnamed(batch: WriteBatch, rel: Rel, edge: Edge, story: str, newest: str) -> str:
    """Takes `story` off `edge` when its latest extraction did not name it ("unlinked" when no
    story is left, "changed"), and its older marks; "" when nothing changes."""
    marks = edge.texts(MARKS)
    mine = [m for m in marks if marked_story(m) == story]
    if story not in edge.texts("stories") or not mine:
        return ""  # not this story's, or written before the marks
    current = mark(story, newest)
    ident: EdgeId = (edge.src, rel, edge.dst, edge.discriminator)
    if current in mine:
        if len(mine) == 1:
            return ""
        kept = [m for m in marks if m not in mine or m == current]
        batch.edges.append(EdgeWrite(*ident, PropertyWrite(set={MARKS: kept})))
        return "changed"
    stories = [s for s in edge.texts("stories") if s != story]
    if not stories:
        batch.unlinks.append(ident)
        return "unlinked"
    kept = [m for m in marks if m not in mine]
    batch.edges.append(EdgeWrite(*ident, PropertyWrite(set={"stories": stories, MARKS: kept})))
    return "changed"


def _orphans(graph: GraphReader, gone: Sequence[EdgeId]) -> list[str]:
    """The entities and places only the relationships `gone` linked to anything: nothing
    names them any more (outlets stay: the registry may know them)."""
    ends = sorted({dst for _, rel, dst, _ in gone if rel in (Rel.INVOLVES, Rel.OCCURRED_IN)})
    if not ends:
        return []
    removed = set(gone)
    linked: set[str] = set()
    for rel in (Rel.INVOLVES, Rel.OCCURRED_IN, Rel.IN_COUNTRY):
        for node, edges in graph.edges(ends, rel, "in").items():
            if any((e.src, e.type, e.dst, e.discriminator) not in removed for e in edges):
                linked.add(node)
    return [n for n in ends if n not in linked]


def event_places(graph: GraphReader, events: Sequence[str]) -> list[NodeWrite]:
    """The places and countries of `events` recomputed from their locations."""
    return _places(graph, events, graph.edges(list(events), Rel.OCCURRED_IN, "out"), set())


def _places(
    graph: GraphReader, events: Sequence[str], located: dict[str, list[Edge]], gone: set[EdgeId]
) -> list[NodeWrite]:
    """The places and countries of `events` recomputed from the locations they keep."""
    left = {
        e: [x for x in located[e] if (x.src, Rel.OCCURRED_IN, x.dst, x.discriminator) not in gone]
        for e in events
    }
    targets = sorted({x.dst for edges in left.values() for x in edges})
    nodes = graph.get_nodes(targets)
    countries = graph.edges(targets, Rel.IN_COUNTRY, "out")
    writes = []
    for event_id in events:
        place_ids: set[str] = set()
        country_ids: set[str] = set()
        for x in left[event_id]:
            place_ids.add(x.dst)
            for c in countries[x.dst]:
                place_ids.add(c.dst)
                country_ids.add(c.dst)
            node = nodes.get(x.dst)
            if node is not None and node.text("kind") == "country":
                country_ids.add(x.dst)
        props = {"place_ids": sorted(place_ids), "country_ids": sorted(country_ids)}
        writes.append(NodeWrite(event_id, Label.EVENT, PropertyWrite(set=dict(props))))
    return writes


class Hiding:
    """`graph` without the relationships `gone` and with the node properties `props` (what
    `replaced` removes and sets, not yet written): the steps after it in the same transaction
    (rating, placing, pins) read through it."""

    def __init__(
        self,
        graph: GraphReader,
        gone: Iterable[EdgeId],
        props: Mapping[str, Mapping[str, Value]] | None = None,
    ) -> None:
        self._graph = graph
        self._gone = set(gone)
        self._props = props or {}

    def get_nodes(self, ids: Sequence[str]) -> dict[str, Node]:
        found = self._graph.get_nodes(ids)
        if not self._props:
            return found
        return {
            i: Node(n.id, n.label, {**n.props, **self._props[i]}) if i in self._props else n
            for i, n in found.items()
        }

    def lookup_keys(self, keys: Sequence[str]) -> dict[str, str]:
        return self._graph.lookup_keys(keys)

    def lookup_key_prefixes(self, prefixes: Sequence[str]) -> dict[str, list[str]]:
        return self._graph.lookup_key_prefixes(prefixes)

    def write_count(self) -> int | None:
        return self._graph.write_count()

    def edges(self, ids: Sequence[str], rel: Rel, direction: Direction) -> dict[str, list[Edge]]:
        found = self._graph.edges(ids, rel, direction)
        if not self._gone:
            return found
        return {
            node: [e for e in edges if (e.src, e.type, e.dst, e.discriminator) not in self._gone]
            for node, edges in found.items()
        }
