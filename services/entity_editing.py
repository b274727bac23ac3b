"""Entities an editor says are one (merge) or two (split): a merge goes through the loader as a
record naming both would (aliases, keys and involvements move, and the merge is logged); a split
undoes a logged merge, restoring the merged-away entity with its id, aliases, keys and
involvements."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass

from graph import keys
from graph.history import Why, edit
from graph.model import (
    FIRST_RANK,
    Edge,
    EdgeWrite,
    Label,
    Node,
    NodeWrite,
    PropertyWrite,
    Rel,
    Value,
    WriteBatch,
)
from graph.store import GraphReader, WriteConflict
from services.conflicts import resolving_again
from services.editing import EditorialError, EditorialWork
from services.ingest import Ingestor
from services.replacement import MARKS

PARTICIPANTS = "event:participants:"  # the participants fingerprints of the old event rule


@dataclass
class EntityEditing(EditorialWork):
    """Entity merges and splits on `store`, each by `by` (an editor's or admin's name)."""

    def merge_entities(self, old: str, into: str, by: str) -> Node:
        """Merge entity `old` into `into`; returns the log entry a split takes."""
        if old == into:
            raise EditorialError("from and into are the same entity")
        gone = self._expect(old, Label.ENTITY, "from")
        kept = self._expect(into, Label.ENTITY, "into")
        why = Why("merge", f"entity {gone.text('name')} merged into {kept.text('name')}", by)
        ingestor = Ingestor(self.store, self.now, by)
        ingestor.merge_entities(old, into, why)
        self.changes += ingestor.changes
        logged = self.store.find_nodes(Label.EDIT, {"action": "merge", "merged": old}, "at", 100)
        return logged[-1]

    def split(self, merge_id: str, by: str) -> tuple[Node, Node]:
        """Undo the entity merge logged as `merge_id`: the merged-away entity comes back with
        its id, the aliases and keys it brought, and its involvements; the survivor keeps
        its own. Returns (survivor, restored).

        Involvements are told apart by the log (which events each had at the merge) and, for
        those recorded since, by the spellings the records used (`names` on INVOLVES). Events
        the merge caused to merge stay merged: split them by hand if need be."""
        return resolving_again(lambda: self._split(merge_id, by))

    def _split(self, merge_id: str, by: str) -> tuple[Node, Node]:
        entry = self.store.get_nodes([merge_id]).get(merge_id)
        if entry is None or entry.label is not Label.EDIT or entry.text("action") != "merge":
            raise EditorialError(f"mergeId: no merge with id '{merge_id}' in the editorial log")
        if entry.text("label") != Label.ENTITY.value:
            raise EditorialError(
                f"mergeId: {merge_id} merged {entry.text('label')}s; only entity merges split"
            )
        if entry.text("split_at"):
            raise EditorialError(
                f"mergeId: {merge_id} was split already, by {entry.text('split_by')} "
                f"at {entry.text('split_at')}"
            )
        merged = json.loads(entry.text("merged_state"))
        before = json.loads(entry.text("survivor_state"))
        old, survivor = str(merged["id"]), str(before["id"])
        current = self.store.get_nodes([old, survivor])
        if old in current:
            raise EditorialError(f"mergeId: entity {old} exists again; nothing to split")
        kept = current.get(survivor)
        if kept is None:
            later = self.store.find_nodes(
                Label.EDIT, {"action": "merge", "merged": survivor}, "at", 1
            )
            hint = f" (merge {later[0].id}): split that first" if later else ""
            raise EditorialError(f"mergeId: entity {survivor} was merged away since{hint}")
        at = self._stamp()
        why = Why("split", f"split {merged['props'].get('name')} from {kept.text('name')}", by)
        batch = WriteBatch()

        # Names: the spellings only the merged-away entity brought go back with it.
        own = {keys.normalise(a) for a in before["props"].get("aliases", [])}
        brought = {keys.normalise(a) for a in merged["props"].get("aliases", [])} - own
        aliases = [a for a in kept.texts("aliases") if keys.normalise(a) not in brought]
        restored_props: dict[str, Value] = dict(merged["props"])
        survivor_props: dict[str, Value] = {"aliases": aliases}
        if keys.normalise(kept.text("name")) in brought:
            for name in ("name", FIRST_RANK):
                survivor_props[name] = before["props"].get(name)
        batch.nodes.append(NodeWrite(old, Label.ENTITY, PropertyWrite(create=restored_props)))
        batch.nodes.append(NodeWrite(survivor, Label.ENTITY, PropertyWrite(set=survivor_props)))
        for key in self.store.keys_of([survivor])[survivor]:
            if key == keys.merged_key(old):
                batch.rekeys[key] = None  # its id is its own again
            elif key in merged["keys"] or key.rpartition(":")[2] in brought:
                batch.rekeys[key] = old

        # Involvements: the log's, plus those recorded since under a spelling it brought.
        logged = {str(e[0]): e for e in merged["edges"] if e[1] == Rel.INVOLVES.value}
        had = set(before["involved_in"])
        events = set(self.store.get_nodes(sorted(logged)))
        participants_changed: set[str] = set()
        for edge in self.store.edges([survivor], Rel.INVOLVES, "in")[survivor]:
            names = edge.texts("names")
            theirs = [n for n in names if keys.normalise(n) in brought]
            ours = [n for n in names if keys.normalise(n) not in brought]
            goes = edge.src in logged or bool(theirs)
            stays = edge.src in had or bool(ours) or not goes
            if not goes:
                continue
            if edge.src not in logged:
                props = {
                    "roles": edge.texts("roles"),
                    "names": theirs,
                    "stories": edge.texts("stories"),
                    **_marks(edge),
                }
                batch.edges.append(
                    EdgeWrite(edge.src, Rel.INVOLVES, old, "", PropertyWrite(create=props))
                )
            batch.unlinks.append((edge.src, Rel.INVOLVES, survivor, ""))
            if stays:
                props = {
                    "roles": edge.texts("roles"),
                    "names": ours or names,
                    "stories": edge.texts("stories"),
                    **_marks(edge),
                }
                batch.edges.append(
                    EdgeWrite(edge.src, Rel.INVOLVES, survivor, "", PropertyWrite(create=props))
                )
            participants_changed.add(edge.src)
        for src, _, _, key, props in (logged[e] for e in sorted(events)):
            batch.edges.append(
                EdgeWrite(str(src), Rel.INVOLVES, old, str(key), PropertyWrite(create=props))
            )
            participants_changed.add(str(src))
        self._refingerprint(batch, sorted(participants_changed), old, survivor)
        batch.nodes.append(
            NodeWrite(merge_id, Label.EDIT, PropertyWrite(set={"split_at": at, "split_by": by}))
        )
        batch.nodes.append(edit("split", at, why, survivor, merge=merge_id, restored=old))

        def unchanged(graph: GraphReader) -> WriteBatch:
            if graph.get_nodes([merge_id])[merge_id].text("split_at") != at:
                raise WriteConflict(f"merge {merge_id} was split meanwhile")
            return WriteBatch()

        self.store.write(batch, derive=unchanged)
        nodes = self.store.get_nodes([survivor, old])
        return nodes[survivor], nodes[old]

    def _refingerprint(
        self, batch: WriteBatch, event_ids: Sequence[str], old: str, survivor: str
    ) -> None:
        """Give the events whose participants a split changes their new participants
        fingerprint (see docs/identity.md), dropping the one naming the survivor wrongly."""
        nodes = self.store.get_nodes(list(event_ids))
        involved = self.store.edges(list(event_ids), Rel.INVOLVES, "out")
        owned = self.store.keys_of(list(event_ids))
        moved = {(w.src, w.dst): w for w in batch.edges if w.type is Rel.INVOLVES}
        unlinked = {(src, dst) for src, _, dst, _ in batch.unlinks}
        for event_id in event_ids:
            node = nodes.get(event_id)
            if node is None or not any(k.startswith(PARTICIPANTS) for k in owned[event_id]):
                continue  # an event of the matcher or of an id: no participants fingerprint
            edges: dict[str, list[str]] = {}
            for e in involved[event_id]:
                if (e.src, e.dst) not in unlinked:
                    edges[e.dst] = e.texts("roles")
            for (src, dst), write in moved.items():
                if src == event_id:
                    edges[dst] = list(write.change.create.get("roles") or [])  # type: ignore[arg-type]
            participants = [
                d for d, roles in edges.items() if "participant" in (r.casefold() for r in roles)
            ]
            day, category = node.text("occurred_on")[:10], node.text("category")
            for key in owned[event_id]:
                if key.startswith(PARTICIPANTS):
                    batch.rekeys[key] = None
            if participants:
                batch.keys[keys.event_participants_key(day, category, participants)] = event_id


def _marks(edge: Edge) -> dict[str, Value]:
    """An involvement's extraction marks (services.replacement), when it has them."""
    return {MARKS: edge.texts(MARKS)} if MARKS in edge.props else {}
