"""Editors correcting what the records say: a report its outlet retracted (`retract_report`),
an event's summary, category, date or place (`correct_event`, pinned against later records
until `unpin_event`; `correct_location`, `correctLocation`, is its correction of the place,
resolved through the gazetteer alike), and undoing either (`undo`, reached through
`undoEdit`). See docs/editorial.md, "Retractions" and "Correcting an event".

Each is one atomic write on either store, logged as an `Edit` node; a retraction re-rates its
event (`services.rating`, cause `retraction`), so its confidence history shows the change.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any, get_args

from graph import gazetteer
from graph.confidence import current_policy
from graph.gazetteer import check
from graph.history import LevelChange, Why, edit
from graph.model import (
    RETRACTED_ON,
    Category,
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
from loaders.records import Location, parse_moment
from services.conflicts import checked, resolving_again
from services.editing import MAX_REASON, EditorialError, EditorialWork, events_still_there
from services.ingest import moment_text, retraction
from services.matching import reprofile
from services.pins import PINNABLE, PINS, Pin, pins_of
from services.places import CORRECTED as PLACE_CORRECTED
from services.places import (
    EDITOR_LOCATION,
    locate,
    place_events,
    place_label,
    plan_place,
    records_place,
)
from services.plan import WritePlan
from services.rating import rating
from services.redirects import current, find_report, report_id
from services.replacement import event_places
from services.resolve import Resolver

RETRACTION_PROPS = (RETRACTED_ON, "retraction_reasons", "retracted_by")
# The arguments of `correctEvent`, by the property each corrects.
ARGUMENTS = {
    "summary": "summary",
    "category": "category",
    "occurred_on": "occurredOn",
    "place": "place",
}
# The discriminator of the location an editor gave (`correctEvent(place: ...)`): its own
# OCCURRED_IN, reported first (`first_reported` ""), so it is the event's place whatever
# records say later, until unpinned.
CORRECTED = EDITOR_LOCATION
# The rank of the names an editor's location gives a Place or country (merge rule `first`):
# after every record's (an extraction time), so a record's spelling names a Place they share.
EDITOR_RANK = "~"
LOCATION_REASON = "place corrected (correctLocation)"
MAX_PLACE = 500
MAX_SUMMARY = 2000


@dataclass
class Corrections(EditorialWork):
    """Retractions and corrections on `store`, each by `by` (an editor's or admin's name)."""

    # -- retractions ---------------------------------------------------------------------------

    def retract_report(
        self, report: str, reason: str, retracted_on: str, by: str
    ) -> tuple[Node, Node]:
        """Mark the report `report` (its id, `report_id`) retracted by its outlet on
        `retracted_on`: it stays on the page, marked, and stops counting as a source; its event
        is re-rated. Returns (the event, the log entry)."""
        return resolving_again(lambda: self._retract(report, reason, retracted_on, by))

    def _retract(self, report: str, reason: str, retracted_on: str, by: str) -> tuple[Node, Node]:
        edge = self._report(report)
        reason = _reason(reason)
        day = _moment(retracted_on, "retractedOn")
        if edge.props.get(RETRACTED_ON):
            raise EditorialError(
                f"reportId: the report {report} is retracted already (on "
                f"{edge.props[RETRACTED_ON]}); undo that retraction first to give another"
            )
        at = self._stamp()
        outlet = self._node(edge.src).text("name")
        why = Why("retraction", f"{outlet} retracted its report ({reason})", by)
        batch = WriteBatch()
        ident = (edge.src, Rel.REPORTS, edge.dst, edge.discriminator)
        batch.edges.append(EdgeWrite(*ident, retraction(day, reason, by)))
        before = {p: edge.props.get(p) for p in RETRACTION_PROPS}
        entry = edit(
            "retract",
            at,
            why,
            edge.dst,
            report=report_id(edge),
            retracted_on=moment_text(day),
            before=_dumps(before),
        )
        batch.nodes.append(entry)
        self._write(batch, edge.dst, why, at, _unretracted(edge))
        return self._node(edge.dst), self._node(entry.id)

    def _report(self, report: str) -> Edge:
        return find_report(self.store, report, "reportId")

    # -- corrections ---------------------------------------------------------------------------

    def correct_event(
        self, event_id: str, values: Mapping[str, str | None], reason: str, by: str
    ) -> tuple[Node, Node]:
        """Give event `event_id` the properties `values` (summary, category, occurred_on; None
        leaves one as it is), each pinned against later records until unpinned. Returns (the
        event, the log entry)."""
        return resolving_again(lambda: self._correct(event_id, values, reason, by, "id"))

    def _correct(
        self,
        event_id: str,
        values: Mapping[str, str | None],
        reason: str,
        by: str,
        argument: str,
    ) -> tuple[Node, Node]:
        event_id = self._current(event_id)
        event = self._expect(event_id, Label.EVENT, argument)
        reason = _reason(reason)
        place, country = values.get("place"), values.get("country")
        given = {
            p: _checked(p, v)
            for p, v in values.items()
            if v is not None and p not in ("place", "country")
        }
        if country is not None and place is None:
            raise EditorialError("country: give it with place")
        if not given and place is None:
            raise EditorialError("give at least one of summary, category, occurredOn and place")
        at = self._stamp()
        pinned = pins_of(event)  # what the records say is kept from an earlier pin
        pins = [
            Pin(p, v, pinned[p].was if p in pinned else event.props.get(p), at, by, reason)
            for p, v in sorted(given.items())
        ]
        batch = WriteBatch()
        if place is not None:
            _, shown = self._relocate(batch, event_id, place, country)
            # what the records choose (the page's place, `place_id`, unless corrected before)
            was = pinned["place"].was if "place" in pinned else records_place(self.store, event)
            pins.append(Pin("place", shown, was, at, by, reason))
        changed = ", ".join(f"{p.prop} from {p.was!r} to {p.value!r}" for p in pins)
        why = Why("correction", f"event {event_id}: {changed} ({reason})", by)
        entries = [p.to_entry() for p in pins]
        batch.nodes.append(
            NodeWrite(event_id, Label.EVENT, PropertyWrite(set=dict(given), union={PINS: entries}))
        )
        entry = edit("correct", at, why, event_id, pins=_dumps(entries))
        batch.nodes.append(entry)
        self._write(batch, event_id, why, at, events_still_there([event_id]))
        return self._node(event_id), self._node(entry.id)

    def unpin_event(self, event_id: str, props: Sequence[str], by: str) -> tuple[Node, Node]:
        """Take the editors' pins off `props` of event `event_id` (all when empty): each goes
        back to what the records say. Returns (the event, the log entry)."""
        return resolving_again(lambda: self._unpin(event_id, props, by, None))

    def _unpin(
        self, event_id: str, props: Sequence[str], by: str, undid: Node | None
    ) -> tuple[Node, Node]:
        argument = "editId" if undid is not None else "id"
        event_id = self._current(event_id)
        event = self._expect(event_id, Label.EVENT, argument)
        pinned = pins_of(event)
        unknown = [p for p in props if p not in ARGUMENTS]
        if unknown:
            raise EditorialError(
                f"properties: '{unknown[0]}' cannot be pinned; one of "
                f"{', '.join(ARGUMENTS.values())}"
            )
        chosen = list(props) or sorted(pinned)
        loose = [p for p in chosen if p not in pinned]
        if loose:
            raise EditorialError(
                f"properties: {ARGUMENTS[loose[0]]} of event {event_id} is not pinned"
            )
        at = self._stamp()
        why = Why("correction", f"event {event_id}: unpinned {', '.join(chosen)}", by)
        left = [e for e in event.texts(PINS) if Pin.of(e).prop not in chosen]
        back: dict[str, Value] = {p: pinned[p].was for p in chosen if p != "place"}
        if "place" in chosen:  # the records choose the event's place again (services.places)
            back[PLACE_CORRECTED] = None
        back[PINS] = left
        batch = WriteBatch(nodes=[NodeWrite(event_id, Label.EVENT, PropertyWrite(set=back))])
        if "place" in chosen:  # the editor's location goes; the records' are the event's again
            self._uncorrect(batch, event_id)
        if undid is None:
            entry = edit("unpin", at, why, event_id, props=_dumps(chosen))
        else:
            done = {"undone_at": at, "undone_by": by}
            batch.nodes.append(NodeWrite(undid.id, Label.EDIT, PropertyWrite(set=done)))
            entry = edit("undo", at, why, event_id, undid=undid.id, undid_action="correct")
        batch.nodes.append(entry)
        self._write(batch, event_id, why, at, events_still_there([event_id]))
        return self._node(event_id), self._node(entry.id)

    # -- undo ----------------------------------------------------------------------------------

    def undo(self, entry: Node, by: str) -> tuple[Node, list[Node]]:
        """Undo the retraction or correction `entry` (not undone yet): a retraction's report
        counts again; a correction's pins come off, if still in force. Returns the undo's log
        entry and the event."""
        return resolving_again(lambda: self._undo(entry, by))

    def _undo(self, entry: Node, by: str) -> tuple[Node, list[Node]]:
        event_id = self._current(entry.text("subject"))
        if entry.text("action") == "correct":
            pinned = pins_of(self._expect(event_id, Label.EVENT, "editId"))
            mine = [Pin.of(e) for e in json.loads(entry.text("pins"))]
            stale = [
                p.prop
                for p in mine
                if p.prop not in pinned or not pinned[p.prop].same_correction(p)
            ]
            if stale:
                raise EditorialError(
                    f"editId: {stale[0]} of event {event_id} was corrected or unpinned since; "
                    "undo or unpin that instead"
                )
            event, logged = self._unpin(event_id, [p.prop for p in mine], by, entry)
            return logged, [event]
        edge = self._report(str(entry.props.get("report")))
        at = self._stamp()
        why = Why("retraction", f"retraction {entry.id} undone", by)
        before: dict[str, Any] = json.loads(entry.text("before") or "{}")
        batch = WriteBatch()
        # Written afresh without the retraction (no store keeps a property set to null alike).
        ident = (edge.src, Rel.REPORTS, edge.dst, edge.discriminator)
        props = {k: v for k, v in edge.props.items() if k not in RETRACTION_PROPS}
        props.update({k: v for k, v in before.items() if v is not None})
        batch.unlinks.append(ident)
        batch.edges.append(EdgeWrite(*ident, PropertyWrite(create=props)))
        done = {"undone_at": at, "undone_by": by}
        batch.nodes.append(NodeWrite(entry.id, Label.EDIT, PropertyWrite(set=done)))
        undo = edit("undo", at, why, event_id, undid=entry.id, undid_action="retract")
        batch.nodes.append(undo)
        self._write(batch, event_id, why, at, events_still_there([event_id]))
        return self._node(undo.id), [self._node(event_id)]

    # -- the place -----------------------------------------------------------------------------

    def correct_location(
        self, event_id: str, place: str, country: str, reason: str | None, by: str
    ) -> tuple[Node, Node]:
        """`correctLocation`: `correct_event` of the place alone, its errors naming `eventId`
        (a reason is optional there). Returns (the event, the log entry)."""
        values = {"place": place, "country": country}
        why = reason if reason is not None and reason.strip() else LOCATION_REASON
        return resolving_again(lambda: self._correct(event_id, values, why, by, "eventId"))

    def _relocate(
        self, batch: WriteBatch, event_id: str, place: str, country: str | None
    ) -> tuple[str, str]:
        """Writes the editor's location of `event_id`: the place the gazetteer resolves it to
        ("Kiev" is Kyiv, found by the keys a record's location would use, or made as a record
        would make it), within `country` (else the gazetteer's country of the place). Returns
        its id and the place as shown: 'Kyiv, Ukraine'."""
        location = _location(_name(place, "place"), country)
        located = locate(location)
        assert located is not None  # it names a place
        resolver = Resolver(self.store.lookup_keys([*located.country_keys, *located.place_keys]))
        plan = WritePlan()
        # ranked after every record's extraction time: a record's spelling names the Place
        place_id, country_id = plan_place(plan, located, resolver, location, EDITOR_RANK)
        target = place_id or country_id
        assert target is not None  # it names a place
        planned = plan.batch
        batch.nodes += planned.nodes
        batch.edges += planned.edges
        batch.keys.update(resolver.final_claims())
        self._uncorrect(batch, event_id)  # an earlier correction of the place
        first = PropertyWrite(create={"first_reported": "", "stories": []})
        batch.edges.append(EdgeWrite(event_id, Rel.OCCURRED_IN, target, CORRECTED, first))
        # the place the event is shown at and filed under (services.places chooses it)
        chosen = PropertyWrite(set={PLACE_CORRECTED: target})
        batch.nodes.append(NodeWrite(event_id, Label.EVENT, chosen))
        known = self.store.get_nodes([target]).get(target)
        if known is not None:  # as the page will show it: a record may have named it
            return target, self._label(known)
        if place_id is None or not location.country:  # a country, or a place in none
            return target, str(location.place or location.country)
        return target, f"{location.place}, {location.country}"

    def _uncorrect(self, batch: WriteBatch, event_id: str) -> None:
        """Unlinks the editor's location of `event_id` (its OCCURRED_IN `CORRECTED`), if any."""
        for e in self.store.edges([event_id], Rel.OCCURRED_IN, "out")[event_id]:
            if e.discriminator == CORRECTED:
                batch.unlinks.append((e.src, Rel.OCCURRED_IN, e.dst, e.discriminator))

    def _label(self, place: Node) -> str:
        return place_label(self.store, place.id) or place.text("name")

    # -- shared --------------------------------------------------------------------------------

    def _current(self, event_id: str) -> str:
        """`event_id`, or the event it was merged into since: a report id or an edit names
        the event as it was then."""
        return current(self.store, event_id)

    def _write(self, batch: WriteBatch, event_id: str, why: Why, at: str, guard: Any) -> None:
        changes: list[LevelChange] = []
        rate = rating([event_id], current_policy(self.store), why, at, changes)

        def derive(graph: GraphReader) -> WriteBatch:
            guard(graph)
            derived = rate(graph)
            # the matcher compares later records with the event as corrected (or as its
            # records describe it again, unpinned)
            profiles = reprofile(graph, [event_id])
            derived.nodes += profiles.nodes
            derived.keys.update(profiles.keys)
            derived.rekeys.update(profiles.rekeys)
            if any(w.type is Rel.OCCURRED_IN for w in batch.edges) or any(
                u[1] is Rel.OCCURRED_IN for u in batch.unlinks
            ):  # the place corrected or unpinned: the event's places follow its locations
                derived.nodes += event_places(graph, [event_id])
                derived.nodes += place_events(graph, [event_id])
            return derived

        # a Place or country the correction made: its keys must still be its own (a load may
        # have made the same place meanwhile: then the correction is resolved again)
        self.store.write(batch, derive=checked(dict(batch.keys), derive) if batch.keys else derive)
        self.changes += changes


def _text(value: str, argument: str, limit: int, empty: str = "") -> str:
    """`value` stripped, or an error naming `argument` when it is empty (`empty` says what
    then, when given) or longer than `limit`."""
    text = value.strip()
    if not text:
        raise EditorialError(empty or f"{argument} is empty")
    if len(text) > limit:
        raise EditorialError(f"{argument} is longer than {limit} characters ({len(text):,})")
    return text


def _reason(reason: str) -> str:
    return _text(reason, "reason", MAX_REASON, "reason is empty: say why")


def _name(value: str, argument: str) -> str:
    return _text(value, argument, MAX_PLACE)


def _location(place: str, country: str | None) -> Location:
    """The location an editor gave, as the gazetteer has it: a place it resolves by its
    canonical name, in its country ("Kiev" is Kyiv, Ukraine); else as given, within `country`
    (a country the gazetteer knows) if given. A place the gazetteer says is not in `country`
    is refused, naming `place`."""
    named = None
    if country is not None:
        country = _name(country, "country")
        named = gazetteer.country(country)
        if named is None:
            raise EditorialError(f"country: '{country[:60]}' is not a country (ISO 3166)")
    found = check(place, country)
    if found.status == "conflict":
        better = f" (did you mean {found.suggestion}?)" if found.suggestion else ""
        raise EditorialError(f"place: {found.reason}{better}")
    if found.status == "resolved" and found.entry is not None and found.country is not None:
        home = found.country.name
        return Location(
            place=home if found.entry.kind == "country" else found.entry.name, country=home
        )
    return Location(place=place, country=named.name if named is not None else None)


def _moment(value: str, argument: str) -> date:
    try:
        return parse_moment(value)
    except ValueError as exc:
        raise EditorialError(f"{argument}: {exc}") from None


def _checked(prop: str, value: str) -> Value:
    """`value` for event property `prop`, or an error naming its argument."""
    argument = ARGUMENTS[prop]
    if prop not in PINNABLE:
        raise EditorialError(f"{argument} cannot be corrected")
    if prop == "category":
        allowed = get_args(Category)
        if value not in allowed:
            raise EditorialError(
                f"category: unknown value {value!r}; expected one of {', '.join(allowed)}"
            )
        return value
    if prop == "occurred_on":
        return moment_text(_moment(value, argument))
    return _text(value, argument, MAX_SUMMARY)


def _unretracted(edge: Edge) -> Any:
    """A guard: the report is still there (its event not merged away meanwhile)."""

    def guard(graph: GraphReader) -> WriteBatch:
        for found in graph.edges([edge.dst], Rel.REPORTS, "in")[edge.dst]:
            if (found.src, found.discriminator) == (edge.src, edge.discriminator):
                return WriteBatch()
        raise WriteConflict(f"report {report_id(edge)} is gone meanwhile")

    return guard


def _dumps(value: object) -> str:
    return json.dumps(value, ensure_ascii=False, sort_keys=True)
