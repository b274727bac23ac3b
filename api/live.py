"""Live updates: GraphQL subscriptions fed by the in-process hub of what writes changed.

After a write commits, the app calls `Hub.publish` (`api.hub`) with the events it created and
the confidence levels it changed. Each subscription holds an inbox in the hub; its resolver
reads the store for the details and matches them against the subscriber's filter, so
publishing never waits for a subscriber. See docs/live.md for the scope and the overflow policy.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, Sequence

import strawberry

from api.confidence import ConfidenceChange
from api.context import Info, RequestContext
from api.errors import UserError
from api.filters import EventFilterInput, to_filter
from api.hub import CAPACITY, Select, Update
from api.nodes import Event
from graph.model import Label, Node, Props, Rel
from graph.store import EventFilter, GraphReader, Involvement, admits_around, reporting_outlets


class FellBehind(UserError):
    """The subscriber read too slowly and updates were dropped from its inbox."""

    def __init__(self, dropped: int) -> None:
        super().__init__(
            f"this subscription fell behind and {dropped} update(s) were dropped; "
            "query for what changed meanwhile and subscribe again"
        )


# -- matching ----------------------------------------------------------------------------------


def check_filter(reader: GraphReader, flt: EventFilter) -> None:
    """Refuse a filter naming a node that does not exist or is of the wrong kind."""
    entities = [
        ("entities", "entity", e, Label.ENTITY) for e in (*flt.all_entities, *flt.any_entities)
    ]
    named = [
        ("place", "place", flt.place, Label.PLACE),
        ("country", "country", flt.country, Label.PLACE),
        ("entity", "entity", flt.entity, Label.ENTITY),
        ("outlet", "outlet", flt.outlet, Label.OUTLET),
        *entities,
    ]
    wanted = [(argument, what, i, label) for argument, what, i, label in named if i is not None]
    found = reader.get_nodes([i for _, _, i, _ in wanted]) if wanted else {}
    for argument, what, node_id, label in wanted:
        node = found.get(node_id)
        if node is None or node.label is not label:
            raise UserError(f"filter.{argument}: no {what} with id '{node_id}'")


def matching_events(reader: GraphReader, flt: EventFilter, ids: Sequence[str]) -> list[Node]:
    """The events among `ids` that exist and match `flt`, in the order given, each once: the
    same rule as the store's `query_events`, checked on a few new events."""
    ids = list(dict.fromkeys(ids))
    found = reader.get_nodes(ids)
    events = [found[i] for i in ids if i in found and found[i].label is Label.EVENT]
    events = [e for e in events if flt.admits(e.props)]
    if (flt.entity is not None or flt.all_entities or flt.any_entities) and events:
        involves = reader.edges([e.id for e in events], Rel.INVOLVES, "out")
        every = {*flt.all_entities, *([flt.entity] if flt.entity is not None else [])}
        some = set(flt.any_entities)

        def involved(event: Node) -> bool:
            ends = {x.dst for x in involves.get(event.id, [])}
            return every <= ends and (not some or not some.isdisjoint(ends))

        events = [e for e in events if involved(e)]
    if flt.outlet is not None and events:
        reports = reader.edges([e.id for e in events], Rel.REPORTS, "in")
        events = [e for e in events if any(x.src == flt.outlet for x in reports.get(e.id, []))]
    if flt.around and events:
        events = _around(reader, flt, events)
    return events


def _around(reader: GraphReader, flt: EventFilter, events: list[Node]) -> list[Node]:
    """The events passing the parts of `flt` their relationships decide (roles, entity
    types, tones, tiers, groups), read in a batch per kind."""
    read = _Read(
        reader, [e.id for e in events], {o for e in events for o in reporting_outlets(e.props)}
    )
    return [e for e in events if admits_around(flt, e.id, e.props, read)]


class _Read:
    """The `Surroundings` of a few events, read at once through a `GraphReader`."""

    def __init__(self, reader: GraphReader, ids: list[str], outlet_ids: set[str]) -> None:
        self._involves = reader.edges(ids, Rel.INVOLVES, "out")
        self._reports = reader.edges(ids, Rel.REPORTS, "in")
        ends = sorted({x.dst for found in self._involves.values() for x in found})
        self._entities = reader.get_nodes(ends)
        self._outlets = {i: n.props for i, n in reader.get_nodes(sorted(outlet_ids)).items()}

    def involvements(self, event_id: str) -> list[Involvement]:
        entities = self._entities
        return [
            (x.dst, entities[x.dst].props if x.dst in entities else None, x.texts("roles"))
            for x in self._involves.get(event_id, [])
        ]

    def reports(self, event_id: str) -> list[Props]:
        return [x.props for x in self._reports.get(event_id, [])]

    def outlets(self, ids: Sequence[str]) -> dict[str, Props]:
        return {i: self._outlets[i] for i in ids if i in self._outlets}


# -- subscriptions -----------------------------------------------------------------------------


def _created(update: Update) -> Update | None:
    return Update(created=update.created) if update.created else None


def _changes_of(event_id: str | None) -> Select:
    def select(update: Update) -> Update | None:
        changes = tuple(c for c in update.changes if event_id in (None, c.event_id))
        return Update(changes=changes) if changes else None

    return select


def _forget(context: RequestContext) -> None:
    """Empty the DataLoaders' caches before a result is resolved: a subscription's context
    lives as long as its connection, and the nested fields of an event load through them."""
    context.clear()


async def _events_added(info: Info, flt: EventFilter) -> AsyncGenerator[Event, None]:
    context = info.context
    with context.hub.subscribe(_created) as inbox:
        while True:
            updates, dropped = await inbox.take()
            ids = [i for u in updates for i in u.created]
            # (in a worker thread on a server's store: the loop serves others meanwhile)
            for node in await context.read(matching_events, context.store, flt, ids):
                _forget(context)
                yield Event.of(node)
            if dropped:
                raise FellBehind(dropped)


async def _confidence_changes(
    info: Info, event_id: str | None
) -> AsyncGenerator[ConfidenceChange, None]:
    with info.context.hub.subscribe(_changes_of(event_id)) as inbox:
        while True:
            updates, dropped = await inbox.take()
            for update in updates:
                for change in update.changes:
                    yield ConfidenceChange.of(change)
            if dropped:
                raise FellBehind(dropped)


@strawberry.type
class Subscription:
    # Each resolver checks its arguments and then returns the stream (rather than being a
    # generator itself), so a bad argument is answered with a GraphQL error before the stream
    # starts, and a subscriber is registered only while its stream runs.

    @strawberry.subscription(
        description="Events as writes create them, those matching `filter` (as `events` "
        "filters): an event merged into an existing one is not new. Events are as they are "
        f"when sent. A subscriber that falls behind by more than {CAPACITY} writes gets an "
        "error and the subscription ends."
    )
    async def event_added(
        self, info: Info, filter: EventFilterInput | None = None
    ) -> AsyncGenerator[Event, None]:
        flt = await to_filter(info, filter)
        await info.context.read(check_filter, info.context.store, flt)
        return _events_added(info, flt)

    @strawberry.subscription(
        description="Changes of events' confidence levels as writes make them, of one event "
        "(`eventId`) or of all; a new event's first rating is a change from null."
    )
    async def confidence_changed(
        self, info: Info, event_id: strawberry.ID | None = None
    ) -> AsyncGenerator[ConfidenceChange, None]:
        if event_id is not None:
            found = await info.context.nodes.load(str(event_id))
            if found is None or found.label is not Label.EVENT:
                raise UserError(f"no event with id '{event_id}'")
        return _confidence_changes(info, event_id)
