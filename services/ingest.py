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
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Literal

from graph import keys
from graph.confidence import Policy, current_policy
from graph.history import LevelChange, Why, edit
from graph.identity import Mention
from graph.model import (
    RETRACTED_ON,
    Label,
    NodeWrite,
    PropertyWrite,
    Rel,
    WriteBatch,
    timestamp,
)
from graph.store import MATCH, EventFilter, GraphReader, GraphStore
from loaders.records import Record, Retraction
from services.conflicts import checked, resolving_again
from services.matching import (
    IDENTITY,
    SAME_RECORD,
    BatchMatcher,
    Queued,
    decision_json,
    profiling,
)
from services.mentions import MENTION, mention_json, mention_of
from services.merging import merge_nodes, redirect
from services.pins import repin
from services.places import locate, place_events, plan_location
from services.plan import EMPTY, WritePlan
from services.rating import rating
from services.replacement import MARKS, Hiding, mark, replaced
from services.resolve import Resolver

Outcome = Literal["created", "merged"]

# Counted up to: past it, two entities weigh the same and the first owned key decides.
INVOLVEMENTS_CAP = 1 << 30


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
        self.possible_duplicates = 0  # pairs queued for editors by the writes committed
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
        names = Resolver(self.store.lookup_keys(_name_keys(records, mentions)), self._involvements)
        names.merged.update(merge or {})
        # Every mention first, so merges it reveals are known before events are fingerprinted.
        for identities in mentions:
            for said in identities:
                names.resolve(said, "en")
        absorbed = self._stored(names.merged)
        affected = self._affected_events(absorbed, names)
        forced = forced or {}
        # Records without `event.id` (and not forced into an event) go through the matcher.
        matched: dict[int, Mention] = {
            i: mention_of(record)
            for i, (line, record) in enumerate(records)
            if record.event.id is None and line not in forced
        }
        event_keys = [
            _event_identity(record, matched.get(i)) for i, (_, record) in enumerate(records)
        ]
        wanted = [k for ks in event_keys for k in ks] + [k for k, _ in affected.values()]
        events = Resolver(self.store.lookup_keys(wanted))
        for event_id, (key, _) in sorted(affected.items()):
            events.resolve([key], "ev", current=event_id)
        matcher = BatchMatcher(self.store, events.find)
        matcher.prepare(list(matched.values()))
        plan = WritePlan()
        results: list[Ingested] = []
        seen: set[str] = set()
        matched_events: set[str] = set()
        for i, ((line, record), identity, identities) in enumerate(
            zip(records, event_keys, mentions, strict=True)
        ):
            mention = matched.get(i)
            decided: str | None = None
            if line in forced:
                event_id = forced[line]
            elif mention is not None:
                extracted = timestamp(record.extracted_at)
                decision, target = matcher.decide(mention, events.owner(identity[0]), extracted)
                event_id = events.resolve(identity, "ev", current=target)
                matcher.joined(mention, event_id, decision, extracted)
                matched_events.add(event_id)
                # a record loaded again keeps the decision that placed it
                decided = None if SAME_RECORD in decision.notes else decision_json(decision)
            else:
                event_id = events.resolve(identity, "ev")
            _plan_record(plan, record, event_id, names, now, identities, mention, decided)
            results.append(Ingested(line, event_id, "created"))
        stale = {k for _, keys_left in affected.values() for k in keys_left}
        absorbed_events = self._stored(events.merged)
        if absorbed_events:  # their matching keys go: the survivor's profile makes its own
            owned = self.store.keys_of(absorbed_events)
            stale |= {k for ks in owned.values() for k in ks if k.startswith(MATCH)}
        batch = plan.batch
        merge_nodes(self.store, batch, absorbed, Label.ENTITY, names.find, stale, why, now)
        merge_nodes(self.store, batch, absorbed_events, Label.EVENT, events.find, stale, why, now)
        plan.batch.rekeys.update(dict.fromkeys(stale - plan.batch.rekeys.keys()))

        def find(node: str) -> str:
            return names.find(events.find(node))

        if names.merged or events.merged:
            redirect(plan.batch, find)
        plan.batch.keys.update(names.final_claims())
        plan.batch.keys.update(events.final_claims())
        for queued in matcher.queued:
            plan.batch.nodes.append(_possible_duplicate(queued, find, why, now))
        final = []
        for result in results:
            event_id = events.find(result.event_id)
            created = event_id in events.created and event_id not in seen
            seen.add(event_id)
            final.append(Ingested(result.line, event_id, "created" if created else "merged"))
        touched = seen | {events.find(e) for e in affected}
        profiled = {find(e) for e in matched_events} | {find(e) for e in absorbed_events}
        made = {find(e): ms for e, ms in matcher.created.items()}
        reprofiled = profiling(
            sorted(profiled),
            made,
            {find(e) for e in matcher.seen} | touched,
            lambda: matcher.prefixes(m for ms in made.values() for m in ms),
            # when no event merged, the planning's profiles are the events' (else rebuilt)
            matcher.planned() if not events.merged and not absorbed_events else None,
            matcher.looked_up_at,
        )
        claims = dict(plan.batch.keys)
        details: dict[str, list[str]] = {}
        for (line, record), result in zip(records, final, strict=True):
            story = record.source_story
            details.setdefault(result.event_id, []).append(
                f"line {line}: {story.outlet} story {story.slug}"
            )
        changes: list[LevelChange] = []
        # a load says which records; an approval or a merge says it in `why`
        which = {e: "; ".join(lines[:5]) for e, lines in details.items()}
        detail_of: dict[str, str] = dict(which) if why.cause == "report" else {}
        derive = rating(sorted(touched), self.policy(), why, now, changes, detail_of)
        described = [(w.src, w.dst) for w in plan.batch.edges if w.type is Rel.DESCRIBES]
        plan.batch.nodes.extend(lock)

        def guarded(graph: GraphReader) -> WriteBatch:
            if guard is not None:
                guard(graph)
            profiles = reprofiled(graph)
            # a story extracted again: what its latest extraction no longer names goes
            replacing = replaced(graph, described)
            for event_id, dropped in replacing.dropped.items():
                before = which.get(event_id) if why.cause == "report" else None
                detail_of[event_id] = "; ".join(x for x in (before, *dropped) if x)
            hidden = Hiding(graph, replacing.batch.unlinks, replacing.firsts)
            derived = derive(hidden)
            derived.unlinks += replacing.batch.unlinks
            derived.deletes += replacing.batch.deletes
            derived.edges += replacing.batch.edges
            derived.nodes += replacing.batch.nodes
            derived.nodes.extend(place_events(hidden, sorted(touched)))
            derived.nodes.extend(profiles.nodes)
            derived.keys.update(profiles.keys)
            derived.rekeys.update(profiles.rekeys)
            derived.nodes.extend(also)
            # editors' corrections stand, over the values a re-extraction gives back too
            derived.nodes.extend(repin(hidden, sorted(touched)))
            return derived

        plan.batch.created = [r.event_id for r in final if r.outcome == "created"]
        self.store.write(plan.batch, derive=checked(claims, guarded))
        self.merges += [(old, find(old)) for old in (*absorbed, *absorbed_events)]
        self.possible_duplicates += len(matcher.queued)
        self.changes += changes
        return final

    def _involvements(self, ids: Sequence[str]) -> dict[str, int]:
        """How many stored events involve each of `ids`: what merging it away would move."""
        return {i: self.store.count_events(EventFilter(entity=i), INVOLVEMENTS_CAP) for i in ids}

    def _stored(self, merged: dict[str, str]) -> list[str]:
        """The merged-away nodes that exist in the store (not just in this batch)."""
        return sorted(self.store.get_nodes(sorted(merged)))

    def _affected_events(
        self, absorbed: list[str], names: Resolver
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
            if not any(k.startswith("event:participants:") for k in owned[event_id]):
                continue  # an event of the matcher or of an id: no participants fingerprint
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


def _names_any(key: str, ids: set[str]) -> bool:
    """Whether a participants fingerprint names any of `ids`."""
    if not key.startswith("event:participants:"):
        return False
    return any(i in ids for i in key.rsplit(":", 1)[-1].split(","))


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
        located = locate(event.location)
        if located is not None:
            found += [*located.country_keys, *located.place_keys]
    return found


def _event_identity(record: Record, mention: Mention | None) -> list[str]:
    """The identity key of a record's event (see docs/identity.md). The one place deciding
    which event a record reports, with `services.matching`:
    - a record with `event.id`: the event owning `event:id:{id}` (the extractor's id is
      trusted), else a new one;
    - a record without (its `mention`): the event owning its record key (the same record,
      loaded again), else the event the matcher chooses (`BatchMatcher.decide`), else a new
      one whose id derives from the record key;
    - a record forced into an event (an approved submission): none."""
    event = record.event
    if event.id is not None:
        return [keys.event_external_key(event.id)]
    if mention is None:
        return []  # forced into an event (an approved submission): no identity of its own
    return [keys.event_record_key(mention.record_key())]


def _possible_duplicate(queued: Queued, find: Callable[[str], str], why: Why, at: str) -> NodeWrite:
    """The editorial log's entry for a possible duplicate: pending until an editor merges the
    two events or keeps them apart."""
    event, other = find(queued.event), find(queued.candidate)
    decision = queued.decision
    detail = f"possible duplicate of {other}: {decision.explain()}"
    return edit(
        "possible-duplicate",
        at,
        Why(why.cause, detail, why.by),
        event,
        other=other,
        score=f"{decision.score:.4f}",
        evidence=decision_json(decision, other),
        status="pending",
    )


def _plan_record(
    plan: WritePlan,
    record: Record,
    event_id: str,
    resolver: Resolver,
    now: str,
    identities: Sequence[tuple[str, ...]],
    matched: Mention | None = None,
    decided: str | None = None,
) -> None:
    """The writes of one record whose event is `event_id`; `identities`: the keys of its
    entity mentions; `matched` and `decided`: for a record the matcher placed, its mention
    and the decision (JSON), kept on its DESCRIBES."""
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
        PropertyWrite(
            create={"slug": story.slug, "ingested_at": now},
            last={
                "url": story.url,
                "published_on": moment_text(story.published_on) if story.published_on else None,
            },
            rank=rank,
        ),
    )
    plan.edge(story_outlet, Rel.PUBLISHED, story_node, EMPTY)

    occurred = moment_text(event.occurred_on)
    located, point = _plan_location(plan, record, event_id, story_node, rank, resolver)
    plan.node(
        event_id,
        Label.EVENT,
        PropertyWrite(
            create={"ingested_at": now},
            first={
                "category": event.category,
                "summary": event.summary,
                "occurred_on": occurred,
                "lat": point[0] if point else None,
                "lon": point[1] if point else None,
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
        PropertyWrite(
            create={"ingested_at": now},
            last={"summary": event.summary, "category": event.category, "occurred_on": occurred}
            | ({IDENTITY: decided} if decided is not None else {}),
            rank=rank,
            union={MENTION: [mention_json(matched, record)]} if matched is not None else {},
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
                PropertyWrite(
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
            PropertyWrite(
                union={
                    "roles": [mention.role] if mention.role else [],
                    "names": [mention.name],
                    "stories": [story_node],
                    MARKS: [mark(story_node, extracted)],
                }
            ),
        )

    # One REPORTS per outlet and story: reports of one outlet under two spellings pool claims.
    pooled: dict[str, tuple[int, str | None, list[tuple[str, str]]]] = {}
    retracted: dict[str, Retraction] = {}
    for position, report in enumerate(event.reports):
        outlet = _outlet(plan, resolver, report.outlet, now)
        if report.retracted is not None:  # docs/editorial.md, "Retractions"
            retracted.setdefault(outlet, report.retracted)
        first, url, claims = pooled.get(outlet, (position, None, []))
        claims += [(c.text, c.tone) for c in report.claims if (c.text, c.tone) not in claims]
        pooled[outlet] = (first, url or report.url, claims)
    for outlet, (position, url, claims) in pooled.items():
        plan.edge(
            outlet,
            Rel.REPORTS,
            event_id,
            PropertyWrite(
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
            discriminator=story_node,
        )
        if outlet in retracted:  # after the report's own write, whose `create` comes first
            plan.edge(
                outlet,
                Rel.REPORTS,
                event_id,
                retraction(retracted[outlet].on, retracted[outlet].reason),
                story_node,
            )


def retraction(on: date, reason: str | None, by: str = "extractor") -> PropertyWrite:
    """The write that marks a report retracted (`graph.model.RULES`: the earliest date, every
    reason and who said it stand until an editor undoes them)."""
    reasons = [reason] if reason else []
    return PropertyWrite(
        minimum={RETRACTED_ON: moment_text(on)},
        union={"retraction_reasons": reasons, "retracted_by": [by]},
    )


def _outlet(plan: WritePlan, resolver: Resolver, name: str, now: str) -> str:
    known = plan.outlets.get(name)
    if known is not None:  # resolved and written already: one key, so no merge since
        return resolver.find(known)
    outlet = plan.outlets[name] = resolver.resolve(keys.outlet_keys([name]), "ou")
    plan.node(
        outlet,
        Label.OUTLET,
        PropertyWrite(
            create={"name": name, "tier": "unknown", "group": None, "ingested_at": now},
            union={"aliases": [name]},
        ),
    )
    return outlet


def _plan_location(
    plan: WritePlan, record: Record, event_id: str, story_node: str, rank: str, resolver: Resolver
) -> tuple[dict[str, list[str]], tuple[float, float] | None]:
    """The writes of a record's location (services.places); what the event's `union` adds for
    it, and the record's point (swapped back when the gazetteer says it was swapped)."""
    location = record.event.location
    located = locate(location)
    # the extraction that named it: the rank starts with it (services.replacement)
    marks = {MARKS: [mark(story_node, rank.partition("|")[0])]}
    union = plan_location(plan, located, event_id, story_node, rank, resolver, location, marks)
    return union, located.check.point if located is not None else None
