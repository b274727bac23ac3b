"""Event properties an editor corrected, pinned against later records (docs/editorial.md,
"Correcting an event").

A pin is an entry of the event's list property `pins` (JSON: the property, the value the
editor gave, what the records said before, who, why, when). The latest pin of a property is
the one in force. Every write that can change an event's properties from records (a load,
`ingest`, a merge or split of events) re-applies the pins in its own transaction (`repin`):
what the records say is kept in the pin as `from` (what the page shows editors as "corrected
from ..."), and the property keeps the editor's value until an editor unpins it.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any, Final

from graph.identity import EventProfile
from graph.identity.normalise import place_key
from graph.identity.profile import days_of
from graph.model import Label, Node, NodeWrite, PropertyWrite, Props, Value
from graph.store import GraphReader
from services.places import CORRECTED, records_place

PINS: Final = "pins"
# What an editor may correct: the event's own properties (`correctEvent`'s arguments).
PINNABLE = ("summary", "category", "occurred_on")
ALIASES: Final = "alternate_names"  # of a Place the gazetteer knows (services.places)


@dataclass(frozen=True, slots=True)
class Pin:
    prop: str
    value: Value
    was: Value  # what the records say (said before the correction, or since)
    at: str
    by: str
    reason: str

    def to_entry(self) -> str:
        data = {
            "at": self.at,
            "prop": self.prop,
            "value": self.value,
            "from": self.was,
            "by": self.by,
            "reason": self.reason,
        }
        return json.dumps(data, ensure_ascii=False, sort_keys=True)

    def same_correction(self, other: Pin) -> bool:
        """Whether `other` is this pin, whatever each says the records say (`was`, which every
        load may rewrite: `repin`)."""
        return (self.prop, self.value, self.at, self.by, self.reason) == (
            other.prop,
            other.value,
            other.at,
            other.by,
            other.reason,
        )

    @classmethod
    def of(cls, entry: str) -> Pin:
        data = json.loads(entry)
        return cls(
            prop=str(data["prop"]),
            value=data["value"],
            was=data.get("from"),
            at=str(data["at"]),
            by=str(data.get("by") or ""),
            reason=str(data.get("reason") or ""),
        )


def pins_of(event: Node) -> dict[str, Pin]:
    """The pins in force on `event`, by property: the latest of each."""
    found: dict[str, Pin] = {}
    for entry in sorted(event.texts(PINS)):  # each starts with its time: oldest first
        pin = Pin.of(entry)
        found[pin.prop] = pin
    return found


def repin(graph: GraphReader, event_ids: Sequence[str]) -> list[NodeWrite]:
    """The writes that give each pinned property of `event_ids` its editor's value again, as
    the transaction sees them, keeping what the records now say in the pin (for the place:
    the place they choose); none when every pinned property holds its value already (so a
    reload stays a no-op)."""
    writes: list[NodeWrite] = []
    for event in graph.get_nodes(list(event_ids)).values():
        if event.label is not Label.EVENT or not event.props.get(PINS):
            continue
        entries = event.texts(PINS)
        before = list(entries)
        values: dict[str, Value] = {}
        for prop, pin in pins_of(event).items():
            if prop == "place":  # a location of its own, chosen first (services.corrections)
                said = records_place(graph, event)
                if said != pin.was:
                    moved = Pin(prop, pin.value, said, pin.at, pin.by, pin.reason)
                    entries = [moved.to_entry() if e == pin.to_entry() else e for e in entries]
                continue
            if prop not in PINNABLE:
                continue
            current = event.props.get(prop)
            if current == pin.value:
                continue
            values[prop] = pin.value
            moved = Pin(prop, pin.value, current, pin.at, pin.by, pin.reason)
            entries = [moved.to_entry() if e == pin.to_entry() else e for e in entries]
        if values or entries != before:
            values[PINS] = sorted(entries)
            writes.append(NodeWrite(event.id, Label.EVENT, PropertyWrite(set=values)))
    return writes


# -- merging corrected events ----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class MergedPins:
    """The pins of an event once others merged into it (`merge_pins`)."""

    entries: list[str]  # the survivor's `pins`
    place_from: str | None  # the event whose corrected place the survivor keeps, if any
    dropped: dict[str, list[Pin]]  # merged-away event -> its pins in force that gave way


def merge_pins(survivor: Node | None, olds: Sequence[Node]) -> MergedPins:
    """The pins of `survivor` once `olds` merged into it (docs/editorial.md, "Corrections when
    events merge"): property by property, the pin in force of the first of the survivor and
    then `olds` (in their order) that pins it wins, with its earlier pins of that property (its
    "corrected from" history); the others' pins of that property give way (`dropped`: those
    in force, named in the merge's log entry; the merged-away event's state in that entry
    keeps them all, so the undo restores them)."""
    events = [e for e in (survivor, *olds) if e is not None]
    owner: dict[str, str] = {}
    for event in events:
        for prop in pins_of(event):
            owner.setdefault(prop, event.id)
    entries: list[str] = []
    dropped: dict[str, list[Pin]] = {}
    for event in events:
        for entry in event.texts(PINS):
            if owner.get(Pin.of(entry).prop) == event.id and entry not in entries:
                entries.append(entry)
        lost = [p for prop, p in sorted(pins_of(event).items()) if owner[prop] != event.id]
        if lost:
            dropped[event.id] = lost
    return MergedPins(sorted(entries), owner.get("place"), dropped)


def as_recorded(event: Node) -> Props:
    """`event`'s properties as its records say them: each pinned property's "corrected from"
    in place of the editor's value (what a merge moves into the survivor by the merge rules;
    the pins in force are applied again after it, `repin`)."""
    said = {p: pin.was for p, pin in pins_of(event).items() if p in PINNABLE}
    if not said:
        return event.props
    props = {k: v for k, v in event.props.items() if k not in said}
    props.update({p: was for p, was in said.items() if was is not None})
    return props


def dropped_text(pins: Sequence[Pin]) -> str:
    """Pins that gave way in a merge, for the log entry's detail."""
    return ", ".join(f"{p.prop} {p.value!r} ({p.by})" for p in pins)


# -- the matcher reads the event as corrected ------------------------------------------------


def corrected_profile(
    graph: GraphReader, event: Node, profile: EventProfile | None
) -> EventProfile | None:
    """`profile` (the matcher's profile of `event`, made from its records) as an editor
    corrected it (docs/editorial.md, "Corrections and the matcher"): a corrected place is
    its only place (the names of its Place: a record's spelling, the gazetteer's name and its
    other names, so a record at "Raqqa" names the place an editor gave as "Ar Raqqah") and
    point (the Place's coordinates, if known): the records' are what was wrong; a corrected
    day is each record's day; a corrected category is its only category. The records' sides,
    words, outlets and stories stay. An event with none of these pins keeps `profile`."""
    if profile is None:
        return None
    pinned = pins_of(event)
    changes: dict[str, Any] = {}
    if "place" in pinned:
        target = event.text(CORRECTED)
        place = graph.get_nodes([target]).get(target) if target else None
        if place is not None:
            names = {place.text("name"), place.text("canonical_name"), *place.texts(ALIASES)}
            changes["places"] = frozenset(filter(None, map(place_key, names - {""})))
            lat, lon = place.props.get("lat"), place.props.get("lon")
            located = isinstance(lat, int | float) and isinstance(lon, int | float)
            point = (round(float(lat), 5), round(float(lon), 5)) if located else None  # type: ignore[arg-type]
            changes["points"] = frozenset([point] if point is not None else [])
            changes["anchors"] = frozenset()  # the gazetteer's points of the records' places
    day = pinned["occurred_on"].value if "occurred_on" in pinned else None
    if isinstance(day, str) and day:
        day = day[:10]
        dated = frozenset(f"{day}|{d.partition('|')[2]}" for d in profile.dated)
        changes["dated"] = dated
        changes["days"] = days_of(dated)
    category = pinned["category"].value if "category" in pinned else None
    if isinstance(category, str) and category:
        changes["categories"] = frozenset([category])
    return replace(profile, **changes) if changes else profile
