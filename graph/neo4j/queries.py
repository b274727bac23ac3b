"""Every Cypher statement of the Neo4j store, as named constants and small builders.

Rules kept here:
- every value is a parameter (`$rows`, `$ids`, ...); nothing a user typed is pasted into a query;
- labels and relationship types come only from the fixed enums `Label` and `Rel` (plus the
  bookkeeping labels `Key`, `Setting`, `Change`, `ChangeLog`, `RateHits` and the search index's
  `SearchDoc`, `SearchPosting` and `SearchTerm` below, which no read of the graph names: they
  are invisible to `dump`, `counts` and every traversal);
- property *names* are pasted only by `node_upsert`/`edge_upsert` (Cypher 5 before 5.26 cannot
  assign a property whose name is computed, and a row of values alone packs several times
  faster than a row of maps), always quoted with `quote()`; the values travel as parameters.

How a graph is laid out in Neo4j:
- a node is `(:<Label> {id, ...props})`; a relationship is `-[:<Rel> {key, _uid, ...props}]->`
  where `key` tells parallel relationships apart and `_uid` (src, dst and key as JSON) carries a
  uniqueness constraint so two concurrent MERGEs cannot both create one relationship;
- Neo4j drops a property set to null, while the store port keeps `{"group": None}`: the names
  of null-valued properties are kept in the hidden list `_nulls`;
- identity keys are `(:Key {key, node})`, settings `(:Setting {name, value})`;
- the change log (`graph.neo4j.changelog`, docs/changes-neo4j.md) is one `(:Change {seq, at,
  ...})` per committed write that changed something, and one head `(:ChangeLog {id: 'head',
  seq, oldest})`: the latest `seq` given and the oldest entry kept.

A write statement returns what it changed (`RETURN collect(...) AS rows`: the ids of the nodes
whose properties it changed, the `_uid`s of the relationships, the keys' owners, the settings'
names), so that a write which changes nothing appends no entry to the change log.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

from graph.model import FIRST_RANK, LAST_RANK, Label, Rel
from graph.store import DIRECTORY_FILTERS, DIRECTORY_NEAR, DIRECTORY_ORDERS, EVENT_ORDERS

ID = "id"  # node identity property
KEY = "key"  # relationship key (parallel relationships)
UID = "_uid"  # relationship identity: json [src, dst, key], unique per relationship type
NULLS = "_nulls"  # names of the properties whose value is null
# An event's coordinates (`geo_lat`, `geo_lon`) as a WGS-84 point, kept by every write that
# sets them, on a server with Neo4j's spatial type (`Capabilities.points`), for its POINT index
GEO = "_geo"
NODE_HIDDEN = frozenset({ID, NULLS, GEO})
EDGE_HIDDEN = frozenset({KEY, UID, NULLS})

KEY_LABEL = "Key"
SETTING_LABEL = "Setting"
RATE_LABEL = "RateHits"  # a rate limit's count of one key (`GraphStore.hit`)
CHANGE_LABEL = "Change"  # an entry of the change log
CHANGE_LOG_LABEL = "ChangeLog"  # the change log's head

LABELS: tuple[Label, ...] = tuple(Label)
RELS: tuple[Rel, ...] = tuple(Rel)


def quote(name: str) -> str:
    """A label, type or property name as a Cypher identifier (backticks doubled inside)."""
    return "`" + name.replace("`", "``") + "`"


# -- schema --------------------------------------------------------------------------------------


def node_id_constraint(label: Label) -> str:
    name = quote(f"newsgraph_{label.value.lower()}_id")
    return (
        f"CREATE CONSTRAINT {name} IF NOT EXISTS "
        f"FOR (n:{quote(label.value)}) REQUIRE n.{ID} IS UNIQUE"
    )


KEY_CONSTRAINT = (
    f"CREATE CONSTRAINT newsgraph_key_key IF NOT EXISTS FOR (k:{KEY_LABEL}) REQUIRE k.key IS UNIQUE"
)
KEY_OWNER_INDEX = f"CREATE INDEX newsgraph_key_node IF NOT EXISTS FOR (k:{KEY_LABEL}) ON (k.node)"
# A matching key's prefix (`match:{blocking key}#`, graph.store.MATCH) as a property of its
# own, so that the matcher's candidates are an equality look-up in an index: a STARTS WITH on
# `key` is served by Neo4j 5's range index but not by every Bolt server (ArcadeDB scans).
KEY_PREFIX_INDEX = (
    f"CREATE INDEX newsgraph_key_prefix IF NOT EXISTS FOR (k:{KEY_LABEL}) ON (k.prefix)"
)
# Matching keys written before the property existed, a page at a time (setup fills them).
KEYS_WITHOUT_PREFIX = (
    f"MATCH (k:{KEY_LABEL}) WHERE k.prefix IS NULL AND k.key STARTS WITH $match "
    "RETURN k.key AS key LIMIT $limit"
)
SET_KEY_PREFIXES = (
    f"UNWIND $rows AS row MATCH (k:{KEY_LABEL} {{key: row[0]}}) SET k.prefix = row[1]"
)
SETTING_CONSTRAINT = (
    f"CREATE CONSTRAINT newsgraph_setting_name IF NOT EXISTS "
    f"FOR (s:{SETTING_LABEL}) REQUIRE s.name IS UNIQUE"
)


CHANGE_SEQ_CONSTRAINT = (
    f"CREATE CONSTRAINT newsgraph_change_seq IF NOT EXISTS "
    f"FOR (c:{CHANGE_LABEL}) REQUIRE c.seq IS UNIQUE"
)
CHANGE_LOG_CONSTRAINT = (
    f"CREATE CONSTRAINT newsgraph_changelog_id IF NOT EXISTS "
    f"FOR (h:{CHANGE_LOG_LABEL}) REQUIRE h.id IS UNIQUE"
)


def edge_uid_constraint(rel: Rel) -> str:
    """Relationship property uniqueness (Neo4j 5.7+, and ArcadeDB)."""
    name = quote(f"newsgraph_{rel.value.lower()}_uid")
    return (
        f"CREATE CONSTRAINT {name} IF NOT EXISTS "
        f"FOR ()-[r:{quote(rel.value)}]-() REQUIRE r.{UID} IS UNIQUE"
    )


def edge_uid_index(rel: Rel) -> str:
    """The fallback where relationship uniqueness constraints are missing."""
    name = quote(f"newsgraph_{rel.value.lower()}_uid_index")
    return f"CREATE INDEX {name} IF NOT EXISTS FOR ()-[r:{quote(rel.value)}]-() ON (r.{UID})"


EVENT_DATE_INDEX = (
    f"CREATE INDEX newsgraph_event_occurred_on IF NOT EXISTS "
    f"FOR (n:{quote(Label.EVENT.value)}) ON (n.occurred_on)"
)


def directory_indexes() -> list[str]:
    """An index on every property the directories sort or filter by (`list_nodes`)."""
    made: list[str] = []
    for label, orders in DIRECTORY_ORDERS.items():
        for name in (*orders, *DIRECTORY_FILTERS[label]):
            index = quote(f"newsgraph_{label.value.lower()}_{name}")
            made.append(
                f"CREATE INDEX {index} IF NOT EXISTS FOR (n:{quote(label.value)}) "
                f"ON (n.{quote(name)})"
            )
    return made


# `count_events` by category (and level) reads an index rather than every event; the events'
# other orders (graph.store.EVENT_ORDERS) have theirs.
EVENT_INDEXES = tuple(
    f"CREATE INDEX newsgraph_event_{name} IF NOT EXISTS "
    f"FOR (n:{quote(Label.EVENT.value)}) ON (n.{quote(name)})"
    for name in ("category", "last_extracted_at", "level_since")
)
AWAIT_INDEXES = "CALL db.awaitIndexes(300)"

# -- the spatial type (Neo4j 5; ArcadeDB's Bolt server answers it too) ---------------------------
#
# Whether the server has points: a point inside a box, and one degree of latitude (111.2 km).
POINTS_CHECK = (
    "RETURN point.withinBBox(point({latitude: 1.0, longitude: 2.0}), "
    "point({latitude: 0.0, longitude: 1.0}), point({latitude: 2.0, longitude: 3.0})) AS inside, "
    "point.distance(point({latitude: 0.0, longitude: 0.0}), "
    "point({latitude: 1.0, longitude: 0.0})) AS metres"
)
EVENT_POINT_INDEX_NAME = "newsgraph_event_geo"
EVENT_POINT_INDEX = (
    f"CREATE POINT INDEX {EVENT_POINT_INDEX_NAME} IF NOT EXISTS "
    f"FOR (n:{quote(Label.EVENT.value)}) ON (n.{GEO})"
)
# the type the server gave it: POINT on Neo4j (a spatial index its planner seeks); ArcadeDB
# keeps it as a RANGE index, which answers no spatial condition
SHOW_INDEX_TYPES = "SHOW INDEXES YIELD name, type"
# an event's point: null without numbers in range (Neo4j refuses a latitude past 90)
_POINT_OF = (
    "CASE WHEN n.geo_lat >= -90 AND n.geo_lat <= 90 AND n.geo_lon >= -180 AND n.geo_lon <= 180"
    " THEN point({latitude: n.geo_lat, longitude: n.geo_lon}) END"
)
# rows: the ids of events a write may have moved: their point follows their numbers
SET_EVENT_POINTS = (
    f"UNWIND $ids AS id MATCH (n:{quote(Label.EVENT.value)} {{{ID}: id}}) SET n.{GEO} = {_POINT_OF}"
)
# events written before the store kept points (or by a server without them), a page at a time
FILL_EVENT_POINTS = (
    f"MATCH (n:{quote(Label.EVENT.value)}) WHERE n.{GEO} IS NULL AND ({_POINT_OF}) IS NOT NULL "
    f"WITH n LIMIT $limit SET n.{GEO} = {_POINT_OF} RETURN count(n) AS count"
)
# The spatial conditions of `events_query`: what the POINT index answers, a superset of what
# the plain numbers' conditions admit (those still decide, so both stores answer alike): the
# box as is, the circle a little wider ($near_m: Neo4j's distance takes the Earth's radius as
# 6,378.14 km, graph.store.haversine_km 6,371.0088 km)
BOX_POINTS = (
    f"point.withinBBox(n.{GEO}, point({{latitude: $south, longitude: $west}}), "
    "point({latitude: $north, longitude: $east}))"
)
NEAR_POINTS = (
    f"point.distance(n.{GEO}, point({{latitude: $near_lat, longitude: $near_lon}})) <= $near_m"
)
NEAR_MARGIN = 1.01
SHOW_CONSTRAINTS = "SHOW CONSTRAINTS YIELD name, labelsOrTypes, properties"
SERVER_PROBE = "RETURN 1 AS ok"


# -- reads ---------------------------------------------------------------------------------------
#
# A read returns its rows collected into one record (`RETURN collect([...]) AS rows`): ArcadeDB
# and the pure-Python driver pay per record (a Bolt message, a `Record`), and at 3,000 keys one
# collected record took 20 ms against 80-230 ms as 3,000 records (client CPU 12 ms against 41).


def _find_nodes(var: str, ids: str = "$ids") -> str:
    """`UNWIND ids AS id`, then `var` bound to the node with that id, whatever its label."""
    optional = "\n".join(
        f"OPTIONAL MATCH (n{i}:{quote(label.value)} {{{ID}: id}})" for i, label in enumerate(LABELS)
    )
    found = ", ".join(f"n{i}" for i in range(len(LABELS)))
    return (
        f"UNWIND {ids} AS id\n{optional}\n"
        f"WITH id, coalesce({found}) AS {var}\nWHERE {var} IS NOT NULL\n"
    )


ROWS = "rows"  # the one column of a collected read
GET_NODES = _find_nodes("n") + "RETURN collect([id, labels(n), properties(n)]) AS rows"


def edges_query(rel: Rel, direction: str) -> str:
    arrow = f"-[r:{quote(rel.value)}]->" if direction == "out" else f"<-[r:{quote(rel.value)}]-"
    return (
        _find_nodes("n") + f"MATCH (n){arrow}(m)\nRETURN collect([id, m.id, properties(r)]) AS rows"
    )


def linked_query(rel: Rel, direction: str) -> str:
    """The other ends of each node's `rel` relationships: rows [id, other end's id], once each
    (`GraphStore.linked`)."""
    arrow = f"-[:{quote(rel.value)}]->" if direction == "out" else f"<-[:{quote(rel.value)}]-"
    return _find_nodes("n") + f"MATCH (n){arrow}(m)\nRETURN collect(DISTINCT [id, m.id]) AS rows"


def get_nodes_of(label: Label) -> str:
    """The nodes of `label` among `$ids`: rows [id, properties]."""
    return (
        f"UNWIND $ids AS id MATCH (n:{quote(label.value)} {{{ID}: id}}) "
        "RETURN collect([id, properties(n)]) AS rows"
    )


def edges_of(label: Label, rel: Rel, direction: str) -> str:
    """The `rel` relationships of the nodes of `label` among `$ids`: rows [id, other end,
    properties] per relationship, or [id, null, null] for a node without any."""
    arrow = f"-[r:{quote(rel.value)}]->" if direction == "out" else f"<-[r:{quote(rel.value)}]-"
    return (
        f"UNWIND $ids AS id MATCH (n:{quote(label.value)} {{{ID}: id}})\n"
        f"OPTIONAL MATCH (n){arrow}(m)\n"
        "RETURN collect([id, m.id, properties(r)]) AS rows"
    )


# -- an event page's neighbourhood in one statement (`reads.event_neighbourhood`) -------------
#
# The event and, for each asked part, its relationships with the node at the other end, as
# nested pattern comprehensions: one statement, one record, one round trip, whatever the page
# holds. The other end's label is not named (it is read: `labels(m)`), so a relationship is never
# missed for ending at an unexpected label. Each item is [id, labels, node properties,
# relationship properties], and an item of `describes` or `occurred_in` carries one more
# list: the stories' `PUBLISHED` (in) and the places' `IN_COUNTRY` (out), items alike.

_END = "[{m}.id, labels({m}), properties({m}), properties({r})"
_PART_PATTERNS = {
    "reports": ("(e)<-[r:REPORTS]-(m)", ""),
    "involves": ("(e)-[r:INVOLVES]->(m)", ""),
    "describes": (
        "(e)<-[r:DESCRIBES]-(m)",
        ", [(m)<-[r2:PUBLISHED]-(m2) | " + _END.format(m="m2", r="r2") + "]]",
    ),
    "occurred_in": (
        "(e)-[r:OCCURRED_IN]->(m)",
        ", [(m)-[r2:IN_COUNTRY]->(m2) | " + _END.format(m="m2", r="r2") + "]]",
    ),
}


@lru_cache(maxsize=32)
def event_neighbourhood(parts: frozenset[str]) -> str:
    """The change log's head as the statement began (`before`: `$head` names it) and as it
    ended (`after`), and `page`: a map of the event `$id`'s properties (`event`) and one list
    per part of `parts` (in `graph.store.PAGE_PARTS`), named after it, its items as above. No
    record when there is no such event.

    One statement, sent on its own (an auto-commit transaction: one round trip, where BEGIN,
    the page, a second statement reading the head and COMMIT made four). The page is read
    inside an aggregation (`collect`), which is eager: the whole page is read before the
    clause after it runs, so `after` is read once the page has been, on any planner."""
    entries = [f"{quote('event')}: properties(e)"]
    for part, (pattern, nested) in _PART_PATTERNS.items():
        if part in parts:
            entries.append(f"{part}: [{pattern} | {_END.format(m='m', r='r')}{nested}]]")
    head = f"(h:{CHANGE_LOG_LABEL} {{id: $head}})"
    return (
        f"OPTIONAL MATCH {head} WITH coalesce(h.seq, 0) AS before\n"
        f"MATCH (e:{quote(Label.EVENT.value)} {{{ID}: $id}})\n"
        "WITH before, collect({" + ",\n  ".join(entries) + "}) AS page\n"
        f"OPTIONAL MATCH {head}\n"
        "RETURN before, coalesce(h.seq, 0) AS after, page[0] AS page"
    )


LOOKUP_KEYS = (
    f"UNWIND $keys AS key MATCH (k:{KEY_LABEL} {{key: key}}) "
    "RETURN collect([k.key, k.node]) AS rows"
)
# The owners of the keys with each prefix (the matcher's candidates), by the prefix's index.
LOOKUP_KEY_PREFIXES = (
    f"UNWIND $prefixes AS p MATCH (k:{KEY_LABEL} {{prefix: p}}) "
    "WITH p, collect(DISTINCT k.node) AS owners RETURN collect([p, owners]) AS rows"
)
KEYS_OF = (
    f"UNWIND $ids AS id MATCH (k:{KEY_LABEL} {{node: id}}) RETURN collect([id, k.key]) AS rows"
)
GET_SETTING = f"MATCH (s:{SETTING_LABEL} {{name: $name}}) RETURN s.value AS value"

# -- rate limits (`GraphStore.hit`) -----------------------------------------------------------
RATE_CONSTRAINT = (
    f"CREATE CONSTRAINT newsgraph_rate_key IF NOT EXISTS "
    f"FOR (r:{RATE_LABEL}) REQUIRE r.key IS UNIQUE"
)
RATE_EXPIRES_INDEX = (
    f"CREATE INDEX newsgraph_rate_expires IF NOT EXISTS FOR (r:{RATE_LABEL}) ON (r.expires)"
)
# One hit of $key at $now, unless $limit hits are after $since already. The first SET takes the
# node's write lock before its hits are read (Neo4j's way to avoid a lost update), so that
# concurrent hits of one key count one after the other; ArcadeDB's optimistic commit makes the
# later of two retry instead.
HIT = f"""
MERGE (r:{RATE_LABEL} {{key: $key}})
SET r.locked = $now
WITH r, [t IN coalesce(r.hits, []) WHERE t > $since] AS recent
WITH r, recent, size(recent) < $limit AS allowed
SET r.hits = CASE WHEN allowed THEN recent + [$now] ELSE recent END,
    r.expires = CASE WHEN allowed OR r.expires IS NULL THEN $expires ELSE r.expires END
RETURN allowed
"""
# Keys whose every hit has left its window.
EXPIRED_RATES = f"MATCH (r:{RATE_LABEL}) WHERE r.expires < $now WITH r LIMIT $limit DETACH DELETE r"


# Which of `$ids` are nodes of each label (`label`: its index in LABELS; `ids`, or no record
# when none): one index lookup per label, in one statement (the ids travel once).
LABELS_OF = "\nUNION ALL\n".join(
    f"UNWIND $ids AS id MATCH (:{quote(label.value)} {{{ID}: id}}) "
    f"RETURN {i} AS label, collect(id) AS ids"
    for i, label in enumerate(LABELS)
)


def count_nodes(label: Label) -> str:
    return f"MATCH (n:{quote(label.value)}) RETURN count(n) AS count"


def count_edges(rel: Rel) -> str:
    return f"MATCH ()-[r:{quote(rel.value)}]->() RETURN count(r) AS count"


@lru_cache(maxsize=64)
def events_query(
    newest_first: bool,
    entity: Label | None,
    outlet: Label | None,
    order_by: str = "occurred_on",
    box_points: bool = False,
    near_points: bool = False,
) -> str:
    """A page of events; `entity`/`outlet` are the labels of the filter's nodes, when given;
    `order_by` one of `EVENT_ORDERS` (an event without a string value of it is not listed,
    but for `occurred_on`, where it sorts as ''); `box_points`, `near_points`: the box or the
    circle asked for is also sought by the events' points (`BOX_POINTS`, `NEAR_POINTS`), the
    conditions a POINT index answers."""
    if order_by not in EVENT_ORDERS:
        raise ValueError(f"events are not ordered by {order_by!r}")
    lines: list[str] = []
    if entity is not None:
        lines.append(f"MATCH (x:{quote(entity.value)} {{{ID}: $entity}})<--(n:{Label.EVENT})")
    elif outlet is not None:
        lines.append(f"MATCH (x:{quote(outlet.value)} {{{ID}: $outlet}})-->(n:{Label.EVENT})")
    else:
        lines.append(f"MATCH (n:{Label.EVENT})")
    conditions = [
        "($categories IS NULL OR n.category IN $categories)",
        "($date_from IS NULL OR substring(coalesce(n.occurred_on, ''), 0, 10) >= $date_from)",
        "($date_to IS NULL OR substring(coalesce(n.occurred_on, ''), 0, 10) <= $date_to)",
        "($place IS NULL OR $place IN coalesce(n.place_ids, []))",
        "($country IS NULL OR $country IN coalesce(n.country_ids, []))",
        "($min_confidence IS NULL OR n.confidence_rank >= $min_confidence)",
        "($levels IS NULL OR n.confidence_rank IN $levels)",
        "($flagged IS NULL OR (coalesce(n.location_check, '') = 'conflict') = $flagged)",
        # every entity of $all_entities, one of $any_entities (pattern comprehensions: ArcadeDB's
        # Bolt server takes them)
        f"($all_entities IS NULL OR all(x IN $all_entities WHERE x IN "
        f"[(n)-[:{Rel.INVOLVES.value}]->(m:{Label.ENTITY.value}) | m.{ID}]))",
        f"($any_entities IS NULL OR any(x IN $any_entities WHERE x IN "
        f"[(n)-[:{Rel.INVOLVES.value}]->(m:{Label.ENTITY.value}) | m.{ID}]))",
        # what the event's relationships decide (graph.store.admits_around, the same rule):
        # an involvement in a role (of $entity when given, else of an entity of
        # $entity_types when given), an entity of a type, a report not retracted with a claim
        # of a tone, an outlet of a tier or group among those that reported it ($tier_outlets
        # and $group_outlets: read first) by its `track` (an entry "{outlet}|r..." is an
        # outlet that retracted every report)
        f"($roles IS NULL OR any(rs IN [(n)-[i:{Rel.INVOLVES.value}]->(m:{Label.ENTITY.value})"
        f" WHERE ($entity IS NULL OR m.{ID} = $entity) AND ($entity IS NOT NULL"
        " OR $entity_types IS NULL OR m.type IN $entity_types) | coalesce(i.roles, [])]"
        " WHERE any(r IN rs WHERE toLower(r) IN $roles)))",
        f"($entity_types IS NULL OR any(t IN [(n)-[:{Rel.INVOLVES.value}]->"
        f"(m:{Label.ENTITY.value}) | m.type] WHERE t IN $entity_types))",
        f"($tones IS NULL OR any(ts IN [(n)<-[r:{Rel.REPORTS.value}]-()"
        " WHERE coalesce(r.retracted_on, '') = '' | coalesce(r.claim_tones, [])]"
        " WHERE any(t IN ts WHERE t IN $tones)))",
        "($tier_outlets IS NULL OR any(t IN coalesce(n.track, []) WHERE NOT t CONTAINS '|r'"
        " AND split(t, '|')[0] IN $tier_outlets))",
        "($group_outlets IS NULL OR any(t IN coalesce(n.track, []) WHERE NOT t CONTAINS '|r'"
        " AND split(t, '|')[0] IN $group_outlets))",
        # a box, then the distance from a point, on plain numbers: portable to servers
        # without Neo4j's point type (ArcadeDB's Bolt server); the formula is
        # graph.store.haversine_km's, so both stores admit the same events
        "($south IS NULL OR (n.geo_lat IS NOT NULL AND n.geo_lat >= $south"
        " AND n.geo_lat <= $north AND ((($west <= $east) AND n.geo_lon >= $west"
        " AND n.geo_lon <= $east) OR (($west > $east) AND (n.geo_lon >= $west"
        " OR n.geo_lon <= $east)))))",
        "($near_lat IS NULL OR (n.geo_lat IS NOT NULL AND 2 * 6371.0088 * asin(sqrt("
        "sin(radians(n.geo_lat - $near_lat) / 2) ^ 2 + cos(radians($near_lat))"
        " * cos(radians(n.geo_lat)) * sin(radians(n.geo_lon - $near_lon) / 2) ^ 2))"
        " <= $near_km))",
    ]
    if box_points:
        conditions.append(BOX_POINTS)
    if near_points:
        conditions.append(NEAR_POINTS)
    if order_by == "occurred_on":
        key = "coalesce(n.occurred_on, '')"
    else:
        key = f"n.{quote(order_by)}"
        conditions.append(f"{key} >= ''")  # a string
    if entity is not None and outlet is not None:
        conditions.append(f"EXISTS {{ MATCH (n)<--(y:{quote(outlet.value)} {{{ID}: $outlet}}) }}")
    cmp = "<" if newest_first else ">"
    conditions.append(
        f"($after_on IS NULL OR {key} {cmp} $after_on "
        f"OR ({key} = $after_on AND n.{ID} {cmp} $after_id))"
    )
    order = "DESC" if newest_first else "ASC"
    lines.append("WHERE " + "\n  AND ".join(conditions))
    lines.append("WITH DISTINCT n")
    lines.append(f"WITH n, {key} AS position ORDER BY position {order}, n.id {order}")
    lines.append("LIMIT $limit")
    lines.append("RETURN n.id AS id, properties(n) AS props")
    return "\n".join(lines)


@lru_cache(maxsize=16)
def count_events_query(
    entity: Label | None, outlet: Label | None, box_points: bool = False, near_points: bool = False
) -> str:
    """How many events match: the page's MATCH and WHERE (`$after_on` null), up to `$cap`."""
    head = events_query(True, entity, outlet, "occurred_on", box_points, near_points)
    head = head.split("\nWITH DISTINCT n\n")[0]
    return head + "\nWITH DISTINCT n LIMIT $cap\nRETURN count(n) AS count"


@lru_cache(maxsize=16)
def tally_events_query(
    entity: Label | None, outlet: Label | None, box_points: bool = False, near_points: bool = False
) -> str:
    """The matching events counted by `graph.store.tally_key`'s parts: the page's MATCH and
    WHERE (`$after_on` null), the oldest `$cap` by (occurred_on, id); `capped` when more
    matched (one row with a null day when none did)."""
    head = events_query(True, entity, outlet, "occurred_on", box_points, near_points)
    head = head.split("\nWITH DISTINCT n\n")[0]
    return (
        head
        + """
WITH DISTINCT n
WITH n ORDER BY coalesce(n.occurred_on, ''), n.id LIMIT $cap + 1
WITH collect(n) AS found
WITH found[0..$cap] AS counted, size(found) > $cap AS capped
UNWIND (CASE WHEN size(counted) = 0 THEN [null] ELSE counted END) AS n
WITH capped, n
RETURN capped,
  CASE WHEN n IS NULL THEN null ELSE substring(coalesce(n.occurred_on, ''), 0, 10) END AS day,
  coalesce(n.category, '') AS category, coalesce(n.confidence, '') AS level,
  coalesce(n.country_ids, []) AS countries, coalesce(n.place_id, '') AS place,
  count(*) AS count"""
    )


# The outlets of some tiers (one without a tier is "unknown", graph.store.outlet_tier) or of
# some independence groups: what a filter by tier or group reads first (`$tier_outlets`).
OUTLETS_OF_TIERS = (
    f"MATCH (o:{Label.OUTLET.value}) WHERE (CASE WHEN o.tier IS NULL OR o.tier = '' "
    "THEN 'unknown' ELSE o.tier END) IN $values RETURN collect(o.id) AS ids"
)
OUTLETS_OF_GROUPS = (
    f"MATCH (o:{Label.OUTLET.value}) WHERE o.group IN $values RETURN collect(o.id) AS ids"
)


# rows: [outlet id, its entries in the `track` of the events it reported] (graph.store.TRACK),
# of the events that occurred in the months $since to $until unless $whole (graph.store.Months:
# an event without a date is in no window)
TRACK_ENTRIES = (
    f"UNWIND $ids AS id MATCH (:{Label.OUTLET.value} {{{ID}: id}})-[:{Rel.REPORTS.value}]->"
    f"(e:{Label.EVENT.value}) WITH DISTINCT id, e "
    "WITH id, e, substring(coalesce(e.occurred_on, ''), 0, 7) AS month "
    "WHERE $whole OR (month >= $since AND month <= $until) "
    "UNWIND coalesce(e.track, []) AS entry WITH id, entry WHERE entry STARTS WITH id + '|' "
    "RETURN collect([id, entry]) AS rows"
)


# -- dump (keyset pages, for copies and content hashes) -------------------------------------------


def dump_nodes(label: Label) -> str:
    return (
        f"MATCH (n:{quote(label.value)}) WHERE $after IS NULL OR n.{ID} > $after "
        f"RETURN n.{ID} AS id, properties(n) AS props ORDER BY n.{ID} LIMIT $limit"
    )


def dump_edges(rel: Rel) -> str:
    return (
        f"MATCH (a)-[r:{quote(rel.value)}]->(b) WHERE $after IS NULL OR r.{UID} > $after "
        f"RETURN r.{UID} AS uid, a.{ID} AS src, b.{ID} AS dst, properties(r) AS props "
        f"ORDER BY r.{UID} LIMIT $limit"
    )


DUMP_KEYS = (
    f"MATCH (k:{KEY_LABEL}) WHERE $after IS NULL OR k.key > $after "
    "RETURN k.key AS key, k.node AS node ORDER BY k.key LIMIT $limit"
)
DUMP_SETTINGS = f"MATCH (s:{SETTING_LABEL}) RETURN s.name AS name, s.value AS value"


# -- writes --------------------------------------------------------------------------------------
#
# A write statement takes the rows of one *shape*: the same label (or relationship type and end
# labels) and the same property names in each merge rule. The names are pasted into the
# statement, quoted; a row is a flat list of values (packing rows is most of the client's
# time, and a list packs faster than a map), in this order (`Shape.layout`):
#   id (nodes) or src, dst, key, uid (relationships); the create, first, last and set values,
#   the sorted distinct values of each union name, the minimum and maximum values, each in the
#   order of the shape's names; the rank (when first or last); the create names whose value is
#   null (when create; null if none); the first, last and set names whose value is null (when
#   first, last or set; null if none).
# The statement's parameters $fk, $lk, $sk and $nn are the first, last and set names and the
# union, minimum and maximum names (for `_nulls`).
#
# All the merge rules of one row are applied by one SET clause, whose every item reads the
# stored values (no read-then-write in Python, so concurrent writers lose nothing). A statement
# never has two rows for one node or relationship: the store sends a batch's second write of a
# node in a later statement (a later "round"), so writes apply in batch order and merge exactly
# as the embedded store merges them.
#
# The items are written so that it does not matter whether a server evaluates them all before
# writing (ArcadeDB) or one after the other: no item reads a property an earlier item writes,
# and an item whose rule does not apply writes nothing (`+= {}`), so it cannot put back a value
# an earlier item of the same row changed. (A write whose rules share a property name is split
# into one row per rule by the store, each in its own round.)

_SORTED_UNION = (
    "reduce(acc = [], v IN coalesce({old}, []) + {new} | CASE WHEN v IN acc THEN acc "
    "ELSE [a IN acc WHERE a < v] + [v] + [a IN acc WHERE a > v] END)"
)

NODE_IDENT = 1  # id
EDGE_IDENT = 4  # src, dst, key, uid


@dataclass(frozen=True, slots=True)
class Shape:
    """The property names of each merge rule of the rows of one write statement."""

    create: tuple[str, ...] = ()
    first: tuple[str, ...] = ()
    last: tuple[str, ...] = ()
    union: tuple[str, ...] = ()
    minimum: tuple[str, ...] = ()
    maximum: tuple[str, ...] = ()
    set: tuple[str, ...] = ()

    @property
    def ranked(self) -> bool:
        return bool(self.first or self.last)

    @property
    def nullable(self) -> bool:
        """Whether a row's first, last or set values can be null (and change `_nulls`)."""
        return bool(self.first or self.last or self.set)

    def layout(self, start: int) -> dict[str, list[str]]:
        """`row[i]` for each value of a row whose values start at `start`, by field: c, f,
        l, s (aligned with the names), u, mn, mx (likewise), r, cn and nulls (one or none)."""
        fields: dict[str, list[str]] = {}
        at = start
        sizes = [
            ("c", len(self.create)),
            ("f", len(self.first)),
            ("l", len(self.last)),
            ("s", len(self.set)),
            ("u", len(self.union)),
            ("mn", len(self.minimum)),
            ("mx", len(self.maximum)),
            ("r", 1 if self.ranked else 0),
            ("cn", 1 if self.create else 0),
            ("nulls", 1 if self.nullable else 0),
        ]
        for field, size in sizes:
            fields[field] = [f"row[{i}]" for i in range(at, at + size)]
            at += size
        return fields


def _map(names: tuple[str, ...], values: list[str]) -> str:
    """The Cypher map `{name0: value0, ...}`."""
    return "{" + ", ".join(f"{quote(n)}: {v}" for n, v in zip(names, values, strict=True)) + "}"


def _rules(v: str, shape: Shape, row: dict[str, list[str]]) -> str:
    """The SET clause applying one row's merge rules to the node or relationship `v` (empty
    when the shape has no rule but `create`)."""
    written = shape.first + shape.last + shape.union + shape.minimum + shape.maximum + shape.set
    if not written:
        return ""
    rank = row["r"][0] if shape.ranked else ""
    first = f"({v}.{FIRST_RANK} IS NULL OR {rank} < {v}.{FIRST_RANK})"
    last = f"({v}.{LAST_RANK} IS NULL OR {rank} > {v}.{LAST_RANK})"
    items: list[str] = []
    # `_nulls` after the row: the old names and the row's null ones, less those the row gives
    # a value. Names outside first/last/set keep their state unless union/minimum/maximum
    # write them (never null).
    old_nulls = f"coalesce({v}.{NULLS}, [])"
    new_nulls = f"coalesce({row['nulls'][0]}, [])" if shape.nullable else ""
    candidates = (
        f"reduce(acc = [], k IN {old_nulls}{' + ' + new_nulls if new_nulls else ''}"
        " | CASE WHEN k IN acc THEN acc ELSE acc + [k] END)"
    )
    whens = []
    if shape.set:
        whens.append(f"WHEN k IN $sk THEN k IN {new_nulls}")
    if shape.union or shape.minimum or shape.maximum:
        whens.append("WHEN k IN $nn THEN false")
    if shape.last:
        whens.append(f"WHEN {last} AND k IN $lk THEN k IN {new_nulls}")
    if shape.first:
        whens.append(f"WHEN {first} AND k IN $fk THEN k IN {new_nulls}")
    keep = f"CASE {' '.join(whens)} ELSE k IN {old_nulls} END"
    items.append(f"{v}.{NULLS} = [l IN [[k IN {candidates} WHERE {keep}]] WHERE size(l) > 0][0]")
    if shape.first:
        items.append(f"{v} += CASE WHEN {first} THEN {_map(shape.first, row['f'])} ELSE {{}} END")
    if shape.last:
        items.append(f"{v} += CASE WHEN {last} THEN {_map(shape.last, row['l'])} ELSE {{}} END")
    for name, value in zip(shape.union, row["u"], strict=True):
        merged = _SORTED_UNION.format(old=f"{v}.{quote(name)}", new=value)
        items.append(f"{v}.{quote(name)} = {merged}")
    for field, names, cmp in (("mn", shape.minimum, "<"), ("mx", shape.maximum, ">")):
        for name, value in zip(names, row[field], strict=True):
            prop = f"{v}.{quote(name)}"
            items.append(
                f"{v} += CASE WHEN {value} IS NOT NULL AND ({prop} IS NULL "
                f"OR {value} {cmp} {prop}) THEN {{{quote(name)}: {value}}} ELSE {{}} END"
            )
    if shape.set:
        items.append(f"{v} += {_map(shape.set, row['s'])}")
    if shape.first:
        items.append(f"{v} += CASE WHEN {first} THEN {{{FIRST_RANK}: {rank}}} ELSE {{}} END")
    if shape.last:
        items.append(f"{v} += CASE WHEN {last} THEN {{{LAST_RANK}: {rank}}} ELSE {{}} END")
    return "\nSET " + ",\n    ".join(items)


def _on_create(v: str, shape: Shape, row: dict[str, list[str]]) -> str:
    if not shape.create:
        return ""
    return f"\nON CREATE SET {v} += {_map(shape.create, row['c'])}, {v}.{NULLS} = {row['cn'][0]}"


def _reporting(v: str, ident: str, rules: str) -> str:
    """The SET clause `rules`, applied so that the statement returns `ident` of every row whose
    properties it changed (`rows`): a rewrite of the stored values returns nothing. Empty when
    there are no rules: a MERGE alone changes something only by creating, which the
    statement's counters tell (`nodes_created`, `relationships_created`)."""
    if not rules:
        return ""
    return (
        f"\nWITH row, {v}, properties({v}) AS before"
        + rules
        + f"\nWITH {v}, before WHERE properties({v}) <> before\nRETURN collect({ident}) AS rows"
    )


@lru_cache(maxsize=1024)
def node_upsert(label: Label, shape: Shape) -> str:
    """MERGE every row's node of `label` and apply its merge rules; rows: the ids of the nodes
    whose properties changed."""
    row = shape.layout(NODE_IDENT)
    return (
        f"UNWIND $rows AS row\n"
        f"MERGE (n:{quote(label.value)} {{{ID}: row[0]}})"
        + _on_create("n", shape, row)
        + _reporting("n", f"n.{ID}", _rules("n", shape, row))
    )


# The relationship types whose end node has far fewer of them than the start node: an event is
# reported by a few outlets, an outlet reports thousands of events. ArcadeDB's MERGE looks for
# an existing relationship by walking the relationships of the pattern's first node, so the
# MERGE pattern starts from the end with fewer (at 1,000 events, merging REPORTS from the
# event instead of the outlet took 0.26 s instead of 0.38 s; the gap grows with the graph).
MERGE_FROM_END = frozenset({Rel.REPORTS, Rel.PUBLISHED})


@lru_cache(maxsize=1024)
def edge_upsert(rel: Rel, src: Label, dst: Label, shape: Shape) -> str:
    """MERGE every row's `rel` relationship between existing nodes and apply its merge rules;
    rows: the `_uid`s of the relationships whose properties changed."""
    row = shape.layout(EDGE_IDENT)
    pattern = f"[r:{quote(rel.value)} {{{KEY}: row[2], {UID}: row[3]}}]"
    merge = f"(b)<-{pattern}-(a)" if rel in MERGE_FROM_END else f"(a)-{pattern}->(b)"
    return (
        f"UNWIND $rows AS row\n"
        f"MATCH (a:{quote(src.value)} {{{ID}: row[0]}})\n"
        f"MATCH (b:{quote(dst.value)} {{{ID}: row[1]}})\n"
        f"MERGE {merge}"
        + _on_create("r", shape, row)
        + _reporting("r", f"r.{UID}", _rules("r", shape, row))
    )


# A node or relationship that does not exist yet is created with the properties the store
# merged from all its writes in the batch: a row is `id` (or src, dst, key, uid), the value of
# each name (null ones are dropped by `SET v = {...}`), then the null names (or null).


def _created(v: str, names: tuple[str, ...], ident: dict[str, int], start: int) -> str:
    """`SET v = {...}`: the `ident` properties (name: position in the row), then `names`
    from `start` on, then `_nulls`."""
    entries = [f"{name}: row[{i}]" for name, i in ident.items()]
    entries += [f"{quote(name)}: row[{i}]" for i, name in enumerate(names, start=start)]
    entries.append(f"{NULLS}: row[{start + len(names)}]")
    return f"SET {v} = {{" + ", ".join(entries) + "}"


@lru_cache(maxsize=1024)
def node_create(label: Label, names: tuple[str, ...]) -> str:
    """CREATE every row's node of `label` (the id's uniqueness constraint refuses a node that
    a concurrent writer created meanwhile)."""
    return f"UNWIND $rows AS row\nCREATE (n:{quote(label.value)})\n" + _created(
        "n", names, {ID: 0}, 1
    )


@lru_cache(maxsize=1024)
def edge_create(rel: Rel, src: Label, dst: Label, names: tuple[str, ...]) -> str:
    """CREATE every row's `rel` relationship between existing nodes (the `_uid` uniqueness
    constraint refuses one that a concurrent writer created meanwhile). A row starts with
    src, dst, key and uid."""
    return (
        f"UNWIND $rows AS row\n"
        f"MATCH (a:{quote(src.value)} {{{ID}: row[0]}})\n"
        f"MATCH (b:{quote(dst.value)} {{{ID}: row[1]}})\n"
        f"CREATE (a)-[r:{quote(rel.value)}]->(b)\n" + _created("r", names, {KEY: 2, UID: 3}, 4)
    )


def delete_nodes(label: Label) -> str:
    """Remove nodes with all their relationships."""
    return f"UNWIND $ids AS id MATCH (n:{quote(label.value)} {{{ID}: id}}) DETACH DELETE n"


def edges_of_deleted(label: Label) -> str:
    """The relationships of the nodes of `label` among `$ids`, which a write is about to delete
    with them: rows [src, type, dst, key] (a relationship between two of them comes twice)."""
    node = f"(n:{quote(label.value)} {{{ID}: id}})"
    return (
        f"UNWIND $ids AS id MATCH {node}-[r]->(m) "
        f"RETURN collect([id, type(r), m.{ID}, r.{KEY}]) AS rows\n"
        "UNION ALL\n"
        f"UNWIND $ids AS id MATCH {node}<-[r]-(m) "
        f"RETURN collect([m.{ID}, type(r), id, r.{KEY}]) AS rows"
    )


def unlink(rel: Rel) -> str:
    """Remove relationships of type `rel` by their identity; rows: the `_uid`s removed."""
    return (
        f"UNWIND $uids AS uid MATCH ()-[r:{quote(rel.value)} {{{UID}: uid}}]->() "
        "DELETE r RETURN collect(uid) AS rows"
    )


def find_nodes(label: Label, where: tuple[str, ...], order_by: str) -> str:
    """Nodes of `label` whose properties `where` equal `$w0`, `$w1`, ..., ordered by
    (`order_by`, id) after (`$after_on`, `$after_id`). The names come from the code."""
    order = f"coalesce(n.{quote(order_by)}, '')"
    tests = [f"n.{quote(name)} = $w{i}" for i, name in enumerate(where)]
    later = f"{order} > $after_on OR ({order} = $after_on AND n.{ID} > $after_id)"
    tests.append(f"($after_id IS NULL OR {later})")
    return (
        f"MATCH (n:{quote(label.value)}) WHERE {' AND '.join(tests)} "
        f"RETURN n.{ID} AS id, properties(n) AS props ORDER BY {order}, n.{ID} LIMIT $limit"
    )


def _directory_match(label: Label, where: tuple[str, ...], order_by: str, near: bool) -> str:
    """The MATCH and WHERE of a directory listing (`list_nodes`, `count_nodes`): the nodes of
    `label` whose `order_by` is a string, whose properties `where` equal `$w0`, `$w1`, ...,
    and, with `near`, linked to the node `$near` (`DIRECTORY_NEAR`)."""
    node = f"(n:{quote(label.value)})"
    if near:
        rel, direction, other = DIRECTORY_NEAR[label]
        arrow = f"-[:{quote(rel.value)}]->" if direction == "out" else f"<-[:{quote(rel.value)}]-"
        match = f"MATCH {node}{arrow}(:{quote(other.value)} {{{ID}: $near}})"
    else:
        match = f"MATCH {node}"
    tests = [f"n.{quote(order_by)} >= ''"]  # a string (a number or a list is not listed)
    tests += [f"n.{quote(name)} = $w{i}" for i, name in enumerate(where)]
    return f"{match} WHERE {' AND '.join(tests)}"


@lru_cache(maxsize=64)
def list_nodes(
    label: Label, where: tuple[str, ...], order_by: str, near: bool, descending: bool
) -> str:
    """A page of a directory, ordered by (`order_by`, id), after (`$after_on`, `$after_id`)."""
    order = f"n.{quote(order_by)}"
    cmp, way = ("<", " DESC") if descending else (">", "")
    later = f"{order} {cmp} $after_on OR ({order} = $after_on AND n.{ID} {cmp} $after_id)"
    return (
        f"{_directory_match(label, where, order_by, near)} AND ($after_id IS NULL OR {later}) "
        f"RETURN n.{ID} AS id, properties(n) AS props "
        f"ORDER BY {order}{way}, n.{ID}{way} LIMIT $limit"
    )


@lru_cache(maxsize=64)
def count_listed(label: Label, where: tuple[str, ...], order_by: str, near: bool) -> str:
    return f"{_directory_match(label, where, order_by, near)} RETURN count(n) AS count"


# The keys of deleted nodes go with them, except those the same batch gives a new owner.
DROP_KEYS_OF = (
    f"UNWIND $ids AS id MATCH (k:{KEY_LABEL} {{node: id}}) WHERE NOT k.key IN $kept DETACH DELETE k"
)
# rows: [new owner, old owner or null] of each key whose owner changed.
REKEY = (
    f"UNWIND $rows AS row MERGE (k:{KEY_LABEL} {{key: row.key}}) "
    "WITH row, k, k.node AS before SET k.node = row.node, k.prefix = row.prefix "
    "WITH k, before WHERE before IS NULL OR before <> k.node "
    "RETURN collect([k.node, before]) AS rows"
)
# rows: the owners of the keys dropped.
DROP_KEYS = (
    f"UNWIND $keys AS key MATCH (k:{KEY_LABEL} {{key: key}}) "
    "WITH k, k.node AS owner DETACH DELETE k RETURN collect(owner) AS rows"
)
# A claim never takes a key from its owner: the first claim committed wins.
# $rows: [key, node, matching prefix or null] lists.
CLAIM_KEYS = (
    f"UNWIND $rows AS row MERGE (k:{KEY_LABEL} {{key: row[0]}}) "
    "ON CREATE SET k.node = row[1], k.prefix = row[2]"
)
# The same, returning [key, owner] of each key that another node owns (rows): the others are
# owned by their claimant.
CLAIM_KEYS_OWNERS = (
    CLAIM_KEYS + " WITH row, k WHERE NOT coalesce(k.node = row[1], false) "
    "RETURN collect([row[0], k.node]) AS rows"
)
# rows: the names of the settings whose value changed.
PUT_SETTINGS = (
    f"UNWIND $rows AS row MERGE (s:{SETTING_LABEL} {{name: row.name}}) "
    "WITH row, s, s.value AS before SET s.value = row.value "
    "WITH s, before WHERE before IS NULL OR before <> s.value RETURN collect(s.name) AS rows"
)


# -- the change log (graph.neo4j.changelog) -------------------------------------------------------
#
# Appending takes the head's write lock (a SET reading the property it writes locks first, on
# Neo4j) until the write commits: writers append one after the other, in commit order, and `seq`
# has no gaps. On ArcadeDB two writers appending at once conflict and one is retried. The unique
# constraint on `Change.seq` refuses a duplicate whatever the server.

CHANGE_HEAD = "head"  # the `id` of the one ChangeLog node
# $entry: the entry's properties but `seq`. Returns the new entry's seq and the oldest kept.
APPEND_CHANGE = (
    f"MERGE (h:{CHANGE_LOG_LABEL} {{id: $head}}) ON CREATE SET h.seq = 0, h.oldest = 1\n"
    "SET h.seq = h.seq + 1\n"
    f"CREATE (c:{CHANGE_LABEL} {{seq: h.seq}}) SET c += $entry\n"
    "RETURN h.seq AS seq, h.oldest AS oldest"
)
# Truncation: the entries $first..$last (the oldest kept, onwards) deleted, one index lookup each.
DROP_CHANGES = f"UNWIND range($first, $last) AS s MATCH (c:{CHANGE_LABEL} {{seq: s}}) DELETE c"
SET_OLDEST_CHANGE = f"MATCH (h:{CHANGE_LOG_LABEL} {{id: $head}}) SET h.oldest = $oldest"
CHANGE_LOG_HEAD = (
    f"MATCH (h:{CHANGE_LOG_LABEL} {{id: $head}}) RETURN h.seq AS seq, h.oldest AS oldest"
)
# The entries $first..$last: `seq` has no gaps, so one index lookup each (no range scan).
GET_CHANGES = (
    f"UNWIND range($first, $last) AS s MATCH (c:{CHANGE_LABEL} {{seq: s}}) "
    "RETURN collect(properties(c)) AS rows"
)


# -- checks (tests and diagnostics) --------------------------------------------------------------


def count_node_ids(label: Label) -> str:
    """Nodes of `label` and their distinct ids: equal unless an id is duplicated."""
    return f"MATCH (n:{quote(label.value)}) RETURN count(n) AS all, count(DISTINCT n.{ID}) AS ids"


def count_edge_uids(rel: Rel) -> str:
    return (
        f"MATCH ()-[r:{quote(rel.value)}]->() "
        f"RETURN count(r) AS all, count(DISTINCT r.{UID}) AS ids"
    )


COUNT_KEYS = f"MATCH (k:{KEY_LABEL}) RETURN count(k) AS all, count(DISTINCT k.key) AS ids"


# -- the search index (graph.neo4j.search, docs/search.md) ---------------------------------------
# One (:SearchDoc {id, label, ord, day, popularity, names, body, terms_names, terms_body}) per
# searchable node, one (:SearchPosting {term, label, ord, doc}) per distinct term of it, and one
# (:SearchTerm {term, df}) per term indexed: what `graph.search.SearchIndex` asks, as equality
# and prefix look-ups in ordinary indexes (the Bolt server the tests use has no full-text
# index). Written in the batch's own transaction.

SEARCH_DOC_LABEL = "SearchDoc"
SEARCH_POSTING_LABEL = "SearchPosting"
SEARCH_TERM_LABEL = "SearchTerm"
SEARCH_SCHEMA = (
    f"CREATE CONSTRAINT newsgraph_search_doc IF NOT EXISTS "
    f"FOR (d:{SEARCH_DOC_LABEL}) REQUIRE d.id IS UNIQUE",
    f"CREATE CONSTRAINT newsgraph_search_term IF NOT EXISTS "
    f"FOR (t:{SEARCH_TERM_LABEL}) REQUIRE t.term IS UNIQUE",
    f"CREATE INDEX newsgraph_search_posting_term IF NOT EXISTS "
    f"FOR (p:{SEARCH_POSTING_LABEL}) ON (p.term)",
    f"CREATE INDEX newsgraph_search_posting_doc IF NOT EXISTS "
    f"FOR (p:{SEARCH_POSTING_LABEL}) ON (p.doc)",
)
_DOC_FIELDS = (
    "d.id AS id, d.label AS label, d.day AS day, d.popularity AS popularity, d.names AS names, "
    "d.body AS body, d.terms_names AS terms_names, d.terms_body AS terms_body"
)
SEARCH_DOCS = f"UNWIND $ids AS id MATCH (d:{SEARCH_DOC_LABEL} {{id: id}}) RETURN {_DOC_FIELDS}"
# What a search document is made of, for each of `$ids` that is a searchable node, in one
# round trip: an event's summary, date and claims; a named node's name, aliases and distinct
# neighbours.
SEARCH_SOURCES = "\nUNION ALL\n".join(
    [
        f"UNWIND $ids AS id MATCH (n:{quote(Label.EVENT.value)} {{{ID}: id}}) "
        f"OPTIONAL MATCH (n)<-[r:{quote(Rel.REPORTS.value)}]-() "
        f"RETURN n.id AS id, '{Label.EVENT.value}' AS label, n.summary AS summary, "
        "n.occurred_on AS occurred_on, collect(r.claim_texts) AS claims, null AS name, "
        "null AS aliases, 0 AS popularity"
    ]
    + [
        f"UNWIND $ids AS id MATCH (n:{quote(label.value)} {{{ID}: id}}) "
        "OPTIONAL MATCH (n)--(m) "
        f"RETURN n.id AS id, '{label.value}' AS label, null AS summary, null AS occurred_on, "
        "[] AS claims, n.name AS name, n.aliases AS aliases, count(DISTINCT m) AS popularity"
        for label in (Label.ENTITY, Label.PLACE, Label.OUTLET)
    ]
)

SEARCH_PUT_DOCS = (
    f"UNWIND $rows AS row MERGE (d:{SEARCH_DOC_LABEL} {{id: row.id}}) "
    "SET d.label = row.label, d.ord = row.ord, d.day = row.day, d.popularity = row.popularity, "
    "d.names = row.names, d.body = row.body, d.terms_names = row.terms_names, "
    "d.terms_body = row.terms_body"
)
SEARCH_DROP_DOCS = f"UNWIND $ids AS id MATCH (d:{SEARCH_DOC_LABEL} {{id: id}}) DELETE d"
SEARCH_DROP_POSTINGS = f"UNWIND $ids AS id MATCH (p:{SEARCH_POSTING_LABEL} {{doc: id}}) DELETE p"
SEARCH_PUT_POSTINGS = (
    f"UNWIND $rows AS row CREATE (:{SEARCH_POSTING_LABEL} "
    "{term: row[0], label: row[1], ord: row[2], doc: row[3]})"
)
# Document counts: each row a term and how many documents gained (or lost) it.
SEARCH_COUNT_TERMS = (
    f"UNWIND $rows AS row MERGE (t:{SEARCH_TERM_LABEL} {{term: row[0]}}) "
    "ON CREATE SET t.df = 0 SET t.df = t.df + row[1]"
)
SEARCH_DROP_UNUSED_TERMS = (
    f"UNWIND $terms AS term MATCH (t:{SEARCH_TERM_LABEL} {{term: term}}) WHERE t.df <= 0 DELETE t"
)
SEARCH_VOCABULARY = (
    f"MATCH (t:{SEARCH_TERM_LABEL}) WHERE t.term STARTS WITH $prefix "
    "RETURN t.term AS term, t.df AS df ORDER BY term LIMIT $limit"
)
SEARCH_TERM_POSTINGS = (
    f"MATCH (p:{SEARCH_POSTING_LABEL} {{term: $term}}) WHERE p.label = $label "
    "RETURN p.doc AS doc, p.ord AS ord ORDER BY ord DESC, doc DESC LIMIT $limit"
)
SEARCH_PREFIX_POSTINGS = (
    f"MATCH (p:{SEARCH_POSTING_LABEL}) WHERE p.term STARTS WITH $term AND p.label = $label "
    "WITH DISTINCT p.doc AS doc, p.ord AS ord "
    "RETURN doc, ord ORDER BY ord DESC, doc DESC LIMIT $limit"
)
# The documents holding every one of several terms: those holding the lead term, each kept if
# its postings hold the other exact terms and (when `$prefix` is not '') one starting with it.
SEARCH_EVERY_POSTINGS = (
    f"MATCH (p:{SEARCH_POSTING_LABEL} {{term: $lead}}) WHERE p.label = $label "
    f"MATCH (o:{SEARCH_POSTING_LABEL} {{doc: p.doc}}) "
    "WITH p.doc AS doc, p.ord AS ord, collect(o.term) AS held "
    "WHERE all(t IN $exact WHERE t IN held) "
    "AND ($prefix = '' OR any(h IN held WHERE h STARTS WITH $prefix)) "
    "RETURN doc, ord ORDER BY ord DESC, doc DESC LIMIT $limit"
)
# A graph written before the index existed: its searchable nodes, a page at a time by id.
SEARCH_INDEX_MARK = f"MATCH (t:{SEARCH_TERM_LABEL} {{term: ''}}) RETURN t.df AS version"
SEARCH_SET_INDEX_MARK = f"MERGE (t:{SEARCH_TERM_LABEL} {{term: ''}}) SET t.df = $version"


def search_ids_after(label: Label) -> str:
    return (
        f"MATCH (n:{quote(label.value)}) WHERE n.{ID} > $after "
        f"RETURN n.{ID} AS id ORDER BY id LIMIT $limit"
    )
