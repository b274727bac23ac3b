"""What is particular to the Neo4j store: its schema, its connection errors, exact merge rules
under awkward batches, and two loaders writing into one database at once."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from pathlib import Path
from typing import Any

import neo4j
import pytest

from graph import keys
from graph.embedded import EmbeddedStore
from graph.model import EdgeWrite, Label, NodeWrite, PropertyWrite, Rel, WriteBatch
from graph.neo4j import Neo4jStore
from graph.neo4j import queries as q
from graph.snapshot import INGEST_CLOCKS, canonical
from graph.store import EventFilter, EventQuery, GraphStore, StoreError
from loaders.records import Record, validate
from newsgraph.settings import Settings
from newsgraph.wiring import make_store as store_for
from services.editing import EditorialError
from services.editorial import Editorial
from services.ingest import Ingestor
from tests.conftest import (
    BOLT,
    DATA,
    EXTRACTOR,
    fresh_store,
    load_file,
    load_outlets,
    shared_file,
)
from tests.support.neo4j import beside_embedded, neo

__all__ = ["neo"]  # the fixture

SAMPLES = EXTRACTOR / "samples.jsonl"
WIKITIMES = DATA / "wikitimes-2015-09.jsonl"


def second_client(store: Neo4jStore) -> Neo4jStore:
    """Another store object (its own driver) on the same database as `store`."""
    server = BOLT.server(0)
    other = Neo4jStore(store.uri, server.user, server.password, store.database)
    other.setup()
    return other


def read(store: Neo4jStore, query: str) -> list[dict[str, Any]]:
    driver = neo4j.GraphDatabase.driver(
        store.uri, auth=(BOLT.server(0).user, BOLT.server(0).password)
    )
    with driver, driver.session(database=store.database) as session:
        return [r.data() for r in session.run(query)]


def test_setup_creates_the_constraints_and_is_repeatable(neo: Neo4jStore) -> None:
    neo.close()
    neo.setup()  # IF NOT EXISTS: a second setup changes nothing
    found = {
        (tuple(r["labelsOrTypes"]), tuple(r["properties"])) for r in read(neo, q.SHOW_CONSTRAINTS)
    }
    for label in Label:
        assert ((label.value,), ("id",)) in found
    assert ((q.KEY_LABEL,), ("key",)) in found
    assert ((q.SETTING_LABEL,), ("name",)) in found
    assert neo.capabilities is not None
    if neo.capabilities.relationship_uniqueness:
        for rel in Rel:
            assert ((rel.value,), (q.UID,)) in found


def test_settings_choose_the_store_and_never_show_the_password(neo: Neo4jStore) -> None:
    settings = Settings(neo4j_user="someone", neo4j_password="s3cret-pw")
    store = store_for("neo4j://db.example:7687", settings)
    assert isinstance(store, Neo4jStore)
    assert "s3cret-pw" not in repr(store) and "s3cret-pw" not in repr(settings)
    assert isinstance(store_for(str(Path("some/dir")), settings), EmbeddedStore)
    with pytest.raises(StoreError, match="unknown scheme"):
        store_for("http://localhost:7474", settings)


def test_a_wrong_password_is_a_clear_error(neo: Neo4jStore) -> None:
    wrong = Neo4jStore(neo.uri, BOLT.server(0).user, "not-the-password", neo.database)
    with pytest.raises(StoreError, match="NEWSGRAPH_NEO4J_PASSWORD") as raised:
        wrong.setup()
    assert "not-the-password" not in str(raised.value)


def test_an_unreachable_server_is_a_clear_error() -> None:
    store = Neo4jStore("bolt://127.0.0.1:9", "neo4j", "x")
    with pytest.raises(StoreError, match="cannot reach"):
        store.setup()


def test_reserved_property_names_are_refused(neo: Neo4jStore) -> None:
    with pytest.raises(StoreError, match="_nulls"):
        neo.write(
            WriteBatch(nodes=[NodeWrite("en_x", Label.ENTITY, PropertyWrite(set={"_nulls": []}))])
        )


def awkward_batches() -> list[WriteBatch]:
    """Writes where the order of rules and rows matters, nulls and empty lists included."""
    entity = Label.ENTITY
    return [
        WriteBatch(
            nodes=[
                NodeWrite("en_1", entity, PropertyWrite(create={"type": "person", "note": None})),
                NodeWrite("en_1", entity, PropertyWrite(first={"name": "B", "x": None}, rank="5")),
                NodeWrite("en_2", entity, PropertyWrite(union={"aliases": []})),
                NodeWrite("en_1", entity, PropertyWrite(first={"name": "A", "x": "a"}, rank="3")),
                NodeWrite("en_1", entity, PropertyWrite(first={"name": "C"}, rank="4")),
                NodeWrite(
                    "en_1", entity, PropertyWrite(union={"aliases": ["b", "a"]}, set={"x": None})
                ),
                NodeWrite(
                    "en_1",
                    entity,
                    PropertyWrite(
                        first={"seen": "m"}, minimum={"seen": "k"}, set={"seen": "z"}, rank="1"
                    ),
                ),
            ],
        ),
        WriteBatch(
            nodes=[
                NodeWrite(
                    "en_1",
                    entity,
                    PropertyWrite(last={"l": None}, rank="9", union={"aliases": ["é", "😀", "Z"]}),
                ),
                NodeWrite(
                    "en_1", entity, PropertyWrite(last={"l": "v"}, rank="8", maximum={"top": "q"})
                ),
                NodeWrite(
                    "en_2", entity, PropertyWrite(set={"_rank_first": "manual", "aliases": ["x"]})
                ),
                NodeWrite(
                    "en_2",
                    entity,
                    PropertyWrite(first={"name": "Two"}, rank="0", minimum={"low": "b"}),
                ),
                NodeWrite(
                    "en_2", entity, PropertyWrite(minimum={"low": "a"}, maximum={"low": "c"})
                ),
            ],
            edges=[
                EdgeWrite("en_1", Rel.INVOLVES, "en_2", "k", PropertyWrite(create={"a": None})),
                EdgeWrite(
                    "en_1", Rel.INVOLVES, "en_2", "k", PropertyWrite(last={"a": 1}, rank="2")
                ),
                EdgeWrite("en_1", Rel.INVOLVES, "en_2", "", PropertyWrite(union={"roles": ["r"]})),
            ],
            keys={"entity:person:a": "en_1"},
        ),
        WriteBatch(
            deletes=["en_2"],
            nodes=[NodeWrite("en_2", entity, PropertyWrite(create={"name": "Again", "lat": 1.5}))],
            rekeys={"entity:person:a": "en_2"},
            keys={"entity:person:b": "en_1", "entity:person:a": "en_1"},
        ),
    ]


def test_awkward_batches_merge_exactly_as_on_the_embedded_store(
    neo: Neo4jStore, tmp_path: Path
) -> None:
    with beside_embedded(neo, tmp_path, awkward_batches()) as embedded:
        assert neo.get_nodes(["en_1"]) == embedded.get_nodes(["en_1"])


# -- two loaders at once ---------------------------------------------------------------------


def lines_of(path: Path) -> list[str]:
    return [line for line in path.read_text("utf-8").splitlines() if line.strip()]


def write_lines(path: Path, lines: list[str]) -> Path:
    path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    return path


def at_once(*loads: Callable[[], object]) -> None:
    """Run the loads in threads, released together; re-raises the first failure."""
    start = threading.Barrier(len(loads))

    def run(load: Callable[[], object]) -> object:
        start.wait()
        return load()

    with ThreadPoolExecutor(len(loads)) as pool:
        for future in [pool.submit(run, load) for load in loads]:
            future.result()


def sequential_embedded(tmp_path: Path, path: Path, registry: bool) -> list[str]:
    store = EmbeddedStore(tmp_path / "sequential")
    store.setup()
    try:
        if registry:
            load_outlets(store)
        load_file(store, path)
        return canonical(store, ignore=INGEST_CLOCKS)
    finally:
        store.close()


def assert_no_duplicates(store: Neo4jStore) -> None:
    checks = [q.count_node_ids(label) for label in Label]
    checks += [q.count_edge_uids(rel) for rel in Rel]
    for query in [*checks, q.COUNT_KEYS]:
        (row,) = read(store, query)
        assert row["all"] == row["ids"], query


def without_outlet_names(lines: list[str]) -> tuple[list[str], dict[str, str]]:
    """The graph less the outlets' display names, and those names' normalised forms."""
    kept: list[str] = []
    names: dict[str, str] = {}
    for line in lines:
        item = json.loads(line)
        if item[0] == "node" and item[2] == Label.OUTLET.value:
            names[item[1]] = keys.normalise(item[3].pop("name"))
            line = json.dumps(item, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
        kept.append(line)
    return sorted(kept), names


@pytest.mark.parametrize(
    "split",
    [(0.0, 0.5, 0.5, 1.0), (0.0, 0.67, 0.33, 1.0)],
    ids=["halves", "overlapping-thirds"],
)
def test_two_loaders_at_once_give_the_sequential_graph(
    neo: Neo4jStore, tmp_path: Path, split: tuple[float, float, float, float]
) -> None:
    """wikitimes in two parts loaded at once, in small batches so the transactions interleave,
    gives the graph of one sequential embedded load. The one thing that may differ is an
    outlet's display name: it is a `create` value, the spelling of whichever record created
    the outlet first (in a concurrent load, first committed), so only its normalised form is
    compared."""
    lines = lines_of(WIKITIMES)
    a0, a1, b0, b1 = (round(f * len(lines)) for f in split)
    part_a = write_lines(tmp_path / "a.jsonl", lines[a0:a1])
    part_b = write_lines(tmp_path / "b.jsonl", lines[b0:b1])
    other = second_client(neo)
    try:
        at_once(
            lambda: load_file(neo, part_a, batch_size=20),
            lambda: load_file(other, part_b, batch_size=20),
        )
    finally:
        other.close()
    assert_no_duplicates(neo)
    expected, expected_names = without_outlet_names(
        sequential_embedded(tmp_path, WIKITIMES, registry=False)
    )
    got, got_names = without_outlet_names(canonical(neo, ignore=INGEST_CLOCKS))
    assert got == expected
    assert got_names == expected_names


def test_two_loaders_of_the_same_samples_at_once_give_the_sequential_graph(
    neo: Neo4jStore, tmp_path: Path
) -> None:
    """Every node, relationship and key of the samples is MERGEd by both loaders at once."""
    load_outlets(neo)
    others = [second_client(neo) for _ in range(2)]
    try:
        at_once(*(lambda s=s: load_file(s, SAMPLES) for s in [neo, *others]))
    finally:
        for other in others:
            other.close()
    assert_no_duplicates(neo)
    assert canonical(neo, ignore=INGEST_CLOCKS) == sequential_embedded(
        tmp_path, SAMPLES, registry=True
    )


def test_a_fresh_test_store_is_empty(tmp_path: Path) -> None:
    first: GraphStore = fresh_store("neo4j", tmp_path)
    first.setup()
    try:
        assert not any(first.counts().values())
    finally:
        first.close()


def load_each_at_once(neo: Neo4jStore, tmp_path: Path, events: list[dict[str, Any]]) -> None:
    """One loader (its own client) per event, record n from story-n by Outlet n, all at once."""
    clients = [second_client(neo) for _ in events]
    try:
        paths = []
        for n, event in enumerate(events):
            record = {
                "schema_version": 1,
                "extracted_at": f"2026-05-30T04:15:0{n}.000Z",
                "source_story": {"slug": f"story-{n}", "outlet": f"Outlet {n}"},
                "event": {**event, "reports": [{"outlet": f"Outlet {n}", "claims": []}]},
            }
            paths.append(write_lines(tmp_path / f"r{n}.jsonl", [json.dumps(record)]))
        at_once(*(partial(load_file, c, p) for c, p in zip(clients, paths, strict=True)))
    finally:
        for client in clients:
            client.close()


def test_loaders_reporting_one_event_at_once_all_count(neo: Neo4jStore, tmp_path: Path) -> None:
    """Six loaders each add a different outlet's report to one event at the same moment: the
    event's confidence must count all six, whatever order their transactions commit in."""
    outlets = 6
    event = {
        "id": "race-1",
        "category": "military",
        "summary": "One event, six outlets at once.",
        "occurred_on": "2025-03-13",
    }
    load_each_at_once(neo, tmp_path, [event] * outlets)
    (stored,) = neo.query_events(EventQuery(EventFilter(), first=5)).events
    assert stored.props["independent_sources"] == outlets
    assert stored.props["confidence"] == "likely"


def test_loaders_naming_one_entity_two_ways_at_once_make_one_node(
    neo: Neo4jStore, tmp_path: Path
) -> None:
    """Loaders that first meet one person under different spellings at the same moment would
    each create a node for their spelling; the loser of the key claim resolves again."""
    loaders = 6
    spellings = [("Vladimir Putin", "Putin"), ("Putin", "Vladimir Putin")]
    events = [
        {
            "id": f"event-{n}",
            "category": "diplomatic",
            "summary": f"Meeting number {n}.",
            "occurred_on": "2025-03-13",
            "entities": [{"name": name, "type": "person", "aliases": [alias]}],
        }
        for n, (name, alias) in enumerate(spellings[n % 2] for n in range(loaders))
    ]
    load_each_at_once(neo, tmp_path, events)
    assert neo.counts()["Entity"] == 1
    (putin,) = set(
        neo.lookup_keys(keys.entity_keys("person", ["Putin", "Vladimir Putin"])).values()
    )
    assert len(neo.edges([putin], Rel.INVOLVES, "in")[putin]) == loaders


def test_editors_reviewing_one_submission_at_once_review_it_once(neo: Neo4jStore) -> None:
    """Six editors (each its own client) approve or reject one submission at the same moment:
    one review wins; the others are told who got there first, and the event has one report.

    ArcadeDB refuses conflicting concurrent writes on its own (the store retries them); on
    Neo4j, whose transactions read committed data, the review's first write to the submission
    is what makes the second editor wait and then see the first one's review."""
    load_outlets(neo)
    record = validate(json.loads(shared_file(EXTRACTOR / "seed-event.json").read_text()), 1)
    assert isinstance(record, Record)
    (seed,) = Ingestor(neo).ingest([(1, record)])
    url = "https://www.reuters.com/world/europe/treaty-2025-03-13/"
    given = {"url": url, "outletName": "Reuters"}
    submission = Editorial(neo).submit(seed.event_id, given, "anonymous")
    clients = [second_client(neo) for _ in range(6)]
    outcomes: list[str] = []

    def review(n: int) -> None:
        editorial = Editorial(clients[n])
        try:
            if n % 2:
                editorial.reject(submission.id, "not this one", f"editor{n}")
            else:
                editorial.approve(submission.id, f"editor{n}")
            outcomes.append(f"editor{n}")
        except EditorialError as exc:
            outcomes.append(str(exc))

    try:
        at_once(*(partial(review, n) for n in range(6)))
    finally:
        for client in clients:
            client.close()
    winners = [o for o in outcomes if o.startswith("editor")]
    assert len(winners) == 1, outcomes
    (stored,) = neo.get_nodes([submission.id]).values()
    assert stored.props["reviewed_by"] == winners[0]
    losers = [o for o in outcomes if not o.startswith("editor")]
    assert all(f"by {winners[0]}" in o for o in losers), outcomes
    reports = neo.edges([seed.event_id], Rel.REPORTS, "in")[seed.event_id]
    expected = 1 if stored.props["status"] == "approved" else 0
    assert len([r for r in reports if r.props.get("url") == url]) == expected
    reviews = neo.find_nodes(Label.EDIT, {"subject": submission.id}, "at", 10)
    assert len(reviews) == 1


def test_two_loaders_racing_on_records_without_ids_give_one_event_each(
    neo: Neo4jStore, tmp_path: Path
) -> None:
    """Each event is reported twice, once to each of two loaders running at once in batches
    of two, so both may decide "new" for one event at the same moment. The loser's derive
    step finds the winner's event among its candidates and resolves its batch again: one
    event per pair, as a sequential load gives."""
    pairs = 12
    lines: tuple[list[str], list[str]] = ([], [])
    for n in range(pairs):
        day = f"2017-04-{n + 1:02d}"
        lat, lon = 33.0 + n * 0.5, 36.0 + n * 0.3
        for side, outlet in enumerate(("Outlet A", "Outlet B")):
            record = {
                "schema_version": 1,
                "extracted_at": f"{day}T2{side}:00:00Z",
                "source_story": {"slug": f"story-{n}-{side}", "outlet": outlet},
                "event": {
                    "category": "military",
                    "summary": f"Shelling of town {n} by the army",
                    "occurred_on": day,
                    "location": {"place": f"Town {n}", "country": "Syria", "lat": lat, "lon": lon},
                    "entities": [
                        {"name": "Government of Syria", "type": "organization", "role": "party"},
                        {"name": f"Brigade {n}", "type": "group", "role": "party"},
                    ],
                    "reports": [{"outlet": outlet, "claims": []}],
                },
            }
            lines[side].append(json.dumps(record))
    part_a = write_lines(tmp_path / "a.jsonl", lines[0])
    part_b = write_lines(tmp_path / "b.jsonl", lines[1])
    other = second_client(neo)
    try:
        at_once(
            lambda: load_file(neo, part_a, batch_size=2),
            lambda: load_file(other, part_b, batch_size=2),
        )
    finally:
        other.close()
    assert_no_duplicates(neo)
    events = neo.query_events(EventQuery(EventFilter(), first=100)).events
    assert len(events) == pairs
    described = neo.edges([e.id for e in events], Rel.DESCRIBES, "in")
    assert all(len(edges) == 2 for edges in described.values())


def test_matching_keys_of_an_older_graph_get_their_prefix_at_setup(neo: Neo4jStore) -> None:
    """The matcher's candidates are looked up by a matching key's prefix, kept as an indexed
    property; a graph written before it existed gets it when the store is set up."""
    event = NodeWrite("ev_a", Label.EVENT, PropertyWrite(set={"summary": "a"}))
    neo.write(WriteBatch(nodes=[event], keys={"match:d|2025-01-01|kyiv#ev_a": "ev_a"}))
    assert neo.lookup_key_prefixes(["match:d|2025-01-01|kyiv#"]) == {
        "match:d|2025-01-01|kyiv#": ["ev_a"]
    }
    read(neo, "MATCH (k:Key) REMOVE k.prefix RETURN count(k) AS n")  # as an older graph
    assert neo.lookup_key_prefixes(["match:d|2025-01-01|kyiv#"])["match:d|2025-01-01|kyiv#"] == []
    neo.close()
    neo.setup()
    assert neo.lookup_key_prefixes(["match:d|2025-01-01|kyiv#"]) == {
        "match:d|2025-01-01|kyiv#": ["ev_a"]
    }
    assert neo.lookup_keys(["match:d|2025-01-01|kyiv#ev_a"]) == {
        "match:d|2025-01-01|kyiv#ev_a": "ev_a"
    }
