"""The evidence that compares a record with an event: `evidence(mention, profile)` gives one
value per name in `FEATURES` (nearness of reported points, nearness of a gazetteer anchor,
place names, shared sides, words, category, days, the crowd of look-alikes, the outlet)."""

from __future__ import annotations

import functools
from collections.abc import Sequence

from rapidfuzz import fuzz

from graph.identity.mention import Mention
from graph.identity.normalise import (
    ANCHOR_FAR_KM,
    ANCHOR_NEAR_KM,
    FAR_KM,
    MAX_SPAN_DAYS,
    NEAR_KM,
    PLACE_OTHER,
    PLACE_SIMILAR,
    day_number,
    haversine_km,
    name_tokens,
)
from graph.identity.profile import EventProfile

# -- evidence ----------------------------------------------------------------------------------

FEATURES: tuple[str, ...] = (
    "near",  # both have coordinates: 1 within NEAR_KM, falling to 0 at FAR_KM
    "far",  # both have coordinates, more than FAR_KM apart
    "anchor_near",  # no two reported points, but a gazetteer point: 1 within ANCHOR_NEAR_KM ..
    "anchor_far",  # .. falling to 0 at ANCHOR_FAR_KM; anchor_far: more than ANCHOR_FAR_KM apart
    "same_place_name",  # place names alike (similarity, 0 below 0.85 or with points far apart)
    "other_place_name",  # both name a place, unlike names, and no coordinates say otherwise
    "no_place",  # neither both points nor both place names: nothing to say where, for or against
    "shared_entities",  # entities shared, counted against the side naming fewer
    "no_shared_entity",  # both name entities and none is shared
    "sides_partly",  # both name entities, some shared and some not (overlap above 0, below 1)
    "similar_text",  # best word-set overlap of the record's texts with the event's
    "words_without_sides",  # the same overlap when there are no entities to compare, else 0
    "other_category",  # the record's category is not the event's
    "day_after",  # the record's day is the day after the event's main day (a late report?)
    "day_before",  # the record's day is the day before the event's main day
    "off_day_again",  # off the main day, and another record already gave that day
    "dated_late",  # a day after the main day, but its story was published by the main day
    "dated_early",  # a day before the main day, and a story of the event was published by then
    "crowded",  # no place to compare, other candidates look as alike (same sides): how many, 0..1
    "same_outlet",  # an outlet of the record already reported the event
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
        tokens = name_tokens(name)
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
    return tuple(t for t in map(name_tokens, names) if t)


def distance_km(m: Mention, p: EventProfile) -> float | None:
    """The distance from the record's point to the event's nearest point, if both have one."""
    if m.lat is None or m.lon is None or not p.points:
        return None
    return min(haversine_km(m.lat, m.lon, lat, lon) for lat, lon in p.points)


def anchor_km(m: Mention, p: EventProfile) -> float | None:
    """Without two reported points to compare (`distance_km` None): the distance from the
    record's point or anchor to the event's nearest point or anchor, one of the two at least a
    gazetteer point (`graph.identity.places`); None when either side has neither."""
    mine = m.where()
    if mine is None or (not p.points and not p.anchors):
        return None
    lat0, lon0 = mine
    return min(haversine_km(lat0, lon0, lat, lon) for lat, lon in (*p.points, *p.anchors))


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


def _nearness(km: float | None, near_km: float, far_km: float) -> tuple[float, float]:
    """(near, far) for a distance: near 1 within `near_km`, falling to 0 at `far_km`; far 1
    beyond `far_km`; both 0 without a distance."""
    if km is None:
        return 0.0, 0.0
    near = 1.0 if km <= near_km else max(0.0, (far_km - km) / (far_km - near_km))
    return near, 1.0 if km > far_km else 0.0


def _sides(m: Mention, p: EventProfile) -> bool:
    """Whether there are entities to compare: both the record and the event name some."""
    return bool(m._names and p.names)


def evidence(m: Mention, p: EventProfile, *, words: bool = True) -> tuple[list[float], list[str]]:
    """The value of each feature of `FEATURES` for `m` against `p`, and notes on what was
    missing. With `words=False` the text similarity is not computed (left at 0)."""
    notes: list[str] = []
    if m.matched_day != m.day:
        notes.append(f"matched by the day its words write, {m.matched_day}, not {m.day}")
    km = distance_km(m, p)
    near, far = _nearness(km, NEAR_KM, FAR_KM)
    if km is None:
        notes.append("no coordinates to compare")
    anchored = anchor_km(m, p) if km is None else None
    anchor_near, anchor_far = _nearness(anchored, ANCHOR_NEAR_KM, ANCHOR_FAR_KM)
    if anchored is not None:
        notes.append("compared by the gazetteer's point of a place")
    similarity = place_similarity(m, p)
    if similarity is None:
        same_name = other_name = 0.0
        notes.append("no place name to compare")
    else:
        # one name at two points far apart is two places (a homonym; on the Syria file 0 of
        # the 43 candidate pairs with a like name and far points are one event)
        same_name = similarity if similarity >= PLACE_SIMILAR and far == 0.0 else 0.0
        other_name = 1.0 if similarity < PLACE_OTHER and near == 0.0 and far == 0.0 else 0.0
    sides = _sides(m, p)
    if sides:
        shared = entity_overlap(m, p)
        none_shared = 1.0 if shared == 0.0 else 0.0
    else:
        shared = none_shared = 0.0
        notes.append("no entities to compare")
    text = text_similarity(m, p) if words else 0.0
    main = day_number(p.main_day()) if p.days else m._day
    again = main != m._day and any(d == m.matched_day for d, _ in p.days)
    no_place = 1.0 if km is None and similarity is None and anchored is None else 0.0
    values = [
        near,
        far,
        anchor_near,
        anchor_far,
        same_name,
        other_name,
        no_place,
        shared,
        none_shared,
        1.0 if 0.0 < shared < 1.0 else 0.0,
        text,
        0.0 if sides else text,
        0.0 if m.category in p.categories else 1.0,
        1.0 if m._day > main else 0.0,
        1.0 if m._day < main else 0.0,
        1.0 if again else 0.0,
        1.0 if m._day > main and m._published is not None and m._published <= main else 0.0,
        1.0 if m._day < main and p.published and day_number(p.published) <= m._day else 0.0,
        0.0,  # crowded: set by `crowd` once every candidate is known
        0.0 if m._outlets.isdisjoint(p.outlets) else 1.0,
    ]
    return values, notes


_TEXT = FEATURES.index("similar_text")
_WORDS_WITHOUT_SIDES = FEATURES.index("words_without_sides")


def add_words(m: Mention, p: EventProfile, values: list[float], weights: Sequence[float]) -> float:
    """Compare the words (left out by `evidence(..., words=False)`): set `similar_text` (and
    `words_without_sides` when there are no entities to compare) in `values`, and return what
    they add to the score under `weights`."""
    text = text_similarity(m, p)
    values[_TEXT] = text
    added = weights[_TEXT] * text
    if not _sides(m, p):
        values[_WORDS_WITHOUT_SIDES] = text
        added += weights[_WORDS_WITHOUT_SIDES] * text
    return added


def words_bound(m: Mention, p: EventProfile, weights: Sequence[float]) -> float:
    """The most the words can add to the score of `m` against `p` under `weights`."""
    bound = max(0.0, weights[_TEXT])
    if not _sides(m, p):
        bound += max(0.0, weights[_WORDS_WITHOUT_SIDES])
    return bound


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
