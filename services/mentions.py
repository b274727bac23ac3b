"""What a record without `event.id` says of its event, as the graph keeps it: its `Mention`
(built from the validated record), the JSON text stored on its DESCRIBES relationship (one per
extraction of its story), and the profile and matching keys an event's mentions give."""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import UTC, date, datetime
from typing import Any, Final

import msgspec

from graph import keys
from graph.identity import (
    EntityName,
    EventProfile,
    Mention,
)
from graph.identity.mention import published_day
from graph.identity.normalise import name_key, story_day
from graph.model import (
    Edge,
    Props,
    timestamp,
)
from loaders.records import Record

MENTION: Final = "mention"  # on DESCRIBES: the record's mention, JSON (one per extraction)
RECORD_BLOCK = "r|"  # the blocking keys that name one record (an identity key of their own)
# the stored JSON texts (mentions, decisions): compact, keys sorted, not ASCII-escaped; msgspec
# (several times faster than the json module). Numbers may be spelled otherwise than json.dumps
# spells them (1e16, not 1e+16): the same values for every JSON reader (json.loads)
_ENCODER: Final = msgspec.json.Encoder(order="sorted")


def encode(data: Any) -> str:
    return _ENCODER.encode(data).decode()


def story_key(outlet: str, slug: str) -> str:
    """A story as mentions name it: its outlet's normalised name and its slug."""
    return f"{keys.normalise(outlet)}/{slug.strip()}"


def mention_of(record: Record) -> Mention:
    """What a validated record says of its event."""
    event, story = record.event, record.source_story
    location = event.location
    return Mention(
        day=_utc_day(event.occurred_on),
        category=event.category,
        summary=event.summary,
        claims=tuple(c.text for r in event.reports for c in r.claims),
        place=location.place if location else None,
        country=location.country if location else None,
        lat=location.lat if location else None,
        lon=location.lon if location else None,
        entities=tuple(EntityName(e.name, e.type, tuple(e.aliases)) for e in event.entities),
        outlets=tuple(dict.fromkeys([story.outlet, *(r.outlet for r in event.reports)])),
        story=story_key(story.outlet, story.slug),
        published=published_day(story.published_on, story.url, story.slug),
    )


def _utc_day(moment: date) -> str:
    """The UTC calendar day of a date or timestamp."""
    if isinstance(moment, datetime):
        return moment.astimezone(UTC).date().isoformat()
    return moment.isoformat()


def mention_json(m: Mention, record: Record | None = None) -> str:
    """The stored form of a mention (read back by `mention_from_json`). With its `record`, also
    what an export needs to write that record again: when it was extracted, the day as the
    record gave it, and each entity's role."""
    roles: list[str | None] = [None] * len(m.entities)
    data: dict[str, Any] = {
        "day": m.day,
        "category": m.category,
        "summary": m.summary,
        "claims": list(m.claims),
        "place": m.place,
        "country": m.country,
        "lat": m.lat,
        "lon": m.lon,
        # as compared (spellings of one outlet are one: an export may spell it otherwise)
        "outlets": sorted({k for k in map(name_key, m.outlets) if k}),
        "story": m.story,
        "published": m.published,
    }
    if record is not None:
        data["extracted_at"] = timestamp(record.extracted_at)
        data["occurred_on"] = _moment_text(record.event.occurred_on)
        roles = [e.role for e in record.event.entities]
    data["entities"] = [
        [e.name, e.type, list(e.aliases), *([role] if role else [])]
        for e, role in zip(m.entities, roles, strict=True)
    ]
    return encode(data)


def _moment_text(moment: date) -> str:
    return timestamp(moment) if isinstance(moment, datetime) else moment.isoformat()


def mention_from_json(text: str) -> Mention:
    data = json.loads(text)
    return Mention(
        day=data["day"],
        category=data["category"],
        summary=data["summary"],
        claims=tuple(data.get("claims") or ()),
        place=data.get("place"),
        country=data.get("country"),
        lat=data.get("lat"),
        lon=data.get("lon"),
        entities=tuple(EntityName(e[0], e[1], tuple(e[2])) for e in data.get("entities") or ()),
        outlets=tuple(data.get("outlets") or ()),
        story=data.get("story") or "",
        # mentions stored before the story's day was kept: the date in its slug, if any
        published=data.get("published") or story_day(data.get("story")),
    )


def mention_texts(edge: Edge) -> list[str]:
    """The mentions (JSON) a DESCRIBES relationship keeps: one per extraction of its story
    without `event.id` (none for a record with one)."""
    return edge.texts(MENTION)


def mentions_of_edge(edge: Edge) -> list[Mention]:
    """The mentions a DESCRIBES relationship keeps, one per extraction (none for records with
    `event.id`)."""
    return [mention_from_json(t) for t in mention_texts(edge)]


def latest_mention(edge: Edge) -> Mention | None:
    """The mention of the latest extraction a DESCRIBES relationship keeps (None for a record
    with `event.id`)."""
    texts = mention_texts(edge)
    if not texts:
        return None
    return mention_from_json(max(texts, key=lambda t: str(json.loads(t).get("extracted_at", ""))))


def profile_of(mentions: Iterable[Mention]) -> EventProfile | None:
    """The profile of an event holding these mentions (None for none): the same set gives the
    same profile in any order."""
    profile: EventProfile | None = None
    for m in sorted(mentions, key=lambda m: m.record_key()):
        profile = EventProfile.of(m) if profile is None else profile.with_mention(m)
    return profile


def stored_profile(props: Props) -> EventProfile | None:
    """The profile an event's properties hold, if it has one."""
    if not props.get("identity_records"):
        return None
    return EventProfile.from_props(props)


def match_keys(
    profile: EventProfile, event_id: str, grown_from: EventProfile | None = None
) -> set[str]:
    """The matching keys an event with `profile` owns (its record keys are identity keys);
    with `grown_from` (a profile `profile` grew from), only those that one does not own."""
    blocks = profile.keys() if grown_from is None else profile.keys_added(grown_from)
    return {keys.match_key(k, event_id) for k in blocks if not k.startswith(RECORD_BLOCK)}


def record_keys(profile: EventProfile) -> list[str]:
    return sorted(keys.event_record_key(r) for r in profile.records)
