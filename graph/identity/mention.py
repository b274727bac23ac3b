"""What one extractor record says of its event (`Mention`): day, category, words, place, sides,
outlets and story, normalised once. `Mention.from_record` reads an extractor record v1 as
decoded JSON."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from graph.identity.normalise import (
    MAX_MENTION_TEXTS,
    day_number,
    day_text,
    name_key,
    place_key,
    point_text,
    story_day,
    text_key,
    written_day,
)
from graph.identity.places import anchor
from graph.keys import digest

# -- a record's mention of its event -----------------------------------------------------------


@dataclass(frozen=True, slots=True)
class EntityName:
    """One entity as a record names it. The type is kept but not compared: extractors disagree
    on it ("Russia" a country here, an organization there). Roles are not identity."""

    name: str
    type: str = "other"
    aliases: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Mention:
    """What one record says of its event. `day` is the UTC day (YYYY-MM-DD) it occurred on;
    `story` identifies the source story (e.g. its outlet and slug, or the story node's id);
    `outlets` are the reporting outlets (the story's outlet and each report's); `published` is
    the UTC day the story was published, when known (its `published_on`, or a date in its
    address: `published_day`)."""

    day: str
    category: str
    summary: str
    claims: tuple[str, ...] = ()
    place: str | None = None
    country: str | None = None
    lat: float | None = None
    lon: float | None = None
    entities: tuple[EntityName, ...] = ()
    outlets: tuple[str, ...] = ()
    story: str = ""
    published: str | None = None
    # derived once, when the mention is made
    _day: int = field(init=False, repr=False, compare=False)
    _place: str = field(init=False, repr=False, compare=False)
    _names: tuple[frozenset[str], ...] = field(init=False, repr=False, compare=False)
    _outlets: frozenset[str] = field(init=False, repr=False, compare=False)
    _texts: tuple[str, ...] = field(init=False, repr=False, compare=False)
    _record: str = field(init=False, repr=False, compare=False)
    _entity_keys: frozenset[str] = field(init=False, repr=False, compare=False)
    _all_names: frozenset[str] = field(init=False, repr=False, compare=False)
    _published: int | None = field(init=False, repr=False, compare=False)
    # without a point: the gazetteer's point of its place (`graph.identity.places`), if any
    _anchor: tuple[float, float] | None = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        set_ = object.__setattr__
        set_(self, "_day", _matched_day(day_number(self.day), (self.summary, *self.claims)))
        place = place_key(self.place) if self.place else ""
        if place and self.country and place == place_key(self.country):
            place = ""  # "Syria, Syria": a country, not a place
        set_(self, "_place", place)
        names = []
        for entity in self.entities:
            keys = frozenset(k for k in map(name_key, (entity.name, *entity.aliases)) if k)
            if keys:
                names.append(keys)
        set_(self, "_names", tuple(names))
        set_(self, "_entity_keys", frozenset("|".join(sorted(n)) for n in names))
        set_(self, "_all_names", frozenset().union(*names))
        set_(self, "_outlets", frozenset(k for k in map(name_key, self.outlets) if k))
        texts = (self.summary, *self.claims)[:MAX_MENTION_TEXTS]
        set_(self, "_texts", tuple(dict.fromkeys(t for t in map(text_key, texts) if t)))
        set_(self, "_record", self._record_key())
        set_(self, "_published", day_number(self.published) if self.published else None)
        located = self.has_point
        set_(self, "_anchor", None if located or not place else anchor(self.place, self.country))

    @property
    def matched_day(self) -> str:
        """The day it is matched by (`_day`): its day, or the day before when its words state
        that day (`_matched_day`)."""
        return day_text(self._day)

    @property
    def has_point(self) -> bool:
        return self.lat is not None and self.lon is not None

    def where(self) -> tuple[float, float] | None:
        """Its point, else its anchor (the gazetteer's point of its place), else None."""
        if self.lat is not None and self.lon is not None:
            return (self.lat, self.lon)
        return self._anchor

    def record_key(self) -> str:
        """The same record loaded again has the same key (a reload joins its event again)."""
        return self._record

    def _record_key(self) -> str:
        names = sorted("|".join(sorted(n)) for n in self._names)
        point = (
            point_text(self.lat, self.lon) if self.lat is not None and self.lon is not None else ""
        )
        return digest(
            self.story, self.day, self.category, text_key(self.summary), self._place, point, *names
        )

    @classmethod
    def from_record(cls, raw: Mapping[str, Any]) -> Mention:
        """The mention of an extractor record (version 1) as decoded JSON. The day is the UTC
        day of `occurred_on`; the story is `outlet` + `slug`."""
        event, story = raw["event"], raw["source_story"]
        location = event.get("location") or {}
        reports = event.get("reports") or []
        return cls(
            day=utc_day(str(event["occurred_on"])),
            category=str(event["category"]),
            summary=str(event["summary"]),
            claims=tuple(str(c["text"]) for r in reports for c in r.get("claims") or []),
            place=location.get("place"),
            country=location.get("country"),
            lat=location.get("lat"),
            lon=location.get("lon"),
            entities=tuple(
                EntityName(
                    str(e["name"]), str(e.get("type", "other")), tuple(e.get("aliases") or ())
                )
                for e in event.get("entities") or []
            ),
            outlets=tuple(
                dict.fromkeys([str(story["outlet"]), *(str(r["outlet"]) for r in reports)])
            ),
            story=story_key(str(story["outlet"]), str(story["slug"])),
            published=published_day(story.get("published_on"), story.get("url"), story["slug"]),
        )


def _matched_day(day: int, texts: tuple[str, ...]) -> int:
    """The day a record is matched by: its day, unless the first of its texts to write a date
    writes the day before (a late report: "June 23rd 2017: ..." in a record of 24 June). A
    later written day is not taken: an event of several days is dated by its first."""
    for text in dict.fromkeys(texts[:MAX_MENTION_TEXTS]):  # a claim often repeats the summary
        said = written_day(text)
        if said is not None:
            return said if said == day - 1 else day
    return day


def add_days(
    days: tuple[tuple[str, int], ...], more: tuple[tuple[str, int], ...]
) -> tuple[tuple[str, int], ...]:
    counts = dict(days)
    for day, count in more:
        counts[day] = counts.get(day, 0) + count
    return tuple(sorted(counts.items()))


def story_key(outlet: str, slug: str) -> str:
    return f"{name_key(outlet)}/{slug.strip()}"


def published_day(published_on: object, url: object, slug: object) -> str | None:
    """The UTC day a story was published: its `published_on` when given, else a date written in
    its URL or slug (`story_day`), else None."""
    if published_on:
        return utc_day(str(published_on))
    return story_day(str(url) if url else None, str(slug) if slug else None)


def utc_day(occurred_on: str) -> str:
    """The UTC day of a date or an RFC 3339 timestamp."""
    text = occurred_on.strip()
    if len(text) == 10:
        return text
    moment = datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
    return moment.astimezone(UTC).date().isoformat()
