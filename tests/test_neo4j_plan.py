"""The Neo4j store's write plan: statements per shape, rounds, flat rows, and the derive step's
reads (label hints, the owners the claims returned, what the batch created), each checked
against the embedded store or against a plain read."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from graph.model import Direction, EdgeWrite, Label, NodeWrite, PropertyWrite, Rel, WriteBatch
from graph.neo4j import Neo4jStore
from graph.neo4j import queries as q
from graph.neo4j import reads as neo4j_reads
from graph.neo4j.transaction import InTransaction
from graph.store import GraphReader
from tests.support.neo4j import beside_embedded, neo

__all__ = ["neo"]  # the fixture

ODD = "we`ird name"  # a property name that needs quoting


def batches() -> list[WriteBatch]:
    """Writes of one node and one relationship several times in a batch, each with another
    shape (so in other statements and rounds), with nulls coming and going."""
    first = WriteBatch(
        nodes=[
            NodeWrite("ou_1", Label.OUTLET, PropertyWrite(create={"name": "A", "group": None})),
            NodeWrite(
                "ev_1",
                Label.EVENT,
                PropertyWrite(
                    create={"ingested_at": "t0"},
                    first={"summary": "s2", "lat": None, ODD: "x"},
                    rank="2",
                    union={"aliases": ["b", "a"]},
                    minimum={"first_extracted_at": "2"},
                ),
            ),
            NodeWrite("ev_1", Label.EVENT, PropertyWrite(set={"confidence": None, "lon": 1.5})),
            NodeWrite(
                "ev_1",
                Label.EVENT,
                PropertyWrite(
                    first={"summary": "s1", "lat": 3.0}, rank="1", union={ODD + "s": ["z"]}
                ),
            ),
            NodeWrite("ev_1", Label.EVENT, PropertyWrite(set={"confidence": "high"})),
        ],
        edges=[
            EdgeWrite(
                "ou_1",
                Rel.REPORTS,
                "ev_1",
                "st_1",
                PropertyWrite(create={"story": "st_1"}, last={"url": None}, rank="1"),
            ),
            EdgeWrite(
                "ou_1", Rel.REPORTS, "ev_1", "st_1", PropertyWrite(last={"url": "u2"}, rank="2")
            ),
            EdgeWrite("ou_1", Rel.REPORTS, "ev_1", "st_2", PropertyWrite(maximum={ODD: "m"})),
        ],
        keys={"k:ev1": "ev_1", "k:ou1": "ou_1"},
    )
    second = WriteBatch(
        nodes=[
            NodeWrite(
                "ev_1",
                Label.EVENT,
                PropertyWrite(
                    first={"summary": "s0", "lat": None}, rank="0", maximum={ODD + "m": "y"}
                ),
            ),
            NodeWrite("ev_1", Label.EVENT, PropertyWrite(set={"lon": None})),
            NodeWrite("ou_1", Label.OUTLET, PropertyWrite(set={"group": "g"})),
        ],
        edges=[
            EdgeWrite(
                "ou_1", Rel.REPORTS, "ev_1", "st_1", PropertyWrite(last={"url": None}, rank="3")
            ),
            # the same relationship again in the same batch, in a later round
            EdgeWrite(
                "ou_1", Rel.REPORTS, "ev_1", "st_1", PropertyWrite(last={"url": "u1"}, rank="0")
            ),
        ],
    )
    return [first, second]


def test_writes_of_one_node_in_one_batch_merge_as_on_the_embedded_store(
    neo: Neo4jStore, tmp_path: Path
) -> None:
    with beside_embedded(neo, tmp_path, batches()) as embedded:
        assert neo.get_nodes(["ev_1", "ou_1"]) == embedded.get_nodes(["ev_1", "ou_1"])
        edges = neo.edges(["ev_1"], Rel.REPORTS, "in")
        assert edges == embedded.edges(["ev_1"], Rel.REPORTS, "in")


def test_one_statement_per_shape_with_values_only() -> None:
    shape = q.Shape(create=("a",), first=(ODD,), union=("u",), set=("s",))
    query = q.node_upsert(Label.EVENT, shape)
    assert "`we``ird name`: row[2]" in query  # names pasted quoted, values by position
    assert "$rows" in query and "'" not in query  # no literal value in the statement
    edge = q.edge_upsert(Rel.REPORTS, Label.OUTLET, Label.EVENT, q.Shape())
    assert "MERGE (b)<-[r:`REPORTS`" in edge  # from the event, not the outlet
    assert "ON CREATE" not in edge and "SET" not in edge


def test_derive_reads_find_nodes_whatever_the_hints(neo: Neo4jStore) -> None:
    neo.write(batches()[0])
    hints = {"ev_1": Label.ENTITY, "ou_1": Label.OUTLET}  # one wrong, one right
    seen: dict[str, object] = {}

    def derive(graph: GraphReader) -> WriteBatch:
        seen["nodes"] = graph.get_nodes(["ev_1", "ou_1", "missing"])
        seen["in"] = graph.edges(["ev_1", "missing"], Rel.REPORTS, "in")
        seen["out"] = graph.edges(["ou_1"], Rel.REPORTS, "out")
        return WriteBatch()

    def work(tx: object) -> None:
        derive(InTransaction(tx, hints, {}))  # type: ignore[arg-type]

    neo._write(work)
    assert seen["nodes"] == neo.get_nodes(["ev_1", "ou_1"])
    assert seen["in"] == neo.edges(["ev_1", "missing"], Rel.REPORTS, "in")
    assert seen["out"] == neo.edges(["ou_1"], Rel.REPORTS, "out")
    assert len(neo.edges(["ev_1"], Rel.REPORTS, "in")["ev_1"]) == 2


def test_derive_sees_the_owners_of_the_keys_the_batch_claimed(neo: Neo4jStore) -> None:
    neo.write(batches()[0])
    claim = WriteBatch(
        nodes=[NodeWrite("en_1", Label.ENTITY, PropertyWrite(create={"name": "P"}))],
        keys={"k:ev1": "en_1", "k:en1": "en_1"},  # the first is ev_1's already: not taken
    )
    seen: dict[str, dict[str, str]] = {}

    def derive(graph: GraphReader) -> WriteBatch:
        seen["owners"] = graph.lookup_keys(["k:en1", "k:ev1", "k:ou1", "k:none", "k:en1"])
        return WriteBatch()

    neo.write(claim, derive)
    assert seen["owners"] == {"k:en1": "en_1", "k:ev1": "ev_1", "k:ou1": "ou_1"}
    assert seen["owners"] == neo.lookup_keys(["k:en1", "k:ev1", "k:ou1", "k:none"])


def test_derive_reads_of_what_the_batch_created_equal_a_read_after_it(
    neo: Neo4jStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The derive step's reads of nodes the batch created, and of their relationships, are
    answered from the batch (no statement), and equal what the server gives after the
    commit; the other nodes are read, and see the batch's new relationships too."""
    asked: list[str] = []
    real_nodes, real_edges = neo4j_reads.get_nodes, neo4j_reads.get_edges

    def get_nodes(tx: Any, ids: Any, hints: Any = None) -> Any:
        asked.extend(ids)
        return real_nodes(tx, ids, hints)

    def get_edges(tx: Any, ids: Any, rel: Any, direction: Any, hints: Any = None) -> Any:
        asked.extend(ids)
        return real_edges(tx, ids, rel, direction, hints)

    monkeypatch.setattr(neo4j_reads, "get_nodes", get_nodes)
    monkeypatch.setattr(neo4j_reads, "get_edges", get_edges)
    reads: list[tuple[list[str], Rel, Direction]] = [
        (["ev_1", "missing", "ev_1"], Rel.REPORTS, "in"),
        (["ou_1"], Rel.REPORTS, "out"),
        (["ev_1"], Rel.REPORTS, "out"),
        (["ev_2", "ev_1"], Rel.REPORTS, "in"),
    ]
    later = WriteBatch(  # ev_2 is new, ou_1 and ev_1 are not
        nodes=[
            NodeWrite("ev_2", Label.EVENT, PropertyWrite(create={"n": 1}, set={"x": None})),
            NodeWrite("ev_2", Label.EVENT, PropertyWrite(union={"tags": ["b", "a"]})),
        ],
        edges=[
            EdgeWrite("ou_1", Rel.REPORTS, "ev_2", "st_9", PropertyWrite(create={"story": "st_9"})),
            EdgeWrite(
                "ou_1", Rel.REPORTS, "ev_2", "st_8", PropertyWrite(last={"u": None}, rank="1")
            ),
        ],
    )
    seen: list[object] = []

    def derive(graph: GraphReader) -> WriteBatch:
        seen.append(graph.get_nodes(["ev_1", "ou_1", "ev_2", "missing"]))
        seen.extend(graph.edges(ids, rel, direction) for ids, rel, direction in reads)
        return WriteBatch()

    for batch, created in ((batches()[0], ["ev_1", "ou_1"]), (later, ["ev_2"])):
        seen.clear()
        asked.clear()
        neo.write(batch, derive)
        assert not set(asked) & set(created)  # answered from the batch
        assert seen[0] == neo.get_nodes(["ev_1", "ou_1", "ev_2", "missing"])
        assert seen[1:] == [neo.edges(ids, rel, direction) for ids, rel, direction in reads]
    assert len(neo.edges(["ou_1"], Rel.REPORTS, "out")["ou_1"]) == 4
