"""Fixtures shared by the suite: the shared data files and one store fixture per store kind.

Every test that takes `store` runs once per store implementation (the contract suite). A
store whose server is not available is skipped with the reason; CI makes them all available.

The "neo4j" kind runs on the Bolt server that `NEWSGRAPH_TEST_NEO4J_URI` (with `_USER`,
`_PASSWORD`, `_DATABASE`) names, such as a real Neo4j 5; without it, on ArcadeDB servers started
here for the session (`tools/arcadedb.py`, from the `arcadedb-embedded` package). Each
test gets an empty database. When no server can be had the neo4j runs are skipped with the
reason, except under CI (the `CI` variable set), where they fail.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import ExitStack
from datetime import UTC, datetime
from pathlib import Path

import neo4j
import pytest

from graph.embedded import EmbeddedStore
from graph.neo4j import Neo4jStore
from graph.store import GraphStore
from loaders.jsonl import RejectSink
from loaders.outlets import parse_registry
from services.ingest import Ingestor
from services.load import LoadSummary, load_streams
from services.registry import load_registry
from tools.arcadedb import ArcadeDBError, BoltServer, find_arcadedb, start_arcadedb
from tools.bolt import empty_database

# `newsgraph load` lowers its own CPU priority (niceness 5, newsgraph.cli): the CLI tests that
# run it in this process would lower the test runner's. Loads here run at the niceness they are
# started at; tests/test_load_niceness.py runs them without this.
os.environ.setdefault("NEWSGRAPH_LOAD_NICENESS", "0")

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"
EXTRACTOR = SHARED / "extractor"
DATA = SHARED / "data"
FIXED_NOW = datetime(2026, 11, 25, 12, 0, 0, tzinfo=UTC)

STORE_KINDS = ["embedded", "neo4j"]
NEO4J_ENV = "NEWSGRAPH_TEST_NEO4J_"


def shared_file(path: Path) -> Path:
    if not path.exists():
        pytest.skip(f"{path} is missing: the shared/ folder must sit beside the checkout")
    return path


def fresh_store(kind: str, tmp_path: Path) -> GraphStore:
    """A new, empty store of `kind` (not yet set up). Two neo4j stores made in one test get two
    databases."""
    if kind == "embedded":
        return EmbeddedStore(tmp_path / "store")
    if kind == "neo4j":
        server = BOLT.empty_database(BOLT.in_use)
        BOLT.in_use += 1
        return Neo4jStore(server.uri, server.user, server.password, server.database)
    raise AssertionError(f"unknown store kind {kind}")


def serve_target(kind: str, tmp_path: Path) -> tuple[str, dict[str, str]]:
    """`newsgraph serve --store` of the first store `fresh_store(kind, tmp_path)` made in this
    test, and the environment variables it needs (credentials are never on a command line)."""
    if kind != "neo4j":
        return str(tmp_path / "store"), {}
    server = BOLT.server(0)
    env = {"NEWSGRAPH_NEO4J_USER": server.user, "NEWSGRAPH_NEO4J_PASSWORD": server.password}
    if server.database:
        env["NEWSGRAPH_NEO4J_DATABASE"] = server.database
    return server.uri, env


class Unavailable(Exception):
    """No Bolt server can be had here; the message says why."""


class BoltServers:
    """The servers the neo4j store kind runs on, one per store open at once in a test: the
    external server (and, for a second store, `NEWSGRAPH_TEST_NEO4J_DATABASE_2`) or ArcadeDB
    servers started on first use and stopped at the end of the session."""

    def __init__(self) -> None:
        self.in_use = 0  # stores made in the current test
        self._servers: list[BoltServer] = []
        self._drivers: dict[int, neo4j.Driver] = {}
        self._stack = ExitStack()
        self._workdir: Path | None = None
        self._failure: str | None = None

    def server(self, slot: int) -> BoltServer:
        if self._failure is not None:
            _unavailable(self._failure)
        try:
            while len(self._servers) <= slot:
                self._servers.append(self._start(len(self._servers)))
        except Unavailable as exc:
            if slot == 0:
                self._failure = str(exc)
            _unavailable(str(exc))
        return self._servers[slot]

    def empty_database(self, slot: int) -> BoltServer:
        """The server of `slot`, after deleting everything in its database."""
        server = self.server(slot)
        driver = self._drivers.get(slot)
        if driver is None:
            driver = neo4j.GraphDatabase.driver(server.uri, auth=(server.user, server.password))
            self._drivers[slot] = driver

        with driver.session(database=server.database) as session:
            empty_database(session)
        return server

    def _start(self, slot: int) -> BoltServer:
        uri = os.environ.get(NEO4J_ENV + "URI")
        if uri:
            database = os.environ.get(NEO4J_ENV + "DATABASE") or "neo4j"
            if slot > 0:
                name = f"{NEO4J_ENV}DATABASE_{slot + 1}"
                database = os.environ.get(name, "")
                if not database:
                    raise Unavailable(
                        f"this test needs {slot + 1} databases at once; the external server "
                        f"gives one: set {name} to another (empty, disposable) database"
                    )
            return BoltServer(
                uri=uri,
                user=os.environ.get(NEO4J_ENV + "USER", "neo4j"),
                password=os.environ.get(NEO4J_ENV + "PASSWORD", ""),
                database=database,
            )
        try:
            find_arcadedb()
        except ArcadeDBError as exc:
            raise Unavailable(
                f"no Bolt server for the neo4j store: {exc}; or point {NEO4J_ENV}URI at a Neo4j 5"
            ) from None
        if self._workdir is None:
            self._workdir = Path(tempfile.mkdtemp(prefix="newsgraph-bolt-"))
        try:
            return self._stack.enter_context(start_arcadedb(self._workdir))
        except ArcadeDBError as exc:
            raise Unavailable(f"ArcadeDB did not start: {exc}") from None

    def close(self) -> None:
        for driver in self._drivers.values():
            driver.close()
        self._drivers.clear()
        self._stack.close()
        self._servers.clear()
        if self._workdir is not None:
            shutil.rmtree(self._workdir, ignore_errors=True)
            self._workdir = None


def _unavailable(reason: str) -> None:
    if os.environ.get("CI"):
        pytest.fail(f"CI needs the neo4j store runs: {reason}", pytrace=False)
    pytest.skip(reason)


BOLT = BoltServers()


@pytest.fixture(scope="session", autouse=True)
def _bolt_servers() -> Iterator[None]:
    """Stops the Bolt servers started for the session."""
    yield
    BOLT.close()


@pytest.fixture(autouse=True)
def _bolt_slots() -> Iterator[None]:
    """Each test's first neo4j store uses the first server, its second store the second."""
    BOLT.in_use = 0
    yield
    BOLT.in_use = 0


@pytest.fixture(params=STORE_KINDS)
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[GraphStore]:
    """An empty, open store of each kind."""
    opened = fresh_store(request.param, tmp_path)
    opened.setup()
    try:
        yield opened
    finally:
        opened.close()


@pytest.fixture
def sampled(store: GraphStore) -> GraphStore:
    """A store of each kind holding the outlet registry and the extractor's sample records."""
    load_outlets(store)
    load_file(store, shared_file(EXTRACTOR / "samples.jsonl"))
    return store


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
