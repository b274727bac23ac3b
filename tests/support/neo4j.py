"""Helpers of the Neo4j store's tests: an empty Neo4j store, and the same batches written to
it and to an embedded store side by side."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

import pytest

from graph.embedded import EmbeddedStore
from graph.model import WriteBatch
from graph.neo4j import Neo4jStore
from graph.snapshot import canonical
from tests.conftest import fresh_store


@pytest.fixture
def neo(tmp_path: Path) -> Iterator[Neo4jStore]:
    """An empty, open Neo4j store."""
    store = fresh_store("neo4j", tmp_path)
    assert isinstance(store, Neo4jStore)
    store.setup()
    try:
        yield store
    finally:
        store.close()


@contextlib.contextmanager
def beside_embedded(
    neo: Neo4jStore, tmp_path: Path, batches: list[WriteBatch]
) -> Iterator[EmbeddedStore]:
    """An embedded store given the same batches as `neo`, in turn; after each, both stores must
    hold the same graph. Yields the embedded store for further comparisons."""
    embedded = EmbeddedStore(tmp_path / "embedded")
    embedded.setup()
    try:
        for batch in batches:
            embedded.write(batch)
            neo.write(batch)
            assert canonical(neo) == canonical(embedded)
        yield embedded
    finally:
        embedded.close()
