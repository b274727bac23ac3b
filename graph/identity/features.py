"""What one record says of its event, what an event is known by, how to find candidate events,
and the evidence that compares a record with an event. Pure functions over plain data.

- `Mention`: what one extractor record says of its event (day, category, words, place, sides,
  outlets, story). `Mention.from_record` reads an extractor record v1 as decoded JSON.
- `EventProfile`: the aggregate of the records an event already holds. `with_mention` gives the
  profile after one more record joins; `to_props`/`from_props` store it as node properties
  (strings, ints and lists of strings, so both stores keep it as is).
- Blocking: `lookup_keys(mention)` are the keys to look candidate events up by,
  `EventProfile.keys()` the keys an event is indexed by. A key is a day with an entity name, a
  place name or a geographic cell: cost per record follows the events of those days at those
  places or with those sides, not the size of the graph.
- Evidence: `evidence(mention, profile)` gives one value per name in `FEATURES`.

Why a day either side and no more: a report gives the day it learned of the event, a day late
now and then (an attack late in the evening, a round-up published the next morning, a UTC day
boundary); two days late is rare enough that a wider window would mostly add the same sides'
fighting of other days as candidates. An event's days may span at most two consecutive days
(`MAX_SPAN_DAYS`), so a town's daily fighting cannot chain day by day into one event.
"""

from __future__ import annotations

import functools
import math
import re
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

from anyascii import anyascii
from rapidfuzz import fuzz

from graph.keys import digest

# The words that say what kind of place a name is, not which place: "Khan Shaykhun town" and
# "Khan Shaykhun" are one place. Kept short: "countryside", "camp", "airbase" or "oblast" name
# another place than the bare name does.
GENERIC_PLACE_WORDS = frozenset(
    {
        "village",
        "town",
        "city",
        "district",
        "subdistrict",
        "governorate",
        "province",
        "municipality",
        "county",
        "region",
    }
)
# Words that never identify a side on their own ("Government of Syria" contains "Syria", not
# "of"): left out of token containment.
_NAME_STOPWORDS = frozenset({"the", "of", "and", "for", "de", "la", "le", "el"})

WINDOW_DAYS = 1  # candidates: events with a day within one day of the mention's day
MAX_SPAN_DAYS = 1  # an event's days are at most this far apart (so: one day, or two in a row)
CELL_DEGREES = 0.1  # geographic cells: 0.1 degree (11 km north-south); a lookup takes the 3x3
NEAR_KM = 3.0  # within this distance two reports are at one place
FAR_KM = 10.0  # beyond this distance two reports are at two places
PLACE_SIMILAR = 0.85  # place names at least this similar (after normalisation) name one place
PLACE_OTHER = 0.6  # place names less similar than this name two places
MAX_TEXTS = 8  # texts an event keeps to compare words with (the same 8 in any order)
MAX_MENTION_TEXTS = 3  # the summary and the first two claims of a record

_NON_WORD = re.compile(r"[\W_]+", re.UNICODE)


# -- normalisation -----------------------------------------------------------------------------


@functools.lru_cache(maxsize=1 << 16)
def name_key(text: str) -> str:
    """A name as compared: transliterated to ASCII, case-folded, punctuation and spaces folded
    ("Ḥalab" = "halab", "al-Jinah" = "al jinah")."""
    ascii_text = anyascii(unicodedata.normalize("NFKC", text)).casefold()
    return _NON_WORD.sub(" ", ascii_text).strip()


@functools.lru_cache(maxsize=1 << 16)
def place_key(place: str) -> str:
    """A place name without its generic words ("Khan Shaykhun town" = "Khan Shaykhun"); a name
    made only of generic words keeps them."""
    words = name_key(place).split()
    kept = [w for w in words if w not in GENERIC_PLACE_WORDS]
    return " ".join(kept or words)


@functools.lru_cache(maxsize=1 << 16)
def _name_tokens(key: str) -> frozenset[str]:
    return frozenset(w for w in key.split() if w not in _NAME_STOPWORDS)


@functools.lru_cache(maxsize=1 << 14)
def text_key(text: str) -> str:
    """Words as compared: case-folded, punctuation folded (no transliteration: it is slow on
    long texts and both sides of a comparison get the same treatment)."""
    return _NON_WORD.sub(" ", text.casefold()).strip()


@functools.lru_cache(maxsize=1 << 12)
def day_number(day: str) -> int:
    return date.fromisoformat(day).toordinal()


def _day_text(number: int) -> str:
    return date.fromordinal(number).isoformat()


def haversine_km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle distance in km."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    h = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * 6371.0088 * math.asin(min(1.0, math.sqrt(h)))


def _cell(lat: float, lon: float) -> tuple[int, int]:
    return math.floor(lat / CELL_DEGREES), math.floor(lon / CELL_DEGREES)


def _point_text(lat: float, lon: float) -> str:
    return f"{lat:.5f},{lon:.5f}"


def _point(text: str) -> tuple[float, float]:
    lat, lon = text.split(",")
    return float(lat), float(lon)


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
    `outlets` are the reporting outlets (the story's outlet and each report's)."""

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
    # derived once, when the mention is made
    _day: int = field(init=False, repr=False, compare=False)
    _place: str = field(init=False, repr=False, compare=False)
    _names: tuple[frozenset[str], ...] = field(init=False, repr=False, compare=False)
    _outlets: frozenset[str] = field(init=False, repr=False, compare=False)
    _texts: tuple[str, ...] = field(init=False, repr=False, compare=False)
    _record: str = field(init=False, repr=False, compare=False)
    _entity_keys: frozenset[str] = field(init=False, repr=False, compare=False)
    _all_names: frozenset[str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        set_ = object.__setattr__
        set_(self, "_day", day_number(self.day))
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

    @property
    def has_point(self) -> bool:
        return self.lat is not None and self.lon is not None

    def record_key(self) -> str:
        """The same record loaded again has the same key (a reload joins its event again)."""
        return self._record

    def _record_key(self) -> str:
        names = sorted("|".join(sorted(n)) for n in self._names)
        point = (
            _point_text(self.lat, self.lon) if self.lat is not None and self.lon is not None else ""
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
        )


def _add_days(
    days: tuple[tuple[str, int], ...], more: tuple[tuple[str, int], ...]
) -> tuple[tuple[str, int], ...]:
    counts = dict(days)
    for day, count in more:
        counts[day] = counts.get(day, 0) + count
    return tuple(sorted(counts.items()))


def story_key(outlet: str, slug: str) -> str:
    return f"{name_key(outlet)}/{slug.strip()}"


def utc_day(occurred_on: str) -> str:
    """The UTC day of a date or an RFC 3339 timestamp."""
    text = occurred_on.strip()
    if len(text) == 10:
        return text
    moment = datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
    return moment.astimezone(UTC).date().isoformat()


# -- an event's profile ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class EventProfile:
    """What an event is known by: the union of its records' mentions, in normalised form. The
    same records give the same profile in any order (texts keep the `MAX_TEXTS` with the
    smallest digests, not the first ones)."""

    days: tuple[tuple[str, int], ...]  # (day, how many of its records give it), by day
    categories: frozenset[str]
    places: frozenset[str]  # place keys (generic words dropped)
    points: frozenset[tuple[float, float]]  # (lat, lon), 5 decimals
    names: frozenset[str]  # every entity name and alias, as `name_key`
    texts: frozenset[str]  # summaries and claims, as `text_key`, at most MAX_TEXTS
    outlets: frozenset[str]  # as `name_key`
    stories: frozenset[str]
    records: frozenset[str]  # `Mention.record_key()` of each record
    # each record's entities, one string each: its name and aliases as `name_key`, sorted,
    # joined by "|" (how many entities the event involves, for overlap counted both ways)
    entities: frozenset[str] = frozenset()
    # each record's day and key, "day|record key": the day counts are of distinct records, so
    # the same record twice, or in both of two merged events, is counted once
    dated: frozenset[str] = frozenset()

    @classmethod
    def of(cls, mention: Mention) -> EventProfile:
        """The profile of a new event made by one record."""
        empty: frozenset[Any] = frozenset()
        return cls((), empty, empty, empty, empty, empty, empty, empty, empty).with_mention(mention)

    @classmethod
    def of_all(cls, mentions: Iterable[Mention]) -> EventProfile | None:
        """The profile of exactly these records (e.g. each side of a split); None for none. The
        same set of records gives the same profile in any order."""
        profile: EventProfile | None = None
        for m in mentions:
            profile = cls.of(m) if profile is None else profile.with_mention(m)
        return profile

    def main_day(self) -> str:
        """The day most of its records give (the earliest of equals)."""
        return min(self.days, key=lambda dc: (-dc[1], dc[0]))[0]

    def with_mention(self, m: Mention) -> EventProfile:
        """The profile once `m` has joined the event."""
        points = self.points
        if m.lat is not None and m.lon is not None:
            points = points | {(round(m.lat, 5), round(m.lon, 5))}
        texts = self.texts | set(m._texts)
        if len(texts) > MAX_TEXTS:
            texts = frozenset(sorted(texts, key=_text_rank)[:MAX_TEXTS])
        dated = f"{m.day}|{m._record}"
        return EventProfile(
            days=self.days if dated in self.dated else _add_days(self.days, ((m.day, 1),)),
            categories=self.categories | {m.category},
            places=self.places | {m._place} if m._place else self.places,
            points=points,
            names=self.names.union(*m._names),
            texts=texts,
            outlets=self.outlets | m._outlets,
            stories=self.stories | {m.story} if m.story else self.stories,
            records=self.records | {m._record},
            entities=self.entities.union(m._entity_keys),
            dated=self.dated | {dated},
        )

    def merged(self, other: EventProfile) -> EventProfile:
        """The profile of two events an editor merged."""
        texts = self.texts | other.texts
        if len(texts) > MAX_TEXTS:
            texts = frozenset(sorted(texts, key=_text_rank)[:MAX_TEXTS])
        dated = self.dated | other.dated
        if self.dated and other.dated:  # counted again from the records (no double counts)
            counts: dict[str, int] = {}
            for text in dated:
                day = text.partition("|")[0]
                counts[day] = counts.get(day, 0) + 1
            days = tuple(sorted(counts.items()))
        else:  # stored before the records' days were kept
            days = _add_days(self.days, other.days)
        return EventProfile(
            days,
            self.categories | other.categories,
            self.places | other.places,
            self.points | other.points,
            self.names | other.names,
            texts,
            self.outlets | other.outlets,
            self.stories | other.stories,
            self.records | other.records,
            self.entities | other.entities,
            dated,
        )

    def keys(self) -> frozenset[str]:
        """The blocking keys this event is indexed by: each of its days with each of its entity
        names, place names and geographic cells, and its records' keys."""
        found = {f"r|{r}" for r in self.records}
        for day, _ in self.days:
            found.update(f"e|{day}|{n}" for n in self.names)
            found.update(f"p|{day}|{p}" for p in self.places)
            found.update(f"c|{day}|{i}|{j}" for i, j in {_cell(*pt) for pt in self.points})
        return frozenset(found)

    def to_props(self) -> dict[str, list[str]]:
        """The profile as node properties (lists of strings, sorted: the same text in any order
        and in both stores)."""
        return {
            "identity_days": [f"{day}={count}" for day, count in self.days],
            "identity_categories": sorted(self.categories),
            "identity_places": sorted(self.places),
            "identity_points": sorted(_point_text(*p) for p in self.points),
            "identity_names": sorted(self.names),
            "identity_texts": sorted(self.texts),
            "identity_outlets": sorted(self.outlets),
            "identity_stories": sorted(self.stories),
            "identity_records": sorted(self.records),
            "identity_entities": sorted(self.entities),
            "identity_dated": sorted(self.dated),
        }

    @classmethod
    def from_props(cls, props: Mapping[str, Any]) -> EventProfile:
        """The profile stored by `to_props` (missing properties are empty)."""

        def texts(name: str) -> frozenset[str]:
            value = props.get(name) or []
            return frozenset(str(v) for v in value)

        return cls(
            days=tuple(
                sorted((d, int(c)) for d, c in (t.split("=") for t in texts("identity_days")))
            ),
            categories=texts("identity_categories"),
            places=texts("identity_places"),
            points=frozenset(_point(p) for p in texts("identity_points")),
            names=texts("identity_names"),
            texts=texts("identity_texts"),
            outlets=texts("identity_outlets"),
            stories=texts("identity_stories"),
            records=texts("identity_records"),
            entities=texts("identity_entities"),
            dated=texts("identity_dated"),
        )


# -- blocking ----------------------------------------------------------------------------------


def mention_keys(m: Mention) -> frozenset[str]:
    """The keys an event is indexed by once `m` has joined it (its own day): the keys to add."""
    return EventProfile.of(m).keys()


def lookup_keys(m: Mention) -> list[str]:
    """The keys to look candidate events up by: the mention's day and a day either side, with
    its place name, and either the 3x3 geographic cells around its point or, when it has no
    point, each of its entity names; and its record key (the same record loaded again). A
    record with a point does not look events up by its sides: the sides' other events that
    day are elsewhere (beyond the cells: more than 10 km away) or at a place of the same name."""
    found = [f"r|{m._record}"]
    cells: list[tuple[int, int]] = []
    names: list[str] = []
    if m.lat is not None and m.lon is not None:
        ci, cj = _cell(m.lat, m.lon)
        cells = [(ci + di, cj + dj) for di in (-1, 0, 1) for dj in (-1, 0, 1)]
    elif m._names:
        names = sorted(set().union(*m._names))
    for offset in range(-WINDOW_DAYS, WINDOW_DAYS + 1):
        day = _day_text(m._day + offset)
        found.extend(f"e|{day}|{n}" for n in names)
        if m._place:
            found.append(f"p|{day}|{m._place}")
        found.extend(f"c|{day}|{i}|{j}" for i, j in cells)
    return found


# -- evidence ----------------------------------------------------------------------------------

FEATURES: tuple[str, ...] = (
    "near",  # both have coordinates: 1 within NEAR_KM, falling to 0 at FAR_KM
    "far",  # both have coordinates, more than FAR_KM apart
    "same_place_name",  # place names alike after normalisation (similarity, 0 below 0.85)
    "other_place_name",  # both name a place, unlike names, and no coordinates say otherwise
    "no_place",  # neither both points nor both place names: nothing to say where, for or against
    "shared_entities",  # entities shared, counted against the side naming fewer
    "no_shared_entity",  # both name entities and none is shared
    "similar_text",  # best word-set overlap of the record's texts with the event's
    "other_category",  # the record's category is not the event's
    "day_after",  # the record's day is the day after the event's main day (a late report?)
    "day_before",  # the record's day is the day before the event's main day
    "off_day_again",  # off the main day, and another record already gave that day
    "crowded",  # no place to compare, other candidates look as alike (same sides): how many, 0..1
    "same_outlet",  # an outlet of the record already reported the event
    "event_size",  # how many records the event has: log(1 + n) / log(11), at most 1
)


def _day_gaps(m: Mention, p: EventProfile) -> tuple[int, int]:
    gaps = [abs(m._day - day_number(d)) for d, _ in p.days]
    return (min(gaps), max(gaps)) if gaps else (0, 0)


def in_window(m: Mention, p: EventProfile) -> bool:
    """Whether `m` may join `p` at all: every day of the event within MAX_SPAN_DAYS of its own."""
    return _day_gaps(m, p)[1] <= MAX_SPAN_DAYS


def _entity_match(names: frozenset[str], event_names: frozenset[str]) -> bool:
    if not names.isdisjoint(event_names):
        return True
    # a short name inside a long one: "Syria" in "Government of Syria"
    each = _each_tokens(event_names)
    for name in names:
        tokens = _name_tokens(name)
        if tokens:
            for other_tokens in each:
                if tokens <= other_tokens or other_tokens <= tokens:
                    return True
    return False


@functools.lru_cache(maxsize=1 << 14)
def _entity_names(entity_key: str) -> frozenset[str]:
    """The names of one entity as `EventProfile.entities` keeps them."""
    return frozenset(entity_key.split("|"))


def entity_overlap(m: Mention, p: EventProfile) -> float:
    """The overlap of the record's entities with the event's, counted against the side naming
    fewer (whatever the role): a record naming 7 entities, among them the event's 3, fully
    overlaps the event, and so does a record naming 2 of an event's 5. 0 when either names none.
    """
    if not m._names or not p.names:
        return 0.0
    record_side = sum(1 for names in m._names if _entity_match(names, p.names)) / len(m._names)
    if record_side >= 1.0 or not p.entities:
        return record_side
    mine = m._all_names
    event_side = sum(1 for e in p.entities if _entity_match(_entity_names(e), mine))
    return max(record_side, event_side / len(p.entities))


@functools.lru_cache(maxsize=1 << 12)
def _each_tokens(names: frozenset[str]) -> tuple[frozenset[str], ...]:
    """Each of an event's names as its words."""
    return tuple(t for t in map(_name_tokens, names) if t)


def distance_km(m: Mention, p: EventProfile) -> float | None:
    """The distance from the record's point to the event's nearest point, if both have one."""
    if m.lat is None or m.lon is None or not p.points:
        return None
    return min(haversine_km(m.lat, m.lon, lat, lon) for lat, lon in p.points)


def place_similarity(m: Mention, p: EventProfile) -> float | None:
    """The best similarity (0..1) of the record's place name with the event's, if both have."""
    if not m._place or not p.places:
        return None
    if m._place in p.places:
        return 1.0
    return max(fuzz.ratio(m._place, other) for other in p.places) / 100.0


@functools.lru_cache(maxsize=1 << 14)
def _words(text: str) -> frozenset[str]:
    return frozenset(w for w in text.split() if len(w) > 1)


@functools.lru_cache(maxsize=1 << 14)
def _text_rank(text: str) -> tuple[str, str]:
    return digest(text), text


def text_similarity(m: Mention, p: EventProfile) -> float:
    """The best word-set overlap of one of the record's texts with one of the event's: shared
    words over the words of the shorter text (1 when one text's words are all in the other),
    as rapidfuzz's token-set ratio has it, on words split once and kept."""
    best = 0.0
    for text in m._texts:
        words = _words(text)
        if not words:
            continue
        for other in p.texts:
            other_words = _words(other)
            if other_words:
                shared = len(words & other_words) / min(len(words), len(other_words))
                if shared > best:
                    best = shared
    return best


def evidence(m: Mention, p: EventProfile, *, words: bool = True) -> tuple[list[float], list[str]]:
    """The value of each feature of `FEATURES` for `m` against `p`, and notes on what was
    missing. With `words=False` the text similarity is not computed (left at 0)."""
    notes: list[str] = []
    km = distance_km(m, p)
    if km is None:
        near = far = 0.0
        notes.append("no coordinates to compare")
    else:
        near = 1.0 if km <= NEAR_KM else max(0.0, (FAR_KM - km) / (FAR_KM - NEAR_KM))
        far = 1.0 if km > FAR_KM else 0.0
    similarity = place_similarity(m, p)
    if similarity is None:
        same_name = other_name = 0.0
        notes.append("no place name to compare")
    else:
        same_name = similarity if similarity >= PLACE_SIMILAR else 0.0
        other_name = 1.0 if similarity < PLACE_OTHER and near == 0.0 and far == 0.0 else 0.0
    if m._names and p.names:
        shared = entity_overlap(m, p)
        none_shared = 1.0 if shared == 0.0 else 0.0
    else:
        shared = none_shared = 0.0
        notes.append("no entities to compare")
    text = text_similarity(m, p) if words else 0.0
    main = day_number(p.main_day()) if p.days else m._day
    again = main != m._day and any(d == m.day for d, _ in p.days)
    no_place = 1.0 if km is None and similarity is None else 0.0
    values = [
        near,
        far,
        same_name,
        other_name,
        no_place,
        shared,
        none_shared,
        text,
        0.0 if m.category in p.categories else 1.0,
        1.0 if m._day > main else 0.0,
        1.0 if m._day < main else 0.0,
        1.0 if again else 0.0,
        0.0,  # crowded: set by `crowd` once every candidate is known
        0.0 if m._outlets.isdisjoint(p.outlets) else 1.0,
        min(1.0, math.log1p(len(p.records)) / math.log(11.0)),
    ]
    return values, notes


def alike(values: list[float]) -> bool:
    """Whether a candidate looks like the record's event on place and sides alone."""
    at = FEATURES.index
    place = values[at("near")] >= 1.0 or values[at("same_place_name")] > 0.0
    return (place or values[at("no_place")] >= 1.0) and values[at("shared_entities")] >= 1.0


def crowd(rows: list[list[float]]) -> None:
    """Set `crowded` in the values of each candidate with no place to compare: the share (0,
    1/3, 2/3, 1 for 3 or more) of the *other* candidates that look as alike. Without a place,
    when the same sides have several events around that day, sharing the sides says little
    about which one a record is; when they have one, it says much. With a place to compare it
    stays 0: the place tells the sides' events apart as far as the records can, and a crowd of
    look-alikes at one place is still best met by merging with the likeliest (measured on the
    Syria file, cross-validated: F1 0.59 with it, 0.65 without)."""
    at = FEATURES.index("crowded")
    no_place = FEATURES.index("no_place")
    flags = [alike(v) for v in rows]
    total = sum(flags)
    for values, flag in zip(rows, flags, strict=True):
        values[at] = min(3, total - flag) / 3.0 if values[no_place] >= 1.0 else 0.0
