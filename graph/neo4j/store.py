"""The Neo4j store: the store port on the official `neo4j` driver (Neo4j 5, Aura, or any server
that speaks Bolt and Cypher 5 well enough, such as the ArcadeDB server the tests use).

- Writes: one `WriteBatch` is one managed transaction (`session.execute_write`), made of a few
  `UNWIND $rows` statements (`graph.neo4j.plan`). The merge rules run in Cypher, reading and
  writing the stored values in one statement, so concurrent loaders lose nothing. The driver
  does not retry a failed write (`max_transaction_retry_time=0`): the store does, with short
  jittered delays (`graph.neo4j.retry`).
- Reads: `session.execute_read`, batched by id (`graph.neo4j.reads`); the reads of a `derive`
  step are made in the write's own transaction (`graph.neo4j.transaction`).
- `setup()` connects, checks the server, detects its capabilities once and creates the
  uniqueness constraints and indexes (`IF NOT EXISTS`). Nothing happens before it.
- The change log (`graph.neo4j.changelog`, docs/changes-neo4j.md): a write that changed
  something appends one entry in its own transaction; `changes` reads them, and `catch_up`
  returns those committed since its previous call, from a position this object keeps.

All of its Cypher is in `graph.neo4j.queries`; `graph.neo4j.codec` turns rows into values and
back.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import partial
from typing import Any, TypeVar
from urllib.parse import urlsplit

import neo4j
from neo4j.exceptions import (
    AuthError,
    ClientError,
    DatabaseError,
    DriverError,
    Neo4jError,
    ServiceUnavailable,
    SessionExpired,
)

from graph import store as port
from graph.model import Direction, Edge, Label, Node, Rel, WriteBatch, timestamp
from graph.neo4j import changelog, codec, reads
from graph.neo4j import queries as q
from graph.neo4j import search as index
from graph.neo4j.changelog import Changed
from graph.neo4j.plan import StatementPlan, key_prefix
from graph.neo4j.retry import WriteRetry, retryable, unavailable
from graph.neo4j.transaction import Created, InTransaction
from graph.search import SEARCHABLE, IndexedDoc, Lookup
from graph.store import (
    MATCH,
    Change,
    ChangeLogTruncated,
    Derive,
    EventFilter,
    EventNeighbourhood,
    EventPage,
    EventQuery,
    NodeQuery,
    PagePart,
    StoreError,
)

log = logging.getLogger(__name__)


def _ids_after(label: Label, after: str, tx: neo4j.ManagedTransaction) -> list[str]:
    records = tx.run(q.search_ids_after(label), after=after, limit=SEARCH_FILL_PAGE)
    return [str(r["id"]) for r in records]


def _index_nodes(ids: list[str], tx: neo4j.ManagedTransaction) -> None:
    index.update(tx, ids)


def _search_ids(changed: Changed) -> list[str]:
    """The nodes whose search documents a write may have changed: those it wrote or deleted,
    and both ends of each relationship it wrote or removed (claims, popularity)."""
    ids: dict[str, None] = dict(changed.nodes)
    ids.update(changed.deleted)
    for src, _, dst, _ in (*changed.relationships, *changed.unlinked):
        ids[src] = ids[dst] = None
    return list(ids)


def _set_prefixes(rows: list[list[str | None]], tx: neo4j.ManagedTransaction) -> None:
    tx.run(q.SET_KEY_PREFIXES, rows=rows).consume()


T = TypeVar("T")

SCHEMES = ("bolt", "bolt+s", "bolt+ssc", "neo4j", "neo4j+s", "neo4j+ssc")
DUMP_PAGE = 2000
CATCH_UP_PAGE = 1000  # change log entries read per transaction by `catch_up`
SEARCH_FILL_PAGE = 500  # nodes indexed per transaction when a graph is indexed afresh
RATE_SWEEP = 100  # keys whose hits have all left their window, removed at each hit

# The driver's pool of Bolt connections (its own default is 100), and how long a transaction
# may run on the server before it is stopped (a read: a page; a write: a loader's batch).
DEFAULT_POOL_SIZE = 100
DEFAULT_READ_TIMEOUT = 10.0
DEFAULT_WRITE_TIMEOUT = 120.0
# How long the driver may retry a read that failed for a lost connection or a transient error:
# long enough to replace a pooled connection the server closed (it restarted), short enough
# that a page answers quickly while the server is down.
READ_RETRY_SECONDS = 1.0
# The pause before an auto-commit read is tried again (`_fetch`), jittered: a connection the
# server closed is replaced at once, a server restarting is given a moment.
READ_RETRY_PAUSE = (0.05, 0.2)


@dataclass(frozen=True, slots=True)
class Capabilities:
    """What `setup()` found out about the server, once."""

    agent: str
    relationship_uniqueness: bool  # CREATE CONSTRAINT ... FOR ()-[r:T]-() REQUIRE r.p IS UNIQUE
    await_indexes: bool  # CALL db.awaitIndexes()
    # point(), point.withinBBox and point.distance answer right and the POINT index on events'
    # `_geo` is a spatial one (Neo4j 5; not ArcadeDB's, unless asked for): events keep their
    # point (queries.SET_EVENT_POINTS) and the box and circle filters are sought by it too
    # (queries.BOX_POINTS; docs/neo4j.md)
    points: bool = False


def is_uri(spec: str) -> bool:
    """Whether `spec` names a Neo4j server (a bolt:// or neo4j:// URI)."""
    scheme, sep, _ = spec.partition("://")
    return bool(sep) and scheme.lower() in SCHEMES


class Neo4jStore:
    """A graph in a Neo4j database. `setup()` opens it; no I/O happens before."""

    reads_from_memory = False

    def __init__(
        self,
        uri: str,
        user: str | None = None,
        password: str | None = None,
        database: str | None = None,
        *,
        pool_size: int | None = None,
        read_timeout: float | None = None,
        write_timeout: float | None = None,
        points: bool | None = None,
    ) -> None:
        if not is_uri(uri):
            raise StoreError(
                f"{uri!r} is not a Neo4j URI ({', '.join(s + '://' for s in SCHEMES)})"
            )
        self.uri = uri
        self.database = database
        self._auth = (user, password or "") if user is not None else None
        self._driver: neo4j.Driver | None = None
        # (None: the defaults above)
        self.pool_size = pool_size or DEFAULT_POOL_SIZE
        self.read_timeout = read_timeout or DEFAULT_READ_TIMEOUT
        self.write_timeout = write_timeout or DEFAULT_WRITE_TIMEOUT
        # events' points (`Capabilities.points`): None, where the server keeps a spatial index
        # of them; True, wherever its point functions answer (the tests, on ArcadeDB); False,
        # never
        self.want_points = points
        # Transactions begun (reads, writes), for tests and benchmarks: a read transaction is
        # at least one round trip to the server.
        self._counted = threading.Lock()
        self.read_transactions = 0
        self.write_transactions = 0
        self.capabilities: Capabilities | None = None
        self._retry = WriteRetry(self)
        # The change log entries `catch_up` has returned: up to this seq (set by `setup`).
        self._position = 0
        self._catching_up = threading.Lock()

    def __repr__(self) -> str:
        parts = urlsplit(self.uri)
        where = f"{parts.scheme}://{parts.hostname or ''}" + (
            f":{parts.port}" if parts.port else ""
        )
        return f"Neo4jStore({where!r}, database={self.database!r})"

    @property
    def constraint_retries(self) -> int:
        """Writes retried after losing a concurrent MERGE."""
        return self._retry.constraint_retries

    @property
    def transient_retries(self) -> int:
        """Writes retried after a transient error."""
        return self._retry.transient_retries

    # -- lifecycle ---------------------------------------------------------------------------

    def setup(self) -> None:
        if self._driver is not None:
            return
        try:
            driver = neo4j.GraphDatabase.driver(
                self.uri, auth=self._auth, max_connection_pool_size=self.pool_size
            )
        except (DriverError, ValueError) as exc:
            raise StoreError(f"cannot use the Neo4j URI {self!r}: {exc}") from exc
        try:
            driver.verify_connectivity()
            self._driver = driver
            self.capabilities = self._create_schema()
            self._position = self.last_change()
        except BaseException as exc:
            self._driver = None
            driver.close()
            if isinstance(exc, AuthError):
                raise StoreError(
                    f"{self!r} refused the user name or password (NEWSGRAPH_NEO4J_USER, "
                    "NEWSGRAPH_NEO4J_PASSWORD)"
                ) from None
            if isinstance(exc, (ServiceUnavailable, OSError)):
                raise StoreError(f"cannot reach {self!r}: {exc}") from None
            if isinstance(exc, Neo4jError):
                raise StoreError(f"{self!r}: {exc.message or exc}") from None
            raise

    def close(self) -> None:
        if self._driver is not None:
            self._driver.close()
            self._driver = None

    def _create_schema(self) -> Capabilities:
        agent = self._driver_or_fail().get_server_info().agent
        for label in q.LABELS:
            self._run(q.node_id_constraint(label))
        self._run(q.KEY_CONSTRAINT)
        self._run(q.KEY_OWNER_INDEX)
        self._run(q.KEY_PREFIX_INDEX)
        self._fill_key_prefixes()
        self._run(q.SETTING_CONSTRAINT)
        self._run(q.RATE_CONSTRAINT)
        self._run(q.RATE_EXPIRES_INDEX)
        self._run(q.CHANGE_SEQ_CONSTRAINT)
        self._run(q.CHANGE_LOG_CONSTRAINT)
        self._run(q.EVENT_DATE_INDEX)
        for statement in (*q.EVENT_INDEXES, *q.directory_indexes()):
            self._run(statement)
        for statement in q.SEARCH_SCHEMA:
            self._run(statement)
        points = self._points()
        relationship_uniqueness = True
        for rel in q.RELS:
            try:
                self._run(q.edge_uid_constraint(rel))
            except ClientError as exc:
                # Neo4j before 5.7 has no relationship uniqueness constraints. Its MERGE locks
                # both end nodes, so an index on `_uid` is enough there.
                log.info("no relationship uniqueness constraints (%s); using indexes", exc.code)
                relationship_uniqueness = False
                self._run(q.edge_uid_index(rel))
        try:
            self._run(q.AWAIT_INDEXES)
            await_indexes = True
        except (ClientError, DatabaseError):
            await_indexes = False  # ArcadeDB: no db.awaitIndexes; its indexes are built at once
        self._fill_search_index()
        if points:
            self._fill_event_points()
        capabilities = Capabilities(agent, relationship_uniqueness, await_indexes, points)
        log.info("connected to %r: %s", self, capabilities)
        return capabilities

    def _points(self) -> bool:
        """Whether events keep points: the server has Neo4j's spatial type (its functions
        answer right), took the POINT index of events' `_geo`, and keeps it as a spatial
        index (or `points=True` asked for them anyway). Otherwise the box and circle filters
        read the plain numbers only, as before: on ArcadeDB, whose POINT index is a range
        index, the points would only add work to the same scan (and a statement to writes)."""
        if self.want_points is False:
            return False
        try:
            record = self._read(lambda tx: tx.run(q.POINTS_CHECK).single(strict=True).data())
            works = record["inside"] is True and abs(float(record["metres"]) - 111_195) < 1_000
            if not works:
                log.info("%r answers point functions wrongly: filters read numbers", self)
                return False
            self._run(q.EVENT_POINT_INDEX)
            types = self._read(
                lambda tx: {str(r["name"]): str(r["type"]) for r in tx.run(q.SHOW_INDEX_TYPES)}
            )
        except (ClientError, DatabaseError, TypeError, ValueError) as exc:
            log.info("no spatial points on %r (%s): filters read numbers", self, exc)
            return False
        if types.get(q.EVENT_POINT_INDEX_NAME, "").upper() == "POINT" or self.want_points:
            return True
        log.info("%r keeps no spatial index: box and circle filters read numbers", self)
        return False

    def _fill_event_points(self) -> None:
        """Give events written before the store kept points (or while the server had none)
        their `_geo`, a page at a time (once: later writes keep it)."""
        while True:
            count = self._write(
                lambda tx: tx.run(q.FILL_EVENT_POINTS, limit=10_000).single(strict=True)["count"]
            )
            if not count:
                return

    def _fill_key_prefixes(self) -> None:
        """Give the matching keys of a graph written before `Key.prefix` existed their prefix
        (once: later writes set it), a page at a time."""
        while True:
            keys = self._read(
                lambda tx: [
                    str(r["key"]) for r in tx.run(q.KEYS_WITHOUT_PREFIX, match=MATCH, limit=10_000)
                ]
            )
            if not keys:
                return
            self._write(partial(_set_prefixes, [[k, key_prefix(k)] for k in keys]))

    def _fill_search_index(self) -> None:
        """Index a graph written before the search index existed (or with an older layout), a
        page of nodes at a time, then mark it indexed (once: later writes keep it)."""
        mark = self._read(lambda tx: [r["version"] for r in tx.run(q.SEARCH_INDEX_MARK)])
        if mark and mark[0] == index.INDEX_VERSION:
            return
        for label in SEARCHABLE:
            after = ""
            while True:
                ids = self._read(partial(_ids_after, label, after))
                if not ids:
                    break
                self._write(partial(_index_nodes, ids))
                after = ids[-1]
        self._write(
            lambda tx: tx.run(q.SEARCH_SET_INDEX_MARK, version=index.INDEX_VERSION).consume()
        )

    def _run(self, query: str) -> None:
        """A schema statement, in its own auto-commit transaction as Neo4j requires."""
        with self._session() as session:
            session.run(query).consume()

    def _driver_or_fail(self) -> neo4j.Driver:
        if self._driver is None:
            raise StoreError("the store is not open: call setup() first")
        return self._driver

    def _session(self) -> neo4j.Session:
        return self._driver_or_fail().session(database=self.database)

    def _read(self, work: Callable[[neo4j.ManagedTransaction], T]) -> T:
        """`work` in a managed read transaction with the read timeout. A server that cannot
        be reached is a `StoreUnavailable` (the API answers it as such; the next read tries
        again: the driver reconnects by itself)."""
        with self._counted:
            self.read_transactions += 1
        try:
            with self._driver_or_fail().session(
                database=self.database, max_transaction_retry_time=READ_RETRY_SECONDS
            ) as session:
                return session.execute_read(neo4j.unit_of_work(timeout=self.read_timeout)(work))
        except (ServiceUnavailable, SessionExpired, OSError) as exc:
            raise unavailable(self, exc) from exc

    def _fetch(self, statement: str, parameters: Mapping[str, Any]) -> neo4j.Record | None:
        """One read statement on its own, with the read timeout: its one record, or None.

        An auto-commit transaction: one round trip, where a managed transaction (`_read`)
        sends BEGIN and COMMIT in round trips of their own. For a statement that reads all it
        needs at once (the event page). A lost connection or a transient error is retried for
        up to `READ_RETRY_SECONDS`, as `_read`'s driver does; then a lost server is a
        `StoreUnavailable`."""
        with self._counted:
            self.read_transactions += 1
        query = neo4j.Query(statement, timeout=self.read_timeout)
        deadline = time.monotonic() + READ_RETRY_SECONDS
        while True:
            try:
                with self._driver_or_fail().session(
                    database=self.database, default_access_mode=neo4j.READ_ACCESS
                ) as session:
                    return session.run(query, dict(parameters)).single()
            except (DriverError, Neo4jError, OSError) as exc:
                if (retryable(exc) or isinstance(exc, OSError)) and time.monotonic() < deadline:
                    time.sleep(random.uniform(*READ_RETRY_PAUSE))
                    continue
                if not isinstance(exc, ServiceUnavailable | SessionExpired | OSError):
                    raise
                raise unavailable(self, exc) from exc

    def _write(self, work: Callable[[neo4j.ManagedTransaction], T]) -> T:
        """`work` in a managed write transaction, retried by `graph.neo4j.retry` (not by the
        driver: its sessions here have `max_transaction_retry_time=0`)."""

        timed = neo4j.unit_of_work(timeout=self.write_timeout)(work)

        def attempt() -> T:
            with self._counted:
                self.write_transactions += 1
            with self._driver_or_fail().session(
                database=self.database, max_transaction_retry_time=0
            ) as session:
                return session.execute_write(timed)

        return self._retry(attempt)

    # -- writes ------------------------------------------------------------------------------

    def write(self, batch: WriteBatch, derive: Derive | None = None) -> None:
        if not batch and derive is None:
            return
        plan = StatementPlan.of(batch)
        create_edges = self.capabilities is not None and self.capabilities.relationship_uniqueness
        points = self.capabilities is not None and self.capabilities.points

        def work(tx: neo4j.ManagedTransaction) -> None:
            owners: dict[str, str] = {}
            created = Created(edges_known=create_edges)
            changed = Changed()  # afresh in each try: a retried transaction starts over
            labels = plan.run(
                tx,
                owners=owners if derive is not None else None,
                create_edges=create_edges,
                created=created,
                changed=changed,
            )
            announced, levels = list(batch.created), list(batch.level_changes)
            located = _located_events(batch) if points else []
            if derive is not None:
                # Read after this transaction's own writes took their locks (Neo4j) or before
                # its optimistic commit is checked (ArcadeDB): a concurrent writer's reports
                # are either committed and seen here, or make this transaction retry.
                derived = derive(InTransaction(tx, labels, owners, created))
                if derived:
                    written = {w.id: labels[w.id] for w in plan.batch.nodes if w.id in labels}
                    StatementPlan.of(derived).run(
                        tx, written, create_edges=create_edges, changed=changed
                    )
                announced += derived.created
                levels += derived.level_changes
                if points:
                    located = [*located, *_located_events(derived)]
            if located:
                # (not in the change log: a copy of `geo_lat` and `geo_lon`, which are)
                tx.run(q.SET_EVENT_POINTS, ids=list(dict.fromkeys(located))).consume()
            if changed:
                index.update(tx, _search_ids(changed))
                # Last, so the head's lock is held only from here to the commit.
                changelog.append(tx, changed, announced, levels, keep=port.CHANGE_LOG_KEEP)

        self._write(work)

    # -- the change log ----------------------------------------------------------------------

    def last_change(self) -> int:
        # One statement on its own (the follower asks every 50 ms): one round trip, not three.
        head = self._fetch(q.CHANGE_LOG_HEAD, {"head": q.CHANGE_HEAD})
        return int(head["seq"]) if head is not None else 0

    def read_position(self) -> int:
        return self.last_change()

    def changes(self, after: int, limit: int = 1000) -> list[Change]:
        if after < 0:
            raise StoreError(f"no change log position {after}: positions start at 0")
        if limit <= 0:
            return []
        page = self._read(lambda tx: changelog.read(tx, after, limit))
        if after < page.oldest - 1 or (page.entries and page.entries[0].seq != after + 1):
            # (the second: truncated between this read's look at the head and at the entries)
            raise ChangeLogTruncated(
                f"the change log holds the entries from {page.oldest} on (it keeps the latest "
                f"{port.CHANGE_LOG_KEEP}): those after {after} are gone; read the store afresh"
            )
        return page.entries

    def catch_up(self) -> int:
        # Reads answer from the server: they see every commit already.
        return self.last_change()

    # -- reads -------------------------------------------------------------------------------

    # A read of nothing opens no transaction (a loader asks for the nodes its batch merged
    # away, usually none: with one record per batch, that was two round trips per record).

    def get_nodes(self, ids: Sequence[str]) -> dict[str, Node]:
        if not ids:
            return {}
        return self._read(lambda tx: reads.get_nodes(tx, ids))

    def lookup_keys(self, keys: Sequence[str]) -> dict[str, str]:
        if not keys:
            return {}
        return self._read(lambda tx: reads.lookup_keys(tx, keys))

    def write_count(self) -> int | None:
        return None  # other processes write the server's graph

    def lookup_key_prefixes(self, prefixes: Sequence[str]) -> dict[str, list[str]]:
        if not prefixes:
            return {}
        return self._read(lambda tx: reads.lookup_key_prefixes(tx, prefixes))

    def keys_of(self, ids: Sequence[str]) -> dict[str, list[str]]:
        wanted = list(dict.fromkeys(ids))
        result: dict[str, list[str]] = {i: [] for i in ids}
        if not wanted:
            return result

        def work(tx: neo4j.ManagedTransaction) -> list[list[str]]:
            return codec.rows(tx.run(q.KEYS_OF, ids=wanted))

        for node_id, key in self._read(work):
            result[node_id].append(key)
        for owned in result.values():
            owned.sort()
        return result

    def edges(self, ids: Sequence[str], rel: Rel, direction: Direction) -> dict[str, list[Edge]]:
        if not ids:
            return {}
        return self._read(lambda tx: reads.get_edges(tx, ids, rel, direction))

    def linked(self, ids: Sequence[str], rel: Rel, direction: Direction) -> dict[str, list[str]]:
        if not ids:
            return {}
        return self._read(lambda tx: reads.get_linked(tx, ids, rel, direction))

    def read_event_neighbourhood(
        self, event_id: str, parts: frozenset[PagePart]
    ) -> EventNeighbourhood:
        """An event page's neighbourhood in one statement, one transaction (`PageReading`):
        one round trip and one consistent read of the page, where the loaders made one
        transaction per level and kind of relationship."""
        return reads.event_neighbourhood(self._fetch, event_id, parts)

    def query_events(self, query: EventQuery) -> EventPage:
        flt = query.filter

        def work(tx: neo4j.ManagedTransaction) -> EventPage:
            labels = _end_labels(tx, flt)
            if labels is None:
                return EventPage([], has_next=False)
            cypher = q.events_query(
                query.newest_first, *labels, query.order_by, *self._sought_by_points(flt)
            )
            after_on, after_id = query.after if query.after is not None else (None, None)
            records = tx.run(
                cypher,
                **_filter_parameters(flt, tx),
                after_on=after_on,
                after_id=after_id,
                limit=query.first + 1,
            )
            events = [codec.node(r["id"], [Label.EVENT.value], r["props"]) for r in records]
            return EventPage(events[: query.first], has_next=len(events) > query.first)

        return self._read(work)

    def count_events(self, filter: port.EventFilter, cap: int) -> int:
        flt = filter

        def work(tx: neo4j.ManagedTransaction) -> int:
            labels = _end_labels(tx, flt)
            if labels is None:
                return 0
            record = tx.run(
                q.count_events_query(*labels, *self._sought_by_points(flt)),
                **_filter_parameters(flt, tx),
                after_on=None,
                after_id=None,
                cap=cap,
            ).single(strict=True)
            count: int = record["count"]
            return count

        return self._read(work)

    def tally_events(self, filter: port.EventFilter, cap: int) -> port.EventTallies:
        flt = filter

        def work(tx: neo4j.ManagedTransaction) -> port.EventTallies:
            counts: dict[port.TallyKey, int] = {}
            labels = _end_labels(tx, flt)
            if labels is None:
                return port.EventTallies(counts, 0, capped=False)
            records = tx.run(
                q.tally_events_query(*labels, *self._sought_by_points(flt)),
                **_filter_parameters(flt, tx),
                after_on=None,
                after_id=None,
                cap=cap,
            )
            events, capped = 0, False
            for record in records:
                capped = capped or bool(record["capped"])
                if record["day"] is None:
                    continue
                countries = tuple(sorted({c for c in record["countries"] if isinstance(c, str)}))
                key = (
                    _text(record["day"]),
                    _text(record["category"]),
                    _text(record["level"]),
                    countries,
                    _text(record["place"]),
                )
                counts[key] = counts.get(key, 0) + record["count"]
                events += record["count"]
            return port.EventTallies(counts, events, capped)

        return self._read(work)

    def _sought_by_points(self, flt: EventFilter) -> tuple[bool, bool]:
        """Whether the filter's box and its circle are sought by points too: where events
        keep them, a box that does not cross 180° (Neo4j's and ArcadeDB's boxes across it
        agree, but the plain numbers' condition covers that rare box alone) and any circle."""
        if self.capabilities is None or not self.capabilities.points:
            return False, False
        box = flt.box is not None and flt.box[1] <= flt.box[3]
        return box, flt.near is not None

    def track_records(
        self, outlet_ids: Sequence[str], months: port.Months = port.ALL_MONTHS
    ) -> dict[str, port.TrackRecord]:
        records = {i: port.TrackRecord() for i in outlet_ids}
        wanted = list(records)
        if not wanted:
            return records
        since, until = months.since or "0", months.until or "9999-99"

        def work(tx: neo4j.ManagedTransaction) -> list[list[str]]:
            rows = tx.run(q.TRACK_ENTRIES, ids=wanted, whole=months.whole, since=since, until=until)
            return codec.rows(rows)

        for outlet, entry in self._read(work):
            records[outlet] = records[outlet].plus(entry.rpartition("|")[2])
        return records

    def find_nodes(
        self,
        label: Label,
        where: Mapping[str, str],
        order_by: str,
        first: int,
        after: tuple[str, str] | None = None,
    ) -> list[Node]:
        names = tuple(sorted(where))
        query = q.find_nodes(label, names, order_by)
        params: dict[str, object] = {f"w{i}": where[name] for i, name in enumerate(names)}
        params["after_on"], params["after_id"] = after if after is not None else (None, None)
        params["limit"] = max(first, 0)

        def work(tx: neo4j.ManagedTransaction) -> list[Node]:
            records = tx.run(query, params)
            return [codec.node(r["id"], [label.value], r["props"]) for r in records]

        return self._read(work)

    def list_nodes(self, query: NodeQuery) -> list[Node]:
        query.check()
        if query.first <= 0:
            return []
        names = tuple(name for name, _ in query.where)
        cypher = q.list_nodes(
            query.label, names, query.order_by, query.near is not None, query.descending
        )
        params = self._directory_params(query)
        params["after_on"], params["after_id"] = query.after or (None, None)
        params["limit"] = query.first

        def work(tx: neo4j.ManagedTransaction) -> list[Node]:
            records = tx.run(cypher, params)
            return [codec.node(r["id"], [query.label.value], r["props"]) for r in records]

        return self._read(work)

    def count_nodes(self, query: NodeQuery) -> int:
        query.check()
        names = tuple(name for name, _ in query.where)
        cypher = q.count_listed(query.label, names, query.order_by, query.near is not None)
        params = self._directory_params(query)

        def work(tx: neo4j.ManagedTransaction) -> int:
            count: int = tx.run(cypher, params).single(strict=True)["count"]
            return count

        return self._read(work)

    @staticmethod
    def _directory_params(query: NodeQuery) -> dict[str, object]:
        params: dict[str, object] = {f"w{i}": value for i, (_, value) in enumerate(query.where)}
        params["near"] = query.near
        return params

    def search_vocabulary(
        self, prefixes: Sequence[str], limit: int
    ) -> dict[str, list[tuple[str, int]]]:
        if not prefixes:
            return {}
        return self._read(lambda tx: index.vocabulary(tx, prefixes, limit))

    def search_postings(self, lookups: Sequence[Lookup], limit: int) -> dict[Lookup, list[str]]:
        if not lookups:
            return {}
        return self._read(lambda tx: index.postings(tx, lookups, limit))

    def search_documents(self, ids: Sequence[str]) -> dict[str, IndexedDoc]:
        if not ids:
            return {}
        return self._read(lambda tx: index.stored(tx, list(dict.fromkeys(ids))))

    def counts(self) -> dict[str, int]:
        def work(tx: neo4j.ManagedTransaction) -> dict[str, int]:
            counts: dict[str, int] = {}
            for label in q.LABELS:
                counts[str(label)] = tx.run(q.count_nodes(label)).single(strict=True)["count"]
            for rel in q.RELS:
                counts[str(rel)] = tx.run(q.count_edges(rel)).single(strict=True)["count"]
            return counts

        return self._read(work)

    def ping(self) -> None:
        # The driver connects (or checks a pooled connection) and says hello: no query, no
        # retries, the same cost whatever the graph holds.
        driver = self._driver_or_fail()
        try:
            driver.verify_connectivity()
        except (DriverError, Neo4jError, OSError) as exc:
            raise StoreError(f"cannot reach {self!r}: {exc}") from exc

    def get_setting(self, name: str) -> str | None:
        def work(tx: neo4j.ManagedTransaction) -> str | None:
            record = tx.run(q.GET_SETTING, name=name).single()
            return None if record is None else record["value"]

        return self._read(work)

    def hit(self, key: str, at: datetime, window: timedelta, limit: int) -> bool:
        now = timestamp(at)
        since, expires = timestamp(at - window), timestamp(at + window)

        def work(tx: neo4j.ManagedTransaction) -> bool:
            record = tx.run(
                q.HIT, key=key, now=now, since=since, expires=expires, limit=limit
            ).single(strict=True)
            tx.run(q.EXPIRED_RATES, now=now, limit=RATE_SWEEP).consume()
            return bool(record["allowed"])

        return self._write(work)

    def dump(self) -> Iterator[Node | Edge | tuple[str, str]]:
        for label in q.LABELS:
            query = q.dump_nodes(label)
            for row in self._pages(query, "id"):
                yield codec.node(row["id"], [label.value], row["props"])
        for rel in q.RELS:
            query = q.dump_edges(rel)
            for row in self._pages(query, "uid"):
                key, props = codec.edge_props(row["props"])
                yield Edge(row["src"], rel, row["dst"], key, props)
        for row in self._pages(q.DUMP_KEYS, "key"):
            yield (row["key"], row["node"])

        def settings(tx: neo4j.ManagedTransaction) -> list[tuple[str, str]]:
            return [(r["name"], r["value"]) for r in tx.run(q.DUMP_SETTINGS)]

        for name, value in self._read(settings):
            yield ("setting:" + name, value)

    def _pages(self, query: str, cursor: str) -> Iterator[dict[str, Any]]:
        after: str | None = None
        while True:

            def work(
                tx: neo4j.ManagedTransaction, after: str | None = after
            ) -> list[dict[str, Any]]:
                return [r.data() for r in tx.run(query, after=after, limit=DUMP_PAGE)]

            rows = self._read(work)
            yield from rows
            if len(rows) < DUMP_PAGE:
                return
            after = rows[-1][cursor]


def _end_labels(
    tx: neo4j.ManagedTransaction, flt: EventFilter
) -> tuple[Label | None, Label | None] | None:
    """The labels of the filter's entity and outlet (None where not given), which
    `queries.events_query` matches by; None when one given does not exist: no event then."""
    ends = [i for i in (flt.entity, flt.outlet) if i is not None]
    labels = reads.labels_of(tx, ends)
    if any(i not in labels for i in ends):
        return None
    return (
        labels[flt.entity] if flt.entity is not None else None,
        labels[flt.outlet] if flt.outlet is not None else None,
    )


def _text(value: object) -> str:
    return value if isinstance(value, str) else ""


def _outlets_of(
    tx: neo4j.ManagedTransaction, query: str, values: Sequence[str]
) -> list[str] | None:
    """The ids of the outlets `query` finds for `values` (None when none are asked for)."""
    if not values:
        return None
    ids: list[str] = tx.run(query, values=list(values)).single(strict=True)["ids"]
    return ids


def _filter_parameters(flt: EventFilter, tx: neo4j.ManagedTransaction) -> dict[str, Any]:
    """The parameters of `queries.events_query`'s conditions (None for a part not given);
    the outlets of the filter's tiers and groups are read with `tx` first."""
    south, west, north, east = flt.box if flt.box is not None else (None,) * 4
    near_lat, near_lon, near_km = flt.near if flt.near is not None else (None,) * 3
    return {
        "entity": flt.entity,
        "outlet": flt.outlet,
        "categories": list(flt.categories) or None,
        "date_from": flt.date_from,
        "date_to": flt.date_to,
        "place": flt.place,
        "country": flt.country,
        "min_confidence": flt.min_confidence,
        "levels": list(flt.levels) or None,
        "flagged": flt.flagged,
        "all_entities": list(flt.all_entities) or None,
        "any_entities": list(flt.any_entities) or None,
        "roles": list(flt.roles) or None,
        "entity_types": list(flt.entity_types) or None,
        "tones": list(flt.tones) or None,
        "tier_outlets": _outlets_of(tx, q.OUTLETS_OF_TIERS, flt.tiers),
        "group_outlets": _outlets_of(tx, q.OUTLETS_OF_GROUPS, flt.groups),
        "south": south,
        "west": west,
        "north": north,
        "east": east,
        "near_lat": near_lat,
        "near_lon": near_lon,
        "near_km": near_km,
        "near_m": near_km * 1000 * q.NEAR_MARGIN + 1 if near_km is not None else None,
    }


# The properties an event's point is made of (queries.SET_EVENT_POINTS).
_COORDINATES = frozenset({"geo_lat", "geo_lon"})


def _located_events(batch: WriteBatch) -> list[str]:
    """The events whose coordinates `batch` writes (by any rule): their points follow."""
    found = []
    for write in batch.nodes:
        if write.label is not Label.EVENT:
            continue
        change = write.change
        rules: tuple[Mapping[str, object], ...] = (
            change.set,
            change.create,
            change.first,
            change.last,
            change.union,
            change.minimum,
            change.maximum,
        )
        if any(not _COORDINATES.isdisjoint(rule) for rule in rules):
            found.append(write.id)
    return found
