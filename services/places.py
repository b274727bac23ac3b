"""Places a record names, resolved against the gazetteer, and the event's place chosen by evidence.

A record's location is written as the source gave it (a Place per name and country, with its
country), and each Place carries what the gazetteer makes of it: its entry (id, canonical name,
alternate names, region, country code, coordinates) and the check (resolved, unresolved,
conflict, with the reason and a suggestion). Places and countries that resolve share the
gazetteer's identity key, so Kyiv, Kiev and Київ in Ukraine are one Place, and a country is one
Place per ISO 3166 code, whatever the source called it.

`placing` is a `derive` step: inside the write, it chooses each touched event's place from all of
its reported locations (an editor's correction first, then the gazetteer entry most stories
agree on, a location the gazetteer contradicts last) and files the event under that place's
country only. `records_place` is what the records choose with an editor's correction aside
(what a corrected place was corrected from; the correction itself is services.corrections).
docs/places.md.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

from graph import keys
from graph.gazetteer import Check, Country, Entry, Flag, check
from graph.model import Edge, Label, Node, NodeWrite, PropertyWrite, Rel, Value, WriteBatch
from graph.store import Derive, GraphReader
from loaders.records import Location
from services.plan import EMPTY, WritePlan
from services.resolve import Resolver

CORRECTED: Final = (
    "location_corrected"  # an editor's choice of the event's place: later records keep it
)
# The key of the editor's own location of an event (an OCCURRED_IN with no stories, written by
# services.corrections): the place of `CORRECTED`.
EDITOR_LOCATION: Final = "correction"


def iso_key(iso: str) -> str:
    """The identity key of the country with ISO 3166-1 alpha-2 code `iso`."""
    return f"country:iso:{iso.upper()}"


def gazetteer_key(entry: Entry) -> str:
    return f"place:{entry.id}"


@dataclass(frozen=True, slots=True)
class Located:
    """One record's location: the gazetteer's check of it, and the identity keys of its place
    and country (the gazetteer's first, when it resolves cleanly)."""

    check: Check
    country_keys: tuple[str, ...]
    place_keys: tuple[str, ...]


def locate(location: Location | None) -> Located | None:
    """What the gazetteer makes of a record's location, or None when it names nothing."""
    if location is None:
        return None
    place, country = location.place, location.country
    if not (place or country or (location.lat is not None and location.lon is not None)):
        return None
    found = check(place, country, location.lat, location.lon)
    named = found.named
    country_keys: tuple[str, ...] = ()
    if country:
        country_keys = (keys.country_key(country),)
        if named is not None:
            country_keys = (iso_key(named.iso), *country_keys)
    elif found.country is not None and place is None:
        country_keys = (iso_key(found.country.iso),)  # an empty place resolved from the point
    place_keys: tuple[str, ...] = ()
    if place:
        place_keys = (keys.place_key(place, country),)
        # the name alone (no point), so one Place always resolves the same way
        by_name = check(place, country)
        if by_name.entry is not None and by_name.status == "resolved":
            if by_name.entry.kind == "country":
                place_keys = (iso_key(by_name.entry.country), *place_keys)
            else:
                place_keys = (gazetteer_key(by_name.entry), *place_keys)
    elif found.entry is not None and found.entry.kind == "city":
        place_keys = (gazetteer_key(found.entry),)
    return Located(found, country_keys, place_keys)


def claim(resolver: Resolver, identity: Sequence[str], prefix: str) -> str:
    """The node of a thing with these keys, claiming the keys no other node owns; unlike
    `Resolver.resolve`, two owners never merge (a graph loaded before the gazetteer keeps its
    places apart rather than merging them as a side effect of a load)."""
    owners = [o for k in identity if (o := resolver.owner(k)) is not None]
    if not owners:
        return resolver.resolve(list(identity), prefix)
    return resolver.resolve([k for k in identity if resolver.owner(k) in (None, owners[0])], prefix)


def plan_location(
    plan: WritePlan,
    located: Located | None,
    event_id: str,
    story_node: str | None,
    rank: str,
    resolver: Resolver,
    reported: Location | None,
    also: dict[str, list[str]] | None = None,
) -> dict[str, list[str]]:
    """The writes of a record's location; what the event's `union` adds for it. `also` adds
    to the union of its OCCURRED_IN relationship (the extraction that named it)."""
    if located is None or reported is None:
        return {}
    place_id, country_id = plan_place(plan, located, resolver, reported, rank)
    target = place_id or country_id
    if target is None:
        return {}
    plan.edge(
        event_id,
        Rel.OCCURRED_IN,
        target,
        PropertyWrite(
            minimum={"first_reported": rank},
            union={
                "stories": [story_node] if story_node else [],
                "flags": [flag_json(f) for f in located.check.flags],
                **(also or {}),
            },
        ),
    )
    return {
        "place_ids": [i for i in (place_id, country_id) if i is not None],
        "country_ids": [country_id] if country_id is not None else [],
    }


def plan_place(
    plan: WritePlan, located: Located, resolver: Resolver, reported: Location, rank: str
) -> tuple[str | None, str | None]:
    """The writes of the Place and country a location names, found by their keys or made
    (`rank` ranks the name it gives them); their ids (the place None when it is the country)."""
    found = located.check
    country_id = place_id = None
    if located.country_keys:
        country_id = claim(resolver, located.country_keys, "pl")
        name = reported.country or (found.country.name if found.country else "")
        # the country the record named; with none, the one the gazetteer found from the point
        named = found.named if reported.country else found.country
        if not plan.seen(country_id, (name, "country"), rank):
            plan.node(country_id, Label.PLACE, _country_merge(name, named, rank))
    if located.place_keys:
        place_id = claim(resolver, located.place_keys, "pl")
        if place_id == country_id:  # "Syria, Syria": the place is the country
            place_id = None
    if place_id is not None:
        name = reported.place or (found.entry.name if found.entry else "")
        if not plan.seen(place_id, (name, reported.country, "place"), rank):
            by_name = check(reported.place, reported.country) if reported.place else found
            plan.node(place_id, Label.PLACE, _place_merge(name, by_name, rank))
        if country_id is not None:
            plan.edge(place_id, Rel.IN_COUNTRY, country_id, EMPTY)
    return place_id, country_id


def flag_json(flag: Flag) -> str:
    return json.dumps(
        {"field": flag.field, "reason": flag.reason, "suggestion": flag.suggestion},
        sort_keys=True,
        ensure_ascii=False,
    )


def flags_of(edge: Edge) -> list[Flag]:
    """The flags an OCCURRED_IN relationship carries (what the gazetteer said of its records)."""
    out = []
    for text in edge.texts("flags"):
        data = json.loads(text)
        out.append(Flag(str(data["field"]), str(data["reason"]), data.get("suggestion")))
    return out


def _entry_props(entry: Entry | None) -> dict[str, Value]:
    if entry is None:
        return {}
    return {
        "gazetteer_id": entry.id,
        "canonical_name": entry.name,
        "country_code": entry.country,
        "admin1": entry.admin1,
        "lat": entry.lat,
        "lon": entry.lon,
        "population": entry.population,
        "alternate_names": sorted(set(entry.alternate_names))[:200],
    }


def _check_props(found: Check) -> dict[str, Value]:
    return {
        "resolution": found.status,
        "check_reason": found.reason or None,
        "suggestion": found.suggestion,
    }


def _place_merge(name: str, found: Check, rank: str) -> PropertyWrite:
    kind = found.entry.kind if found.entry is not None else "place"
    return PropertyWrite(
        create={"kind": "country" if kind == "country" else "place"},
        first={"name": name},
        set=_entry_props(found.entry) | _check_props(found),
        rank=rank,
        union={"aliases": [name]},
    )


def _country_merge(name: str, named: Country | None, rank: str) -> PropertyWrite:
    props: dict[str, Value] = {"resolution": "unresolved", "check_reason": None}
    if named is not None:
        props = {
            "resolution": "resolved",
            "iso": named.iso,
            "country_code": named.iso,
            "canonical_name": named.name,
            "check_reason": None,
        }
    elif name:
        props["check_reason"] = f"'{name[:60]}' is not a country"
    return PropertyWrite(
        create={"kind": "country"},
        first={"name": name},
        set=props,
        rank=rank,
        union={"aliases": [name]},
    )


@dataclass(frozen=True, slots=True)
class Placed:
    """An event's place chosen from its reports: the location (Place id), its country, and
    whether the gazetteer contradicts it."""

    place: str | None
    country: str | None
    flagged: bool
    reason: str | None
    suggestion: str | None
    lat: float | None
    lon: float | None


def choose(
    event: Node,
    edges: Sequence[Edge],
    places: dict[str, Node],
    countries: dict[str, list[Edge]],
) -> Placed:
    """The event's place: an editor's correction; else the gazetteer entry the most stories
    place it at (a contradicted location counts for the entry the gazetteer suggests), and of
    its locations the one the gazetteer does not contradict; ties to the earliest reported."""
    corrected = event.text(CORRECTED)
    support: dict[str, int] = {}
    first: dict[str, str] = {}
    for edge in edges:
        place = places.get(edge.dst)
        if place is None:
            continue
        group = place.text("gazetteer_id") or place.id
        support[group] = support.get(group, 0) + max(1, len(edge.texts("stories")))
        reported = str(edge.props.get("first_reported") or "")
        first[group] = min(first.get(group, reported), reported)
    live = [e for e in edges if e.dst in places]
    chosen: Edge | None = None
    if corrected and any(e.dst == corrected for e in live):
        chosen = next(e for e in live if e.dst == corrected)
    elif live:
        group = min(support, key=lambda g: (-support[g], first[g], g))

        def rank(e: Edge) -> tuple[bool, int, str, str]:
            flagged = bool(e.texts("flags")) or places[e.dst].props.get("resolution") == "conflict"
            reported = str(e.props.get("first_reported") or "")
            return (flagged, -len(e.texts("stories")), reported, e.dst)

        chosen = min(
            (e for e in live if (places[e.dst].text("gazetteer_id") or e.dst) == group),
            key=rank,
        )
    if chosen is None:
        return Placed(None, None, False, None, None, _num(event, "lat"), _num(event, "lon"))
    place = places[chosen.dst]
    out = countries.get(chosen.dst) or []
    country = out[0].dst if out else (place.id if place.text("kind") == "country" else None)
    flags = flags_of(chosen)
    flagged = corrected != chosen.dst and (
        bool(flags) or place.props.get("resolution") == "conflict"
    )
    reason = "; ".join(f.reason for f in flags) or _text(place, "check_reason")
    suggestion = next((f.suggestion for f in flags if f.suggestion), None) or _text(
        place, "suggestion"
    )
    lat, lon = _num(event, "lat"), _num(event, "lon")
    # an editor's place: its own point (the records' is of the place they got wrong)
    if corrected == chosen.dst or lat is None or lon is None:
        lat, lon = _num(place, "lat"), _num(place, "lon")
    return Placed(
        chosen.dst,
        country,
        flagged,
        reason if flagged else None,
        suggestion if flagged else None,
        lat,
        lon,
    )


def placed_props(placed: Placed) -> dict[str, Value]:
    return {
        "place_id": placed.place,
        "country_ids": [placed.country] if placed.country else [],
        "location_check": "conflict" if placed.flagged else ("ok" if placed.place else None),
        "location_reason": placed.reason,
        "location_suggestion": placed.suggestion,
        "geo_lat": placed.lat,
        "geo_lon": placed.lon,
    }


def placing(event_ids: Sequence[str]) -> Derive:
    """The `derive` step choosing each of `event_ids`' place, as the write's transaction sees
    all of its locations."""

    def derive(graph: GraphReader) -> WriteBatch:
        return WriteBatch(nodes=place_events(graph, event_ids))

    return derive


def place_events(graph: GraphReader, event_ids: Sequence[str]) -> list[NodeWrite]:
    """The writes that set each event's chosen place, country and coordinates."""
    events = graph.get_nodes(list(event_ids))
    located = graph.edges(list(events), Rel.OCCURRED_IN, "out")
    targets = sorted({e.dst for edges in located.values() for e in edges})
    places = graph.get_nodes(targets)
    countries = graph.edges(targets, Rel.IN_COUNTRY, "out")
    writes = []
    for event_id, event in sorted(events.items()):
        placed = choose(event, located.get(event_id, []), places, countries)
        writes.append(NodeWrite(event_id, Label.EVENT, PropertyWrite(set=placed_props(placed))))
    return writes


def _num(node: Node, name: str) -> float | None:
    value = node.props.get(name)
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def _text(node: Node, name: str) -> str | None:
    value = node.props.get(name)
    return value if isinstance(value, str) and value else None


def place_label(graph: GraphReader, place_id: str) -> str | None:
    """A Place as the page shows it, with its country ('Moscow, Russia'); None when gone."""
    place = graph.get_nodes([place_id]).get(place_id)
    if place is None:
        return None
    within = graph.edges([place_id], Rel.IN_COUNTRY, "out")[place_id]
    country = graph.get_nodes([within[0].dst]).get(within[0].dst) if within else None
    if country is None:
        return place.text("name")
    return f"{place.text('name')}, {country.text('name')}"


def records_place(graph: GraphReader, event: Node) -> str | None:
    """The place the records choose for `event`, an editor's correction aside (`choose`), as
    `place_label` shows it: what a corrected place was corrected from."""
    located = graph.edges([event.id], Rel.OCCURRED_IN, "out")[event.id]
    edges = [e for e in located if e.discriminator != EDITOR_LOCATION]
    targets = sorted({e.dst for e in edges})
    places = graph.get_nodes(targets)
    countries = graph.edges(targets, Rel.IN_COUNTRY, "out")
    bare = Node(event.id, event.label, {k: v for k, v in event.props.items() if k != CORRECTED})
    placed = choose(bare, edges, places, countries)
    return place_label(graph, placed.place) if placed.place is not None else None
