"""Validated records into graph writes: resolve names to nodes, merge events, rate confidence.

One call of `Ingestor.ingest` turns a batch of records into one atomic `WriteBatch`:

1. outlets, entities and places are found by their identity keys (normalised name and every
   alias), or created with an id derived from the key that created them;
2. each record's event is found by its fingerprints (see `docs/identity.md`) or created;
3. nodes and relationships are written with merge rules that are commutative and idempotent,
   so a replayed batch changes nothing and the result does not depend on record order;
4. the confidence of every event the batch touched is recomputed from all of its reports.
"""

from __future__ import annotations

import functools
import json
import logging
from collections.abc import Callable, Hashable, Mapping, Sequence
from collections.abc import Set as AbstractSet
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Literal, TypeVar

from graph import keys
from graph.confidence import Policy, Report, assess, current_policy
from graph.history import HISTORY, LevelChange, Why, edit
from graph.model import (
    Direction,
    EdgeWrite,
    Label,
    Merge,
    Node,
    NodeWrite,
    Props,
    Rel,
    Value,
    WriteBatch,
    as_merge,
    strings,
    timestamp,
)
from graph.store import Derive, GraphReader, GraphStore, StoreError, WriteConflict
from loaders.records import Record

Outcome = Literal["created", "merged"]
T = TypeVar("T")
CONFLICT_RETRIES = 10
log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Ingested:
    """What became of one record: the event it created or merged into."""

    line: int
    event_id: str
    outcome: Outcome


def day_of(moment: date) -> str:
    """The UTC calendar day of a date or timestamp."""
    if isinstance(moment, datetime):
        return moment.astimezone(UTC).date().isoformat()
    return moment.isoformat()


def moment_text(moment: date) -> str:
    """A date as `YYYY-MM-DD`, a timestamp as this graph's RFC 3339 string."""
    return timestamp(moment) if isinstance(moment, datetime) else moment.isoformat()


class _Resolver:
    """Finds the node owning any of a thing's identity keys, or names a new one.

    It sees the store's owners and the claims made earlier in the same batch, so two records
    of one batch naming the same new entity resolve to one node. When one thing's keys are
    owned by two nodes, the two are one: the owner of its first owned key survives and the
    other is recorded in `merged` (ids resolve through `find`).
    """

    def __init__(self, owners: dict[str, str]) -> None:
        self.owners = owners
        self.claims: dict[str, str] = {}
        self.created: set[str] = set()
        self.merged: dict[str, str] = {}

    def find(self, node: str) -> str:
        """The node `node` now is, following merges."""
        while node in self.merged:
            node = self.merged[node]
        return node

    def owner(self, key: str) -> str | None:
        owner = self.claims.get(key) or self.owners.get(key)
        return self.find(owner) if owner is not None else None

    def resolve(self, identity: Sequence[str], prefix: str, current: str | None = None) -> str:
        """The node of a thing with these keys. `current` is the node it already is, if any:
        it survives only when none of the keys has another owner."""
        found = [o for k in identity if (o := self.owner(k)) is not None]
        if current is not None:
            found.append(self.find(current))
        if found:
            survivor = found[0]
            for other in found[1:]:
                if other != survivor:
                    self.merged[other] = survivor
        else:
            survivor = keys.node_id(prefix, identity[0])
            self.created.add(survivor)
        for key in identity:
            if key not in self.owners and key not in self.claims:
                self.claims[key] = survivor
        return survivor

    def final_claims(self) -> dict[str, str]:
        return {k: self.find(o) for k, o in self.claims.items()}


class _Plan:
    """The writes of a batch being planned. Writes to one node (or relationship) are combined
    as they come (`_combine`): every mention of an outlet, entity, place or country in a batch
    would write its node again, and every merge costs the store a copy of its properties."""

    def __init__(self) -> None:
        self._batch = WriteBatch()
        # node id -> (label, its writes so far, combined where the rules allow)
        self._nodes: dict[str, tuple[Label, list[Merge]]] = {}
        self._edges: dict[tuple[str, Rel, str, str], list[Merge]] = {}
        self.outlets: dict[str, str] = {}  # outlet name -> its node, written already
        # (type, name, aliases) of an entity mention -> its node, resolved already
        self.entities: dict[tuple[str, ...], str] = {}
        # (node id, what a ranked write says but its rank) -> the lowest rank written with it
        self._ranked: dict[tuple[str, Hashable], str] = {}

    @property
    def batch(self) -> WriteBatch:
        """The planned writes (appended to the batch when first asked for after planning)."""
        if self._nodes or self._edges:
            nodes, edges = self._batch.nodes, self._batch.edges
            for node_id, (label, merges) in self._nodes.items():
                nodes += [NodeWrite(node_id, label, m) for m in merges]
            for (src, rel, dst, key), merges in self._edges.items():
                edges += [EdgeWrite(src, rel, dst, key, m) for m in merges]
            self._nodes, self._edges, self.outlets, self._ranked = {}, {}, {}, {}
            self.entities = {}
        return self._batch

    def seen(self, node_id: str, content: Hashable, rank: str) -> bool:
        """Whether a write of `content` to `node_id` (a `first` rule ranked `rank`, `create`,
        `union`) would change nothing after those planned: the same content was written with a
        rank no higher. Else it is noted, and the caller writes it."""
        known = self._ranked.get((node_id, content))
        if known is not None and known <= rank:
            return True
        self._ranked[(node_id, content)] = rank
        return False

    def node(self, node_id: str, label: Label, merge: Merge) -> None:
        planned = self._nodes.get(node_id)
        if planned is None or planned[0] is not label:
            if planned is not None:  # a node of another label: the store refuses it
                self.batch.nodes.append(NodeWrite(node_id, label, merge))
                return
            self._nodes[node_id] = (label, [merge])
            return
        merges = planned[1]
        combined = _combine(merges[-1], merge)
        if combined is None:
            merges.append(merge)
        else:
            merges[-1] = combined

    def edge(self, src: str, rel: Rel, dst: str, merge: Merge, key: str = "") -> None:
        merges = self._edges.get((src, rel, dst, key))
        if merges is None:
            self._edges[(src, rel, dst, key)] = [merge]
            return
        combined = _combine(merges[-1], merge)
        if combined is None:
            merges.append(merge)
        else:
            merges[-1] = combined


_EMPTY = Merge()


def _combine(a: Merge, b: Merge) -> Merge | None:
    """One write with the effect of `a` then `b` on any stored properties, or None when the
    two must stay apart. The rules are commutative and idempotent, except `create` (the first
    write of a new node wins: `a`'s) and `set` (order matters: never combined); and `first`
    and `last` combine when both name the same properties (the lowest / highest rank wins,
    the earlier write on a tie, as in `merge_props`)."""
    if b is a or b == _EMPTY:
        return a
    if a.set or b.set:
        return None
    first, first_rank = a.first, a.rank
    if b.first:
        if not first:
            first, first_rank = b.first, b.rank
        elif first.keys() != b.first.keys():
            return None
        elif b.rank < first_rank:
            first, first_rank = b.first, b.rank
    last, last_rank = a.last, a.rank
    if b.last:
        if not last:
            last, last_rank = b.last, b.rank
        elif last.keys() != b.last.keys():
            return None
        elif b.rank > last_rank:
            last, last_rank = b.last, b.rank
    if first and last:  # one Merge carries one rank
        return None
    union = a.union
    if b.union:
        if not union:
            union = b.union
        else:
            union = dict(union)
            for name, values in b.union.items():
                known = union.get(name)
                if known is None:
                    union[name] = values
                else:
                    new = [v for v in values if v not in known]
                    if new:
                        union[name] = [*known, *new]
    minimum = a.minimum
    if b.minimum:
        minimum = dict(minimum)
        for name, value in b.minimum.items():
            old = minimum.get(name)
            if old is None or value < old:
                minimum[name] = value
    maximum = a.maximum
    if b.maximum:
        maximum = dict(maximum)
        for name, value in b.maximum.items():
            old = maximum.get(name)
            if old is None or value > old:
                maximum[name] = value
    return Merge(
        create=a.create,
        first=first,
        last=last,
        rank=first_rank if first else last_rank if last else "",
        union=union,
        minimum=minimum,
        maximum=maximum,
    )


class Ingestor:
    """Writes batches of validated records into a store."""

    def __init__(
        self, store: GraphStore, now: Callable[[], datetime] | None = None, by: str = "cli"
    ) -> None:
        self.store = store
        self._now = now or (lambda: datetime.now(UTC))
        self._policy: Policy | None = None
        self.by = by  # who loads, for confidence histories and the editorial log
        self.merges: list[tuple[str, str]] = []  # (merged-away node, survivor), in order
        self.changes: list[LevelChange] = []  # confidence changes committed, in order

    def ingest(self, records: Sequence[tuple[int, Record]]) -> list[Ingested]:
        """Merge `records` (with their line numbers) into the store in one atomic write.

        Resolution reads key owners before the write; when a concurrent loader claimed one of
        the keys first (another spelling of the same entity, say), the write is refused
        (`WriteConflict`) and the batch is resolved again against what that loader wrote.
        """
        if not records:
            return []
        why = Why("report", "a load", self.by)
        return resolving_again(lambda: self._ingest(records, why))

    def merge_entities(self, old: str, survivor: str, why: Why) -> None:
        """Merge entity `old` into `survivor` (an editor's decision) as a record naming both
        would: aliases, keys and involvements move, events whose participants now coincide
        merge too, and the merge is logged so that it can be split again."""
        resolving_again(lambda: self._ingest([], why, {old: survivor}))

    def ingest_into(
        self,
        record: Record,
        event_id: str,
        why: Why,
        also: Sequence[NodeWrite] = (),
        guard: Callable[[GraphReader], None] | None = None,
        lock: Sequence[NodeWrite] = (),
    ) -> Ingested:
        """Merge `record` into the stored event `event_id` (an approved submission: the editor
        said which event it reports). In the same transaction, `lock` is written with the
        record; then `guard` runs (and may refuse the whole write by raising), then `also` is
        written."""
        forced = {0: event_id}
        return resolving_again(
            lambda: self._ingest([(0, record)], why, None, forced, also, guard, lock)
        )[0]

    def _ingest(
        self,
        records: Sequence[tuple[int, Record]],
        why: Why,
        merge: Mapping[str, str] | None = None,
        forced: Mapping[int, str] | None = None,
        also: Sequence[NodeWrite] = (),
        guard: Callable[[GraphReader], None] | None = None,
        lock: Sequence[NodeWrite] = (),
    ) -> list[Ingested]:
        now = timestamp(self._now())
        # The identity keys of each record's entity mentions, in order: asked for four times.
        mentions = [_mention_keys(record) for _, record in records]
        names = _Resolver(self.store.lookup_keys(_name_keys(records, mentions)))
        names.merged.update(merge or {})
        # Every mention first, so merges it reveals are known before events are fingerprinted.
        for identities in mentions:
            for said in identities:
                names.resolve(said, "en")
        absorbed = self._stored(names.merged)
        affected = self._affected_events(absorbed, names)
        event_keys = [
            _event_identity(record, names, identities)
            for (_, record), identities in zip(records, mentions, strict=True)
        ]
        wanted = [k for ks in event_keys for k in ks] + [k for k, _ in affected.values()]
        events = _Resolver(self.store.lookup_keys(wanted))
        for event_id, (key, _) in sorted(affected.items()):
            events.resolve([key], "ev", current=event_id)
        plan = _Plan()
        results: list[Ingested] = []
        seen: set[str] = set()
        for (line, record), identity, identities in zip(records, event_keys, mentions, strict=True):
            event_id = (forced or {}).get(line) or events.resolve(identity, "ev")
            _plan_record(plan, record, event_id, names, now, identities)
            results.append(Ingested(line, event_id, "created"))
        stale = {k for _, keys_left in affected.values() for k in keys_left}
        absorbed_events = self._stored(events.merged)
        absorb(self.store, plan.batch, absorbed, Label.ENTITY, names.find, stale, why, now)
        absorb(self.store, plan.batch, absorbed_events, Label.EVENT, events.find, stale, why, now)
        plan.batch.rekeys.update(dict.fromkeys(stale - plan.batch.rekeys.keys()))

        def find(node: str) -> str:
            return names.find(events.find(node))

        if names.merged or events.merged:
            _redirect(plan.batch, find)
        plan.batch.keys.update(names.final_claims())
        plan.batch.keys.update(events.final_claims())
        final = []
        for result in results:
            event_id = events.find(result.event_id)
            created = event_id in events.created and event_id not in seen
            seen.add(event_id)
            final.append(Ingested(result.line, event_id, "created" if created else "merged"))
        touched = seen | {events.find(e) for e in affected}
        claims = dict(plan.batch.keys)
        details: dict[str, list[str]] = {}
        for (line, record), result in zip(records, final, strict=True):
            story = record.source_story
            details.setdefault(result.event_id, []).append(
                f"line {line}: {story.outlet} story {story.slug}"
            )
        changes: list[LevelChange] = []
        derive = rating(
            sorted(touched),
            self.policy(),
            why,
            now,
            changes,
            # a load says which records; an approval or a merge says it in `why`
            {e: "; ".join(lines[:5]) for e, lines in details.items()}
            if why.cause == "report"
            else {},
        )
        plan.batch.nodes.extend(lock)

        def guarded(graph: GraphReader) -> WriteBatch:
            if guard is not None:
                guard(graph)
            derived = derive(graph)
            derived.nodes.extend(also)
            return derived

        self.store.write(plan.batch, derive=checked(claims, guarded))
        self.merges += [(old, find(old)) for old in (*absorbed, *absorbed_events)]
        self.changes += changes
        return final

    def _stored(self, merged: dict[str, str]) -> list[str]:
        """The merged-away nodes that exist in the store (not just in this batch)."""
        return sorted(self.store.get_nodes(sorted(merged)))

    def _affected_events(
        self, absorbed: list[str], names: _Resolver
    ) -> dict[str, tuple[str, list[str]]]:
        """Stored events involving an entity merged away: each one's participants fingerprint
        as it is after the merge, and its fingerprint keys that named the old entity."""
        if not absorbed:
            return {}
        gone = set(absorbed)
        involving = self.store.edges(absorbed, Rel.INVOLVES, "in")
        event_ids = sorted({e.src for edges in involving.values() for e in edges})
        nodes = self.store.get_nodes(event_ids)
        involved = self.store.edges(event_ids, Rel.INVOLVES, "out")
        owned = self.store.keys_of(event_ids)
        affected: dict[str, tuple[str, list[str]]] = {}
        for event_id, node in nodes.items():
            participants = [
                names.find(e.dst)
                for e in involved[event_id]
                if "participant" in (r.casefold() for r in e.texts("roles"))
            ]
            stale = [k for k in owned[event_id] if _names_any(k, gone)]
            day, category = node.text("occurred_on")[:10], node.text("category")
            if participants:
                key = keys.event_participants_key(day, category, participants)
                affected[event_id] = (key, stale)
        return affected

    def policy(self) -> Policy:
        if self._policy is None:
            self._policy = current_policy(self.store)
        return self._policy


def resolving_again(work: Callable[[], T]) -> T:
    """`work` (read, resolve, write), run again while a concurrent writer got there first
    (`WriteConflict`), at most CONFLICT_RETRIES times."""
    for attempt in range(1, CONFLICT_RETRIES + 1):
        try:
            return work()
        except WriteConflict as exc:
            if attempt == CONFLICT_RETRIES:
                raise StoreError(
                    f"a write kept conflicting with concurrent writers: {exc}"
                ) from exc
            log.debug("resolving again after a concurrent write: %s", exc)
    raise AssertionError("unreachable")


def checked(claims: dict[str, str], then: Derive) -> Derive:
    """`then`, once every key the batch claimed is owned by the node it was claimed for: a
    key another writer claimed first means the batch was resolved against a stale graph."""

    def derive(graph: GraphReader) -> WriteBatch:
        owners = graph.lookup_keys(sorted(claims))
        lost = sorted(k for k, node in claims.items() if owners.get(k) != node)
        if lost:
            raise WriteConflict(f"keys claimed meanwhile by another writer: {lost[:5]}")
        return then(graph)

    return derive


def rating(
    event_ids: Sequence[str],
    policy: Policy,
    why: Why,
    at: str,
    changes: list[LevelChange] | None = None,
    details: Mapping[str, str] | None = None,
) -> Derive:
    """The `derive` step that rates `event_ids` from all their reports, as the write's own
    transaction sees them (so concurrent loaders' reports all count).

    Each change of level is appended to the event's confidence history, saying `why` (with
    the event's own entry of `details`, if any) and when (`at`), and to `changes`, which the
    caller publishes once the write has committed."""

    def derive(graph: GraphReader) -> WriteBatch:
        if changes is not None:
            changes.clear()  # a store may run the transaction again
        reports = graph.edges(event_ids, Rel.REPORTS, "in")
        outlets = graph.get_nodes(sorted({e.src for edges in reports.values() for e in edges}))
        missing = {e.src for edges in reports.values() for e in edges} - outlets.keys()
        if missing:
            raise WriteConflict(f"reports from outlets not visible yet: {sorted(missing)}")
        events = graph.get_nodes(list(event_ids))
        batch = WriteBatch()
        for event_id, edges in reports.items():
            event = events.get(event_id)
            if event is None:
                continue  # merged away in this very write
            views = [report_view(e.src, outlets[e.src].props, e.props) for e in edges]
            rated = assess(views, policy)
            merge = Merge(set=rated.to_props())
            previous = event.props.get("confidence")
            if previous != rated.level:
                detail = (details or {}).get(event_id) or why.detail
                change = LevelChange(
                    at=at,
                    event_id=event_id,
                    previous=previous if isinstance(previous, str) else None,
                    level=rated.level,
                    cause=why.cause,
                    detail=detail,
                    by=why.by,
                )
                merge = Merge(set=merge.set, union={HISTORY: [change.to_entry()]})
                if changes is not None:
                    changes.append(change)
            batch.nodes.append(NodeWrite(event_id, Label.EVENT, merge))
        return batch

    return derive


def absorb(
    store: GraphStore,
    batch: WriteBatch,
    olds: Sequence[str],
    label: Label,
    find: Callable[[str], str],
    stale: AbstractSet[str] = frozenset(),
    why: Why | None = None,
    at: str = "",
) -> None:
    """Append to `batch` the merge of `olds` (stored nodes found to be one with another) into
    their survivors `find(old)`: properties and relationships merged by their rules (see
    `graph.model.RULES`), identity keys re-owned (or dropped when `stale`), `olds` deleted.

    With `why`, each merge is logged (an `Edit` node, action `merge`) with what a split needs
    to undo it: the merged-away node as it was (properties, keys, relationships) and the
    survivor's properties, keys and involvements before the merge."""
    if not olds:
        return
    nodes = store.get_nodes(list(olds))
    for old, node in nodes.items():
        batch.nodes.append(NodeWrite(find(old), label, as_merge(label, node.props)))
    moved: dict[tuple[str, Rel, str, str], list[Props]] = {}
    kept: dict[str, list[list[object]]] = {old: [] for old in olds}
    for rel in Rel:
        for direction in ("out", "in"):
            for old, edges in store.edges(list(olds), rel, direction).items():
                for e in edges:
                    kept[old].append([e.src, rel.value, e.dst, e.key, dict(e.props)])
                    src = find(e.src) if e.src in olds else e.src
                    dst = find(e.dst) if e.dst in olds else e.dst
                    moved.setdefault((src, rel, dst, e.key), []).append(e.props)
    survivors = sorted({find(o) for o in olds})
    if why is not None:
        _log_merges(store, batch, nodes, kept, label, find, why, at)
    directions: tuple[Direction, ...] = ("out", "in")
    for direction in directions:
        for edges in store.edges(survivors, Rel.REPORTS, direction).values():
            for e in edges:
                if (e.src, Rel.REPORTS, e.dst, e.key) in moved:
                    moved[(e.src, Rel.REPORTS, e.dst, e.key)].insert(0, e.props)
    for (src, rel, dst, key), found in moved.items():
        for props in found:
            batch.edges.append(EdgeWrite(src, rel, dst, key, as_merge(rel, props)))
        if rel is Rel.REPORTS and len(found) > 1:
            # Two outlets (or events) that are one reported in one story: pool the claims
            # rather than let one report's claims replace the other's.
            batch.edges.append(EdgeWrite(src, rel, dst, key, Merge(set=_pool_claims(found))))
    for old, owned in store.keys_of(list(olds)).items():
        for key in owned:
            batch.rekeys[key] = None if key in stale else find(old)
    batch.deletes.extend(olds)


def _log_merges(
    store: GraphStore,
    batch: WriteBatch,
    olds: Mapping[str, Node],
    kept: Mapping[str, list[list[object]]],
    label: Label,
    find: Callable[[str], str],
    why: Why,
    at: str,
) -> None:
    """One `merge` entry of the editorial log per merged-away node (see `absorb`)."""
    survivors = sorted({find(o) for o in olds})
    before = store.get_nodes(survivors)
    survivor_keys = store.keys_of(survivors)
    old_keys = store.keys_of(list(olds))
    involved = store.edges(survivors, Rel.INVOLVES, "in") if label is Label.ENTITY else {}
    for old, node in sorted(olds.items()):
        survivor = find(old)
        state = before.get(survivor)
        merged = {"id": old, "props": dict(node.props), "keys": old_keys[old], "edges": kept[old]}
        into = {
            "id": survivor,
            "props": dict(state.props) if state is not None else {},
            "keys": survivor_keys.get(survivor, []),
            "involved_in": [e.src for e in involved.get(survivor, [])],
        }
        batch.nodes.append(
            edit(
                "merge",
                at,
                why,
                survivor,
                label=label.value,
                merged=old,
                merged_state=json.dumps(merged, ensure_ascii=False, sort_keys=True),
                survivor_state=json.dumps(into, ensure_ascii=False, sort_keys=True),
            )
        )


def _pool_claims(reports: list[Props]) -> dict[str, Value]:
    pooled: list[tuple[str, str]] = []
    for props in reports:
        pairs = zip(strings(props, "claim_texts"), strings(props, "claim_tones"), strict=True)
        pooled += [p for p in pairs if p not in pooled]
    return {"claim_texts": [t for t, _ in pooled], "claim_tones": [t for _, t in pooled]}


def _redirect(batch: WriteBatch, find: Callable[[str], str]) -> None:
    """Point every write of `batch` at the survivors of merges."""
    batch.nodes[:] = [NodeWrite(find(w.id), w.label, w.merge) for w in batch.nodes]
    batch.edges[:] = [
        EdgeWrite(find(w.src), w.type, find(w.dst), w.key, w.merge) for w in batch.edges
    ]


def _names_any(key: str, ids: set[str]) -> bool:
    """Whether a participants fingerprint names any of `ids`."""
    if not key.startswith("event:participants:"):
        return False
    return any(i in ids for i in key.rsplit(":", 1)[-1].split(","))


def report_view(outlet_id: str, outlet: Props, report: Props) -> Report:
    """What confidence needs of one REPORTS relationship and its outlet."""
    tier = outlet.get("tier")
    group = outlet.get("group")
    tones = report.get("claim_tones")
    return Report(
        outlet_id=outlet_id,
        tier=tier if isinstance(tier, str) else "unknown",
        group=group if isinstance(group, str) and group else f"outlet:{outlet_id}",
        tones=tuple(tones) if isinstance(tones, list) else (),
    )


def _mention_keys(record: Record) -> list[tuple[str, ...]]:
    """The identity keys of each entity mention of `record`, in order."""
    return [_identity_of(m.type, m.name, tuple(m.aliases)) for m in record.event.entities]


@functools.lru_cache(maxsize=1 << 16)  # names recur in thousands of records
def _identity_of(entity_type: str, name: str, aliases: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(keys.entity_keys(entity_type, [name, *aliases]))


def _name_keys(
    records: Sequence[tuple[int, Record]], mentions: Sequence[Sequence[tuple[str, ...]]]
) -> list[str]:
    found: list[str] = []
    for (_, record), identities in zip(records, mentions, strict=True):
        event = record.event
        found += keys.outlet_keys([record.source_story.outlet, *(r.outlet for r in event.reports)])
        for identity in identities:
            found += identity
        location = event.location
        if location is not None and location.country:
            found.append(keys.country_key(location.country))
        if location is not None and location.place:
            found.append(keys.place_key(location.place, location.country))
    return found


def _event_identity(
    record: Record, resolver: _Resolver, identities: Sequence[tuple[str, ...]]
) -> list[str]:
    """The fingerprints of a record's event, strongest first (see docs/identity.md);
    `identities`: the keys of its entity mentions."""
    event = record.event
    if event.id is not None:
        return [keys.event_external_key(event.id)]
    day = day_of(event.occurred_on)
    participants = [
        resolver.resolve(identity, "en")
        for m, identity in zip(event.entities, identities, strict=True)
        if (m.role or "").casefold() == "participant"
    ]
    identity = [keys.event_summary_key(day, event.category, event.summary)]
    if participants:
        identity.insert(0, keys.event_participants_key(day, event.category, participants))
    return identity


def _plan_record(
    plan: _Plan,
    record: Record,
    event_id: str,
    resolver: _Resolver,
    now: str,
    identities: Sequence[tuple[str, ...]],
) -> None:
    """The writes of one record whose event is `event_id`; `identities`: the keys of its
    entity mentions."""
    event, story = record.event, record.source_story
    extracted = timestamp(record.extracted_at)
    story_outlet = _outlet(plan, resolver, story.outlet, now)
    story_node = keys.story_id(story_outlet, story.slug)
    # Which record's values win a `first`/`last` rule: the earliest (latest) extraction, ties
    # broken by story and summary, which the graph keeps, so an export reloads the same.
    rank = f"{extracted}|{story_node}|{keys.digest(keys.normalise(event.summary))}"
    plan.node(
        story_node,
        Label.STORY,
        Merge(
            create={"slug": story.slug, "ingested_at": now},
            last={
                "url": story.url,
                "published_on": moment_text(story.published_on) if story.published_on else None,
            },
            rank=rank,
        ),
    )
    plan.edge(story_outlet, Rel.PUBLISHED, story_node, _EMPTY)

    occurred = moment_text(event.occurred_on)
    located = _plan_location(plan, record, event_id, story_node, rank, resolver)
    plan.node(
        event_id,
        Label.EVENT,
        Merge(
            create={"ingested_at": now},
            first={
                "category": event.category,
                "summary": event.summary,
                "occurred_on": occurred,
                "lat": event.location.lat if event.location else None,
                "lon": event.location.lon if event.location else None,
            },
            rank=rank,
            union={"external_ids": [event.id] if event.id else [], **located},
            minimum={"first_extracted_at": extracted},
            maximum={"last_extracted_at": extracted},
        ),
    )
    plan.edge(
        story_node,
        Rel.DESCRIBES,
        event_id,
        Merge(
            create={"ingested_at": now},
            last={"summary": event.summary, "category": event.category, "occurred_on": occurred},
            rank=rank,
            minimum={"first_extracted_at": extracted},
            maximum={"last_extracted_at": extracted},
        ),
    )

    for mention, identity in zip(event.entities, identities, strict=True):
        said = (mention.type, mention.name, *mention.aliases)
        entity = plan.entities.get(said)  # every mention was resolved before planning
        if entity is None:
            entity = plan.entities[said] = resolver.resolve(identity, "en")
        else:
            entity = resolver.find(entity)
        if not plan.seen(entity, said, rank):
            plan.node(
                entity,
                Label.ENTITY,
                Merge(
                    create={"type": mention.type, "ingested_at": now},
                    first={"name": mention.name},
                    rank=rank,
                    union={"aliases": [mention.name, *mention.aliases]},
                ),
            )
        plan.edge(
            event_id,
            Rel.INVOLVES,
            entity,
            Merge(
                union={
                    "roles": [mention.role] if mention.role else [],
                    "names": [mention.name],
                    "stories": [story_node],
                }
            ),
        )

    # One REPORTS per outlet and story: reports of one outlet under two spellings pool claims.
    pooled: dict[str, tuple[int, str | None, list[tuple[str, str]]]] = {}
    for position, report in enumerate(event.reports):
        outlet = _outlet(plan, resolver, report.outlet, now)
        first, url, claims = pooled.get(outlet, (position, None, []))
        claims += [(c.text, c.tone) for c in report.claims if (c.text, c.tone) not in claims]
        pooled[outlet] = (first, url or report.url, claims)
    for outlet, (position, url, claims) in pooled.items():
        plan.edge(
            outlet,
            Rel.REPORTS,
            event_id,
            Merge(
                create={"story": story_node, "ingested_at": now},
                last={
                    "url": url,
                    "claim_texts": [text for text, _ in claims],
                    "claim_tones": [tone for _, tone in claims],
                    "story_published_on": (
                        moment_text(story.published_on) if story.published_on else None
                    ),
                    "extracted_at": extracted,
                    "position": position,
                },
                rank=rank,
            ),
            key=story_node,
        )


def _outlet(plan: _Plan, resolver: _Resolver, name: str, now: str) -> str:
    known = plan.outlets.get(name)
    if known is not None:  # resolved and written already: one key, so no merge since
        return resolver.find(known)
    outlet = plan.outlets[name] = resolver.resolve(keys.outlet_keys([name]), "ou")
    plan.node(
        outlet,
        Label.OUTLET,
        Merge(
            create={"name": name, "tier": "unknown", "group": None, "ingested_at": now},
            union={"aliases": [name]},
        ),
    )
    return outlet


def _plan_location(
    plan: _Plan, record: Record, event_id: str, story_node: str, rank: str, resolver: _Resolver
) -> dict[str, list[str]]:
    """The writes of a record's location; what the event's `union` adds for it."""
    location = record.event.location
    if location is None or not (location.place or location.country):
        return {}
    country_id = place_id = None
    if location.country:
        country_id = resolver.resolve([keys.country_key(location.country)], "pl")
        if not plan.seen(country_id, (location.country, "country"), rank):
            plan.node(country_id, Label.PLACE, _place_merge(location.country, "country", rank))
    if location.place:
        place_id = resolver.resolve([keys.place_key(location.place, location.country)], "pl")
        if not plan.seen(place_id, (location.place, "place"), rank):
            plan.node(place_id, Label.PLACE, _place_merge(location.place, "place", rank))
        if country_id is not None:
            plan.edge(place_id, Rel.IN_COUNTRY, country_id, _EMPTY)
    target = place_id or country_id
    assert target is not None
    plan.edge(
        event_id,
        Rel.OCCURRED_IN,
        target,
        Merge(minimum={"first_reported": rank}, union={"stories": [story_node]}),
    )
    return {
        "place_ids": [i for i in (place_id, country_id) if i is not None],
        "country_ids": [country_id] if country_id is not None else [],
    }


def _place_merge(name: str, kind: str, rank: str) -> Merge:
    values: dict[str, Value] = {"name": name}
    return Merge(create={"kind": kind}, first=values, rank=rank, union={"aliases": [name]})
