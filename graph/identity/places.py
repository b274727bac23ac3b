"""The gazetteer's point for a record that gives a place but no coordinates (an *anchor*).

A record without a point often still names a place the gazetteer knows (`graph.gazetteer`):
its city's point says roughly where the record is, and the matcher weighs it as evidence of
its own kind (`anchor_near`, `anchor_far`), apart from the distance between two reported
points: UCDP and others often name a district or a governorate after its chief town, whose
point is then the district's centre, not where the event was. How much that is worth is the
fitted weight's to say (docs/identity-matcher.md).

Only a place the gazetteer resolves to a city, in the country the record names (status
`resolved`), gives an anchor: a country has no point, and a place found only in another
country (a conflict) is as likely a homonym. A place written as two names ("Tadmur/Palmyra
town") is tried name by name. Look-ups are cached per normalised place and country, so a load
asks the gazetteer once per distinct place.
"""

from __future__ import annotations

import functools

from graph import gazetteer

_enabled = True


def use_gazetteer(enabled: bool) -> None:
    """Turn anchors on or off for this process (on by default): for measuring what they add
    (`bench.identity --no-gazetteer`). Mentions made before keep what they had."""
    global _enabled
    _enabled = enabled


def anchor(place: str | None, country: str | None) -> tuple[float, float] | None:
    """The gazetteer's point (lat, lon, 5 decimals) of the city `place` names in `country`,
    or None: no place, not resolved, a country, or anchors turned off."""
    if not _enabled or not place or not place.strip():
        return None
    return _anchor(_folded(place), _folded(country) if country else "")


def _folded(text: str) -> str:
    return " ".join(text.split()).casefold()


@functools.lru_cache(maxsize=1 << 14)
def _anchor(place: str, country: str) -> tuple[float, float] | None:
    names = [place]
    if "/" in place:  # "Tadmur/Palmyra town", "As Suwar town/Sur town": each name in turn
        names += [part.strip() for part in place.split("/") if part.strip()]
    for name in names:
        if len(name) > 200:  # no place name is this long: nothing to look up
            continue
        found = gazetteer.check(name, country or None)
        entry = found.entry
        if found.status != "resolved" or entry is None or entry.kind != "city":
            continue
        if entry.lat is not None and entry.lon is not None:
            return (round(entry.lat, 5), round(entry.lon, 5))
    return None
