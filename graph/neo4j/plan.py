"""The Neo4j store's statement planner: one `WriteBatch` as a few `UNWIND $rows` statements
(one per label or relationship type and merge-rule shape, in rounds so that no statement has
two rows for one node), checked against what is stored and run inside one transaction, noting
what each statement changed (`graph.neo4j.changelog.Changed`)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

import neo4j

from graph.model import EdgeId, Label, PropertyWrite, Rel, Value, WriteBatch, apply_write
from graph.neo4j import codec, reads
from graph.neo4j import queries as q
from graph.neo4j.changelog import Changed, stored_edge
from graph.neo4j.transaction import Created
from graph.store import MATCH, StoreError

K = TypeVar("K")


@dataclass
class StatementPlan:
    """One WriteBatch as parameter rows, checked and written inside one transaction."""

    batch: WriteBatch

    @classmethod
    def of(cls, batch: WriteBatch) -> StatementPlan:
        for write in batch.nodes:
            _check_names(write.change, q.NODE_HIDDEN, f"node {write.id}")
        for edge in batch.edges:
            _check_names(edge.change, q.EDGE_HIDDEN, f"{edge.type} relationship")
        return cls(batch)

    def run(
        self,
        tx: neo4j.ManagedTransaction,
        written: Mapping[str, Label] | None = None,
        owners: dict[str, str] | None = None,
        create_edges: bool = False,
        created: Created | None = None,
        changed: Changed | None = None,
    ) -> dict[str, Label]:
        """Write the batch; return the label of every node it named that exists now (and of
        `written`: nodes this transaction wrote already, whose labels need no checking).
        `owners`, when given, gets the owner of every key the batch claimed.

        A node that does not exist yet is CREATEd with its properties merged here, by the
        embedded store's `apply_write`, from all its writes in the batch: no merge rule has
        anything stored to read. So is, with `create_edges` (the server enforces the `_uid`
        uniqueness constraint), a relationship with a new end. A concurrent writer creating
        the same node or relationship makes the commit fail on a uniqueness constraint, and
        the retried transaction MERGEs instead. `created`, when given, gets the nodes and
        relationships created so. `changed`, when given, gets what the batch changed: what a
        statement writes without changing any stored value is not in it."""
        batch = self.batch
        changed = changed if changed is not None else Changed()
        labels, gone, new = self._check(tx, written or {})
        for label, ids in _by_label(gone).items():
            removed = codec.rows(tx.run(q.edges_of_deleted(label), ids=ids))
            changed.unlinked_edges(e for row in removed if (e := stored_edge(*row)) is not None)
            tx.run(q.delete_nodes(label), ids=ids).consume()
        changed.deleted_nodes(gone)
        if gone:
            kept = [k for k, owner in batch.rekeys.items() if owner is not None]
            tx.run(q.DROP_KEYS_OF, ids=sorted(gone), kept=kept).consume()
        unlinks: dict[Rel, dict[str, EdgeId]] = {}
        for src, rel, dst, key in dict.fromkeys(batch.unlinks):
            unlinks.setdefault(rel, {})[codec.uid(src, dst, key)] = (src, rel, dst, key)
        for rel, by_uid in unlinks.items():
            removed_uids = _reported(tx.run(q.unlink(rel), uids=list(by_uid)))
            changed.unlinked_edges(by_uid[uid] for uid in removed_uids)
        created_nodes: dict[str, tuple[Label, dict[str, Value]]] = {}
        node_rounds: list[dict[tuple[Label, q.Shape], list[list[Any]]]] = []
        seen: dict[str, int] = {}
        for write in batch.nodes:
            if write.id in new:
                props = created_nodes[write.id][1] if write.id in created_nodes else None
                created_nodes[write.id] = (write.label, apply_write(props, write.change))
                continue
            for part in codec.parts(write.change):
                shape, row = codec.merge_row(part, write.id)
                _add(node_rounds, seen, write.id, (write.label, shape), row)
        creates: dict[tuple[Label, tuple[str, ...]], list[list[Any]]] = {}
        for node_id, (label, props) in created_nodes.items():
            names, row = codec.created_row(props, node_id)
            creates.setdefault((label, names), []).append(row)
        for (label, names), rows in creates.items():
            tx.run(q.node_create(label, names), rows=rows).consume()
        changed.wrote_nodes(created_nodes)
        for statements in node_rounds:
            for (label, shape), rows in statements.items():
                result = tx.run(q.node_upsert(label, shape), codec.params(shape, rows))
                ids = _reported(result)
                if result.consume().counters.nodes_created:
                    ids = [row[0] for row in rows]  # MERGE created some: which, it cannot say
                changed.wrote_nodes(ids)
        created_edges: dict[tuple[Rel, str, str, str], dict[str, Value]] = {}
        edge_rounds: list[dict[tuple[Rel, Label, Label, q.Shape], list[list[Any]]]] = []
        seen.clear()
        for edge in batch.edges:
            if create_edges and (edge.src in new or edge.dst in new):
                edge_id = (edge.type, edge.src, edge.dst, edge.discriminator)
                merged = apply_write(created_edges.get(edge_id), edge.change)
                created_edges[edge_id] = merged
                continue
            uid = codec.uid(edge.src, edge.dst, edge.discriminator)
            ends = (edge.type, labels[edge.src], labels[edge.dst])
            for part in codec.parts(edge.change):
                shape, row = codec.merge_row(part, edge.src, edge.dst, edge.discriminator, uid)
                _add(edge_rounds, seen, f"{edge.type}\x00{uid}", (*ends, shape), row)
        edge_creates: dict[tuple[Rel, Label, Label, tuple[str, ...]], list[list[Any]]] = {}
        for (rel, src, dst, key), props in created_edges.items():
            names, row = codec.created_row(props, src, dst, key, codec.uid(src, dst, key))
            edge_creates.setdefault((rel, labels[src], labels[dst], names), []).append(row)
        for (rel, src_label, dst_label, names), rows in edge_creates.items():
            tx.run(q.edge_create(rel, src_label, dst_label, names), rows=rows).consume()
        changed.wrote_edges((src, rel, dst, key) for rel, src, dst, key in created_edges)
        if created is not None:
            created.nodes.update(created_nodes)
            created.edges.update(created_edges)
        for edge_statements in edge_rounds:
            for (rel, src_label, dst_label, shape), rows in edge_statements.items():
                query = q.edge_upsert(rel, src_label, dst_label, shape)
                result = tx.run(query, codec.params(shape, rows))
                uids = _reported(result)
                if result.consume().counters.relationships_created:
                    uids = [row[3] for row in rows]  # MERGE created some: which, it cannot say
                row_of = {row[3]: row for row in rows}
                changed.wrote_edges((row_of[u][0], rel, row_of[u][1], row_of[u][2]) for u in uids)
        moved = [
            {"key": k, "node": o, "prefix": key_prefix(k)}
            for k, o in batch.rekeys.items()
            if o is not None
        ]
        if moved:
            for new_owner, old_owner in codec.rows(tx.run(q.REKEY, rows=moved)):
                changed.touched_nodes((new_owner, old_owner))
        dropped = [k for k, o in batch.rekeys.items() if o is None]
        if dropped:
            changed.touched_nodes(_reported(tx.run(q.DROP_KEYS, keys=dropped)))
        if batch.keys:
            claims = [[k, v, key_prefix(k)] for k, v in batch.keys.items()]
            if owners is None:
                result = tx.run(q.CLAIM_KEYS, rows=claims)
            else:
                # Only the keys another node owns come back: the others are their claimant's.
                owners.update(batch.keys)
                result = tx.run(q.CLAIM_KEYS_OWNERS, rows=claims)
                for key, owner in codec.rows(result):
                    owners[key] = owner
            if result.consume().counters.nodes_created:
                # A claim changes something only by creating its key; which did, the MERGE
                # cannot say, so every claimant counts as written.
                changed.touched_nodes(batch.keys.values())
        if batch.settings:
            settings = [{"name": k, "value": v} for k, v in batch.settings.items()]
            changed.wrote_settings(_reported(tx.run(q.PUT_SETTINGS, rows=settings)))
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
        stored = reads.labels_of(tx, sorted(ids - written.keys()))
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
                for _node_id, key in codec.rows(tx.run(q.KEYS_OF, ids=sorted(gone))):
                    owners[key] = None
            owners.update(batch.rekeys)
            # Only a claim whose claimant is missing can fail: the others need no lookup.
            claimed = {k for k, c in batch.keys.items() if k not in owners and c not in labels}
            current = reads.lookup_keys(tx, sorted(claimed))
            for key, claimant in batch.keys.items():
                if (owners[key] if key in owners else current.get(key)) is None:
                    owners[key] = claimant
            for key, owner in owners.items():
                if owner is not None and owner not in labels:
                    raise StoreError(f"key {key!r} names node {owner!r}, which does not exist")
        return labels, gone, new


def _reported(result: neo4j.Result) -> list[Any]:
    """What a write statement says it changed: its collected `rows` (none when it returns
    nothing)."""
    found: list[Any] = []
    for record in result:
        found += record[q.ROWS]
    return found


def _by_label(labels: dict[str, Label]) -> dict[Label, list[str]]:
    grouped: dict[Label, list[str]] = {}
    for node_id, label in labels.items():
        grouped.setdefault(label, []).append(node_id)
    return grouped


def _check_names(merge: PropertyWrite, hidden: frozenset[str], what: str) -> None:
    for rule in (merge.set, merge.create, merge.first, merge.last):
        _reject_hidden(rule, hidden, what)
    for names in (merge.union, merge.minimum, merge.maximum):
        _reject_hidden(names, hidden, what)


def _reject_hidden(names: Iterable[str], hidden: frozenset[str], what: str) -> None:
    for name in names:
        if name in hidden:
            raise StoreError(f"{what}: the property name {name!r} is reserved by the Neo4j store")


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


def key_prefix(key: str) -> str | None:
    """A matching key's prefix, kept as a property of its own (`queries.KEY_PREFIX_INDEX`)."""
    return key[: key.rfind("#") + 1] if key.startswith(MATCH) else None
