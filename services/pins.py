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
from dataclasses import dataclass
from typing import Final

from graph.model import Label, Node, NodeWrite, PropertyWrite, Value
from graph.store import GraphReader
from services.places import records_place

PINS: Final = "pins"
# What an editor may correct: the event's own properties (`correctEvent`'s arguments).
PINNABLE = ("summary", "category", "occurred_on")


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
