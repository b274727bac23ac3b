"""The Neo4j store: the store port on the official `neo4j` driver (Neo4j 5, Aura, or any server
that speaks Bolt and Cypher 5 well enough, such as the ArcadeDB server the tests use).

- Writes: one `WriteBatch` is one managed transaction (`session.execute_write`, which retries
  transient errors), made of a few `UNWIND $rows` statements. The merge rules run in Cypher,
  reading and writing the stored values in one statement, so concurrent loaders lose nothing.
- Reads: `session.execute_read`, batched by id.
- `setup()` connects, checks the server, detects its capabilities once and creates the
  uniqueness constraints and indexes (`IF NOT EXISTS`). Nothing happens before it.
"""

from __future__ import annotations

import json
import logging
import random
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar
from urllib.parse import urlsplit

import neo4j
from neo4j.exceptions import (
    AuthError,
    ClientError,
    ConstraintError,
    DatabaseError,
    DriverError,
    Neo4jError,
    ServiceUnavailable,
    SessionExpired,
)

from graph.model import (
    FIRST_RANK,
    LAST_RANK,
    Direction,
    Edge,
    Label,
    Merge,
    Node,
    Props,
    Rel,
    Value,
    WriteBatch,
    merge_props,
)
from graph.neo4j import queries as q
from graph.store import Derive, EventPage, EventQuery, StoreError, search_text

log = logging.getLogger(__name__)

T = TypeVar("T")

SCHEMES = ("bolt", "bolt+s", "bolt+ssc", "neo4j", "neo4j+s", "neo4j+ssc")
# ArcadeDB fails the losing one of two concurrent MERGEs of one key with a ConstraintError
# instead of waiting and matching (docs/neo4j.md); the retried transaction then matches.
CONSTRAINT_RETRIES = 10
ENTITY_NOT_FOUND = "Neo.ClientError.Statement.EntityNotFound"
WRITE_RETRY_TIME = 60.0  # seconds of retrying transient errors before giving up
FIRST_RETRY_DELAY = 0.01
MAX_RETRY_DELAY = 0.5
DUMP_PAGE = 2000


@dataclass(frozen=True, slots=True)
class Capabilities:
    """What `setup()` found out about the server, once."""

    agent: str
    relationship_uniqueness: bool  # CREATE CONSTRAINT ... FOR ()-[r:T]-() REQUIRE r.p IS UNIQUE
    await_indexes: bool  # CALL db.awaitIndexes()


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
    ) -> None:
        if not is_uri(uri):
            raise StoreError(
                f"{uri!r} is not a Neo4j URI ({', '.join(s + '://' for s in SCHEMES)})"
            )
        self.uri = uri
        self.database = database
        self._auth = (user, password or "") if user is not None else None
        self._driver: neo4j.Driver | None = None
        self.capabilities: Capabilities | None = None
        self.constraint_retries = 0  # writes retried after losing a concurrent MERGE
        self.transient_retries = 0  # writes retried after a transient error

    def __repr__(self) -> str:
        parts = urlsplit(self.uri)
        where = f"{parts.scheme}://{parts.hostname or ''}" + (
            f":{parts.port}" if parts.port else ""
        )
        return f"Neo4jStore({where!r}, database={self.database!r})"

    # -- lifecycle ---------------------------------------------------------------------------

    def setup(self) -> None:
        if self._driver is not None:
            return
        try:
            driver = neo4j.GraphDatabase.driver(self.uri, auth=self._auth)
        except (DriverError, ValueError) as exc:
            raise StoreError(f"cannot use the Neo4j URI {self!r}: {exc}") from exc
        try:
            driver.verify_connectivity()
            self._driver = driver
            self.capabilities = self._create_schema()
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
        self._run(q.SETTING_CONSTRAINT)
        self._run(q.EVENT_DATE_INDEX)
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
        capabilities = Capabilities(agent, relationship_uniqueness, await_indexes)
        log.info("connected to %r: %s", self, capabilities)
        return capabilities

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
        try:
            with self._session() as session:
                return session.execute_read(work)
        except (ServiceUnavailable, OSError) as exc:
            raise StoreError(f"lost the connection to {self!r}: {exc}") from exc

    def _write(self, work: Callable[[neo4j.ManagedTransaction], T]) -> T:
        """`work` in a managed write transaction, retried while the server says a retry can
        succeed (transient errors: deadlocks, ArcadeDB's concurrent-modification conflicts) and,
        up to CONSTRAINT_RETRIES times, after a ConstraintError (ArcadeDB's losing MERGE).

        The retries are done here, with short jittered delays, rather than by the driver,
        whose managed transactions wait 1 s, 2 s, 4 s... between tries: under two loaders on
        ArcadeDB that made a load several times slower."""
        deadline = time.monotonic() + WRITE_RETRY_TIME
        delay = FIRST_RETRY_DELAY
        constraint_failures = 0
        while True:
            try:
                with self._driver_or_fail().session(
                    database=self.database, max_transaction_retry_time=0
                ) as session:
                    return session.execute_write(work)
            except (ConstraintError, ClientError) as exc:
                if not isinstance(exc, ConstraintError) and exc.code != ENTITY_NOT_FOUND:
                    raise
                # A lost MERGE race, or (ArcadeDB) a record a concurrent transaction created
                # or moved that this one's snapshot cannot see: the retried write sees it.
                constraint_failures += 1
                if constraint_failures >= CONSTRAINT_RETRIES or time.monotonic() > deadline:
                    raise StoreError(
                        f"{self!r}: a write kept failing on a uniqueness constraint after "
                        f"{constraint_failures} tries: {exc.message or exc}"
                    ) from exc
                self.constraint_retries += 1
                log.debug("retrying a write that lost a concurrent MERGE: %s", exc.message)
            except (Neo4jError, DriverError) as exc:
                if not exc.is_retryable() or time.monotonic() > deadline:
                    if isinstance(exc, ServiceUnavailable | SessionExpired):
                        raise StoreError(f"lost the connection to {self!r}: {exc}") from exc
                    raise
                self.transient_retries += 1
                log.debug("retrying a write after a transient error: %s", exc)
            except OSError as exc:
                raise StoreError(f"lost the connection to {self!r}: {exc}") from exc
            time.sleep(random.uniform(0.5, 1.5) * delay)
            delay = min(delay * 2, MAX_RETRY_DELAY)

    # -- writes ------------------------------------------------------------------------------

    def write(self, batch: WriteBatch, derive: Derive | None = None) -> None:
        if not batch and derive is None:
            return
        plan = _Plan.of(batch)
        create_edges = self.capabilities is not None and self.capabilities.relationship_uniqueness

        def work(tx: neo4j.ManagedTransaction) -> None:
            owners: dict[str, str] = {}
            created = _Created(edges_known=create_edges)
            labels = plan.run(
                tx,
                owners=owners if derive is not None else None,
                create_edges=create_edges,
                created=created,
            )
            if derive is not None:
                # Read after this transaction's own writes took their locks (Neo4j) or before
                # its optimistic commit is checked (ArcadeDB): a concurrent writer's reports
                # are either committed and seen here, or make this transaction retry.
                derived = derive(_InTransaction(tx, labels, owners, created))
                if derived:
                    written = {w.id: labels[w.id] for w in plan.batch.nodes if w.id in labels}
                    _Plan.of(derived).run(tx, written, create_edges=create_edges)

        self._write(work)

    # -- reads -------------------------------------------------------------------------------

    # A read of nothing opens no transaction (a loader asks for the nodes its batch merged
    # away, usually none: with one record per batch, that was two round trips per record).

    def get_nodes(self, ids: Sequence[str]) -> dict[str, Node]:
        if not ids:
            return {}
        return self._read(lambda tx: _get_nodes(tx, ids))

    def lookup_keys(self, keys: Sequence[str]) -> dict[str, str]:
        if not keys:
            return {}
        return self._read(lambda tx: _lookup_keys(tx, keys))

    def keys_of(self, ids: Sequence[str]) -> dict[str, list[str]]:
        wanted = list(dict.fromkeys(ids))
        result: dict[str, list[str]] = {i: [] for i in ids}
        if not wanted:
            return result

        def work(tx: neo4j.ManagedTransaction) -> list[list[str]]:
            return _rows(tx.run(q.KEYS_OF, ids=wanted))

        for node_id, key in self._read(work):
            result[node_id].append(key)
        for owned in result.values():
            owned.sort()
        return result

    def edges(self, ids: Sequence[str], rel: Rel, direction: Direction) -> dict[str, list[Edge]]:
        if not ids:
            return {}
        return self._read(lambda tx: _get_edges(tx, ids, rel, direction))

    def query_events(self, query: EventQuery) -> EventPage:
        flt = query.filter

        def work(tx: neo4j.ManagedTransaction) -> EventPage:
            entity_label = outlet_label = None
            ends = [i for i in (flt.entity, flt.outlet) if i is not None]
            if ends:
                labels = _labels_of(tx, ends)
                if any(i not in labels for i in ends):
                    return EventPage([], has_next=False)
                entity_label = labels[flt.entity] if flt.entity is not None else None
                outlet_label = labels[flt.outlet] if flt.outlet is not None else None
            cypher = q.events_query(query.newest_first, entity_label, outlet_label)
            after_on, after_id = query.after if query.after is not None else (None, None)
            records = tx.run(
                cypher,
                entity=flt.entity,
                outlet=flt.outlet,
                categories=list(flt.categories) or None,
                date_from=flt.date_from,
                date_to=flt.date_to,
                place=flt.place,
                country=flt.country,
                min_confidence=flt.min_confidence,
                after_on=after_on,
                after_id=after_id,
                limit=query.first + 1,
            )
            events = [_node(r["id"], [Label.EVENT.value], r["props"]) for r in records]
            return EventPage(events[: query.first], has_next=len(events) > query.first)

        return self._read(work)

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
            return [_node(r["id"], [label.value], r["props"]) for r in records]

        return self._read(work)

    def search(self, text: str, labels: Sequence[Label], first: int) -> list[Node]:
        needle = text.casefold().strip()
        if not needle or first <= 0:
            return []
        wanted = list(dict.fromkeys(labels))

        def work(tx: neo4j.ManagedTransaction) -> list[tuple[Label, dict[str, Any]]]:
            rows: list[tuple[Label, dict[str, Any]]] = []
            for label in wanted:
                rows += [(label, r.data()) for r in tx.run(q.search_candidates(label))]
            return rows

        events: list[tuple[str, str]] = []
        others: list[tuple[str, str]] = []
        for label, row in self._read(work):
            if needle not in search_text(row):
                continue
            if label is Label.EVENT:
                events.append((_text(row.get("occurred_on")), row["id"]))
            else:
                others.append((_text(row.get("name")), row["id"]))
        events.sort(reverse=True)
        others.sort()
        chosen = [i for _, i in events + others][:first]
        nodes = self.get_nodes(chosen)
        return [nodes[i] for i in chosen if i in nodes]

    def counts(self) -> dict[str, int]:
        def work(tx: neo4j.ManagedTransaction) -> dict[str, int]:
            counts: dict[str, int] = {}
            for label in q.LABELS:
                counts[str(label)] = tx.run(q.count_nodes(label)).single(strict=True)["count"]
            for rel in q.RELS:
                counts[str(rel)] = tx.run(q.count_edges(rel)).single(strict=True)["count"]
            return counts

        return self._read(work)

    def get_setting(self, name: str) -> str | None:
        def work(tx: neo4j.ManagedTransaction) -> str | None:
            record = tx.run(q.GET_SETTING, name=name).single()
            return None if record is None else record["value"]

        return self._read(work)

    def dump(self) -> Iterator[Node | Edge | tuple[str, str]]:
        for label in q.LABELS:
            query = q.dump_nodes(label)
            for row in self._pages(query, "id"):
                yield _node(row["id"], [label.value], row["props"])
        for rel in q.RELS:
            query = q.dump_edges(rel)
            for row in self._pages(query, "uid"):
                key, props = _edge_props(row["props"])
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


# -- the write plan ------------------------------------------------------------------------------


def _get_nodes(
    tx: neo4j.ManagedTransaction, ids: Sequence[str], hints: Mapping[str, Label] | None = None
) -> dict[str, Node]:
    """The nodes with these ids. `hints` (a node id's likely label) only choose where to
    look first: a node not found under its hinted label is looked for under every label."""
    wanted = list(dict.fromkeys(ids))
    if not wanted:
        return {}
    found: dict[str, Node] = {}
    rest = wanted
    if hints:
        rest = []
        for label, group in _hinted(wanted, hints, rest).items():
            for node_id, props in _rows(tx.run(q.get_nodes_of(label), ids=group)):
                found[node_id] = _node(node_id, [label.value], props)
            rest += [i for i in group if i not in found]
    if rest:
        for node_id, labels, props in _rows(tx.run(q.GET_NODES, ids=rest)):
            found[node_id] = _node(node_id, labels, props)
    return {i: found[i] for i in wanted if i in found}


def _hinted(
    wanted: list[str], hints: Mapping[str, Label], rest: list[str]
) -> dict[Label, list[str]]:
    """`wanted` grouped by hinted label; the ids without a hint are appended to `rest`."""
    grouped: dict[Label, list[str]] = {}
    for node_id in wanted:
        label = hints.get(node_id)
        if label is None:
            rest.append(node_id)
        else:
            grouped.setdefault(label, []).append(node_id)
    return grouped


def _lookup_keys(tx: neo4j.ManagedTransaction, keys: Sequence[str]) -> dict[str, str]:
    wanted = list(dict.fromkeys(keys))
    if not wanted:
        return {}
    owners = {key: node for key, node in _rows(tx.run(q.LOOKUP_KEYS, keys=wanted))}
    return {k: owners[k] for k in wanted if k in owners}


def _get_edges(
    tx: neo4j.ManagedTransaction,
    ids: Sequence[str],
    rel: Rel,
    direction: Direction,
    hints: Mapping[str, Label] | None = None,
) -> dict[str, list[Edge]]:
    wanted = list(dict.fromkeys(ids))
    result: dict[str, list[Edge]] = {i: [] for i in ids}
    if not wanted:
        return result

    def add(rows: Iterable[list[Any]]) -> None:
        for node_id, other, raw in rows:
            if other is None:
                continue  # a hinted node without such relationships
            key, props = _edge_props(raw)
            src, dst = (node_id, other) if direction == "out" else (other, node_id)
            result[node_id].append(Edge(src, rel, dst, key, props))

    rest = wanted
    if hints:
        rest = []
        for label, group in _hinted(wanted, hints, rest).items():
            rows = _rows(tx.run(q.edges_of(label, rel, direction), ids=group))
            seen = {row[0] for row in rows}
            add(rows)
            rest += [i for i in group if i not in seen]
    if rest:
        add(_rows(tx.run(q.edges_query(rel, direction), ids=rest)))
    for node_id, found in result.items():
        _in_order(node_id, found)
    return result


def _in_order(node_id: str, edges: list[Edge]) -> list[Edge]:
    """`edges` of `node_id` in the order every store gives them: by the other end, then key."""
    edges.sort(key=lambda e: (e.other(node_id), e.key))
    return edges


@dataclass
class _Created:
    """What a batch created in its transaction: each new node's label and properties and,
    when `edges_known` (new relationships are CREATEd: the server enforces `_uid`
    uniqueness), the properties of every relationship with a new end, by (type, src, dst,
    key). Nothing else can touch a node the transaction created before it commits (a
    concurrent creator of the same id fails on the uniqueness constraint), so these are
    exactly what the transaction would read back."""

    edges_known: bool
    nodes: dict[str, tuple[Label, dict[str, Value]]] = field(default_factory=dict)
    edges: dict[tuple[Rel, str, str, str], dict[str, Value]] = field(default_factory=dict)
    _ends: dict[tuple[Rel, str, Direction], list[Edge]] | None = None

    def node(self, node_id: str) -> Node | None:
        created = self.nodes.get(node_id)
        if created is None:
            return None
        return Node(node_id, created[0], _copy(created[1]))

    def edges_of(self, node_id: str, rel: Rel, direction: Direction) -> list[Edge] | None:
        """The `rel` relationships of a new node (None for a node that is not new, or when
        its relationships are not known)."""
        if not self.edges_known or node_id not in self.nodes:
            return None
        if self._ends is None:
            self._ends = {}
            for (type_, src, dst, key), props in self.edges.items():
                edge = Edge(src, type_, dst, key, props)
                self._ends.setdefault((type_, src, "out"), []).append(edge)
                self._ends.setdefault((type_, dst, "in"), []).append(edge)
        found = self._ends.get((rel, node_id, direction), [])
        return [Edge(e.src, e.type, e.dst, e.key, _copy(e.props)) for e in found]


def _copy(props: Props) -> dict[str, Value]:
    return {k: list(v) if isinstance(v, list) else v for k, v in props.items()}


class _InTransaction:
    """The reads of a `derive` step, made in the write's own transaction. The labels of the
    nodes the write named (`hints`) spare most lookups under every label, the owners of the
    keys it claimed (`owners`, as its claims returned them) are not read again, and the nodes
    it created (and, when known, their relationships) are answered from `created`."""

    def __init__(
        self,
        tx: neo4j.ManagedTransaction,
        hints: Mapping[str, Label],
        owners: Mapping[str, str],
        created: _Created | None = None,
    ) -> None:
        self._tx = tx
        self._hints = hints
        self._owners = owners
        self._created = created or _Created(edges_known=False)

    def get_nodes(self, ids: Sequence[str]) -> dict[str, Node]:
        wanted = list(dict.fromkeys(ids))
        known = {i: n for i in wanted if (n := self._created.node(i)) is not None}
        read = _get_nodes(self._tx, [i for i in wanted if i not in known], self._hints)
        return {i: n for i in wanted if (n := known.get(i) or read.get(i)) is not None}

    def lookup_keys(self, keys: Sequence[str]) -> dict[str, str]:
        found = _lookup_keys(self._tx, [k for k in keys if k not in self._owners])
        return {k: o for k in keys if (o := self._owners.get(k) or found.get(k)) is not None}

    def edges(self, ids: Sequence[str], rel: Rel, direction: Direction) -> dict[str, list[Edge]]:
        known: dict[str, list[Edge]] = {}
        for node_id in dict.fromkeys(ids):
            edges = self._created.edges_of(node_id, rel, direction)
            if edges is not None:
                known[node_id] = _in_order(node_id, edges)
        rest = [i for i in ids if i not in known]
        read = _get_edges(self._tx, rest, rel, direction, self._hints) if rest else {}
        return {i: known[i] if i in known else read[i] for i in ids}


@dataclass
class _Plan:
    """One WriteBatch as parameter rows, checked and written inside one transaction."""

    batch: WriteBatch

    @classmethod
    def of(cls, batch: WriteBatch) -> _Plan:
        for write in batch.nodes:
            _check_names(write.merge, q.NODE_HIDDEN, f"node {write.id}")
        for edge in batch.edges:
            _check_names(edge.merge, q.EDGE_HIDDEN, f"{edge.type} relationship")
        return cls(batch)

    def run(
        self,
        tx: neo4j.ManagedTransaction,
        written: Mapping[str, Label] | None = None,
        owners: dict[str, str] | None = None,
        create_edges: bool = False,
        created: _Created | None = None,
    ) -> dict[str, Label]:
        """Write the batch; return the label of every node it named that exists now (and of
        `written`: nodes this transaction wrote already, whose labels need no checking).
        `owners`, when given, gets the owner of every key the batch claimed.

        A node that does not exist yet is CREATEd with its properties merged here, by the
        embedded store's `merge_props`, from all its writes in the batch: no merge rule has
        anything stored to read. So is, with `create_edges` (the server enforces the `_uid`
        uniqueness constraint), a relationship with a new end. A concurrent writer creating
        the same node or relationship makes the commit fail on a uniqueness constraint, and
        the retried transaction MERGEs instead. `created`, when given, gets the nodes and
        relationships created so."""
        batch = self.batch
        labels, gone, new = self._check(tx, written or {})
        for label, ids in _by_label(gone).items():
            tx.run(q.delete_nodes(label), ids=ids).consume()
        if gone:
            kept = [k for k, owner in batch.rekeys.items() if owner is not None]
            tx.run(q.DROP_KEYS_OF, ids=sorted(gone), kept=kept).consume()
        unlinks: dict[Rel, list[str]] = {}
        for src, rel, dst, key in dict.fromkeys(batch.unlinks):
            unlinks.setdefault(rel, []).append(_uid(src, dst, key))
        for rel, uids in unlinks.items():
            tx.run(q.unlink(rel), uids=uids).consume()
        created_nodes: dict[str, tuple[Label, dict[str, Value]]] = {}
        node_rounds: list[dict[tuple[Label, q.Shape], list[list[Any]]]] = []
        seen: dict[str, int] = {}
        for write in batch.nodes:
            if write.id in new:
                props = created_nodes[write.id][1] if write.id in created_nodes else None
                created_nodes[write.id] = (write.label, merge_props(props, write.merge))
                continue
            for part in _parts(write.merge):
                shape, row = _row(part, write.id)
                _add(node_rounds, seen, write.id, (write.label, shape), row)
        creates: dict[tuple[Label, tuple[str, ...]], list[list[Any]]] = {}
        for node_id, (label, props) in created_nodes.items():
            names, row = _created_row(props, node_id)
            creates.setdefault((label, names), []).append(row)
        for (label, names), rows in creates.items():
            tx.run(q.node_create(label, names), rows=rows).consume()
        for statements in node_rounds:
            for (label, shape), rows in statements.items():
                tx.run(q.node_upsert(label, shape), _params(shape, rows)).consume()
        created_edges: dict[tuple[Rel, str, str, str], dict[str, Value]] = {}
        edge_rounds: list[dict[tuple[Rel, Label, Label, q.Shape], list[list[Any]]]] = []
        seen.clear()
        for edge in batch.edges:
            if create_edges and (edge.src in new or edge.dst in new):
                edge_id = (edge.type, edge.src, edge.dst, edge.key)
                merged = merge_props(created_edges.get(edge_id), edge.merge)
                created_edges[edge_id] = merged
                continue
            uid = _uid(edge.src, edge.dst, edge.key)
            ends = (edge.type, labels[edge.src], labels[edge.dst])
            for part in _parts(edge.merge):
                shape, row = _row(part, edge.src, edge.dst, edge.key, uid)
                _add(edge_rounds, seen, f"{edge.type}\x00{uid}", (*ends, shape), row)
        edge_creates: dict[tuple[Rel, Label, Label, tuple[str, ...]], list[list[Any]]] = {}
        for (rel, src, dst, key), props in created_edges.items():
            names, row = _created_row(props, src, dst, key, _uid(src, dst, key))
            edge_creates.setdefault((rel, labels[src], labels[dst], names), []).append(row)
        for (rel, src_label, dst_label, names), rows in edge_creates.items():
            tx.run(q.edge_create(rel, src_label, dst_label, names), rows=rows).consume()
        if created is not None:
            created.nodes.update(created_nodes)
            created.edges.update(created_edges)
        for edge_statements in edge_rounds:
            for (rel, src_label, dst_label, shape), rows in edge_statements.items():
                query = q.edge_upsert(rel, src_label, dst_label, shape)
                tx.run(query, _params(shape, rows)).consume()
        moved = [{"key": k, "node": o} for k, o in batch.rekeys.items() if o is not None]
        if moved:
            tx.run(q.REKEY, rows=moved).consume()
        dropped = [k for k, o in batch.rekeys.items() if o is None]
        if dropped:
            tx.run(q.DROP_KEYS, keys=dropped).consume()
        if batch.keys:
            claims = [[k, v] for k, v in batch.keys.items()]
            if owners is None:
                tx.run(q.CLAIM_KEYS, rows=claims).consume()
            else:
                # Only the keys another node owns come back: the others are their claimant's.
                owners.update(batch.keys)
                for key, owner in _rows(tx.run(q.CLAIM_KEYS_OWNERS, rows=claims)):
                    owners[key] = owner
        if batch.settings:
            settings = [{"name": k, "value": v} for k, v in batch.settings.items()]
            tx.run(q.PUT_SETTINGS, rows=settings).consume()
        return {**(written or {}), **labels}

    def _check(
        self, tx: neo4j.ManagedTransaction, written: Mapping[str, Label]
    ) -> tuple[dict[str, Label], dict[str, Label], set[str]]:
        """The label every node the batch names will have, the nodes it deletes (with their
        labels), and the nodes it writes that do not exist yet. Raises the embedded store's
        StoreError when a node changes label, a relationship end is missing, or a key would
        name a missing node. The nodes of `written` (this transaction's own writes) are not
        looked up."""
        batch = self.batch
        ids = set(batch.deletes)
        ids.update(w.id for w in batch.nodes)
        ids.update(e.src for e in batch.edges)
        ids.update(e.dst for e in batch.edges)
        ids.update(batch.keys.values())
        ids.update(o for o in batch.rekeys.values() if o is not None)
        stored = _labels_of(tx, sorted(ids - written.keys()))
        stored.update((i, written[i]) for i in ids & written.keys())
        new = {w.id for w in batch.nodes if w.id not in stored}
        gone = {i: stored.pop(i) for i in dict.fromkeys(batch.deletes) if i in stored}
        labels = dict(stored)
        for write in batch.nodes:
            label = labels.setdefault(write.id, write.label)
            if label != write.label:
                raise StoreError(f"node {write.id} is a {label}, not a {write.label}")
        for edge in batch.edges:
            for end in (edge.src, edge.dst):
                if end not in labels:
                    raise StoreError(
                        f"{edge.type} relationship names node {end!r}, which does not exist"
                    )
        if batch.keys or batch.rekeys:
            owners: dict[str, str | None] = {}
            if gone:
                for _node_id, key in _rows(tx.run(q.KEYS_OF, ids=sorted(gone))):
                    owners[key] = None
            owners.update(batch.rekeys)
            # Only a claim whose claimant is missing can fail: the others need no lookup.
            claimed = {k for k, c in batch.keys.items() if k not in owners and c not in labels}
            current = _lookup_keys(tx, sorted(claimed))
            for key, claimant in batch.keys.items():
                if (owners[key] if key in owners else current.get(key)) is None:
                    owners[key] = claimant
            for key, owner in owners.items():
                if owner is not None and owner not in labels:
                    raise StoreError(f"key {key!r} names node {owner!r}, which does not exist")
        return labels, gone, new


def _by_label(labels: dict[str, Label]) -> dict[Label, list[str]]:
    grouped: dict[Label, list[str]] = {}
    for node_id, label in labels.items():
        grouped.setdefault(label, []).append(node_id)
    return grouped


def _labels_of(tx: neo4j.ManagedTransaction, ids: Sequence[str]) -> dict[str, Label]:
    if not ids:
        return {}
    found: dict[str, Label] = {}
    for record in tx.run(q.LABELS_OF, ids=list(ids)):
        label = q.LABELS[record["label"]]
        found.update((node_id, label) for node_id in record["ids"])
    return found


def _rows(result: neo4j.Result) -> list[list[Any]]:
    """The rows of a collected read (`RETURN collect([...]) AS rows`: one record, or none)."""
    rows: list[list[Any]] = []
    for record in result:
        rows += record[q.ROWS]
    return rows


def _check_names(merge: Merge, hidden: frozenset[str], what: str) -> None:
    for rule in (merge.set, merge.create, merge.first, merge.last):
        _reject_hidden(rule, hidden, what)
    for names in (merge.union, merge.minimum, merge.maximum):
        _reject_hidden(names, hidden, what)


def _reject_hidden(names: Iterable[str], hidden: frozenset[str], what: str) -> None:
    for name in names:
        if name in hidden:
            raise StoreError(f"{what}: the property name {name!r} is reserved by the Neo4j store")


K = TypeVar("K")


def _add(
    rounds: list[dict[K, list[list[Any]]]],
    seen: dict[str, int],
    ident: str,
    group: K,
    row: list[Any],
) -> None:
    """Put `row` in the first round without a row for `ident`, in its group's statement."""
    index = seen.get(ident, 0)
    seen[ident] = index + 1
    if index == len(rounds):
        rounds.append({})
    rounds[index].setdefault(group, []).append(row)


def _nulls(props: Props) -> list[str]:
    return [k for k, v in props.items() if v is None]


def _row(merge: Merge, *ident: str) -> tuple[q.Shape, list[Any]]:
    """The shape of `merge` and its row of values (see `queries`)."""
    shape = q.Shape(
        create=tuple(sorted(merge.create)),
        first=tuple(sorted(merge.first)),
        last=tuple(sorted(merge.last)),
        union=tuple(sorted(merge.union)),
        minimum=tuple(sorted(merge.minimum)),
        maximum=tuple(sorted(merge.maximum)),
        set=tuple(sorted(merge.set)),
    )
    row: list[Any] = list(ident)
    row += [merge.create[n] for n in shape.create]
    row += [merge.first[n] for n in shape.first]
    row += [merge.last[n] for n in shape.last]
    row += [merge.set[n] for n in shape.set]
    row += [sorted(set(merge.union[n])) for n in shape.union]
    row += [merge.minimum[n] for n in shape.minimum]
    row += [merge.maximum[n] for n in shape.maximum]
    if shape.ranked:
        row.append(merge.rank)
    if shape.create:
        row.append(_nulls(merge.create) or None)
    if shape.nullable:
        row.append(_nulls(merge.first) + _nulls(merge.last) + _nulls(merge.set) or None)
    return shape, row


def _created_row(props: Mapping[str, Value], *ident: str) -> tuple[tuple[str, ...], list[Any]]:
    """The property names of a node or relationship to create and its row: `ident`, the
    values (nulls included: the statement drops them), and the null names or null."""
    names = tuple(sorted(props))
    row: list[Any] = [*ident, *(props[n] for n in names)]
    row.append([n for n in names if props[n] is None] or None)
    return names, row


def _params(shape: q.Shape, rows: list[list[Any]]) -> dict[str, Any]:
    """The parameters of a write statement of `shape` (see `queries`)."""
    params: dict[str, Any] = {"rows": rows}
    for name, names in (
        ("fk", shape.first),
        ("lk", shape.last),
        ("sk", shape.set),
        ("nn", shape.union + shape.minimum + shape.maximum),
    ):
        if names:
            params[name] = list(names)
    return params


def _parts(merge: Merge) -> list[Merge]:
    """`merge` as one row, or, when its rules share a property name, as one row per rule in
    the order the rules apply (a row's SET items must not read what another item writes)."""
    names: list[str] = list(merge.first) + list(merge.last)
    names += list(merge.union) + list(merge.minimum) + list(merge.maximum) + list(merge.set)
    if merge.first:
        names.append(FIRST_RANK)
    if merge.last:
        names.append(LAST_RANK)
    if len(names) == len(set(names)):
        return [merge]
    parts = [
        Merge(create=merge.create, first=merge.first, rank=merge.rank),
        Merge(last=merge.last, rank=merge.rank),
        Merge(union=merge.union),
        Merge(minimum=merge.minimum),
        Merge(maximum=merge.maximum),
        Merge(set=merge.set),
    ]
    return [p for p in parts if p != Merge()] or [merge]


def _uid(src: str, dst: str, key: str) -> str:
    return json.dumps([src, dst, key], ensure_ascii=False, separators=(",", ":"))


def _props(raw: dict[str, Any], hidden: frozenset[str]) -> dict[str, Value]:
    props: dict[str, Value] = {k: v for k, v in raw.items() if k not in hidden}
    for name in raw.get(q.NULLS) or ():
        props[name] = None
    return props


_LABELS = {label.value: label for label in Label}


def _node(node_id: str, labels: Sequence[str], raw: dict[str, Any]) -> Node:
    label = next((_LABELS[x] for x in labels if x in _LABELS), None)
    if label is None:
        raise StoreError(f"node {node_id} has none of the labels {', '.join(Label)}")
    return Node(node_id, label, _props(raw, q.NODE_HIDDEN))


def _edge_props(raw: dict[str, Any]) -> tuple[str, dict[str, Value]]:
    key = raw.get(q.KEY)
    return (key if isinstance(key, str) else ""), _props(raw, q.EDGE_HIDDEN)


def _text(value: object) -> str:
    return value if isinstance(value, str) else ""
