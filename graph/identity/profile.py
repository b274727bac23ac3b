"""What an event is known by (`EventProfile`): the aggregate of the records it holds, a
function of the set of its mentions (any order, any grouping), stored as node properties
(lists of strings) by `to_props` and read back by `from_props`."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from graph.identity.mention import Mention, add_days
from graph.identity.normalise import MAX_TEXTS, cell, point, point_text, story_day, text_rank

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
    # the earliest day one of its records' stories was published (`Mention.published`), if known
    published: str | None = None
    # the gazetteer's points of its records that give a place but no point (`Mention._anchor`)
    anchors: frozenset[tuple[float, float]] = frozenset()

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
            texts = frozenset(sorted(texts, key=text_rank)[:MAX_TEXTS])
        day = m.matched_day
        dated = f"{day}|{m._record}"
        return EventProfile(
            days=self.days if dated in self.dated else add_days(self.days, ((day, 1),)),
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
            published=_earliest(self.published, m.published),
            anchors=self.anchors | {m._anchor} if m._anchor else self.anchors,
        )

    def merged(self, other: EventProfile) -> EventProfile:
        """The profile of two events an editor merged."""
        texts = self.texts | other.texts
        if len(texts) > MAX_TEXTS:
            texts = frozenset(sorted(texts, key=text_rank)[:MAX_TEXTS])
        dated = self.dated | other.dated
        days = days_of(dated)  # counted again from the records (no double counts)
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
            _earliest(self.published, other.published),
            self.anchors | other.anchors,
        )

    def keys(self) -> frozenset[str]:
        """The blocking keys this event is indexed by: each of its days with each of its entity
        names, place names and geographic cells (of its points and its anchors), and its records'
        keys."""
        found = {f"r|{r}" for r in self.records}
        cells = {cell(*pt) for pt in self.points | self.anchors}
        for day, _ in self.days:
            found.update(f"e|{day}|{n}" for n in self.names)
            found.update(f"p|{day}|{p}" for p in self.places)
            found.update(f"c|{day}|{i}|{j}" for i, j in cells)
        return frozenset(found)

    def keys_added(self, before: EventProfile | None) -> frozenset[str]:
        """`self.keys() - before.keys()` without making either whole, for a profile grown from
        `before` (each of its sets holds `before`'s: `with_mention`); all keys for None."""
        if before is None:
            return self.keys()
        found = {f"r|{r}" for r in self.records - before.records}
        names, places = self.names - before.names, self.places - before.places
        cells: set[tuple[int, int]] = set()
        located, located_before = self.points | self.anchors, before.points | before.anchors
        if located != located_before:
            cells = {cell(*pt) for pt in located - located_before}
            cells -= {cell(*pt) for pt in located_before}
        known = {day for day, _ in before.days}
        all_cells: set[tuple[int, int]] | None = None
        for day, _ in self.days:
            if day in known:
                day_names, day_places, day_cells = names, places, cells
            else:
                if all_cells is None:
                    all_cells = {cell(*pt) for pt in located}
                day_names, day_places, day_cells = self.names, self.places, all_cells
            found.update(f"e|{day}|{n}" for n in day_names)
            found.update(f"p|{day}|{p}" for p in day_places)
            found.update(f"c|{day}|{i}|{j}" for i, j in day_cells)
        return frozenset(found)

    def to_props(self) -> dict[str, list[str]]:
        """The profile as node properties (lists of strings, sorted: the same text in any order
        and in both stores)."""
        return {
            "identity_categories": sorted(self.categories),
            "identity_places": sorted(self.places),
            "identity_points": sorted(point_text(*p) for p in self.points),
            "identity_names": sorted(self.names),
            "identity_texts": sorted(self.texts),
            "identity_outlets": sorted(self.outlets),
            "identity_stories": sorted(self.stories),
            "identity_records": sorted(self.records),
            "identity_entities": sorted(self.entities),
            "identity_dated": sorted(self.dated),
            "identity_published": [self.published] if self.published else [],
            "identity_anchors": sorted(point_text(*p) for p in self.anchors),
        }

    @classmethod
    def from_props(cls, props: Mapping[str, Any]) -> EventProfile:
        """The profile stored by `to_props` (missing properties are empty)."""

        def texts(name: str) -> frozenset[str]:
            value = props.get(name) or []
            return frozenset(str(v) for v in value)

        return cls(
            days=days_of(texts("identity_dated")),
            categories=texts("identity_categories"),
            places=texts("identity_places"),
            points=frozenset(point(p) for p in texts("identity_points")),
            names=texts("identity_names"),
            texts=texts("identity_texts"),
            outlets=texts("identity_outlets"),
            stories=texts("identity_stories"),
            records=texts("identity_records"),
            entities=texts("identity_entities"),
            dated=texts("identity_dated"),
            # events stored before the day was kept: the earliest date in their stories' slugs
            published=min(texts("identity_published"), default=None)
            or min(filter(None, map(story_day, texts("identity_stories"))), default=None),
            anchors=frozenset(point(p) for p in texts("identity_anchors")),
        )


def _earliest(a: str | None, b: str | None) -> str | None:
    return b if a is None else a if b is None else min(a, b)


def days_of(dated: Iterable[str]) -> tuple[tuple[str, int], ...]:
    """(day, how many records give it), by day, from the records' `day|record key` entries."""
    counts: dict[str, int] = {}
    for text in dated:
        day = text.partition("|")[0]
        counts[day] = counts.get(day, 0) + 1
    return tuple(sorted(counts.items()))
