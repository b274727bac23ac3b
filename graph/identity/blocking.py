"""How candidate events are found: `lookup_keys(mention)` are the keys to look them up by,
`EventProfile.keys()` the keys an event is indexed by (a day with an entity name, a place name
or a geographic cell, and each record's own key), so the cost per record follows the events of
those days at those places or with those sides, not the size of the graph.

Why a day either side and no more: a report gives the day it learned of the event, a day late
now and then (an attack late in the evening, a round-up published the next morning, a UTC day
boundary); two days late is rare enough that a wider window would mostly add the same sides'
fighting of other days as candidates. An event's days may span at most two consecutive days
(`MAX_SPAN_DAYS`), so a town's daily fighting cannot chain day by day into one event."""

from __future__ import annotations

from graph.identity.mention import Mention
from graph.identity.normalise import WINDOW_DAYS, cell, day_text
from graph.identity.profile import EventProfile

# -- blocking ----------------------------------------------------------------------------------


def mention_keys(m: Mention) -> frozenset[str]:
    """The keys an event is indexed by once `m` has joined it (its own day): the keys to add."""
    return EventProfile.of(m).keys()


def lookup_keys(m: Mention) -> list[str]:
    """The keys to look candidate events up by: the mention's day and a day either side, with
    its place name, and either the 3x3 geographic cells around its point or, when it has no
    point, each of its entity names and the cells around its anchor (the gazetteer's point of
    its place, if any); and its record key (the same record loaded again). A
    record with a point does not look events up by its sides: the sides' other events that
    day are elsewhere (beyond the cells: more than 10 km away) or at a place of the same name."""
    found = [f"r|{m._record}"]
    cells: list[tuple[int, int]] = []
    names: list[str] = []
    centre = m.where()
    if centre is not None:
        ci, cj = cell(*centre)
        cells = [(ci + di, cj + dj) for di in (-1, 0, 1) for dj in (-1, 0, 1)]
    if not m.has_point and m._names:
        names = sorted(set().union(*m._names))
    for offset in range(-WINDOW_DAYS, WINDOW_DAYS + 1):
        day = day_text(m._day + offset)
        found.extend(f"e|{day}|{n}" for n in names)
        if m._place:
            found.append(f"p|{day}|{m._place}")
        found.extend(f"c|{day}|{i}|{j}" for i, j in cells)
    return found
