"""The schema's leaf types: its own scalars and the enums every other module uses."""

from __future__ import annotations

from enum import Enum
from typing import NewType

import strawberry
from strawberry.types.scalar import ScalarDefinition

Timestamp = NewType("Timestamp", str)
DateOrTimestamp = NewType("DateOrTimestamp", str)
SCALARS: dict[object, ScalarDefinition] = {
    Timestamp: strawberry.scalar(
        name="Timestamp",
        description="An RFC 3339 timestamp in UTC with milliseconds: 2026-05-30T04:15:39.113Z.",
        serialize=str,
        parse_value=str,
    ),
    DateOrTimestamp: strawberry.scalar(
        name="DateOrTimestamp",
        description="A date (2025-03-13) or, when the source gave a time, an RFC 3339 timestamp.",
        serialize=str,
        parse_value=str,
    ),
}


@strawberry.enum(description="What kind of event it is, as the extractor classified it.")
class Category(Enum):
    DIPLOMATIC = "diplomatic"
    MILITARY = "military"
    POLITICAL = "political"
    ECONOMIC = "economic"
    HUMANITARIAN = "humanitarian"
    LEGAL = "legal"
    CYBER = "cyber"
    INFRASTRUCTURE = "infrastructure"
    OTHER = "other"


@strawberry.enum(description="Confidence levels, lowest first: DISPUTED ranks below UNVERIFIED.")
class ConfidenceLevel(Enum):
    DISPUTED = "disputed"
    UNVERIFIED = "unverified"
    LIKELY = "likely"
    VERIFIED = "verified"


@strawberry.enum
class EntityType(Enum):
    PERSON = "person"
    ORGANIZATION = "organization"
    COUNTRY = "country"
    PLACE = "place"
    GROUP = "group"
    OTHER = "other"


@strawberry.enum(description="The language an outlet uses; not a verification.")
class Tone(Enum):
    CERTAIN = "certain"
    LIKELY = "likely"
    UNCERTAIN = "uncertain"
    CLAIMED = "claimed"
    DENIED = "denied"


@strawberry.enum
class Tier(Enum):
    TRUSTED = "trusted"
    STANDARD = "standard"
    STATE_AFFILIATED = "state-affiliated"
    UNKNOWN = "unknown"


@strawberry.enum(description="The order of a list of events (docs/site.md).")
class Order(Enum):
    NEWEST_FIRST = strawberry.enum_value("newest_first", description="When it happened.")
    OLDEST_FIRST = "oldest_first"
    RECENTLY_UPDATED = strawberry.enum_value(
        "recently_updated", description="The newest extracted record about it first."
    )
    LEVEL_CHANGED = strawberry.enum_value(
        "level_changed",
        description="The latest change of its confidence level first (events whose level "
        "has not changed since this order exists are not listed).",
    )
    RECENTLY_VERIFIED = strawberry.enum_value(
        "recently_verified", description="Verified events, the most recently verified first."
    )
    NEWLY_DISPUTED = strawberry.enum_value(
        "newly_disputed", description="Disputed events, the most recently disputed first."
    )


@strawberry.enum
class Direction(Enum):
    OUT = "out"
    IN = "in"
