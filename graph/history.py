"""An event's confidence history: every change of level, when, why and by whom.

Kept on the event itself as the list property `confidence_history`, one JSON object per
change, merged as a sorted set (`union`): each entry starts with its time, so the list reads
oldest first, and two events merged into one keep both histories.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Final, Literal, TypeAlias

from graph import keys
from graph.model import Label, NodeWrite, PropertyWrite, Props, Value, strings

HISTORY: Final = "confidence_history"

# Why a level changed: a report arrived (a load or `ingest`), an editor approved a submitted
# source, the outlet registry changed, the policy changed, or two events were merged.
# A retraction (an outlet withdrew its report) or an editor's correction of an event.
Cause: TypeAlias = Literal[
    "report",
    "approval",
    "registry",
    "policy",
    "merge",
    "split",
    "review",
    "retraction",
    "correction",
    "takedown",
]


@dataclass(frozen=True, slots=True)
class Why:
    """The cause of a write that may change events' levels, and who made it."""

    cause: Cause
    detail: str
    by: str


@dataclass(frozen=True, slots=True)
class LevelChange:
    """One change of an event's confidence level. `previous` is None for its first rating."""

    at: str
    event_id: str
    previous: str | None
    level: str
    cause: Cause
    detail: str
    by: str

    def to_entry(self) -> str:
        """The stored form: JSON, `at` first so entries sort by time."""
        data = {
            "at": self.at,
            "previous": self.previous,
            "level": self.level,
            "cause": self.cause,
            "detail": self.detail,
            "by": self.by,
        }
        return json.dumps(data, ensure_ascii=False, separators=(",", ":"))

    @classmethod
    def from_entry(cls, event_id: str, entry: str) -> LevelChange:
        data = json.loads(entry)
        return cls(event_id=event_id, **data)


def history(event_id: str, props: Props) -> list[LevelChange]:
    """The confidence history of an event with these properties, oldest first."""
    return [LevelChange.from_entry(event_id, e) for e in strings(props, HISTORY)]


def edit(action: str, at: str, why: Why, subject: str, **extra: str) -> NodeWrite:
    """An entry of the editorial log (`Edit` node): what was done (`action`) to which node
    (`subject`), when, why and by whom; `extra` holds what undoing it needs, as JSON text."""
    edit_id = keys.node_id("ed", f"{action}|{subject}|{at}|{json.dumps(extra, sort_keys=True)}")
    props: dict[str, Value] = {
        "action": action,
        "at": at,
        "subject": subject,
        "cause": why.cause,
        "detail": why.detail,
        "by": why.by,
        **extra,
    }
    return NodeWrite(edit_id, Label.EDIT, PropertyWrite(create=props))
