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
from typing import Any, Final, Literal, NoReturn, TypeAlias, get_args

Scalar: TypeAlias = str | int | float | bool | None
Value: TypeAlias = Scalar | list[str]
Props: TypeAlias = Mapping[str, Value]


class Label(StrEnum):
    EVENT = "Event"
    ENTITY = "Entity"
    PLACE = "Place"
    OUTLET = "Outlet"
    STORY = "Story"
    SUBMISSION = "Submission"  # a source a reader submitted for an event, and its review
    EDIT = "Edit"  # the editorial log: merges, splits, registry and policy changes, reviews


class Rel(StrEnum):
    REPORTS = "REPORTS"  # (Outlet)-[:REPORTS {story, claim_texts, claim_tones, ...}]->(Event)
    INVOLVES = "INVOLVES"  # (Event)-[:INVOLVES {roles}]->(Entity)
    OCCURRED_IN = "OCCURRED_IN"  # (Event)-[:OCCURRED_IN {stories}]->(Place)
    IN_COUNTRY = "IN_COUNTRY"  # (Place)-[:IN_COUNTRY]->(Place {kind: 'country'})
    PUBLISHED = "PUBLISHED"  # (Outlet)-[:PUBLISHED]->(Story)
    DESCRIBES = "DESCRIBES"  # (Story)-[:DESCRIBES {extracted_at, ingested_at}]->(Event)
    SUBMITTED_FOR = "SUBMITTED_FOR"  # (Submission)-[:SUBMITTED_FOR]->(Event)


Direction: TypeAlias = Literal["out", "in"]

# What the public may see. Editorial records (a reader's submission and its review, the
# editorial log) and the relationships that reach them are private: public traversal
# (`neighbours`, `neighbourhood`, paths), `search` and `node` go only through PUBLIC_RELS into
# nodes of PUBLIC_LABELS, and answer for an editorial id exactly as for an unknown one. Every
# traversal takes its relationships and labels from here (docs/security.md), so a new label or
# relationship is private until it is listed as public.
EDITORIAL_LABELS: Final = frozenset({Label.SUBMISSION, Label.EDIT})
EDITORIAL_RELS: Final = frozenset({Rel.SUBMITTED_FOR})
PUBLIC_LABELS: Final = (Label.EVENT, Label.ENTITY, Label.PLACE, Label.OUTLET, Label.STORY)
PUBLIC_RELS: Final = (
    Rel.REPORTS,
    Rel.INVOLVES,
    Rel.OCCURRED_IN,
    Rel.IN_COUNTRY,
    Rel.PUBLISHED,
    Rel.DESCRIBES,
)

# The extractor's vocabularies (shared/extractor/README.md) and the confidence levels.
Category: TypeAlias = Literal[
    "diplomatic",
    "military",
    "political",
    "economic",
    "humanitarian",
    "legal",
    "cyber",
    "infrastructure",
    "other",
]
EntityType: TypeAlias = Literal["person", "organization", "country", "place", "group", "other"]
Tone: TypeAlias = Literal["certain", "likely", "uncertain", "claimed", "denied"]
Tier: TypeAlias = Literal["trusted", "standard", "state-affiliated", "unknown"]
CATEGORIES: tuple[str, ...] = get_args(Category)
ENTITY_TYPES: tuple[str, ...] = get_args(EntityType)
TONES: tuple[str, ...] = get_args(Tone)
TIERS: tuple[str, ...] = get_args(Tier)
LEVELS = ("disputed", "unverified", "likely", "verified")


# The property names the code reads by name, per label. `Node.text`, `Node.texts` and
# `Edge.texts` take only these (`strings` also takes a name computed at run time), so mypy
# checks every such read: a misspelt or retired property name is a type error, not an empty
# string at run time. Zero cost at run time.
EventProp: TypeAlias = Literal[
    "category", "summary", "occurred_on", "lat", "lon", "external_ids", "place_ids",
    "country_ids", "first_extracted_at", "last_extracted_at", "ingested_at", "confidence",
    "confidence_rank", "confidence_history", "level_since", "kept_apart", "_rank_first",
    "_rank_last",
    "identity_categories", "identity_places", "identity_points",
    "identity_names", "identity_texts", "identity_outlets", "identity_stories",
    "identity_records", "identity_entities", "identity_dated", "identity_published", "pins",
    "place_id", "location_check", "location_reason", "location_suggestion",
    "location_corrected", "geo_lat", "geo_lon",
]  # fmt: skip
NamedProp: TypeAlias = Literal[
    "name", "aliases", "type", "tier", "group", "kind", "country",
    # a Place as the gazetteer knows it (services.places)
    "gazetteer_id", "canonical_name", "country_code", "admin1", "alternate_names",
    "population", "resolution", "check_reason", "suggestion", "iso",
]  # fmt: skip
StoryProp: TypeAlias = Literal["slug", "url", "published_on"]
EditorialProp: TypeAlias = Literal[
    "status", "url", "outlet_name", "claim", "tone", "note", "submitted_at", "submitted_by",
    "reviewed_at", "reviewed_by", "review_note", "duplicate_of", "action", "at", "subject",
    "cause", "detail", "by", "label", "merged", "merged_state", "survivor_state", "split_at",
    "split_by", "other", "score", "evidence", "undone_at", "undone_by", "undid", "apart_before",
    "created", "resolved", "report", "before", "pins", "pins_dropped",
]  # fmt: skip
EdgeProp: TypeAlias = Literal[
    "roles", "names", "stories", "story", "claim_texts", "claim_tones", "first_reported",
    "mention", "identity", "flags", "retracted_on", "retraction_reasons", "retracted_by",
    "story_extractions",
]  # fmt: skip
Prop: TypeAlias = EventProp | NamedProp | StoryProp | EditorialProp | EdgeProp


@dataclass(frozen=True, slots=True)
class Node:
    id: str
    label: Label
    props: Props

    def text(self, name: Prop) -> str:
        """A string property, or '' when absent."""
        value = self.props.get(name)
        return value if isinstance(value, str) else ""

    def texts(self, name: Prop) -> list[str]:
        """A list-of-strings property, or [] when absent."""
        return strings(self.props, name)

    def title(self) -> str:
        """What a person calls it: an event's summary, a story's slug, anything else's name."""
        if self.label is Label.EVENT:
            return self.text("summary")
        if self.label is Label.STORY:
            return self.text("slug")
        return self.text("name")


@dataclass(frozen=True, slots=True)
class Edge:
    src: str
    type: Rel
    dst: str
    discriminator: str  # tells apart parallel relationships of one type between two nodes
    props: Props

    def other(self, node_id: str) -> str:
        """The node at the other end from `node_id`."""
        return self.dst if node_id == self.src else self.src

    def texts(self, name: Prop) -> list[str]:
        """A list-of-strings property, or [] when absent."""
        return strings(self.props, name)


def is_public(node: Node) -> bool:
    """Whether the public may see `node`: its label is public (PUBLIC_LABELS)."""
    return node.label in PUBLIC_LABELS


def strings(props: Props, name: str) -> list[str]:
    """The list-of-strings property `name` of `props` (a copy), or [] when absent."""
    value = props.get(name)
    return list(value) if isinstance(value, list) else []


class _NoProps(dict[str, Any]):
    """The empty properties every write leaves out share: one dictionary, which refuses to
    change (a `PropertyWrite` built without a part then costs no new dictionary)."""

    __slots__ = ()

    def __hash__(self) -> int:  # type: ignore[override]  # a dataclass default is hashable
        return 0

    def _refuse(self, *args: object, **kwargs: object) -> NoReturn:
        raise TypeError("the shared empty properties of a PropertyWrite cannot change")

    __setitem__ = __delitem__ = __ior__ = update = setdefault = _refuse
    pop = popitem = clear = _refuse


NO_PROPS: Any = _NoProps()


@dataclass(slots=True)  # not frozen: a load builds millions, and frozen init costs 2x
class PropertyWrite:
    """How a write merges into what is stored. Every rule is commutative and idempotent, so
    the stored result does not depend on the order records arrive in, and a replay is a no-op.

    - `set`: overwritten by every write (derived values such as confidence).
    - `create`: written only when the node or relationship is new (ingest time, stable facts).
    - `first`: the values of the write with the lowest `rank` win (the earliest extraction's
      summary); `last`: the highest `rank` wins (the newest extraction of one story).
    - `union`: list properties kept as sorted sets (aliases, roles).
    - `minimum` / `maximum`: the smallest / largest value seen (first and last extracted).
    """

    set: Props = NO_PROPS
    create: Props = NO_PROPS
    first: Props = NO_PROPS
    last: Props = NO_PROPS
    rank: str = ""
    union: Mapping[str, list[str]] = NO_PROPS
    minimum: Mapping[str, str] = NO_PROPS
    maximum: Mapping[str, str] = NO_PROPS


RETRACTED_ON: Final = "retracted_on"  # on a REPORTS: the day its outlet retracted it
FIRST_RANK: Final = "_rank_first"
LAST_RANK: Final = "_rank_last"


def apply_write(current: Props | None, change: PropertyWrite) -> dict[str, Value]:
    """Apply `change` to `current` (None for a new node) and return the merged properties."""
    merged: dict[str, Value] = dict(change.create) if current is None else dict(current)
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
    if change.union:
        for name, values in change.union.items():
            old = merged.get(name)
            if isinstance(old, list) and old:
                merged[name] = sorted({*old, *values})
            elif len(values) < 2:  # most unions write one value (a role, a story, a name)
                merged[name] = list(values)
            else:
                merged[name] = sorted(set(values))
    if change.minimum:
        for name, value in change.minimum.items():
            old = merged.get(name)
            if not isinstance(old, str) or value < old:
                merged[name] = value
    if change.maximum:
        for name, value in change.maximum.items():
            old = merged.get(name)
            if not isinstance(old, str) or value > old:
                merged[name] = value
    if change.set:
        merged.update(change.set)
    return merged


@dataclass(slots=True)  # not frozen: a load builds millions, and frozen init costs 2x
class NodeWrite:
    id: str
    label: Label
    change: PropertyWrite


@dataclass(slots=True)  # not frozen: a load builds millions, and frozen init costs 2x
class EdgeWrite:
    src: str
    type: Rel
    dst: str
    discriminator: str
    change: PropertyWrite


EdgeId: TypeAlias = tuple[str, Rel, str, str]  # (src, type, dst, key)


@dataclass(slots=True)
class WriteBatch:
    """Everything one atomic write changes: applied all together or not at all, in this order:

    1. `deletes`: nodes removed with all their relationships (a merged-away duplicate), then
       `unlinks`: relationships removed (an involvement a split moves back);
    2. `nodes`, then `edges`, merged by their rules (a relationship unlinked and written in one
       batch is written afresh);
    3. `rekeys`: identity keys given a new owner, or dropped (None), whoever owned them;
    4. `keys`: identity keys (normalised names, aliases, event fingerprints) claimed for node
       ids; a key already claimed keeps its owner. Keys a deleted node owned and nothing
       re-keyed are dropped.
    5. `settings`: editorial data such as the confidence policy.

    `created` and `level_changes` write nothing: they say what the write means, and the store
    copies them into its change log entry (`graph.store.Change`), from which every process's
    live updates are published, whoever wrote.
    """

    nodes: list[NodeWrite] = field(default_factory=list)
    edges: list[EdgeWrite] = field(default_factory=list)
    keys: dict[str, str] = field(default_factory=dict)
    settings: dict[str, str] = field(default_factory=dict)
    deletes: list[str] = field(default_factory=list)
    rekeys: dict[str, str | None] = field(default_factory=dict)
    unlinks: list[EdgeId] = field(default_factory=list)
    # the events this write creates (new to the graph, not merged into one it holds)
    created: list[str] = field(default_factory=list)
    # (event id, confidence history entry) of each change of an event's level it makes
    level_changes: list[tuple[str, str]] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(
            self.nodes
            or self.edges
            or self.keys
            or self.settings
            or self.deletes
            or self.rekeys
            or self.unlinks
        )


# How each stored property merges when two nodes (or relationships) turn out to be one. The
# loaders write with these same rules; properties not listed are derived (confidence) and are
# recomputed after a merge.
RULES: dict[Label | Rel, dict[str, str]] = {
    Label.EVENT: {
        "category": "first",
        "summary": "first",
        "occurred_on": "first",
        "lat": "first",
        "lon": "first",
        "external_ids": "union",
        "place_ids": "union",
        "country_ids": "union",
        "first_extracted_at": "minimum",
        "last_extracted_at": "maximum",
        "ingested_at": "minimum",
        "confidence_history": "union",
        "kept_apart": "union",  # events editors said are not this one (services.matching)
        "location_corrected": "first",  # an editor's choice of place (services.places)
        "pins": "union",  # properties editors corrected (services.pins)
    },
    Label.ENTITY: {"name": "first", "type": "create", "aliases": "union", "ingested_at": "minimum"},
    Label.OUTLET: {
        "name": "create",
        "tier": "create",
        "group": "create",
        "country": "create",
        "kind": "create",
        "aliases": "union",
        "ingested_at": "minimum",
    },
    Rel.REPORTS: {
        "story": "create",
        "url": "last",
        "claim_texts": "last",
        "claim_tones": "last",
        "story_published_on": "last",
        "extracted_at": "last",
        "position": "last",
        "ingested_at": "minimum",
        # a retraction, once said (by the extractor or an editor), stands until an editor
        # undoes it: the earliest date given, every reason and who said it
        "retracted_on": "minimum",
        "retraction_reasons": "union",
        "retracted_by": "union",
    },
    Rel.DESCRIBES: {
        # what each extraction of the story said of its event, as the matcher reads it (JSON)
        "mention": "union",
        "identity": "last",  # the matcher's decision for the story's latest extraction
        "summary": "last",
        "category": "last",
        "occurred_on": "last",
        "first_extracted_at": "minimum",
        "last_extracted_at": "maximum",
        "ingested_at": "minimum",
    },
    # story_extractions: which extraction of each story named it (services.replacement)
    Rel.INVOLVES: {
        "roles": "union",
        "names": "union",
        "stories": "union",
        "story_extractions": "union",
    },
    Rel.OCCURRED_IN: {
        "first_reported": "minimum",
        "stories": "union",
        "flags": "union",
        "story_extractions": "union",
    },
    Rel.PUBLISHED: {},
    Rel.IN_COUNTRY: {},
    Rel.SUBMITTED_FOR: {},
}


def as_property_write(kind: Label | Rel, props: Props) -> PropertyWrite:
    """A write that merges stored `props` of a `kind` node or relationship into another one."""
    rules = RULES.get(kind, {})
    parts: dict[str, dict[str, Value]] = {r: {} for r in ("create", "first", "last")}
    union: dict[str, list[str]] = {}
    minimum: dict[str, str] = {}
    maximum: dict[str, str] = {}
    for name, value in props.items():
        rule = rules.get(name)
        if rule in parts:
            parts[rule][name] = value
        elif rule == "union" and isinstance(value, list):
            union[name] = value
        elif rule == "minimum" and isinstance(value, str):
            minimum[name] = value
        elif rule == "maximum" and isinstance(value, str):
            maximum[name] = value
    first_rank, last_rank = props.get(FIRST_RANK), props.get(LAST_RANK)
    first = parts["first"] if isinstance(first_rank, str) else {}
    last = parts["last"] if isinstance(last_rank, str) else {}
    if first and last:
        # One PropertyWrite carries one rank; no kind in RULES has both `first` and `last` parts.
        raise ValueError(f"{kind}: properties with both first and last rules cannot merge")
    rank = first_rank if first else last_rank
    return PropertyWrite(
        create=parts["create"],
        first=first,
        last=last,
        rank=rank if isinstance(rank, str) else "",
        union=union,
        minimum=minimum,
        maximum=maximum,
    )


def timestamp(moment: datetime) -> str:
    """`moment` as the RFC 3339 string this graph stores: UTC, milliseconds, `Z`."""
    utc = moment.astimezone(UTC)
    if utc.year >= 1000:  # the same text, a third of the cost (a load makes one per record)
        return utc.isoformat(timespec="milliseconds")[:-6] + "Z"
    return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}Z"
