"""Fixtures shared by the suite: the shared data files and one store fixture per store kind.

Every test that takes `store` runs once per store implementation (the contract suite). A
store whose server is not available is skipped with the reason; CI makes them all available.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from graph.embedded import EmbeddedStore
from graph.store import GraphStore
from loaders.ingest import Ingestor
from loaders.jsonl import LoadSummary, RejectSink, load_streams
from loaders.outlets import load_registry, parse_registry

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"
EXTRACTOR = SHARED / "extractor"
DATA = SHARED / "data"
FIXED_NOW = datetime(2026, 11, 25, 12, 0, 0, tzinfo=UTC)

STORE_KINDS = ["embedded"]


def shared_file(path: Path) -> Path:
    if not path.exists():
        pytest.skip(f"{path} is missing: the shared/ folder must sit beside the checkout")
    return path


def make_store(kind: str, tmp_path: Path) -> GraphStore:
    if kind == "embedded":
        return EmbeddedStore(tmp_path / "store")
    raise AssertionError(f"unknown store kind {kind}")


@pytest.fixture(params=STORE_KINDS)
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[GraphStore]:
    """An empty, open store of each kind."""
    opened = make_store(request.param, tmp_path)
    opened.setup()
    try:
        yield opened
    finally:
        opened.close()


def load_outlets(store: GraphStore, path: Path | None = None) -> None:
    path = path or shared_file(EXTRACTOR / "outlets.json")
    load_registry(store, parse_registry(path.read_text("utf-8")), now=lambda: FIXED_NOW)


def load_file(
    store: GraphStore, path: Path, rejects: Path | None = None, batch_size: int = 500
) -> LoadSummary:
    """Load a JSON Lines file the way `newsgraph load` does, with a fixed ingest clock."""
    sink = RejectSink(rejects)
    try:
        with shared_file(path).open("rb") as stream:
            return load_streams(
                store,
                [(path.name, stream)],
                sink,
                batch_size=batch_size,
                ingestor=Ingestor(store, now=lambda: FIXED_NOW),
            )
    finally:
        sink.close()
