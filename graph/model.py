"""The domain model: nodes, relationships and the writes that merge into them. Pure data, no I/O.

Property values are what Neo4j can store too: strings, numbers, booleans, None and lists of
strings. Timestamps are RFC 3339 strings in UTC with milliseconds (`2026-05-30T04:15:39.113Z`),
dates are `YYYY-MM-DD`; both sort correctly as strings.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Literal, TypeAlias

Scalar: TypeAlias = str | int | float | bool | None
Value: TypeAlias = Scalar | list[str]
Props: TypeAlias = Mapping[str, Value]


class Label(StrEnum):
    EVENT = "Event"
    ENTITY = "Entity"
    PLACE = "Place"
    OUTLET = "Outlet"
    STORY = "Story"


class Rel(StrEnum):
    REPORTS = "REPORTS"  # (Outlet)-[:REPORTS {story, claim_texts, claim_tones, ...}]->(Event)
    INVOLVES = "INVOLVES"  # (Event)-[:INVOLVES {roles}]->(Entity)
    OCCURRED_IN = "OCCURRED_IN"  # (Event)-[:OCCURRED_IN {stories}]->(Place)
    IN_COUNTRY = "IN_COUNTRY"  # (Place)-[:IN_COUNTRY]->(Place {kind: 'country'})
    PUBLISHED = "PUBLISHED"  # (Outlet)-[:PUBLISHED]->(Story)
    DESCRIBES = "DESCRIBES"  # (Story)-[:DESCRIBES {extracted_at, ingested_at}]->(Event)


Direction: TypeAlias = Literal["out", "in"]

CATEGORIES = (
    "diplomatic",
    "military",
    "political",
    "economic",
    "humanitarian",
    "legal",
    "cyber",
    "infrastructure",
    "other",
)
ENTITY_TYPES = ("person", "organization", "country", "place", "group", "other")
TONES = ("certain", "likely", "uncertain", "claimed", "denied")
TIERS = ("trusted", "standard", "state-affiliated", "unknown")
LEVELS = ("disputed", "unverified", "likely", "verified")


@dataclass(frozen=True, slots=True)
class Node:
    id: str
    label: Label
    props: Props

    def text(self, name: str) -> str:
        """A string property, or '' when absent."""
        value = self.props.get(name)
        return value if isinstance(value, str) else ""

    def texts(self, name: str) -> list[str]:
        """A list-of-strings property, or [] when absent."""
        value = self.props.get(name)
        return list(value) if isinstance(value, list) else []


@dataclass(frozen=True, slots=True)
class Edge:
    src: str
    type: Rel
    dst: str
    key: str  # tells apart parallel relationships of one type between the same two nodes
    props: Props

    def other(self, node_id: str) -> str:
        """The node at the other end from `node_id`."""
        return self.dst if node_id == self.src else self.src


@dataclass(frozen=True, slots=True)
class Merge:
    """How a write merges into what is stored. Every rule is commutative and idempotent, so
    the stored result does not depend on the order records arrive in, and a replay is a no-op.

    - `set`: overwritten by every write (derived values such as confidence).
    - `create`: written only when the node or relationship is new (ingest time, stable facts).
    - `first`: the values of the write with the lowest `rank` win (the earliest extraction's
      summary); `last`: the highest `rank` wins (the newest extraction of one story).
    - `union`: list properties kept as sorted sets (aliases, roles).
    - `minimum` / `maximum`: the smallest / largest value seen (first and last extracted).
    """

    set: Props = field(default_factory=dict)
    create: Props = field(default_factory=dict)
    first: Props = field(default_factory=dict)
    last: Props = field(default_factory=dict)
    rank: str = ""
    union: Mapping[str, list[str]] = field(default_factory=dict)
    minimum: Mapping[str, str] = field(default_factory=dict)
    maximum: Mapping[str, str] = field(default_factory=dict)


FIRST_RANK = "_rank_first"
LAST_RANK = "_rank_last"


def merge_props(current: Props | None, change: Merge) -> dict[str, Value]:
    """Apply `change` to `current` (None for a new node) and return the merged properties."""
    merged: dict[str, Value] = dict(current or {})
    if current is None:
        merged.update(change.create)
    if change.first:
        stored = merged.get(FIRST_RANK)
        if not isinstance(stored, str) or change.rank < stored:
            merged.update(change.first)
            merged[FIRST_RANK] = change.rank
    if change.last:
        stored = merged.get(LAST_RANK)
        if not isinstance(stored, str) or change.rank > stored:
            merged.update(change.last)
            merged[LAST_RANK] = change.rank
    for name, values in change.union.items():
        old = merged.get(name)
        merged[name] = sorted(set(old if isinstance(old, list) else []) | set(values))
    for name, value in change.minimum.items():
        old = merged.get(name)
        if not isinstance(old, str) or value < old:
            merged[name] = value
    for name, value in change.maximum.items():
        old = merged.get(name)
        if not isinstance(old, str) or value > old:
            merged[name] = value
    merged.update(change.set)
    return merged


@dataclass(frozen=True, slots=True)
class NodeWrite:
    id: str
    label: Label
    merge: Merge


@dataclass(frozen=True, slots=True)
class EdgeWrite:
    src: str
    type: Rel
    dst: str
    key: str
    merge: Merge


@dataclass(slots=True)
class WriteBatch:
    """Everything one atomic write changes: applied all together or not at all.

    `keys` claims identity keys (normalised names, aliases, event fingerprints) for node ids;
    a key already claimed keeps its owner. `settings` stores editorial data such as the policy.
    """

    nodes: list[NodeWrite] = field(default_factory=list)
    edges: list[EdgeWrite] = field(default_factory=list)
    keys: dict[str, str] = field(default_factory=dict)
    settings: dict[str, str] = field(default_factory=dict)

    def __bool__(self) -> bool:
        return bool(self.nodes or self.edges or self.keys or self.settings)


def timestamp(moment: datetime) -> str:
    """`moment` as the RFC 3339 string this graph stores: UTC, milliseconds, `Z`."""
    utc = moment.astimezone(UTC)
    return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}Z"
