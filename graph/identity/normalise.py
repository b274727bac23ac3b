"""How names, places, words, days and points are compared: normalised forms (case, accents and
scripts folded, generic place words dropped), day numbers, distances and geographic cells; and
the constants of the rule (the day window, the distances that make one place or two)."""

from __future__ import annotations

import functools
import math
import re
import unicodedata
from datetime import date

from anyascii import anyascii

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
# a gazetteer point (a city's centre, for a record naming the place without a point) this near
# a point says "the same place", falling to nothing at ANCHOR_FAR_KM; beyond it, "elsewhere"
# (25 km: the gazetteer's own radius for "at this city", graph.gazetteer.NEAR_KM)
ANCHOR_NEAR_KM = 5.0
ANCHOR_FAR_KM = 25.0
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
def name_tokens(key: str) -> frozenset[str]:
    return frozenset(w for w in key.split() if w not in _NAME_STOPWORDS)


@functools.lru_cache(maxsize=1 << 14)
def text_key(text: str) -> str:
    """Words as compared: case-folded, punctuation folded (no transliteration: it is slow on
    long texts and both sides of a comparison get the same treatment)."""
    return _NON_WORD.sub(" ", text.casefold()).strip()


# a date in a story's URL or slug, as outlets write them: 2017-02-07, 2017/02/07, 2017_02_07
_STORY_DATE = re.compile(
    r"(?<!\d)((?:19|20)\d\d)([-/_.])(0[1-9]|1[0-2])\2(0[1-9]|[12]\d|3[01])(?!\d)"
)


def story_day(*texts: str | None) -> str | None:
    """The first calendar date written in one of `texts` (a story's URL or slug), as
    YYYY-MM-DD, or None. Outlets put the day they published a story in its address."""
    for text in texts:
        if not text:
            continue
        for found in _STORY_DATE.finditer(text):
            year, _, month, day = found.groups()
            try:
                return date(int(year), int(month), int(day)).isoformat()
            except ValueError:  # 2017-02-31
                continue
    return None


@functools.lru_cache(maxsize=1 << 12)
def day_number(day: str) -> int:
    return date.fromisoformat(day).toordinal()


def day_text(number: int) -> str:
    return date.fromordinal(number).isoformat()


def haversine_km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle distance in km."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    h = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * 6371.0088 * math.asin(min(1.0, math.sqrt(h)))


def cell(lat: float, lon: float) -> tuple[int, int]:
    return math.floor(lat / CELL_DEGREES), math.floor(lon / CELL_DEGREES)


def point_text(lat: float, lon: float) -> str:
    return f"{lat:.5f},{lon:.5f}"


def point(text: str) -> tuple[float, float]:
    lat, lon = text.split(",")
    return float(lat), float(lon)


@functools.lru_cache(maxsize=1 << 14)
def text_rank(text: str) -> tuple[str, str]:
    """The order an event's kept texts are chosen in (by digest: the same ones in any order)."""
    return digest(text), text


# The day a record's words state, as a written date: "June 15th 2017", "15 June 2017",
# "2017-06-15", "15/06/2017" (day first, as outside the US). Relative words ("yesterday") are
# not read: counted from a story's day they were wrong too often on real reporting.
_MONTHS = (
    "january",
    "february",
    "march",
    "april",
    "may",
    "june",
    "july",
    "august",
    "september",
    "october",
    "november",
    "december",
)
_MONTH = "(" + "|".join(_MONTHS) + ")"
_ORDINAL = r"(\d{1,2})(?:st|nd|rd|th)?"
_RANGE_END = r"(?:\s*[/-]\s*\d{1,2}(?:st|nd|rd|th)?)"
_WRITTEN_DATES = (
    # June 15th 2017, June 18/19th 2017, June 15, 2017 (the first day of a range)
    (re.compile(rf"\b{_MONTH}\s+{_ORDINAL}{_RANGE_END}?,?\s+(\d{{4}})\b", re.I), (3, 1, 2)),
    # 15 June 2017, 15th of June, 2017
    (re.compile(rf"\b{_ORDINAL}\s+(?:of\s+)?{_MONTH},?\s+(\d{{4}})\b", re.I), (3, 2, 1)),
    # 2017-06-15
    (re.compile(r"(?<![\d/.-])(\d{4})-(\d{1,2})-(\d{1,2})(?![\d/.-])"), (1, 2, 3)),
    # 15/06/2017, 15.06.2017
    (re.compile(r"(?<![\d/.])(\d{1,2})([/.])(\d{1,2})\2(\d{4})(?![\d/.])"), (4, 3, 1)),
)  # fmt: skip
_YEAR = re.compile(r"\d{4}")


def written_day(text: str) -> int | None:
    """The first date written in `text` (as `day_number`), or None."""
    if not _YEAR.search(text):  # every written date has its year: most texts have none
        return None
    for pattern, (y, m, d) in _WRITTEN_DATES:
        for found in pattern.finditer(text):
            groups = found.groups()
            month_text = groups[m - 1]
            month = (
                int(month_text)
                if month_text.isdigit()
                else _MONTHS.index(month_text.casefold()) + 1
            )
            try:
                return date(int(groups[y - 1]), month, int(groups[d - 1])).toordinal()
            except ValueError:  # 31 June, 13/13/2017
                continue
    return None
