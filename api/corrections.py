"""Correcting the graph: entity merges and splits, event merges, splits and keep-aparts,
retractions of reports and corrections of events, their undo, and the possible duplicates the
event matcher queued for editors. Every field is for editors and admins (`api.auth.requires`);
the work is in `services.entity_editing`, `services.event_editing` and `services.corrections`."""

from __future__ import annotations

import json
from typing import Annotated

import strawberry

from api.auth import requires
from api.context import Info
from api.editorial import (
    EDITORS,
    LogEntry,
    editorial_of,
    entry_of,
    log_cursor,
    log_page_info,
    write,
)
from api.nodes import Entity, Event, IdentityDecision, IdentityEvidence
from api.paging import PageInfo, encode_cursor, page_size
from api.scalars import Timestamp
from api.tokens import Role
from graph.model import Label, Node
from services.corrections import ARGUMENTS, Corrections
from services.event_editing import EventEditing
from services.takedown import Takedowns


@strawberry.type(
    description="A record's new event that the matcher found may be another event: pending "
    "until an editor merges the two (`mergeEvents`) or keeps them apart (`keepApart`)."
)
class PossibleDuplicate:
    id: strawberry.ID = strawberry.field(description="Its entry in the editorial log.")
    node: strawberry.Private[Node]

    @strawberry.field(description="The new event the record made.")
    async def event(self, info: Info) -> Event | None:
        node = await info.context.nodes.load(self.node.text("subject"))
        return Event.of(node) if node is not None else None

    @strawberry.field(description="The event it may be.")
    async def other(self, info: Info) -> Event | None:
        node = await info.context.nodes.load(self.node.text("other"))
        return Event.of(node) if node is not None else None

    @strawberry.field
    def score(self) -> float:
        return float(self.node.text("score") or "nan")

    @strawberry.field(description="pending, merged or kept-apart")
    def status(self) -> str:
        return self.node.text("status")

    @strawberry.field
    def at(self) -> Timestamp:
        return Timestamp(self.node.text("at"))

    @strawberry.field(description="The decision in words: outcome, score and drivers.")
    def detail(self) -> str:
        return self.node.text("detail")

    @strawberry.field(description="Each feature's value, weight and contribution.")
    def evidence(self) -> list[IdentityEvidence]:
        data = json.loads(self.node.text("evidence") or "{}")
        return IdentityDecision.of(data, None).evidence


@strawberry.type
class PossibleDuplicateEdge:
    cursor: str
    node: PossibleDuplicate


@strawberry.type(description="A page of possible duplicates, oldest first.")
class PossibleDuplicateConnection:
    edges: list[PossibleDuplicateEdge]
    page_info: PageInfo


@strawberry.type
class EntityMerge:
    entity: Entity = strawberry.field(description="The entity both now are.")
    merge: LogEntry = strawberry.field(description="The log entry; `splitEntity` takes its id.")


@strawberry.type
class EntitySplit:
    entity: Entity = strawberry.field(description="The entity that had absorbed the other.")
    restored: Entity = strawberry.field(description="The entity split back out, with its id.")


@strawberry.type
class EventMerge:
    event: Event = strawberry.field(description="The event both now are (`into`).")
    edit: LogEntry = strawberry.field(description="The log entry; `undoEdit` takes its id.")


@strawberry.type
class EventSplit:
    event: Event = strawberry.field(description="The event the stories were split out of.")
    split: Event = strawberry.field(
        description="The new event holding the chosen stories, kept apart from `event`."
    )
    edit: LogEntry = strawberry.field(description="The log entry; `undoEdit` takes its id.")


@strawberry.type
class KeptApart:
    events: list[Event] = strawberry.field(description="The two events, now kept apart.")
    edit: LogEntry = strawberry.field(description="The log entry; `undoEdit` takes its id.")


@strawberry.type
class UndoneEdit:
    edit: LogEntry = strawberry.field(description="The undo's own log entry.")
    events: list[Event] = strawberry.field(description="The events as they are now.")


@strawberry.type
class Retracted:
    event: Event = strawberry.field(description="The event, re-rated without the report.")
    edit: LogEntry = strawberry.field(description="The log entry; `undoEdit` takes its id.")


@strawberry.type
class Corrected:
    event: Event = strawberry.field(description="The event as it is now.")
    edit: LogEntry = strawberry.field(
        description="The log entry; `undoEdit` takes a correction's id."
    )


@strawberry.type
class TakenDown:
    edit: LogEntry = strawberry.field(
        description="The audit entry: the target's id and the SHA-256 of each text removed."
    )
    events: list[Event] = strawberry.field(description="The events re-rated.")


@strawberry.type
class CorrectionsQuery:
    @strawberry.field(
        description="Pairs of events the matcher queued as possible duplicates, still "
        "pending, oldest first. Editors and admins.",
        permission_classes=[EDITORS],
    )
    async def possible_duplicates(
        self, info: Info, first: int = 20, after: str | None = None
    ) -> PossibleDuplicateConnection:
        size = page_size(first)
        where = {"action": "possible-duplicate", "status": "pending"}
        found = await info.context.read(
            info.context.store.find_nodes, Label.EDIT, where, "at", size + 1, log_cursor(after)
        )
        edges = [
            PossibleDuplicateEdge(
                cursor=encode_cursor(n.text("at"), n.id),
                node=PossibleDuplicate(id=strawberry.ID(n.id), node=n),
            )
            for n in found[:size]
        ]
        return PossibleDuplicateConnection(
            edges=edges, page_info=log_page_info(edges, len(found) > size, after)
        )


@strawberry.type
class CorrectionsMutation:
    @strawberry.mutation(
        description="Merge entity `from` into `into` (one actor under two names): aliases and "
        "involvements move, and the merge is logged so that `splitEntity` can undo it. "
        "Editors and admins.",
        permission_classes=[EDITORS],
    )
    async def merge_entities(
        self,
        info: Info,
        # not `source`: strawberry's permission extension takes that name
        old: Annotated[strawberry.ID, strawberry.argument(name="from")],
        into: strawberry.ID,
    ) -> EntityMerge:
        editorial = editorial_of(info)
        by = info.context.actor.name
        store = info.context.store

        def merge() -> tuple[Node, Node]:
            entry = editorial.merge_entities(old, into, by)
            return entry, store.get_nodes([into])[into]

        entry, node = await write(info, merge)
        return EntityMerge(
            entity=Entity.of(node), merge=LogEntry(id=strawberry.ID(entry.id), node=entry)
        )

    @strawberry.mutation(
        description="Undo a logged entity merge (automatic or an editor's): the merged-away "
        "entity comes back with its id, aliases and involvements. Editors and admins.",
        permission_classes=[EDITORS],
    )
    async def split_entity(self, info: Info, merge_id: strawberry.ID) -> EntitySplit:
        by = info.context.actor.name
        kept, restored = await info.context.call(editorial_of(info).split, merge_id, by)
        return EntitySplit(entity=Entity.of(kept), restored=Entity.of(restored))

    @strawberry.mutation(
        description="Merge event `from` into `into` (one event the matcher kept as two): "
        "reports, stories, involvements, places and submissions move, `from` disappears, "
        "`into` is re-rated (cause MERGE) and a pending possible duplicate of the pair is "
        "resolved. `undoEdit` restores both. Editors and admins.",
        permission_classes=[EDITORS],
    )
    async def merge_events(
        self,
        info: Info,
        # not `source`: strawberry's permission extension takes that name
        old: Annotated[strawberry.ID, strawberry.argument(name="from")],
        into: strawberry.ID,
    ) -> EventMerge:
        store = info.context.store
        editing = EventEditing(store)
        by = info.context.actor.name

        def merge() -> tuple[Node, Node]:
            entry = editing.merge_events(old, into, by)
            return entry, store.get_nodes([into])[into]

        entry, node = await write(info, merge)
        return EventMerge(event=Event.of(node), edit=entry_of(entry))

    @strawberry.mutation(
        description="Split the stories `storyIds` of an event (their reports, and the "
        "involvements and places only they gave) out into a new event, kept apart from it "
        "so that no reload merges them again; both are re-rated. Editors and admins.",
        permission_classes=[EDITORS],
    )
    async def split_event(
        self, info: Info, event_id: strawberry.ID, story_ids: list[strawberry.ID]
    ) -> EventSplit:
        editing = EventEditing(info.context.store)
        kept, split, entry = await write(
            info,
            editing.split_event,
            event_id,
            [str(s) for s in story_ids],
            info.context.actor.name,
        )
        return EventSplit(event=Event.of(kept), split=Event.of(split), edit=entry_of(entry))

    @strawberry.mutation(
        description="Say two events are two: remembered on both, so that no reload or later "
        "record merges them; a pending possible duplicate of the pair is resolved. Editors "
        "and admins.",
        permission_classes=[EDITORS],
    )
    async def keep_apart(
        self, info: Info, event_a: strawberry.ID, event_b: strawberry.ID
    ) -> KeptApart:
        store = info.context.store
        editing = EventEditing(store)
        by = info.context.actor.name

        def keep() -> tuple[Node, dict[str, Node]]:
            entry = editing.keep_apart(event_a, event_b, by)
            return entry, store.get_nodes([event_a, event_b])

        entry, nodes = await info.context.call(keep)
        return KeptApart(events=[Event.of(n) for n in nodes.values()], edit=entry_of(entry))

    @strawberry.mutation(
        description="Undo a `mergeEvents` (the merged event comes back with its id), a "
        "`splitEvent` (the new event is merged back; its id then names the event), a "
        "`keepApart`, a `retractReport` (the report counts again) or a `correctEvent` or "
        "`correctLocation` (its pins come off), by its log entry. An edit is undone once, and "
        "after the later edits of its events. Editors and admins.",
        permission_classes=[EDITORS],
    )
    async def undo_edit(self, info: Info, edit_id: strawberry.ID) -> UndoneEdit:
        editing = EventEditing(info.context.store)
        entry, events = await write(info, editing.undo, edit_id, info.context.actor.name)
        return UndoneEdit(edit=entry_of(entry), events=[Event.of(n) for n in events])

    @strawberry.mutation(
        description="Mark a report retracted by its outlet (`Report.id`): it stays on the page, "
        "marked, and no longer counts as a source; its event is re-rated (cause RETRACTION). "
        "`undoEdit` takes it back. Editors and admins.",
        permission_classes=[EDITORS],
    )
    async def retract_report(
        self, info: Info, report_id: strawberry.ID, reason: str, retracted_on: str
    ) -> Retracted:
        corrections = Corrections(info.context.store)
        by = info.context.actor.name
        event, entry = await write(
            info, corrections.retract_report, report_id, reason, retracted_on, by
        )
        return Retracted(event=Event.of(event), edit=entry_of(entry))

    @strawberry.mutation(
        description="Correct an event's summary, category, date (occurredOn: YYYY-MM-DD or "
        "an RFC 3339 timestamp) or place (a place name, within `country` if given, resolved "
        "through the gazetteer: 'Kiev' is Kyiv; the same correction as `correctLocation`): "
        "each property given is pinned, so later records do not "
        "overwrite it until `unpinEvent`; editors see it in `Event.corrections`, with what the "
        "records say. Logged with who and why; `undoEdit` takes it back. Editors and admins.",
        permission_classes=[EDITORS],
    )
    async def correct_event(
        self,
        info: Info,
        id: strawberry.ID,
        reason: str,
        summary: str | None = None,
        category: str | None = None,
        occurred_on: str | None = None,
        place: str | None = None,
        country: str | None = None,
    ) -> Corrected:
        corrections = Corrections(info.context.store)
        values = {
            "summary": summary,
            "category": category,
            "occurred_on": occurred_on,
            "place": place,
            "country": country,
        }
        event, entry = await write(
            info, corrections.correct_event, id, values, reason, info.context.actor.name
        )
        return Corrected(event=Event.of(event), edit=entry_of(entry))

    @strawberry.mutation(
        description="Take editors' pins off an event's properties (summary, category, "
        "occurredOn, place; all when none is named): each shows what the records say again. "
        "Editors and admins.",
        permission_classes=[EDITORS],
    )
    async def unpin_event(
        self, info: Info, id: strawberry.ID, properties: list[str] | None = None
    ) -> Corrected:
        names = {v: k for k, v in ARGUMENTS.items()}
        props = [names.get(p, p) for p in properties or []]
        corrections = Corrections(info.context.store)
        event, entry = await write(
            info, corrections.unpin_event, id, props, info.context.actor.name
        )
        return Corrected(event=Event.of(event), edit=entry_of(entry))

    @strawberry.mutation(
        description="Take down a story, a report (`Report.id`), one claim (`Claim.id`) or a "
        "submission for a legal reason: its texts are removed from every node and relationship "
        "of the graph (claims, summaries, the matcher's mentions, the log's merged states, the "
        "confidence history), the events it was about re-rated, and the audit entry keeps ids "
        "and hashes only. Not undoable. Admins.",
        permission_classes=[requires(Role.ADMIN)],
    )
    async def takedown(self, info: Info, target: strawberry.ID, reason: str) -> TakenDown:
        takedowns = Takedowns(info.context.store)
        entry, events = await write(
            info, takedowns.takedown, target, reason, info.context.actor.name
        )
        return TakenDown(edit=entry_of(entry), events=[Event.of(n) for n in events])
