"""`newsgraph export` and `newsgraph timeline --png`: every format parses, JSONL reloads into
the same graph, the picture is written."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path

import networkx as nx
import pytest

from graph.embedded import EmbeddedStore
from graph.model import Edge, Label, Node
from graph.snapshot import canonical
from graph.store import EventFilter, EventQuery, GraphStore
from services.editorial import Editorial
from services.export import export
from services.selection import find_entity, select
from services.unload import ROUND_TRIP_IGNORES, RecordsSummary, records
from tests.conftest import DATA, EXTRACTOR, load_file, load_outlets, shared_file

NEWSGRAPH = Path(sys.executable).parent / "newsgraph"
WIKITIMES = DATA / "wikitimes-2015-09.jsonl"


def counts(store: GraphStore) -> tuple[int, int]:
    """Nodes and relationships of the graph, less the editorial records (a load may queue a
    possible duplicate in the editorial log), which exports leave out."""
    items = list(store.dump())
    editorial = (Label.EDIT, Label.SUBMISSION)
    return (
        sum(isinstance(i, Node) and i.label not in editorial for i in items),
        sum(isinstance(i, Edge) for i in items),
    )


def exported(store: GraphStore, fmt: str, flt: EventFilter | None = None) -> bytes:
    out = io.BytesIO()
    export(store, fmt, out, flt or EventFilter())
    return out.getvalue()


def reloaded(path: Path, directory: Path, registry: bool) -> EmbeddedStore:
    store = EmbeddedStore(directory)
    store.setup()
    if registry:
        load_outlets(store)
    summary = load_file(store, path)
    assert summary.rejected == 0
    return store


def assert_same(one: GraphStore, other: GraphStore) -> None:
    left, right = canonical(one, ROUND_TRIP_IGNORES), canonical(other, ROUND_TRIP_IGNORES)
    assert sorted(set(left) - set(right))[:5] == sorted(set(right) - set(left))[:5] == []
    assert left == right


def test_every_format_parses(store: GraphStore, tmp_path: Path) -> None:
    load_outlets(store)
    load_file(store, EXTRACTOR / "samples.jsonl")
    nodes, edges = counts(store)
    graphml = nx.read_graphml(io.BytesIO(exported(store, "graphml")))
    gexf = nx.read_gexf(io.BytesIO(exported(store, "gexf")))
    for graph in (graphml, gexf):
        assert (graph.number_of_nodes(), graph.number_of_edges()) == (nodes, edges)
    events = [n for n, d in graphml.nodes(data=True) if d["node_type"] == "Event"]
    assert len(events) == 3
    involves = [d for _, _, d in graphml.edges(data=True) if d["relationship"] == "INVOLVES"]
    assert all(isinstance(json.loads(d["roles"]), list) for d in involves)
    cyto = json.loads(exported(store, "cytoscape-json"))
    elements = cyto["elements"]
    assert (len(elements["nodes"]), len(elements["edges"])) == (nodes, edges)
    ids = {n["data"]["id"] for n in elements["nodes"]}
    assert all({e["data"]["source"], e["data"]["target"]} <= ids for e in elements["edges"])
    assert all("_rank_first" not in n["data"]["props"] for n in elements["nodes"])
    lines = exported(store, "jsonl").decode("utf-8").splitlines()
    assert len(lines) == 5 and all(json.loads(line)["schema_version"] == 1 for line in lines)


def test_exports_leave_out_editorial_records(store: GraphStore) -> None:
    """Submissions (what readers sent, with their notes) and the editorial log stay in the
    store; an approved submission is a report like any other and is exported."""
    load_outlets(store)
    load_file(store, EXTRACTOR / "samples.jsonl")
    nodes, edges = counts(store)
    (event,) = [e for e in store.query_events(EventQuery(EventFilter(), 5)).events][:1]
    editorial = Editorial(store)
    given = {"url": "https://example.org/a", "outletName": "Example", "note": "my cousin"}
    editorial.submit(event.id, given, "anonymous")
    approved = editorial.submit(event.id, {**given, "url": "https://example.org/b"}, "anonymous")
    editorial.approve(approved.id, "alice")
    graphml = nx.read_graphml(io.BytesIO(exported(store, "graphml")))
    kinds = {d["node_type"] for _, d in graphml.nodes(data=True)}
    assert "Submission" not in kinds and "Edit" not in kinds
    # the approved report: its outlet, its story, and REPORTS, PUBLISHED and DESCRIBES
    assert (graphml.number_of_nodes(), graphml.number_of_edges()) == (nodes + 2, edges + 3)
    assert b"my cousin" not in exported(store, "cytoscape-json")


def test_jsonl_round_trip_gives_the_same_graph(store: GraphStore, tmp_path: Path) -> None:
    """The samples (with the registry) loaded in reverse order, so the entity that a record
    links late (Lukashenko) and the event it merges must come back under the same ids; the
    reload goes into the embedded store whatever store exported."""
    lines = shared_file(EXTRACTOR / "samples.jsonl").read_text("utf-8").splitlines()
    reversed_file = tmp_path / "reversed.jsonl"
    reversed_file.write_text("\n".join(lines[::-1]) + "\n", encoding="utf-8")
    load_outlets(store)
    load_file(store, reversed_file)
    path = tmp_path / "export.jsonl"
    path.write_bytes(exported(store, "jsonl"))
    again = reloaded(path, tmp_path / "again", registry=True)
    try:
        assert_same(store, again)
    finally:
        again.close()


def test_wikitimes_round_trip_through_the_command_line(tmp_path: Path) -> None:
    """`newsgraph export --format jsonl`, then `newsgraph load` into an empty store."""
    source = EmbeddedStore(tmp_path / "source")
    source.setup()
    load_file(source, shared_file(WIKITIMES))
    source.close()
    out = tmp_path / "wikitimes.jsonl"
    run("export", "--store", str(tmp_path / "source"), "--format", "jsonl", "--output", str(out))
    assert len(out.read_text("utf-8").splitlines()) == 427
    loaded = run("load", "--store", str(tmp_path / "again"), str(out), cwd=tmp_path)
    assert "rejected:       0" in loaded
    one, other = EmbeddedStore(tmp_path / "source"), EmbeddedStore(tmp_path / "again")
    one.setup()
    other.setup()
    try:
        assert_same(one, other)
        # a filtered export: the events of one entity, and everything around them
        yemen = find_entity(one, "Yemen")
        summary = RecordsSummary()
        rebuilt = records(one, select(one, EventFilter(entity=yemen)), summary)
        assert (len(rebuilt), summary.events, summary.out_of_order) == (18, 18, 0)
    finally:
        one.close()
        other.close()


def test_filters_select_events_and_their_surroundings(tmp_path: Path) -> None:
    store = EmbeddedStore(tmp_path / "store")
    store.setup()
    try:
        load_file(store, shared_file(WIKITIMES))
        yemen = find_entity(store, "Yemen")
        chosen = select(store, EventFilter(entity=yemen, date_from="2015-09-14"))
        events = [n for n in chosen.nodes.values() if n.label.value == "Event"]
        assert events and all(n.text("occurred_on") >= "2015-09-14" for n in events)
        assert yemen in chosen.nodes
        ends = {end for e in chosen.edges.values() for end in (e.src, e.dst)}
        assert ends <= set(chosen.nodes)
        with pytest.raises(LookupError, match="no entity is known"):
            find_entity(store, "Nobody Atall")
    finally:
        store.close()


def test_timeline_png(tmp_path: Path) -> None:
    store = EmbeddedStore(tmp_path / "store")
    store.setup()
    load_file(store, shared_file(WIKITIMES))
    store.close()
    png = tmp_path / "pictures" / "yemen.png"
    said = run("timeline", "Yemen", "--store", str(tmp_path / "store"), "--png", str(png))
    assert "18 events" in said
    data = png.read_bytes()
    assert data.startswith(b"\x89PNG\r\n\x1a\n") and len(data) > 10_000
    missing = subprocess.run(
        [str(NEWSGRAPH), "timeline", "Nobody", "--store", str(tmp_path / "store"), "--png", "x"],
        capture_output=True,
        text=True,
    )
    assert missing.returncode == 1 and "no entity is known" in missing.stderr


def run(*args: str, cwd: Path | None = None) -> str:
    done = subprocess.run(
        [str(NEWSGRAPH), *args], capture_output=True, text=True, cwd=cwd, timeout=120
    )
    assert done.returncode == 0, done.stderr
    return done.stdout + done.stderr


def record(extracted: str, slug: str, outlet: str, event: dict[str, object]) -> str:
    body = {"category": "military", "occurred_on": "2025-05-01", **event}
    line = {
        "schema_version": 1,
        "extracted_at": extracted,
        "source_story": {"slug": slug, "outlet": outlet, "published_on": "2025-05-02"},
        "event": body,
    }
    return json.dumps(line)


HARD_CASES = [
    # first in the file, so it makes the entity: 'Zelensky' gives its id
    record(
        "2026-01-02T00:00:00Z",
        "depot",
        "Kyiv Post",
        {
            "summary": "Strike on a depot.",
            "location": {"place": "Kyiv oblast", "country": "Ukraine", "lat": 50.1, "lon": 30.5},
            "entities": [
                {
                    "name": "Zelensky",
                    "type": "person",
                    "aliases": ["Volodymyr Zelensky"],
                    "role": "participant",
                },
                {"name": "Acme Corp", "type": "organization", "role": "mentioned"},
            ],
            "reports": [
                {"outlet": "Kyiv Post", "claims": [{"text": "A depot burned.", "tone": "certain"}]},
                {"outlet": "KYIV POST", "claims": [{"text": "Two hurt.", "tone": "likely"}]},
            ],
        },
    ),
    # extracted earlier, so its spelling is the entity's name; joins by the summary
    record(
        "2026-01-01T00:00:00Z",
        "depot-strike",
        "Reuters",
        {
            "summary": "Strike on a depot.",
            "location": {"place": "Kyiv Oblast", "country": "ukraine"},
            "entities": [
                {"name": "Volodymyr Zelensky", "type": "person", "role": "participant"},
                {"name": "Acme Corp", "type": "organization", "role": "participant"},
            ],
            "reports": [{"outlet": "Reuters", "url": "https://example.org/r", "claims": []}],
        },
    ),
    # the first story extracted again: its claims replace the earlier ones
    record(
        "2026-01-03T00:00:00Z",
        "depot",
        "Kyiv Post",
        {
            "summary": "Strike on a depot.",
            "location": {"place": "Kyiv oblast", "country": "Ukraine"},
            "entities": [{"name": "Zelensky", "type": "person", "role": "participant"}],
            "reports": [
                {"outlet": "Kyiv-Post", "claims": [{"text": "Fire out.", "tone": "certain"}]}
            ],
        },
    ),
    record(
        "2026-01-04T00:00:00Z",
        "address",
        "Kyiv-Post",
        {
            "id": "x-1",
            "category": "political",
            "summary": "An address to the nation.",
            "location": {"country": "Ukraine"},
            "entities": [{"name": "Volodymyr Zelensky", "type": "person", "role": "subject"}],
            "reports": [{"outlet": "Kyiv Post", "claims": []}],
        },
    ),
]


def test_round_trip_of_spellings_re_extractions_and_mixed_roles(tmp_path: Path) -> None:
    """Records built to be hard to rebuild: an entity whose id comes from one spelling and
    whose name from another, spellings of an outlet and a place that normalise alike, a story
    extracted twice, an entity that is a participant in one record and not in another."""
    source = tmp_path / "hard.jsonl"
    source.write_text("\n".join(HARD_CASES) + "\n", encoding="utf-8")
    original = reloaded(source, tmp_path / "original", registry=False)
    try:
        assert original.counts()["Event"] == 2
        path = tmp_path / "export.jsonl"
        summary = RecordsSummary()
        rebuilt = records(original, select(original), summary)
        assert summary.out_of_order == 0
        path.write_text("\n".join(json.dumps(r) for r in rebuilt) + "\n", encoding="utf-8")
        again = reloaded(path, tmp_path / "again", registry=False)
        try:
            assert_same(original, again)
        finally:
            again.close()
    finally:
        original.close()
