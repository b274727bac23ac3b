"""`EventFilterInput`, the GraphQL form of `graph.store.EventFilter`, and `to_filter`, the one
translation from the one to the other (event listings, timelines, subscriptions)."""

from __future__ import annotations

import datetime as dt
from enum import Enum

import strawberry

from api.context import Info
from api.errors import UserError
from api.scalars import Category, ConfidenceLevel, EntityType, Tier, Tone
from graph.store import EventFilter
from services.places import iso_key

# At most this many entities in `filter.entities`.
MAX_ENTITIES = 10
# At most this many roles, or outlet groups, in a filter, each at most `MAX_NAME` characters.
MAX_NAMES = 20
MAX_NAME = 100


@strawberry.enum(description="How `filter.entities` match: every one of them, or any one.")
class EntitiesMatch(Enum):
    ALL = "all"
    ANY = "any"


@strawberry.input(description="Narrows a list of events; every field given must match.")
class EventFilterInput:
    categories: list[Category] | None = None
    date_from: dt.date | None = strawberry.field(default=None, name="from")
    date_to: dt.date | None = strawberry.field(default=None, name="to")
    place: strawberry.ID | None = strawberry.field(default=None, description="a Place id")
    country: strawberry.ID | None = strawberry.field(
        default=None, description="a country's Place id, or its ISO 3166-1 alpha-2 code (RU)"
    )
    entity: strawberry.ID | None = None
    outlet: strawberry.ID | None = None
    min_confidence: ConfidenceLevel | None = None
    confidence: list[ConfidenceLevel] | None = strawberry.field(
        default=None, description="Exactly these levels (any of them), e.g. [DISPUTED]."
    )
    near: NearInput | None = strawberry.field(
        default=None, description="events within a distance of a point"
    )
    box: BoxInput | None = strawberry.field(default=None, description="events inside a box")
    flagged: bool | None = strawberry.field(
        default=None,
        description="true: events whose place the gazetteer contradicts; false: the others",
    )
    entities: list[strawberry.ID] | None = strawberry.field(
        default=None,
        description=f"Entity ids (at most {MAX_ENTITIES}): events involving every one of them "
        "(`entitiesMatch: ALL`, the default: an entity pair's events) or any one (`ANY`).",
    )
    entities_match: EntitiesMatch = EntitiesMatch.ALL
    roles: list[str] | None = strawberry.field(
        default=None,
        description="Roles (any of; case does not matter): events in which `entity` (a "
        'timeline\'s entity) is involved in one of them, e.g. ["target"]; without `entity`, '
        "events in which any entity is (of `entityTypes`, when given).",
    )
    entity_types: list[EntityType] | None = strawberry.field(
        default=None, description="Events involving an entity of one of these types."
    )
    tones: list[Tone] | None = strawberry.field(
        default=None,
        description="Events with a report (not retracted) holding a claim of one of these tones.",
    )
    tiers: list[Tier] | None = strawberry.field(
        default=None,
        description="Events reported (not every report retracted) by an outlet of one of "
        "these tiers.",
    )
    groups: list[str] | None = strawberry.field(
        default=None,
        description="Events reported (not every report retracted) by an outlet of one of these "
        "independence groups (`Outlet.group`).",
    )


@strawberry.input(description="A point and a distance: events within `km` of it (great circle).")
class NearInput:
    latitude: float
    longitude: float
    km: float


@strawberry.input(
    description="A bounding box in degrees; `west` greater than `east` crosses the 180th meridian."
)
class BoxInput:
    south: float
    west: float
    north: float
    east: float


def _near(near: NearInput | None) -> tuple[float, float, float] | None:
    if near is None:
        return None
    _latitude("filter.near.latitude", near.latitude)
    _longitude("filter.near.longitude", near.longitude)
    if not (0 <= near.km <= 20_100):  # half the Earth's circumference: everything
        raise UserError(f"filter.near.km must be between 0 and 20100 (got {near.km})")
    return (near.latitude, near.longitude, near.km)


def _box(box: BoxInput | None) -> tuple[float, float, float, float] | None:
    if box is None:
        return None
    _latitude("filter.box.south", box.south)
    _latitude("filter.box.north", box.north)
    _longitude("filter.box.west", box.west)
    _longitude("filter.box.east", box.east)
    if box.south > box.north:
        raise UserError("filter.box.south is north of filter.box.north")
    return (box.south, box.west, box.north, box.east)


def _latitude(name: str, value: float) -> None:
    if not -90 <= value <= 90:
        raise UserError(f"{name} must be between -90 and 90 (got {value})")


def _longitude(name: str, value: float) -> None:
    if not -180 <= value <= 180:
        raise UserError(f"{name} must be between -180 and 180 (got {value})")


async def to_filter(info: Info, given: EventFilterInput | None, **fixed: str | bool) -> EventFilter:
    given = given or EventFilterInput()
    if given.date_from and given.date_to and given.date_from > given.date_to:
        raise UserError("filter.from is after filter.to")
    policy = info.context.policy
    values: dict[str, object] = {
        "categories": tuple(c.value for c in given.categories or ()),
        "date_from": given.date_from.isoformat() if given.date_from else None,
        "date_to": given.date_to.isoformat() if given.date_to else None,
        "place": given.place,
        "country": await _country(info, given.country),
        "entity": given.entity,
        "outlet": given.outlet,
        "min_confidence": policy.rank(given.min_confidence.value) if given.min_confidence else None,
        "levels": tuple(sorted({policy.rank(c.value) for c in given.confidence or ()})),
    }
    values["near"] = _near(given.near)
    values["box"] = _box(given.box)
    values["flagged"] = given.flagged
    if given.confidence is not None and not given.confidence:
        raise UserError("filter.confidence must name at least one level")
    if given.entities is not None:
        named = tuple(dict.fromkeys(str(e) for e in given.entities))
        if not named:
            raise UserError("filter.entities must name at least one entity")
        if len(named) > MAX_ENTITIES:
            raise UserError(f"filter.entities names {len(named)} entities, at most {MAX_ENTITIES}")
        key = "all_entities" if given.entities_match is EntitiesMatch.ALL else "any_entities"
        values[key] = named
    values["roles"] = tuple(sorted({r.lower() for r in names("filter.roles", given.roles)}))
    values["entity_types"] = tuple(sorted({t.value for t in given.entity_types or ()}))
    values["tones"] = tuple(sorted({t.value for t in given.tones or ()}))
    values["tiers"] = tuple(sorted({t.value for t in given.tiers or ()}))
    values["groups"] = names("filter.groups", given.groups)
    for name, chosen in (
        ("entityTypes", given.entity_types),
        ("tones", given.tones),
        ("tiers", given.tiers),
    ):
        if chosen is not None and not chosen:
            raise UserError(f"filter.{name} must name at least one value")
    values.update(fixed)
    return EventFilter(**values)  # type: ignore[arg-type]


def names(argument: str, given: list[str] | None) -> tuple[str, ...]:
    """Roles or group names as a filter takes them: distinct, sorted, stripped; refused
    (naming `argument`) when empty, blank, too long or too many."""
    if given is None:
        return ()
    found = sorted({n.strip() for n in given})
    if not found:
        raise UserError(f"{argument} must name at least one value")
    if len(found) > MAX_NAMES:
        raise UserError(f"{argument} names {len(found)} values, at most {MAX_NAMES}")
    for name in found:
        if not name or len(name) > MAX_NAME:
            raise UserError(f"{argument}: each value must have 1 to {MAX_NAME} characters")
    return tuple(found)


async def _country(info: Info, given: str | None) -> str | None:
    """A country Place id; an ISO code names the Place keyed by it (none: matches nothing)."""
    if given is None or not (len(given) == 2 and given.isalpha()):
        return given
    key = iso_key(given)
    owners = await info.context.read(info.context.store.lookup_keys, [key])
    return owners.get(key) or f"iso:{given.upper()}"
