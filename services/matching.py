"""Which event a record without `event.id` describes: the event matcher (`graph.identity`)
against the events the store holds, for one ingest batch (see docs/identity.md).

- **Mentions in the graph** (`services.mentions`). Each record is one DESCRIBES relationship
  (story -> event); it keeps the record's mention (`mention`, JSON) and the matcher's
  decision (`identity`, JSON).
  An event's profile is a function of the set of its mentions, so it can be rebuilt from its
  DESCRIBES at any time: after a batch, a merge or a split (`profiling`).
- **Candidates.** An event owns a key `match:{blocking key}#{event id}` for each blocking key
  of its profile; a record looks candidates up by the prefixes of its lookup keys
  (`GraphStore.lookup_key_prefixes`), and the record key as the identity key
  `event:record:{record key}`, owned by the event that holds the record (a reload finds it).
- **In one batch** (`BatchMatcher`) records meet the events earlier records of the batch made
  or joined: an in-memory index of those events' blocking keys, beside the store's.
- **Derived in the write** (`profiling`): inside the write's transaction, each touched event's
  profile is rebuilt from its DESCRIBES, written (`identity_*`), and its matching keys made
  to follow it. An event this batch created whose lookup finds an event the planning did not
  see (a concurrent writer's) refuses the write: the batch is resolved again.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Final

from graph import keys
from graph.identity import (
    Decision,
    EventProfile,
    Mention,
    decide,
    decide_again,
    lookup_keys,
)
from graph.model import (
    Edge,
    Label,
    Node,
    NodeWrite,
    PropertyWrite,
    Props,
    Rel,
    WriteBatch,
)
from graph.store import GraphReader, GraphStore, WriteConflict
from services.mentions import (
    RECORD_BLOCK,
    encode,
    match_keys,
    mention_texts,
    mentions_of_edge,
    profile_of,
    record_keys,
    stored_profile,
)
from services.pins import PINS, corrected_profile

IDENTITY: Final = "identity"  # on DESCRIBES: the matcher's decision for the record, JSON
KEPT_APART: Final = "kept_apart"  # on Event: events editors said are other events
PROFILE_PROPS = tuple(EventProfile.from_props({}).to_props())  # identity_categories, ...
# records of one story extracted less than this apart are one extraction (one record per event)
SAME_EXTRACTION = timedelta(minutes=1)


# -- decisions -----------------------------------------------------------------------------------


def _finite(value: float) -> float | None:
    return round(value, 4) if math.isfinite(value) else None


def decision_json(decision: Decision, candidate: str | None = None) -> str:
    """The stored form of a decision, for editors (`Event.identity`): outcome, score, the
    candidate event, each feature's value, weight and contribution, and notes."""
    data = {
        "outcome": decision.outcome,
        "score": _finite(decision.score),
        "candidate": candidate if candidate is not None else decision.event,
        "candidates": decision.candidates,
        # (a zero is its own rounding: most features are zero for most records)
        "evidence": [
            {
                "feature": e.name,
                "value": round(e.value, 4) if e.value else e.value,
                "weight": round(e.weight, 4) if e.weight else e.weight,
                "contribution": round(e.contribution, 4) if e.contribution else e.contribution,
            }
            for e in decision.evidence
        ],
        "notes": list(decision.notes),
    }
    return encode(data)


SAME_RECORD = "same_record"


@dataclass
class Queued:
    """A possible duplicate: the new event a record made, and the event it may be."""

    event: str
    candidate: str
    decision: Decision


@dataclass
class BatchMatcher:
    """The matcher's decisions for the records of one batch, against the store's events and
    those the batch made or joined so far."""

    store: GraphStore
    find: Callable[[str], str] = lambda e: e
    profiles: dict[str, EventProfile] = field(default_factory=dict)
    apart: dict[str, frozenset[str]] = field(default_factory=dict)  # event -> kept apart
    seen: set[str] = field(default_factory=set)  # every event the planning looked at
    created: dict[str, list[Mention]] = field(default_factory=dict)  # new event -> mentions
    queued: list[Queued] = field(default_factory=list)
    _stored: set[str] = field(default_factory=set)  # prefixes looked up in the store
    # blocking key -> the stored events indexed under it and the batch's
    _index: dict[str, set[str]] = field(default_factory=dict)
    # (story, event) -> the times the story was extracted at, of its records in the event
    _extracted: dict[tuple[str, str], set[str]] = field(default_factory=dict)
    _read_extractions: set[str] = field(default_factory=set)  # stored events read for those
    # record key -> the record's blocking keys and their prefixes (`keys.match_prefix`)
    _blocks: dict[str, tuple[tuple[str, str], ...]] = field(default_factory=dict)
    # each event read: its profile properties as stored, and that profile
    _base: dict[str, tuple[dict[str, Any], EventProfile | None]] = field(default_factory=dict)
    # each event the batch's records joined: every mention the batch adds to it
    added: dict[str, list[Mention]] = field(default_factory=dict)
    # the store's `write_count()` before the candidates were looked up (None: it cannot tell)
    looked_up_at: int | None = None

    def blocks(self, m: Mention) -> tuple[tuple[str, str], ...]:
        """(blocking key, its lookup prefix) of each of `m`'s lookup keys but its record key,
        computed once per record (they follow from the record key's parts)."""
        record = m.record_key()
        found = self._blocks.get(record)
        if found is None:
            # `keys.match_prefix`, inline: "match:{block}#"
            found = self._blocks[record] = tuple(
                [(k, f"match:{k}#") for k in lookup_keys(m) if not k.startswith(RECORD_BLOCK)]
            )
        return found

    def prefixes(self, mentions: Iterable[Mention]) -> list[str]:
        return sorted({p for m in mentions for _, p in self.blocks(m)})

    def prepare(self, mentions: Sequence[Mention]) -> None:
        """Read, at once, every stored candidate of `mentions` and its profile."""
        self.looked_up_at = self.store.write_count()
        prefixes = [p for p in self.prefixes(mentions) if p not in self._stored]
        if not prefixes:
            return
        found = self.store.lookup_key_prefixes(prefixes)
        self._stored.update(prefixes)
        index = self._index
        for prefix, owners in found.items():
            if owners:  # "match:{block}#" (keys.match_prefix)
                index.setdefault(prefix[6:-1], set()).update(owners)
        self.read(sorted({o for owners in found.values() for o in owners}))

    def read(self, event_ids: Sequence[str]) -> None:
        """Read the profiles of these stored events (those not read yet)."""
        wanted = [e for e in event_ids if e not in self.profiles]
        for event_id, node in self.store.get_nodes(wanted).items():
            self.seen.add(event_id)
            profile = stored_profile(node.props)
            if profile is not None:
                self.profiles[event_id] = profile
            self._base[event_id] = (_profile_props(node.props), profile)
            self.apart[event_id] = frozenset(node.texts(KEPT_APART))

    def candidates(self, m: Mention) -> list[tuple[str, EventProfile]]:
        found: set[str] = set()
        index = self._index
        for block, _ in self.blocks(m):
            events = index.get(block)
            if events:
                found |= events
        find, profiles = self.find, self.profiles
        return [(e, profiles[e]) for e in sorted({find(e) for e in found}) if e in profiles]

    def decide(
        self, m: Mention, holder: str | None, extracted: str = ""
    ) -> tuple[Decision, str | None]:
        """The decision for `m` (extracted at `extracted`), and the event it joins (None: a
        new event). `holder` is the event that holds this very record already (a reload), if
        any. A record whose story a candidate event holds from another extraction (another
        `extracted_at`) is that story extracted again: it joins the event holding it, chosen
        by score among several (`decide_again`); from the same extraction, a candidate holding
        the story is another event of the story (a round-up's), left out by `decide`."""
        if holder is not None:
            holder = self.find(holder)
            self.read([holder])
            return Decision("merge", holder, math.inf, (), (), 1, (SAME_RECORD,)), holder
        candidates = self.candidates(m)
        self.seen.update(e for e, _ in candidates)
        holding = [(e, p) for e, p in candidates if m.story and m.story in p.stories]
        if holding and extracted:
            times = self.extractions(m.story, [e for e, _ in holding])
            again = [
                (e, p)
                for e, p in holding
                if times.get(e) and not _same_extraction(extracted, times[e])
            ]
            if again:
                decision = decide_again(m, again)
                return decision, decision.event
        apart: set[str] = set()
        for event_id, _ in holding:  # the story's event: not the others'
            apart |= self.apart.get(event_id, frozenset())
        decision = decide(m, candidates, apart=apart)
        if decision.outcome == "merge" and decision.event is not None:
            return decision, decision.event
        return decision, None

    def extractions(self, story: str, event_ids: Sequence[str]) -> dict[str, set[str]]:
        """When `story` was extracted, for each of `event_ids` holding it: the stored records'
        times (read once per event) and this batch's."""
        unread = [e for e in event_ids if e not in self._read_extractions and e not in self.created]
        if unread:
            self._read_extractions.update(unread)
            for event_id, edges in self.store.edges(unread, Rel.DESCRIBES, "in").items():
                for edge in edges:
                    for text in mention_texts(edge):
                        data = json.loads(text)
                        at = data.get("extracted_at") or edge.props.get("first_extracted_at")
                        if isinstance(at, str):
                            key = (str(data.get("story") or ""), self.find(event_id))
                            self._extracted.setdefault(key, set()).add(at)
        return {e: self._extracted.get((story, e), set()) for e in event_ids}

    def joined(self, m: Mention, event_id: str, decision: Decision, extracted: str = "") -> None:
        """Record that `m` (extracted at `extracted`) is now a record of `event_id` (new or
        not)."""
        self.seen.add(event_id)
        self.added.setdefault(event_id, []).append(m)
        if m.story and extracted:
            self.extractions(m.story, [event_id])  # the stored times first
            self._extracted.setdefault((m.story, event_id), set()).add(extracted)
        before = self.profiles.get(event_id)
        if before is not None and m.record_key() in before.records:
            return
        after = EventProfile.of(m) if before is None else before.with_mention(m)
        self.profiles[event_id] = after
        if before is None:
            self.created.setdefault(event_id, []).append(m)
            self.apart.setdefault(event_id, frozenset())
            if decision.outcome == "possible_duplicate" and decision.event is not None:
                self.queued.append(Queued(event_id, decision.event, decision))
        for block in after.keys_added(before):
            if not block.startswith(RECORD_BLOCK):
                self._index.setdefault(block, set()).add(event_id)

    def planned(self) -> dict[str, Planned]:
        """Each event the batch's records joined, as the planning saw it: its stored profile
        properties and profile (all None for an event the batch made), and its profile once
        every mention of the batch has joined (`EventProfile.with_mention` in any order: what
        `profile_of` makes of the same set; the one `joined` made)."""
        found: dict[str, Planned] = {}
        for event_id, mentions in self.added.items():
            props, before = self._base.get(event_id, (_NO_PROFILE, None))
            after = self.profiles.get(event_id)  # each mention joined it (`joined`)
            if after is None:
                after = before
                for m in mentions:
                    after = EventProfile.of(m) if after is None else after.with_mention(m)
            found[event_id] = Planned(props, before, after, [m.record_key() for m in mentions])
        return found


_NO_PROFILE: Final[dict[str, Any]] = dict.fromkeys(PROFILE_PROPS)


def _profile_props(props: Props) -> dict[str, Any]:
    """An event's stored profile properties (None where it has none)."""
    return {name: props.get(name) for name in PROFILE_PROPS}


@dataclass(frozen=True)
class Planned:
    """An event's profile before and after a batch, as the batch's planning saw it."""

    props: dict[str, Any]  # its stored profile properties, as read (all None: none)
    before: EventProfile | None
    after: EventProfile | None
    records: list[str]  # the record keys of the batch's mentions


def _same_extraction(extracted: str, times: Iterable[str]) -> bool:
    """Whether a record extracted at `extracted` comes from the same extraction of its story as
    a record extracted at one of `times`: within `SAME_EXTRACTION` of it (an extractor emits the
    records of one extraction milliseconds apart; a re-extraction is a later run)."""
    moment = _moment(extracted)
    return any(abs(moment - _moment(t)) < SAME_EXTRACTION for t in times)


def _moment(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def _blocks(m: Mention) -> list[str]:
    return [k for k in lookup_keys(m) if not k.startswith(RECORD_BLOCK)]


# -- the derive step -----------------------------------------------------------------------------


def profiling(
    event_ids: Sequence[str],
    created: Mapping[str, Sequence[Mention]] | None = None,
    seen: Iterable[str] = (),
    prefixes: Callable[[], Sequence[str]] | None = None,
    planned: Mapping[str, Planned] | None = None,
    looked_up_at: int | None = None,
) -> Callable[[GraphReader], WriteBatch]:
    """The `derive` step that rebuilds the profiles of `event_ids` from their DESCRIBES as the
    write's transaction sees them, writes them (`identity_*`) and makes each event own the
    matching keys and record keys of its profile (and no stale ones).

    `created`: the events this batch made, with their records' mentions (`prefixes`: their
    lookup prefixes, if known). If a lookup by those mentions now finds an event outside `seen`
    (the events the planning knew), another writer made it meanwhile: `WriteConflict`, and the
    batch is resolved again. `looked_up_at`: the store's `write_count()` when the planning
    looked its candidates up; the same count in the write means no writer came in between (no
    lookup needed).

    `planned`: the profiles the planning made (`BatchMatcher.planned`); an event whose stored
    profile is still the one the planning read takes its planned profile instead of one rebuilt
    from every mention of its DESCRIBES (the same profile: it is a function of the set)."""
    known = set(seen)
    made = dict(created or {})

    def derive(graph: GraphReader) -> WriteBatch:
        unchanged = looked_up_at is not None and graph.write_count() == looked_up_at
        if made and not unchanged:
            wanted = prefixes() if prefixes is not None else None
            if wanted is None:
                wanted = sorted(
                    {keys.match_prefix(k) for ms in made.values() for m in ms for k in _blocks(m)}
                )
            found = graph.lookup_key_prefixes(wanted)
            others = {o for owners in found.values() for o in owners} - known - made.keys()
            if others:
                raise WriteConflict(f"events made meanwhile by another writer: {sorted(others)}")
        return reprofile(graph, event_ids, planned)

    return derive


def reprofile(
    graph: GraphReader, event_ids: Sequence[str], planned: Mapping[str, Planned] | None = None
) -> WriteBatch:
    """The writes that bring the profiles and matching keys of `event_ids` in line with their
    DESCRIBES (see `profiling`). An event of `planned` whose stored profile properties are
    those the planning read takes its planned profile (the profile of its stored mentions and
    the batch's, without decoding them again); the others are rebuilt from their DESCRIBES."""
    batch = WriteBatch()
    ids = sorted(set(event_ids))
    if not ids:
        return batch
    nodes = graph.get_nodes(ids)
    planned = planned or {}
    fast: dict[str, Planned] = {}
    for event_id in ids:
        plan = planned.get(event_id)
        node = nodes.get(event_id)
        if plan is not None and node is not None and _profile_props(node.props) == plan.props:
            fast[event_id] = plan
    rebuilt = [i for i in ids if i in nodes and i not in fast]
    described = graph.edges(rebuilt, Rel.DESCRIBES, "in") if rebuilt else {}
    wanted_records: dict[str, str] = {}
    for event_id in ids:
        node = nodes.get(event_id)
        if node is None or node.label is not Label.EVENT:
            continue
        plan = fast.get(event_id)
        if plan is not None:
            before, profile = plan.before, plan.after
        else:
            mentions = [m for e in described.get(event_id, ()) for m in mentions_of_edge(e)]
            profile = profile_of(mentions)
            before = stored_profile(node.props)
        if node.props.get(PINS):  # an editor's corrections: the matcher reads them
            fixed = corrected_profile(graph, node, profile)
            if fixed != profile:
                profile, plan = fixed, None  # (not grown from `before`: every key compared)
        if profile is None and before is None:
            continue
        if plan is not None:  # grown from `before` by the batch's mentions: keys only added
            old = set()
            new = match_keys(profile, event_id, before) if profile is not None else set()
        else:
            old = match_keys(before, event_id) if before is not None else set()
            new = match_keys(profile, event_id) if profile is not None else set()
        for key in sorted(new - old):
            batch.keys[key] = event_id
        for key in sorted(old - new):
            batch.rekeys[key] = None
        if before is None or before != profile:  # (equal profiles: equal properties)
            props = (profile or EventProfile.from_props({})).to_props()
            batch.nodes.append(NodeWrite(event_id, Label.EVENT, PropertyWrite(set=dict(props))))
        if plan is not None:  # the stored records' keys are the event's already
            records = [keys.event_record_key(r) for r in plan.records]
            wanted_records.update(dict.fromkeys(records, event_id))
        elif profile is not None:
            wanted_records.update(dict.fromkeys(record_keys(profile), event_id))
    if wanted_records:
        owners = graph.lookup_keys(sorted(wanted_records))
        for key, event_id in wanted_records.items():
            owner = owners.get(key)
            if owner is None:
                batch.keys[key] = event_id
            elif owner != event_id:
                batch.rekeys[key] = event_id
    return batch


def decisions(edges: Sequence[Edge]) -> list[tuple[Edge, dict[str, Any]]]:
    """The matcher's decisions kept on an event's DESCRIBES, each with its relationship."""
    found = []
    for edge in edges:
        text = edge.props.get(IDENTITY)
        if isinstance(text, str) and text:
            found.append((edge, json.loads(text)))
    return found


def node_apart(node: Node) -> list[str]:
    return node.texts(KEPT_APART)
