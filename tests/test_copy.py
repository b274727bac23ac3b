"""`newsgraph copy`: a whole graph moved between stores, verified by counts and content hash."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from graph.embedded import EmbeddedStore
from graph.model import Label, NodeWrite, PropertyWrite, Value, WriteBatch
from graph.snapshot import canonical, content_hash
from graph.store import GraphStore
from newsgraph.cli import main
from services.copy import CopyError, copy_graph
from tests.conftest import (
    DATA,
    EXTRACTOR,
    fresh_store,
    load_file,
    load_outlets,
    serve_target,
)


@pytest.fixture
def loaded(tmp_path: Path) -> Iterator[GraphStore]:
    """An embedded store with the registry, the samples, the wikitimes month and a setting."""
    store = EmbeddedStore(tmp_path / "source")
    store.setup()
    try:
        load_outlets(store)
        load_file(store, EXTRACTOR / "samples.jsonl")
        load_file(store, DATA / "wikitimes-2015-09.jsonl")
        store.write(WriteBatch(settings={"confidence_policy_note": "kept verbatim"}))
        yield store
    finally:
        store.close()


@pytest.fixture
def neo4j_store(tmp_path: Path) -> Iterator[GraphStore]:
    store = fresh_store("neo4j", tmp_path)
    store.setup()
    try:
        yield store
    finally:
        store.close()


def test_embedded_to_neo4j_and_back_gives_identical_content(
    loaded: GraphStore, neo4j_store: GraphStore, tmp_path: Path
) -> None:
    there = copy_graph(loaded, neo4j_store, batch_size=300)
    assert there.content_hash == content_hash(loaded)
    assert there.settings == 1 and there.keys > 0 and there.relationships > 0
    back = EmbeddedStore(tmp_path / "back")
    back.setup()
    try:
        again = copy_graph(neo4j_store, back, batch_size=300)
        assert again.content_hash == there.content_hash
        assert canonical(back) == canonical(loaded)
        assert back.counts() == loaded.counts()
        assert back.get_setting("confidence_policy_note") == "kept verbatim"
    finally:
        back.close()


def test_null_and_empty_values_survive_the_round_trip(
    neo4j_store: GraphStore, tmp_path: Path
) -> None:
    source = EmbeddedStore(tmp_path / "nulls")
    source.setup()
    try:
        props: dict[str, Value] = {
            "name": "N",
            "group": None,
            "aliases": [],
            "rank": 0,
            "ok": False,
            "x": 1.5,
        }
        source.write(WriteBatch(nodes=[NodeWrite("ou_n", Label.OUTLET, PropertyWrite(set=props))]))
        copy_graph(source, neo4j_store)
        assert neo4j_store.get_nodes(["ou_n"])["ou_n"].props == props
    finally:
        source.close()


def test_the_target_must_be_empty(loaded: GraphStore, neo4j_store: GraphStore) -> None:
    neo4j_store.write(WriteBatch(keys={}, settings={"x": "y"}))
    with pytest.raises(CopyError, match="not empty"):
        copy_graph(loaded, neo4j_store)


def test_cli_copies_to_neo4j_and_back(
    loaded: GraphStore, neo4j_store: GraphStore, tmp_path: Path
) -> None:
    expected = content_hash(loaded)
    loaded.close()  # the command opens the directory itself
    neo4j_store.close()
    uri, env = serve_target("neo4j", tmp_path)
    runner = CliRunner()
    there = runner.invoke(main, ["copy", "--from", str(tmp_path / "source"), "--to", uri], env=env)
    assert there.exit_code == 0, there.output
    assert f"content hash:  {expected}" in there.output
    assert env["NEWSGRAPH_NEO4J_PASSWORD"] not in there.output
    back = tmp_path / "back"
    again = runner.invoke(main, ["copy", "--from", uri, "--to", str(back)], env=env)
    assert again.exit_code == 0, again.output
    store = EmbeddedStore(back)
    store.setup()
    try:
        assert content_hash(store) == expected
    finally:
        store.close()
    refused = runner.invoke(main, ["copy", "--from", str(back), "--to", uri], env=env)
    assert refused.exit_code == 1 and "not empty" in refused.output
