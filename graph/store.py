"""The store port: the few batch-shaped operations every graph store implements.

Loaders and the API's DataLoaders make the same calls, so a page costs a handful of batched
reads whatever the store. Two adapters implement it: `graph.embedded.EmbeddedStore` (networkx in
memory, SQLite on disk) and, for larger deployments, a Neo4j store. Both pass the contract suite
in `tests/test_store_contract.py`; a result never depends on which store served it.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal, Protocol, TypeAlias, runtime_checkable

from graph.model import Direction, Edge, EdgeId, Label, Node, Props, Rel, WriteBatch, strings
from graph.search import IndexedDoc, Lookup


class StoreError(Exception):
    """A store cannot do what was asked; the message says why and what to do."""


def check_prefixes(prefixes: Sequence[str]) -> None:
    """Refuses a prefix `lookup_key_prefixes` does not answer (see there)."""
    for prefix in prefixes:
        if not (prefix.startswith(MATCH) and prefix.endswith("#")):
            raise StoreError(f"not a matching key prefix (match:...#): {prefix!r}")


MATCH = "match:"  # the keys `lookup_key_prefixes` answers for: match:{blocking key}#{owner}


class StoreUnavailable(StoreError):
    """The store cannot be reached now (a server down or restarting): nothing is wrong with
    the request, and the same request may succeed shortly. The message names no host."""


class WriteConflict(StoreError):
    """A `derive` step found that a concurrent writer got there first (a key it claimed is
    another node's, a relationship's end is not visible yet): nothing was written, and the
    writer should read again and redo the batch."""


class ChangeLogTruncated(StoreError):
    """The change log no longer holds the entries after the position asked for: they were
    truncated (`CHANGE_LOG_KEEP`). A follower that far behind reads the store afresh."""


# The change log keeps at least this many of its latest entries; older ones are truncated as
# writes append (docs/changes.md). A reader further behind than that rebuilds. 1,000 batches
# of a load are 500,000 records; an entry of such a batch is tens of kB on the embedded store
# and hundreds on Neo4j, so the log stays within about 100 MB and a few hundred.
CHANGE_LOG_KEEP = 1000


@dataclass(frozen=True, slots=True)
class Change:
    """One entry of the store's change log: what one committed write changed, in commit order.

    `seq` numbers the entries from 1 without gaps; `at` is when the write committed (ISO 8601,
    UTC). `nodes` are the ids of the nodes written (created or changed), `deleted` those
    removed; `relationships` those written and `unlinked` those removed (explicitly, or with a
    deleted node); `settings` the names of the settings written. `created` and
    `level_changes` are what the writer said the write means (`WriteBatch.created`,
    `WriteBatch.level_changes`): the events it created and each (event id, confidence history
    entry) of a level it changed, from which live updates are published.
    """

    seq: int
    at: str
    nodes: tuple[str, ...] = ()
    deleted: tuple[str, ...] = ()
    relationships: tuple[EdgeId, ...] = ()
    unlinked: tuple[EdgeId, ...] = ()
    settings: tuple[str, ...] = ()
    created: tuple[str, ...] = ()
    level_changes: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True, slots=True)
class EventFilter:
    """Which events a listing or timeline shows. Every field narrows; empty means no limit.

    Dates are inclusive `YYYY-MM-DD` bounds on when the event happened. `place`, `country`,
    `entity` and `outlet` are node ids; `entity` keeps the events with a relationship to that
    node (an entity they involve; `graph.analytics.related` passes a place they occurred in:
    read from the node's own relationships on both stores, not by a walk of every event).
    `min_confidence` is a rank (`Policy.rank`); `levels` the exact ranks admitted (any of
    them). `all_entities`: entity ids the event involves every one of (beside `entity`: an
    entity pair's events); `any_entities`: at least one of.
    """

    categories: tuple[str, ...] = ()
    date_from: str | None = None
    date_to: str | None = None
    place: str | None = None
    country: str | None = None
    entity: str | None = None
    outlet: str | None = None
    min_confidence: int | None = None
    levels: tuple[int, ...] = ()
    # the place-country check (services.places): True, events whose place is contradicted
    flagged: bool | None = None
    # (latitude, longitude, km): events within km of the point (great-circle, by `geo_lat`
    # and `geo_lon`, the event's coordinates or its place's)
    near: tuple[float, float, float] | None = None
    # (south, west, north, east) in degrees: events inside; west > east crosses 180°
    box: tuple[float, float, float, float] | None = None
    all_entities: tuple[str, ...] = ()
    any_entities: tuple[str, ...] = ()
    # What the event's relationships decide (`admits_around`; docs/analytics.md):
    # `roles` (lower case): an involvement in one of them, of `entity` when given, else of any
    # entity (of one of `entity_types` when given); `entity_types`: it involves an entity of
    # one of them; `tones`: a report not retracted holds a claim of one of them; `tiers`,
    # `groups`: an outlet that reported it (not every report retracted, by its `track`) is of
    # one of these tiers (an outlet without one: "unknown") or independence groups.
    roles: tuple[str, ...] = ()
    entity_types: tuple[str, ...] = ()
    tones: tuple[str, ...] = ()
    tiers: tuple[str, ...] = ()
    groups: tuple[str, ...] = ()

    @property
    def around(self) -> bool:
        """Whether a part of the filter reads the event's relationships (`admits_around`)."""
        return bool(self.roles or self.entity_types or self.tones or self.tiers or self.groups)

    def admits(self, props: Props) -> bool:
        """Whether an event with these properties passes every part of the filter that its
        properties decide (all but `entity`, `outlet`, `all_entities` and `any_entities`, which
        take its relationships, and the parts `admits_around` decides)."""
        if self.categories and props.get("category") not in self.categories:
            return False
        day = str(props.get("occurred_on") or "")[:10]
        if self.date_from is not None and day < self.date_from:
            return False
        if self.date_to is not None and day > self.date_to:
            return False
        if self.place is not None and self.place not in strings(props, "place_ids"):
            return False
        if self.country is not None and self.country not in strings(props, "country_ids"):
            return False
        if self.min_confidence is not None:
            rank = props.get("confidence_rank")
            if not isinstance(rank, int) or rank < self.min_confidence:
                return False
        if self.levels and props.get("confidence_rank") not in self.levels:
            return False
        if self.flagged is not None and (props.get("location_check") == "conflict") != (
            self.flagged
        ):
            return False
        if self.near is not None or self.box is not None:
            return self._located(props)
        return True

    def _located(self, props: Props) -> bool:
        lat, lon = props.get("geo_lat"), props.get("geo_lon")
        if not isinstance(lat, int | float) or not isinstance(lon, int | float):
            return False
        if self.box is not None:
            south, west, north, east = self.box
            if not south <= lat <= north:
                return False
            if not (west <= lon <= east if west <= east else lon >= west or lon <= east):
                return False
        if self.near is not None:
            at_lat, at_lon, km = self.near
            if haversine_km(at_lat, at_lon, float(lat), float(lon)) > km:
                return False
        return True


# One involvement of an event, as `admits_around` reads it: the entity's id, its properties
# (None when it is not visible) and the involvement's `roles`.
Involvement: TypeAlias = tuple[str, Props | None, Sequence[str]]


def reporting_outlets(props: Props) -> list[str]:
    """The outlets of an event's `track` that reported it and did not retract every report."""
    return [outlet for outlet, flags in track_entries(props) if "r" not in flags]


def outlet_tier(props: Props | None) -> str:
    """An outlet's tier, "unknown" without one (as the confidence rules read it)."""
    tier = props.get("tier") if props is not None else None
    return tier if isinstance(tier, str) and tier else "unknown"


class Surroundings(Protocol):
    """What `admits_around` reads of an event's relationships, each only when a part of the
    filter needs it."""

    def involvements(self, event_id: str) -> Sequence[Involvement]:
        """Its INVOLVES (roles may be left out where the filter's parts cannot need them)."""

    def reports(self, event_id: str) -> Sequence[Props]:
        """The properties of its REPORTS (those that cannot hold the filter's tones may be
        left out)."""

    def outlets(self, ids: Sequence[str]) -> Mapping[str, Props]:
        """The properties of the outlets with these ids that exist."""


def admits_around(flt: EventFilter, event_id: str, event: Props, around: Surroundings) -> bool:
    """Whether an event passes the parts of `flt` its relationships decide (`roles`,
    `entity_types`, `tones`, `tiers`, `groups`), given its properties and what `around` reads.
    The one rule of every store: the embedded store and the live updates call it, Neo4j's
    query says the same in Cypher."""
    types = flt.entity_types
    if flt.roles or types:
        found = around.involvements(event_id)

        def typed(entity: Props | None) -> bool:
            return entity is not None and entity.get("type") in types

        if types and not any(typed(entity) for _, entity, _ in found):
            return False
        if flt.roles:
            roles = flt.roles
            holders = [
                (entity_id, entity)
                for entity_id, entity, held in found
                if any(r.lower() in roles for r in held if isinstance(r, str))
            ]
            if flt.entity is not None:
                holders = [(i, entity) for i, entity in holders if i == flt.entity]
            elif types:
                holders = [(i, entity) for i, entity in holders if typed(entity)]
            if not holders:
                return False
    if flt.tones:
        tones = flt.tones
        if not any(
            not report.get("retracted_on")
            and any(t in tones for t in strings(report, "claim_tones"))
            for report in around.reports(event_id)
        ):
            return False
    if flt.tiers or flt.groups:
        ids = reporting_outlets(event)
        read = around.outlets(ids) if ids else {}
        visible = [read[i] for i in ids if i in read]  # an outlet not visible: no tier
        if flt.tiers and all(outlet_tier(outlet) not in flt.tiers for outlet in visible):
            return False
        if flt.groups and all(outlet.get("group") not in flt.groups for outlet in visible):
            return False
    return True


EARTH_KM = 6371.0088


def haversine_km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """The great-circle distance in km; the Neo4j store's query computes the same formula."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    h = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_KM * math.asin(min(1.0, math.sqrt(h)))


EVERYTHING = EventFilter()  # no filter: every event


# The orders events are listed in (`EventQuery.order_by`): when they happened; when the newest
# record about them was extracted; when their confidence level last changed (written by the
# rating step, `services.rating`). An event without a string value is not in that order.
EVENT_ORDERS = ("occurred_on", "last_extracted_at", "level_since")


@dataclass(frozen=True, slots=True)
class EventQuery:
    """One page of events ordered by (`order_by`, id); `after` is the last (value, id) of the
    previous page. Every event is in the `occurred_on` order (a missing date sorts as '')."""

    filter: EventFilter
    first: int
    newest_first: bool = True
    after: tuple[str, str] | None = None
    order_by: str = "occurred_on"

    def __post_init__(self) -> None:
        # one check for every store: an order no store keeps is a programming error
        if self.order_by not in EVENT_ORDERS:
            raise StoreError(
                f"events are not ordered by {self.order_by!r} (one of {', '.join(EVENT_ORDERS)})"
            )


# An event's `track` property: what it adds to the track record of each outlet that reported
# it, one entry per outlet, "{outlet id}|{flags}" with the flags of TRACK_FLAGS it earns
# (written by the rating step, `services.rating`; docs/site.md defines each).
TRACK = "track"
TRACK_FLAGS = {"c": "corroborated", "d": "disputed", "f": "first", "r": "retracted"}


@dataclass(frozen=True, slots=True)
class TrackRecord:
    """What an outlet's reports came to, over every event it reported (docs/site.md)."""

    reports: int = 0  # events it reported
    corroborated: int = 0  # ... that another independent group reported too
    disputed: int = 0  # ... whose level is disputed
    first: int = 0  # ... that it reported first (earliest report; ties count for each)
    retracted: int = 0  # ... whose every report by it is retracted

    @property
    def sole_source(self) -> int:
        """Events it reported (and did not retract) that no other independent group did."""
        return self.reports - self.retracted - self.corroborated

    def combined(self, other: TrackRecord) -> TrackRecord:
        """The two records added up (two windows, two months)."""
        return TrackRecord(
            self.reports + other.reports,
            self.corroborated + other.corroborated,
            self.disputed + other.disputed,
            self.first + other.first,
            self.retracted + other.retracted,
        )

    def plus(self, flags: str, sign: int = 1) -> TrackRecord:
        """This record with one event of `flags` added (or taken away, `sign` -1)."""
        return TrackRecord(
            self.reports + sign,
            self.corroborated + sign * ("c" in flags),
            self.disputed + sign * ("d" in flags),
            self.first + sign * ("f" in flags),
            self.retracted + sign * ("r" in flags),
        )


@dataclass(frozen=True, slots=True)
class Months:
    """A window of months (`YYYY-MM`, inclusive; None: unbounded on that side) of when events
    occurred, for a track record over them. An event without a date is in no window but the
    whole (`ALL_MONTHS`)."""

    since: str | None = None
    until: str | None = None

    @property
    def whole(self) -> bool:
        return self.since is None and self.until is None

    def admits(self, month: str) -> bool:
        """Whether an event of `month` (its `occurred_on`'s first 7 characters) is in it."""
        if self.whole:
            return True
        if not month:
            return False
        return (self.since is None or month >= self.since) and (
            self.until is None or month <= self.until
        )


ALL_MONTHS = Months()


def track_entries(props: Props) -> list[tuple[str, str]]:
    """The (outlet id, flags) entries of an event's `track`."""
    found: list[tuple[str, str]] = []
    for entry in strings(props, TRACK):
        outlet, _, flags = entry.rpartition("|")
        if outlet:
            found.append((outlet, flags))
    return found


# An event as the aggregates count it (`GraphStore.tally_events`): its day (the first ten
# characters of `occurred_on`), `category`, `confidence` (the level), the countries it is filed
# under (`country_ids`, sorted) and its chosen place (`place_id`); "" for a missing value.
TallyKey: TypeAlias = tuple[str, str, str, tuple[str, ...], str]


def tally_key(props: Props) -> TallyKey:
    """Where an event with these properties is counted (`TallyKey`)."""

    def text(name: str) -> str:
        value = props.get(name)
        return value if isinstance(value, str) else ""

    filed = props.get("country_ids")
    countries: tuple[str, ...] = ()
    if isinstance(filed, list) and filed:  # one, as a rule
        countries = tuple(sorted({c for c in filed if isinstance(c, str)}))
    return (
        text("occurred_on")[:10],
        text("category"),
        text("confidence"),
        countries,
        text("place_id"),
    )


@dataclass(frozen=True, slots=True)
class EventTallies:
    """The events a filter matches, counted by `TallyKey`: `events` counted in all, and
    `capped` when more matched than the cap (only the oldest, by (occurred_on, id), count)."""

    counts: dict[TallyKey, int]
    events: int
    capped: bool


@dataclass(frozen=True, slots=True)
class EventPage:
    events: list[Node]
    has_next: bool


# The directories (`list_nodes`): the labels listed, the properties each sorts by (a node whose
# property is not a string is not in that order's listing) and the string properties each
# filters on by equality. `DIRECTORY_NEAR`: the one relationship a listing may be narrowed by,
# (its type, its direction from the listed node, the label at its other end): a country's
# places (Place -IN_COUNTRY-> Place), an outlet's stories (Outlet -PUBLISHED-> Story).
DIRECTORY_ORDERS: Mapping[Label, tuple[str, ...]] = {
    Label.ENTITY: ("name",),
    Label.PLACE: ("name",),
    Label.OUTLET: ("name",),
    Label.STORY: ("slug", "published_on"),
}
DIRECTORY_FILTERS: Mapping[Label, tuple[str, ...]] = {
    Label.ENTITY: ("type",),
    Label.PLACE: ("kind",),
    Label.OUTLET: ("tier", "country", "kind"),
    Label.STORY: (),
}
DIRECTORY_NEAR: Mapping[Label, tuple[Rel, Direction, Label]] = {
    Label.PLACE: (Rel.IN_COUNTRY, "out", Label.PLACE),
    Label.STORY: (Rel.PUBLISHED, "in", Label.OUTLET),
}


@dataclass(frozen=True, slots=True)
class NodeQuery:
    """One page of a directory: the nodes of `label` whose string property equals the value for
    every (name, value) of `where`, and, with `near`, linked to that node by the label's
    `DIRECTORY_NEAR` relationship; ordered by (their `order_by` property, id), ascending or
    `descending`, strictly after the position `after` in that order. Names come from
    `DIRECTORY_ORDERS` and `DIRECTORY_FILTERS`, never from a user."""

    label: Label
    order_by: str
    first: int
    where: tuple[tuple[str, str], ...] = ()
    near: str | None = None
    after: tuple[str, str] | None = None
    descending: bool = False

    def check(self) -> None:
        """Refuses a query naming what the directories do not list (a programming error)."""
        if self.order_by not in DIRECTORY_ORDERS.get(self.label, ()):
            raise StoreError(f"{self.label} is not listed by {self.order_by!r}")
        for name, _ in self.where:
            if name not in DIRECTORY_FILTERS[self.label]:
                raise StoreError(f"{self.label} is not filtered by {name!r}")
        if self.near is not None and self.label not in DIRECTORY_NEAR:
            raise StoreError(f"{self.label} has no `near` relationship")

    def admits(self, props: Props) -> bool:
        """Whether a node with these properties is in the listing (all but `near`)."""
        return isinstance(props.get(self.order_by), str) and all(
            props.get(name) == value for name, value in self.where
        )


class PendingChanges(Protocol):
    """Committed writes read from the store but not applied to this process's memory yet."""

    @property
    def base(self) -> int:
        """The entry memory was at when they were read: they apply on top of it only."""

    @property
    def last(self) -> int:
        """The latest entry they bring memory to (`base` when nothing was new)."""

    @property
    def changes(self) -> Sequence[Change]:
        """The latest of their entries, decoded, oldest first (a few: all of a bulk load's
        batch), for publishing without reading the log again."""


@runtime_checkable
class Prefetching(Protocol):
    """A store that reads from memory and can split `catch_up` in two: reading what was
    committed (I/O and decoding, in any thread, memory untouched) and applying it (quick,
    between reads). The API reads in a worker thread and applies between pages."""

    def pending_bytes(self) -> int:
        """The size of the change log entries committed after what memory shows, as stored
        (nothing read but their lengths): 0 when memory is current; about what reading and
        applying them costs follows it."""

    def fetch_changes(self) -> PendingChanges: ...

    def apply_changes(self, pending: PendingChanges) -> int:
        """Apply `pending` and return the entry memory is at; if memory moved since it was
        read (this process wrote meanwhile), catch up afresh instead."""


# What an event page shows around its event, named by the relationship of the event it starts
# from (`EventNeighbourhood`).
PagePart: TypeAlias = Literal["reports", "involves", "describes", "occurred_in"]
PAGE_PARTS: tuple[PagePart, ...] = ("reports", "involves", "describes", "occurred_in")
_PART_RELS: dict[PagePart, tuple[Rel, Direction]] = {
    "reports": (Rel.REPORTS, "in"),
    "involves": (Rel.INVOLVES, "out"),
    "describes": (Rel.DESCRIBES, "in"),
    "occurred_in": (Rel.OCCURRED_IN, "out"),
}

# The second level, from the ends of two parts: the stories' outlets, the places' countries.
_SECOND_LEVEL: dict[PagePart, tuple[Rel, Direction]] = {
    "describes": (Rel.PUBLISHED, "in"),
    "occurred_in": (Rel.IN_COUNTRY, "out"),
}


@dataclass(frozen=True, slots=True)
class EventNeighbourhood:
    """What an event page reads around one event, read at once: the event, the relationships
    of each asked part (`PagePart`: `REPORTS` in, `INVOLVES` out, `DESCRIBES` in, `OCCURRED_IN`
    out) and the nodes at their other ends, the `PUBLISHED` relationships (in) of the stories that
    describe it with their outlets, and the `IN_COUNTRY` relationships (out) of the places it
    occurred in with their countries. `nodes` by id; `edges` by (node id, type, direction), each
    list in the port's order, exactly as `GraphStore.edges` gives it. Empty when there is no
    event with that id."""

    nodes: dict[str, Node]
    edges: dict[tuple[str, Rel, Direction], list[Edge]]


@runtime_checkable
class PageReading(Protocol):
    """A store that reads from a server and can read an event's neighbourhood in one round
    trip (Neo4j); the API primes its loaders with it. Its answer equals
    `event_neighbourhood(store, ...)`, made of the port's batch reads."""

    def read_event_neighbourhood(
        self, event_id: str, parts: frozenset[PagePart]
    ) -> EventNeighbourhood: ...


def event_neighbourhood(
    store: GraphStore, event_id: str, parts: frozenset[PagePart]
) -> EventNeighbourhood:
    """`EventNeighbourhood` through the port's batch reads (a read per level and kind): what
    a `PageReading` store's one read must equal."""
    event = store.get_nodes([event_id]).get(event_id)
    if event is None or event.label is not Label.EVENT:
        return EventNeighbourhood({}, {})
    nodes: dict[str, Node] = {event_id: event}
    edges: dict[tuple[str, Rel, Direction], list[Edge]] = {}
    ends: dict[PagePart, list[str]] = {}
    for part in PAGE_PARTS:
        if part in parts:
            rel, direction = _PART_RELS[part]
            found = store.edges([event_id], rel, direction)[event_id]
            edges[(event_id, rel, direction)] = found
            ends[part] = list(dict.fromkeys(e.other(event_id) for e in found))
    nodes |= store.get_nodes([i for found in ends.values() for i in found])
    for part, (rel, direction) in _SECOND_LEVEL.items():
        ids = [i for i in ends.get(part, []) if i in nodes]
        found_of = store.edges(ids, rel, direction)
        for node_id in ids:
            edges[(node_id, rel, direction)] = found_of[node_id]
        nodes |= store.get_nodes([e.other(i) for i in ids for e in found_of[i]])
    return EventNeighbourhood(nodes, edges)


class GraphReader(Protocol):
    """The reads a `Derive` step makes, inside the write's own transaction."""

    def get_nodes(self, ids: Sequence[str]) -> dict[str, Node]: ...

    def lookup_keys(self, keys: Sequence[str]) -> dict[str, str]: ...

    def lookup_key_prefixes(self, prefixes: Sequence[str]) -> dict[str, list[str]]: ...

    def write_count(self) -> int | None: ...

    def edges(
        self, ids: Sequence[str], rel: Rel, direction: Direction
    ) -> dict[str, list[Edge]]: ...


# Values derived from what many writers write (an event's confidence, from all its reports):
# computed inside the write's transaction, from the graph as that transaction sees it.
Derive: TypeAlias = Callable[[GraphReader], WriteBatch]


class GraphStore(Protocol):
    """A graph store. `setup()` opens it (no I/O happens before), `close()` releases it.

    Reads take and return batches keyed by id; ids that do not exist are absent from the
    result. `write` applies a whole `WriteBatch` atomically: after a crash either all of it is
    stored or none of it. Every merge rule in a batch is idempotent, so replaying a batch
    changes nothing.
    """

    # True when every read answers from memory, in microseconds, never waiting on I/O: a caller
    # may then read at once, one call per item, instead of batching reads (the API does,
    # `api.dataloaders`). False when a read may wait on a disk or a server.
    reads_from_memory: bool

    def setup(self) -> None:
        """Open the store, creating its schema (tables, constraints, indexes) if missing."""

    def close(self) -> None:
        """Release connections, files and locks."""

    def write(self, batch: WriteBatch, derive: Derive | None = None) -> None:
        """Apply `batch` atomically, in the order `WriteBatch` documents. Relationship ends
        must exist or be in the batch; a failing batch writes nothing.

        `derive`, when given, runs in the same transaction once `batch` is applied, reading the
        graph as the transaction sees it; the batch it returns is applied in it too. So a
        derived value cannot miss what another writer committed meanwhile: a store with
        concurrent writers serialises (or retries) transactions that touch the same nodes.
        """

    def get_nodes(self, ids: Sequence[str]) -> dict[str, Node]:
        """The nodes with these ids."""

    def lookup_keys(self, keys: Sequence[str]) -> dict[str, str]:
        """The node id owning each identity key that has an owner."""

    def lookup_key_prefixes(self, prefixes: Sequence[str]) -> dict[str, list[str]]:
        """The sorted distinct owners of the keys starting with each prefix; every requested
        prefix is in the result. A prefix is a matching key's text up to and including its
        last `#` (`graph.keys.match_prefix`): the event matcher's candidates by blocking key.
        Costs what the owners found cost, not the number of keys."""

    def write_count(self) -> int | None:
        """A number that changes whenever what reads see changes (each write that changed
        something, a reload), when this process is the store's only writer; None when others
        may write (a server). Inside a `derive` step, the number before the write: the same as
        at an earlier read means nothing was written in between."""

    def keys_of(self, ids: Sequence[str]) -> dict[str, list[str]]:
        """The identity keys each node owns, sorted. Every requested id is in the result."""

    def edges(self, ids: Sequence[str], rel: Rel, direction: Direction) -> dict[str, list[Edge]]:
        """The `rel` relationships leaving (`out`) or entering (`in`) each node, in
        (type, other end, key) order. Every requested id is in the result."""

    def linked(self, ids: Sequence[str], rel: Rel, direction: Direction) -> dict[str, list[str]]:
        """The ids at the other end of each node's `rel` relationships leaving (`out`) or
        entering (`in`) it, sorted and distinct (parallel relationships count once). Every
        requested id is in the result. No properties are read: `edges` where only the other
        ends matter (related events read the entities and places of tens of candidates)."""

    def query_events(self, query: EventQuery) -> EventPage:
        """A page of events matching `query.filter`, ordered by (occurred_on, id)."""

    def find_nodes(
        self,
        label: Label,
        where: Mapping[str, str],
        order_by: str,
        first: int,
        after: tuple[str, str] | None = None,
    ) -> list[Node]:
        """Up to `first` nodes of `label` whose string property `name` equals `value` for
        every (name, value) of `where`, ordered by (their `order_by` property, id), after the
        cursor `after`. For the editorial records (submissions, the edit log), not for events.
        Property names come from the code, never from a user."""

    def count_events(self, filter: EventFilter, cap: int) -> int:
        """How many events match `filter`, counted up to `cap` (so `cap` means at least
        that many). Costs no walk without a filter, the entity's or outlet's events with one,
        else the events of the date window (all, without dates) until `cap` match."""

    def tally_events(self, filter: EventFilter, cap: int) -> EventTallies:
        """The events matching `filter`, oldest first by (occurred_on, id), at most `cap`,
        counted by `tally_key` (the aggregates, `graph.analytics.aggregate`). Costs the walk
        `count_events` makes (the embedded store, in memory) or one aggregating query (Neo4j),
        bounded by `cap`."""

    def track_records(
        self, outlet_ids: Sequence[str], months: Months = ALL_MONTHS
    ) -> dict[str, TrackRecord]:
        """The track record of each outlet: the sum of its entries in the `track` of every
        event (`TRACK`) that occurred in `months`. Every requested id is in the result (an
        empty record when unknown). The embedded store keeps the sums, whole and by month, as
        it writes (a window adds up the outlet's months in it); Neo4j adds up the outlet's
        events' entries (as many as it reported)."""

    def list_nodes(self, query: NodeQuery) -> list[Node]:
        """A page of a directory (`NodeQuery`): up to `query.first` nodes. Costs the page,
        not the label's size: the embedded store keeps each order (and each filter value's)
        sorted as it writes; Neo4j reads its indexes."""

    def count_nodes(self, query: NodeQuery) -> int:
        """How many nodes the listing of `query` holds in all (its label, `where`, `near` and
        `order_by`; not its page). Exact; the embedded store keeps the counts as it writes,
        Neo4j counts through its indexes."""

    def search_vocabulary(
        self, prefixes: Sequence[str], limit: int
    ) -> dict[str, list[tuple[str, int]]]:
        """The search index's terms (`graph.search`): for each prefix, the terms starting with
        it in term order, at most `limit`, each with the number of documents holding it. Every
        requested prefix is in the result."""

    def search_postings(self, lookups: Sequence[Lookup], limit: int) -> dict[Lookup, list[str]]:
        """For each (label, term, is_prefix), the ids of at most `limit` search documents of
        that label holding the term (or a term starting with it), greatest
        `IndexedDoc.order` first, then greatest id. Every requested lookup is in the result.
        Costs what the documents returned cost, not the number of nodes."""

    def search_documents(self, ids: Sequence[str]) -> dict[str, IndexedDoc]:
        """The search documents with these ids, as the index holds them: every write keeps
        them current in its own transaction (`graph.search.document`)."""

    def counts(self) -> dict[str, int]:
        """Node counts per label and relationship counts per type. Reads everything: not for
        a health check (`ping` is)."""

    def ping(self) -> None:
        """A cheap check that the store can be read now: raises `StoreError`, saying why, when
        it is not open or cannot be reached. Costs the same whatever the graph holds, and
        never retries (the readiness check, `/ready`)."""

    def get_setting(self, name: str) -> str | None:
        """An editorial setting (such as the confidence policy), or None."""

    def hit(self, key: str, at: datetime, window: timedelta, limit: int) -> bool:
        """A rate limit's count, kept in the store so that every process using it (the
        workers of `serve --workers` on Neo4j) keeps one: count a hit of `key` (a limit and its
        client, e.g. `submit:<client hash>`) at `at` and return True, unless `limit` hits of
        it fall in the `window` before `at` already (then count nothing, return False).
        Atomic: concurrent hits of one key are counted one after the other. Its own
        transaction, in no change log entry: it changes nothing a read of the graph sees.
        A key whose hits have all left their window is removed as later hits come."""

    def last_change(self) -> int:
        """The `seq` of the change log's latest entry (0 when nothing was ever written)."""

    def read_position(self) -> int:
        """A change log entry this process's reads include (each entry up to it), for
        validators such as an answer's ETag (api.delivery): the entry the embedded store's
        memory is at (without I/O); `last_change()` on Neo4j, whose reads see every commit."""

    def changes(self, after: int, limit: int = 1000) -> list[Change]:
        """Up to `limit` change log entries with `seq` greater than `after`, oldest first.
        Raises `ChangeLogTruncated` when entries after `after` were truncated."""

    def catch_up(self) -> int:
        """Bring what this process's reads see up to the latest committed write, by any
        process, and return the `seq` of the latest change log entry they now see (live
        updates publish the entries up to it, `changes`). A store that reads from memory
        applies each entry whole: a read never sees part of a write; one too far behind the
        log's retention reads the store afresh. A store without memory (Neo4j) reads the
        latest committed state anyway and returns `last_change()`."""

    def dump(self) -> Iterator[Node | Edge | tuple[str, str]]:
        """Everything stored: nodes, relationships and (key, owner) pairs, for copies and
        content hashes. Order is unspecified."""
