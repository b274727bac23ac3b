"""Editors correcting the event matcher: merging two events that are one (`merge_events`),
splitting stories out of an event into a new one (`split_event`), keeping two events apart for
good (`keep_apart`), and undoing any of these (`undo`). See docs/editorial.md.

Each is one atomic write, on both stores, logged as an `Edit` node whose properties hold what
undoing it needs. Inside the write, the events changed get their matcher profile and keys
rebuilt from their DESCRIBES (`services.matching.reprofile`, so a reload of a record finds the
event now holding it) and are re-rated (`services.rating.rating`, which writes each change of
level to the event's confidence history). Access control is the API's business.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from graph import keys
from graph.confidence import current_policy
from graph.history import HISTORY, LevelChange, Why, edit
from graph.model import (
    FIRST_RANK,
    Edge,
    EdgeId,
    EdgeWrite,
    Label,
    Node,
    NodeWrite,
    PropertyWrite,
    Props,
    Rel,
    Value,
    WriteBatch,
    strings,
)
from graph.store import MATCH, GraphReader, GraphStore
from services.conflicts import resolving_again
from services.corrections import Corrections
from services.editing import EditorialError, EditorialWork, events_still_there
from services.matching import KEPT_APART, PROFILE_PROPS, reprofile
from services.merging import merge_nodes
from services.pins import PINS, Pin, repin
from services.places import CORRECTED, place_events
from services.rating import rating
from services.replacement import FIRSTS, MARKS, firsts_of, marked_story

POSSIBLE_DUPLICATE = "possible-duplicate"
UNDOABLE = "mergeEvents, splitEvent, keepApart, retractReport, correctEvent and correctLocation"
UNIONS = ("external_ids", "place_ids", "country_ids")
BOUNDS = ("first_extracted_at", "last_extracted_at", "ingested_at")
SPLIT_RELS = (Rel.INVOLVES, Rel.OCCURRED_IN)  # an event's, shared out by their `stories`


@dataclass
class EventEditing(EditorialWork):
    """The editorial actions on events of `store`, each by `by` (an editor's or admin's name)."""

    # -- merge ---------------------------------------------------------------------------------

    def merge_events(self, old: str, into: str, by: str) -> Node:
        """Merge event `old` into `into` (an editor says they are one): its relationships, keys
        and properties move by the loader's merge rules, `old` is deleted, `into` re-profiled
        and re-rated. Returns the log entry (`undo` takes its id)."""
        if old == into:
            raise EditorialError("into: the same event as from")
        return resolving_again(lambda: self._merge(old, into, by))

    def _merge(self, old: str, into: str, by: str) -> Node:
        gone = self._event(old, "from")
        kept = self._event(into, "into")
        if into in gone.texts(KEPT_APART) or old in kept.texts(KEPT_APART):
            raise EditorialError(
                f"into: events {old} and {into} are kept apart; undo that keepApart first"
            )
        at = self._stamp()
        why = Why("merge", f"event {old} ({gone.text('summary')}) merged into {into}", by)
        batch = WriteBatch()
        stale = {k for k in self.store.keys_of([old])[old] if k.startswith(MATCH)}
        merge_nodes(self.store, batch, [old], Label.EVENT, _to(old, into), stale, why, at)
        (entry,) = [w for w in batch.nodes if w.label is Label.EDIT]
        # Events kept apart from `old` are now kept apart from `into`.
        rewritten: dict[str, list[str]] = {}
        others = self.store.get_nodes(sorted(set(gone.texts(KEPT_APART)) - {into}))
        for other in others.values():
            rewritten[other.id] = other.texts(KEPT_APART)
            apart = sorted((set(other.texts(KEPT_APART)) - {old}) | {into})
            batch.nodes.append(_set(other.id, {KEPT_APART: apart}))
        resolved = self._resolve_pairs(batch, old, into, "merged", entry.id, by, at)
        extra = {"resolved": json.dumps(resolved), "apart_before": _dumps(rewritten)}
        batch.nodes.append(NodeWrite(entry.id, Label.EDIT, PropertyWrite(set=extra)))
        self._write(batch, [into], why, at, events_still_there([into]))
        return self._node(entry.id)

    # -- split ---------------------------------------------------------------------------------

    def split_event(
        self, event_id: str, story_ids: Sequence[str], by: str
    ) -> tuple[Node, Node, Node]:
        """Move the stories `story_ids` of `event_id` (their DESCRIBES and REPORTS, and the
        involvements and places only they gave) to a new event, kept apart from it. Both are
        re-profiled and re-rated. Returns (the event, the new event, the log entry)."""
        return resolving_again(lambda: self._split(event_id, story_ids, by))

    def _split(self, event_id: str, story_ids: Sequence[str], by: str) -> tuple[Node, Node, Node]:
        node = self._event(event_id, "eventId")
        chosen = sorted(set(story_ids))
        if not chosen:
            raise EditorialError("storyIds: name at least one story to split out")
        described = {e.src: e for e in self.store.edges([event_id], Rel.DESCRIBES, "in")[event_id]}
        unknown = [s for s in chosen if s not in described]
        if unknown:
            raise EditorialError(f"storyIds: event {event_id} holds no story '{unknown[0]}'")
        if set(chosen) >= described.keys():
            raise EditorialError(
                f"storyIds: these are all of event {event_id}'s stories; nothing would remain"
            )
        new_id = keys.node_id("ev", f"split:{event_id}:{','.join(chosen)}")
        if self.store.get_nodes([new_id]):
            raise EditorialError(f"storyIds: these stories were split out already, as {new_id}")
        at = self._stamp()
        titles = ", ".join(self._slugs(chosen))
        why = Why("split", f"stories {titles} split out of event {event_id} into {new_id}", by)
        batch = WriteBatch()
        moving = set(chosen)
        moved = [described[s] for s in chosen]
        staying = [e for s, e in described.items() if s not in moving]
        for e in moved:
            _move(batch, e, e.src, new_id)
        for e in self.store.edges([event_id], Rel.REPORTS, "in")[event_id]:
            if e.discriminator in moving:
                _move(batch, e, e.src, new_id)
        places: dict[str, list[str]] = {event_id: [], new_id: []}
        for rel in SPLIT_RELS:
            for e in self.store.edges([event_id], rel, "out")[event_id]:
                stories = e.texts("stories")
                theirs = [s for s in stories if s in moving]
                rest = [s for s in stories if s not in moving]
                if rel is Rel.OCCURRED_IN:
                    places[event_id if rest or not theirs else new_id].append(e.dst)
                    if rest and theirs:
                        places[new_id].append(e.dst)
                if not theirs:
                    continue
                props = {**e.props, "stories": theirs}
                rest_props: dict[str, Value] = {"stories": rest}
                if MARKS in e.props:  # each side keeps its stories' extraction marks
                    marks = e.texts(MARKS)
                    props[MARKS] = [m for m in marks if marked_story(m) in theirs]
                    rest_props[MARKS] = [m for m in marks if marked_story(m) in rest]
                write = PropertyWrite(create=props)
                batch.edges.append(EdgeWrite(new_id, rel, e.dst, e.discriminator, write))
                if rest:
                    batch.edges.append(
                        EdgeWrite(
                            event_id,
                            rel,
                            e.dst,
                            e.discriminator,
                            PropertyWrite(set=rest_props),
                        )
                    )
                else:
                    batch.unlinks.append((event_id, rel, e.dst, e.discriminator))
        place_ids, country_ids = self._places(places)
        created: dict[str, Value] = {
            **firsts_of(moved, node),
            **_bounds(moved),
            "external_ids": [],
            "place_ids": place_ids[new_id],
            "country_ids": country_ids[new_id],
            KEPT_APART: [event_id],
        }
        batch.nodes.append(NodeWrite(new_id, Label.EVENT, PropertyWrite(create=created)))
        batch.created.append(new_id)
        redirect = keys.merged_key(new_id)
        if self.store.lookup_keys([redirect]):  # split before, and undone: its id is its own
            batch.rekeys[redirect] = None
        left: dict[str, Value] = {
            "place_ids": place_ids[event_id],
            "country_ids": country_ids[event_id],
            **{k: v for k, v in _bounds(staying).items() if k != "ingested_at"},
        }
        firsts = firsts_of(staying, node)
        if firsts[FIRST_RANK] != node.text(FIRST_RANK):
            left.update(firsts)  # the values the event had came from a story split out
        batch.nodes.append(_set(event_id, left))
        batch.nodes.append(
            NodeWrite(event_id, Label.EVENT, PropertyWrite(union={KEPT_APART: [new_id]}))
        )
        logged = edit("split-event", at, why, event_id, created=new_id, stories=json.dumps(chosen))
        batch.nodes.append(logged)
        self._write(batch, [event_id, new_id], why, at, events_still_there([event_id]))
        nodes = self.store.get_nodes([event_id, new_id, logged.id])
        return nodes[event_id], nodes[new_id], nodes[logged.id]

    def _places(
        self, places: Mapping[str, Sequence[str]]
    ) -> tuple[dict[str, list[str]], dict[str, list[str]]]:
        """For each event, its `place_ids` and `country_ids` as the loader writes them, from the
        places it occurred in."""
        targets = sorted({p for ps in places.values() for p in ps})
        nodes = self.store.get_nodes(targets)
        countries = self.store.edges(targets, Rel.IN_COUNTRY, "out")
        place_ids: dict[str, list[str]] = {}
        country_ids: dict[str, list[str]] = {}
        for event_id, found in places.items():
            ids: set[str] = set()
            within: set[str] = set()
            for place in found:
                ids.add(place)
                node = nodes.get(place)
                if node is not None and node.text("kind") == "country":
                    within.add(place)
                within.update(e.dst for e in countries.get(place, []))
            place_ids[event_id] = sorted(ids | within)
            country_ids[event_id] = sorted(within)
        return place_ids, country_ids

    # -- keep apart ----------------------------------------------------------------------------

    def keep_apart(self, a: str, b: str, by: str) -> Node:
        """Remember that events `a` and `b` are two events, so that no reload or later record
        merges them (`kept_apart` on both, read by the matcher). Resolves a pending possible
        duplicate of the pair. Returns the log entry."""
        if a == b:
            raise EditorialError("eventB: the same event as eventA")
        return resolving_again(lambda: self._keep_apart(a, b, by))

    def _keep_apart(self, a: str, b: str, by: str) -> Node:
        first = self._event(a, "eventA")
        self._event(b, "eventB")
        if b in first.texts(KEPT_APART):
            raise EditorialError(f"eventB: events {a} and {b} are kept apart already")
        at = self._stamp()
        why = Why("review", f"events {a} and {b} kept apart", by)
        batch = WriteBatch()
        for one, other in ((a, b), (b, a)):
            batch.nodes.append(
                NodeWrite(one, Label.EVENT, PropertyWrite(union={KEPT_APART: [other]}))
            )
        logged = edit("keep-apart", at, why, a, other=b)
        resolved = self._resolve_pairs(batch, a, b, "kept-apart", logged.id, by, at)
        batch.nodes.append(logged)
        batch.nodes.append(
            NodeWrite(logged.id, Label.EDIT, PropertyWrite(set={"resolved": json.dumps(resolved)}))
        )
        self.store.write(batch, derive=events_still_there([a, b]))
        return self._node(logged.id)

    # -- undo ----------------------------------------------------------------------------------

    def undo(self, edit_id: str, by: str) -> tuple[Node, list[Node]]:
        """Undo the logged event merge, event split or keep-apart `edit_id`. Returns the log
        entry of the undo and the events it changed."""
        return resolving_again(lambda: self._undo(edit_id, by))

    def _undo(self, edit_id: str, by: str) -> tuple[Node, list[Node]]:
        entry = self.store.get_nodes([edit_id]).get(edit_id)
        if entry is None or entry.label is not Label.EDIT:
            raise EditorialError(f"editId: no edit with id '{edit_id}' in the editorial log")
        action = entry.text("action")
        if entry.text("undone_at"):
            raise EditorialError(
                f"editId: {edit_id} was undone already, by {entry.text('undone_by')} "
                f"at {entry.text('undone_at')}"
            )
        if action == "merge" and entry.text("label") == Label.EVENT.value:
            return self._unmerge(entry, by)
        if action == "split-event":
            return self._unsplit(entry, by)
        if action == "keep-apart":
            return self._unapart(entry, by)
        if action in ("retract", "correct"):
            return Corrections(self.store, self.now, self.changes).undo(entry, by)
        what = f"{action} of an entity (splitEntity undoes it)" if action == "merge" else action
        raise EditorialError(f"editId: {edit_id} is a {what}; undoEdit undoes {UNDOABLE}")

    def _unmerge(self, entry: Node, by: str) -> tuple[Node, list[Node]]:
        merged: dict[str, Any] = json.loads(entry.text("merged_state"))
        before: dict[str, Any] = json.loads(entry.text("survivor_state"))
        old, survivor = str(merged["id"]), str(before["id"])
        current = self.store.get_nodes([old, survivor])
        if old in current:
            raise EditorialError(f"editId: event {old} exists again; nothing to undo")
        kept = current.get(survivor)
        if kept is None:
            raise EditorialError(f"editId: event {survivor} is gone since{self._gone(survivor)}")
        self._nothing_since(entry, [survivor])
        at = self._stamp()
        why = Why("split", f"merge {entry.id} undone: event {old} restored from {survivor}", by)
        batch = WriteBatch()
        old_props: dict[str, Value] = merged["props"]
        was: dict[str, Value] = before["props"]
        restored = {k: v for k, v in old_props.items() if k not in PROFILE_PROPS}
        batch.nodes.append(NodeWrite(old, Label.EVENT, PropertyWrite(create=restored)))
        unmerged = _unmerged_props(kept.props, old_props, was, old)
        unmerged.update(_unmerged_pins(kept.props, old_props, was))
        batch.nodes.append(_set(survivor, unmerged))
        # Relationships: `old`'s come back to it; those both had get the survivor's again.
        swap = _to(old, survivor)
        theirs = {(swap(s), Rel(r), swap(d), str(k)) for s, r, d, k, _ in merged["edges"]}
        own = {(str(s), Rel(r), str(d), str(k)): p for s, r, d, k, p in before.get("edges", [])}
        ends = self.store.get_nodes(
            sorted({str(n) for s, _, d, _, _ in merged["edges"] for n in (s, d)} - {old})
        )
        for ident in sorted(theirs & set(_edge_ids(self.store, survivor))):
            batch.unlinks.append(ident)
            if ident in own:
                batch.edges.append(EdgeWrite(*ident, PropertyWrite(create=own[ident])))
        for s, r, d, k, props in merged["edges"]:
            if (s == old or s in ends) and (d == old or d in ends):
                batch.edges.append(EdgeWrite(s, Rel(r), d, k, PropertyWrite(create=props)))
        owned = self.store.keys_of([survivor])[survivor]
        for key in merged["keys"]:
            if key in owned and not key.startswith(MATCH):
                batch.rekeys[key] = old
        batch.rekeys[keys.merged_key(old)] = None  # its id is its own again
        # Events kept apart from `old` before the merge are again.
        apart_before: dict[str, list[str]] = json.loads(entry.text("apart_before") or "{}")
        others = self.store.get_nodes(sorted(apart_before))
        for other in others.values():
            apart = set(other.texts(KEPT_APART)) | {old}
            if survivor not in apart_before[other.id]:
                apart.discard(survivor)
            batch.nodes.append(_set(other.id, {KEPT_APART: sorted(apart)}))
        self._reopen(batch, entry)
        logged = self._undone(batch, entry, at, why, survivor, restored=old)
        self._write(batch, [survivor, old], why, at, events_still_there([survivor]))
        return self._node(logged), self._events([survivor, old])

    def _unsplit(self, entry: Node, by: str) -> tuple[Node, list[Node]]:
        event_id, new_id = entry.text("subject"), entry.text("created")
        current = self.store.get_nodes([event_id, new_id])
        for node_id in (event_id, new_id):
            if node_id not in current:
                raise EditorialError(f"editId: event {node_id} is gone since{self._gone(node_id)}")
        self._nothing_since(entry, [event_id, new_id])
        self._not_corrected_since(entry, new_id)
        at = self._stamp()
        why = Why("merge", f"split {entry.id} undone: event {new_id} merged back", by)
        batch = WriteBatch()
        stale = {k for k in self.store.keys_of([new_id])[new_id] if k.startswith(MATCH)}
        merge_nodes(self.store, batch, [new_id], Label.EVENT, _to(new_id, event_id), stale)
        # The pair's own keep-apart goes; the new event's others become the event's.
        split_off = current[new_id].texts(KEPT_APART)
        apart = set(current[event_id].texts(KEPT_APART)) | set(split_off)
        batch.nodes.append(_set(event_id, {KEPT_APART: sorted(apart - {event_id, new_id})}))
        for other in self.store.get_nodes(sorted(set(split_off) - {event_id})).values():
            moved = (set(other.texts(KEPT_APART)) - {new_id}) | {event_id}
            batch.nodes.append(_set(other.id, {KEPT_APART: sorted(moved)}))
        # a link to the new event, shared while the split stood, names the event again
        batch.rekeys[keys.merged_key(new_id)] = event_id
        logged = self._undone(batch, entry, at, why, event_id, merged=new_id)
        self._write(batch, [event_id], why, at, events_still_there([event_id]))
        return self._node(logged), self._events([event_id])

    def _unapart(self, entry: Node, by: str) -> tuple[Node, list[Node]]:
        a, b = entry.text("subject"), entry.text("other")
        current = self.store.get_nodes([a, b])
        for node_id in (a, b):
            if node_id not in current:
                raise EditorialError(f"editId: event {node_id} is gone since{self._gone(node_id)}")
        self._nothing_since(entry, [a, b])
        at = self._stamp()
        why = Why("review", f"keep-apart {entry.id} undone: events {a} and {b}", by)
        batch = WriteBatch()
        for one, other in ((a, b), (b, a)):
            apart = [e for e in current[one].texts(KEPT_APART) if e != other]
            batch.nodes.append(_set(one, {KEPT_APART: apart}))
        self._reopen(batch, entry)
        logged = self._undone(batch, entry, at, why, a, other=b)
        self.store.write(batch, derive=events_still_there([a, b]))
        return self._node(logged), self._events([a, b])

    def _undone(
        self, batch: WriteBatch, entry: Node, at: str, why: Why, subject: str, **extra: str
    ) -> str:
        """Mark `entry` undone and log the undo; returns the undo's entry id."""
        done = {"undone_at": at, "undone_by": why.by}
        batch.nodes.append(NodeWrite(entry.id, Label.EDIT, PropertyWrite(set=done)))
        logged = edit(
            "undo", at, why, subject, undid=entry.id, undid_action=entry.text("action"), **extra
        )
        batch.nodes.append(logged)
        return logged.id

    def _nothing_since(self, entry: Node, events: Sequence[str]) -> None:
        """Refuse to undo `entry` while a later event edit about its events stands."""
        for event_id in events:
            for later in self._edits_about(event_id):
                if later.id == entry.id or later.text("undone_at"):
                    continue
                if later.text("at") > entry.text("at"):  # same millisecond: not later
                    raise EditorialError(
                        f"editId: event {event_id} was edited since ({later.text('action')} "
                        f"{later.id}): undo that first"
                    )

    def _not_corrected_since(self, entry: Node, event_id: str) -> None:
        """Refuse to merge the event a split made back while a correction made on it since
        the split stands (not undone): merged back, its pins could give way to the event's
        without a log entry saying so (docs/editorial.md), so the editor undoes it first (an
        unpinned correction can be undone too: it changes nothing then)."""
        where = {"action": "correct", "subject": event_id}
        for later in self.store.find_nodes(Label.EDIT, where, "at", 1000):
            if later.text("undone_at") or later.text("at") <= entry.text("at"):
                continue
            raise EditorialError(
                f"editId: event {event_id} was corrected since the split (correct "
                f"{later.id}): undo that first"
            )

    def _edits_about(self, event_id: str) -> list[Node]:
        found: list[Node] = []
        for action in ("merge", "split-event", "keep-apart"):
            for name in ("subject", "other", "created"):
                where = {"action": action, name: event_id}
                found += self.store.find_nodes(Label.EDIT, where, "at", 1000)
        return found

    def _gone(self, event_id: str) -> str:
        later = self.store.find_nodes(Label.EDIT, {"action": "merge", "merged": event_id}, "at", 1)
        return f" (merged away by {later[0].id}): undo that first" if later else ""

    # -- possible duplicates -------------------------------------------------------------------

    def _resolve_pairs(
        self, batch: WriteBatch, a: str, b: str, status: str, by_edit: str, by: str, at: str
    ) -> list[str]:
        """Mark the pending possible duplicates of the pair (a, b) resolved; their ids."""
        resolved: list[str] = []
        for subject, other in ((a, b), (b, a)):
            where = {"action": POSSIBLE_DUPLICATE, "status": "pending", "subject": subject}
            for entry in self.store.find_nodes(Label.EDIT, where, "at", 1000):
                if entry.text("other") != other:
                    continue
                done = {
                    "status": status,
                    "resolved_by": by,
                    "resolved_at": at,
                    "resolution": by_edit,
                }
                batch.nodes.append(NodeWrite(entry.id, Label.EDIT, PropertyWrite(set=done)))
                resolved.append(entry.id)
        return sorted(resolved)

    def _reopen(self, batch: WriteBatch, entry: Node) -> None:
        """The possible duplicates `entry` resolved are pending again."""
        pending: dict[str, Value] = {
            "status": "pending",
            "resolved_by": None,
            "resolved_at": None,
            "resolution": None,
        }
        for queued in json.loads(entry.text("resolved") or "[]"):
            batch.nodes.append(NodeWrite(queued, Label.EDIT, PropertyWrite(set=pending)))

    # -- helpers -------------------------------------------------------------------------------

    def _write(
        self,
        batch: WriteBatch,
        events: Sequence[str],
        why: Why,
        at: str,
        guard: Callable[[GraphReader], WriteBatch],
    ) -> None:
        """Write `batch`; in its transaction, rebuild the profiles and matching keys of
        `events` from their DESCRIBES and re-rate them."""
        changes: list[LevelChange] = []
        rate = rating(events, current_policy(self.store), why, at, changes)

        def derive(graph: GraphReader) -> WriteBatch:
            guard(graph)
            profiles = reprofile(graph, events)
            derived = rate(graph)
            derived.nodes.extend(profiles.nodes)
            derived.nodes.extend(place_events(graph, events))
            derived.keys.update(profiles.keys)
            derived.rekeys.update(profiles.rekeys)
            derived.nodes.extend(repin(graph, events))  # editors' corrections stand
            return derived

        self.store.write(batch, derive=derive)
        self.changes += changes

    def _event(self, event_id: str, argument: str) -> Node:
        return self._expect(event_id, Label.EVENT, argument)

    def _events(self, ids: Sequence[str]) -> list[Node]:
        nodes = self.store.get_nodes(list(ids))
        return [nodes[i] for i in ids if i in nodes]

    def _slugs(self, story_ids: Sequence[str]) -> list[str]:
        nodes = self.store.get_nodes(list(story_ids))
        return [nodes[s].text("slug") if s in nodes else s for s in story_ids]


def _to(old: str, into: str) -> Callable[[str], str]:
    return lambda node: into if node == old else node


def _set(event_id: str, props: Mapping[str, Value]) -> NodeWrite:
    return NodeWrite(event_id, Label.EVENT, PropertyWrite(set=dict(props)))


def _dumps(value: object) -> str:
    return json.dumps(value, ensure_ascii=False, sort_keys=True)


def _move(batch: WriteBatch, edge: Edge, src: str, dst: str) -> None:
    """Move a relationship of the split event to the new one, as it is."""
    batch.unlinks.append((edge.src, edge.type, edge.dst, edge.discriminator))
    batch.edges.append(
        EdgeWrite(src, edge.type, dst, edge.discriminator, PropertyWrite(create=edge.props))
    )


def _edge_ids(store: GraphStore, node_id: str) -> list[EdgeId]:
    found: list[EdgeId] = []
    for rel in Rel:
        for edges in (
            store.edges([node_id], rel, "out")[node_id],
            store.edges([node_id], rel, "in")[node_id],
        ):
            found += [(e.src, e.type, e.dst, e.discriminator) for e in edges]
    return found


def _bounds(described: Sequence[Edge]) -> dict[str, Value]:
    """The extraction and ingestion bounds of an event holding these records."""
    first = [
        str(e.props["first_extracted_at"]) for e in described if e.props.get("first_extracted_at")
    ]
    last = [
        str(e.props["last_extracted_at"]) for e in described if e.props.get("last_extracted_at")
    ]
    ingested = [str(e.props["ingested_at"]) for e in described if e.props.get("ingested_at")]
    bounds: dict[str, Value] = {}
    if first:
        bounds["first_extracted_at"] = min(first)
    if last:
        bounds["last_extracted_at"] = max(last)
    if ingested:
        bounds["ingested_at"] = min(ingested)
    return bounds


def _unmerged_props(current: Props, old: Props, before: Props, old_id: str) -> dict[str, Value]:
    """The survivor's properties once `old` is taken out of it again: what `old` brought goes,
    what came since stays."""
    props: dict[str, Value] = {}
    if current.get(FIRST_RANK) == old.get(FIRST_RANK) != before.get(FIRST_RANK):
        props.update({k: before.get(k) for k in (*FIRSTS, FIRST_RANK) if k in before})
    for name in (*UNIONS, HISTORY, KEPT_APART):
        brought = set(strings(old, name)) - set(strings(before, name))
        if brought & set(strings(current, name)):
            props[name] = sorted(set(strings(current, name)) - brought)
    for name in BOUNDS:
        if name in before and current.get(name) == old.get(name) != before.get(name):
            props[name] = before[name]
    apart = props.get(KEPT_APART, strings(current, KEPT_APART))
    if isinstance(apart, list) and old_id in apart:
        props[KEPT_APART] = [e for e in apart if e != old_id]
    return props


def _unmerged_pins(current: Props, old: Props, before: Props) -> dict[str, Value]:
    """The survivor's pins once `old` is taken out of it again: the corrections `old` brought
    go (with the value they gave, back to the survivor's before the merge), the survivor's own
    are as they were before it (what their records said), those made since stay."""
    mine = [Pin.of(e) for e in strings(before, PINS)]
    brought = [
        p for p in map(Pin.of, strings(old, PINS)) if not any(p.same_correction(m) for m in mine)
    ]
    if not brought and not mine:
        return {}
    left: list[str] = []
    for entry in strings(current, PINS):
        pin = Pin.of(entry)
        if any(pin.same_correction(b) for b in brought):
            continue
        was = next((m for m in mine if pin.same_correction(m)), None)
        left.append(was.to_entry() if was is not None else entry)
    props: dict[str, Value] = {PINS: sorted(left) if left or PINS in before else None}
    still = {Pin.of(e).prop for e in left}
    for prop in sorted({b.prop for b in brought} - still):
        name = CORRECTED if prop == "place" else prop
        props[name] = before.get(name)
    return props
