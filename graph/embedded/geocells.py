"""The embedded store's geographic index: the events with coordinates by cell, at four sizes.

A box or near filter reads the events of the cells that cover its area, each cell's in
`EventKey` order, merged as a page reads them (`merged`). With cells of one size, a wide area
covers hundreds of cells (a page then merges as many lists) and a small one reads cells it
only touches; so cells come in sizes of 64°, 16°, 4° and 1°, each holding the 16 of the next
size inside it (only those with events), and each knowing the box its events span (not the
cell's: a cell whose events all fall inside the area is read whole, however far the cell
reaches outside it). `cover` walks them from the largest: a cell whose events are all inside
is read whole, one the area misses is left out, one it cuts is split into its smaller cells,
down to 1°, which is read whole. What it reads is a superset of what the filter admits: the
filter decides every event (`graph.store.EventFilter.admits`), so the cover only sets the
cost, never the answer.

Built from the event index on first use, then kept up to date: the store tells it of every
event added, moved (its day or its point) or removed (`added`, `moved`, `removed`), and the
next read applies what it was told to the cells those events are in, at each size, and to the
boxes those cells know (`_catch_up`). A box only grows (an event removed leaves it as it
was): a box too big costs a cell split that need not be, never a wrong answer. Told of more
changes than a quarter of its events before a read (a bulk load), it says it is `stale`, and
the store builds it anew. Each event's key is in four lists (about 32 bytes an event).
"""

from __future__ import annotations

import heapq
import math
import threading
from bisect import bisect_left, bisect_right, insort
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from itertools import islice, repeat
from typing import TypeAlias

from graph.embedded.memory import EventKey
from graph.model import Props
from graph.store import EARTH_KM, EventFilter, haversine_km

SIZES = (64, 16, 4, 1)  # the cells' sizes in degrees, largest first; 16 of each in the one above
# each size's cell of a point, smallest first: (floor(lat) // ratio, floor(lon) // ratio)
_RATIOS = tuple(size // SIZES[-1] for size in reversed(SIZES))
# A cell the area cuts that holds at most this many events is read whole, not split: reading a
# few events the filter turns away costs less than merging more lists.
_WHOLE = 24

# (south, north, spans of longitude (west, east) with west <= east): where a filter's events lie
Area: TypeAlias = tuple[float, float, list[tuple[float, float]]]


@dataclass(slots=True, eq=False)
class _Cell:
    """A cell's events in `EventKey` order, the box they span, and its smaller cells."""

    keys: list[EventKey]
    south: float
    north: float
    west: float
    east: float
    children: list[_Cell] = field(default_factory=list)
    # the middle of the box of its events, and how far its farthest event can be from it (its
    # farthest corner: the farthest point of a box of latitudes and longitudes from a point
    # within 90° of longitude of all of it is one of its corners)
    mid_lat: float = 0.0
    mid_lon: float = 0.0
    radius_km: float = 0.0
    # its middle in radians and the cosine of its latitude: what `_apart` needs of it
    mid_phi: float = 0.0
    mid_lambda: float = 0.0
    mid_cos: float = 1.0

    def measure(self) -> None:
        """Its middle and radius, once its events are all in."""
        self.mid_lat, self.mid_lon = (self.south + self.north) / 2, (self.west + self.east) / 2
        self.radius_km = max(
            haversine_km(self.mid_lat, self.mid_lon, lat, lon)
            for lat in (self.south, self.north)
            for lon in (self.west, self.east)
        )
        self.mid_phi, self.mid_lambda = math.radians(self.mid_lat), math.radians(self.mid_lon)
        self.mid_cos = math.cos(self.mid_phi)


def _parent(children: list[_Cell]) -> _Cell:
    """The cell holding these smaller ones."""
    keys = [key for child in children for key in child.keys]
    keys.sort()
    return _Cell(
        keys,
        min(c.south for c in children),
        max(c.north for c in children),
        min(c.west for c in children),
        max(c.east for c in children),
        children,
    )


class GeoCells:
    """The events with coordinates by cell (see the module)."""

    def __init__(self, located: Iterable[tuple[EventKey, float, float]]) -> None:
        """`located`: each event's key and coordinates, in key order."""
        # the 1° cells first, their keys appended in order; then each larger size from the
        # smaller one's cells (their keys merged by a sort of sorted runs, in C)
        points: dict[tuple[int, int], tuple[list[EventKey], list[float], list[float]]] = {}
        floor, finite = math.floor, math.isfinite
        for key, lat, lon in located:
            if not (finite(lat) and finite(lon)):
                continue  # no filter admits it
            at = (floor(lat), floor(lon))
            found = points.get(at)
            if found is None:
                points[at] = ([key], [lat], [lon])
            else:
                found[0].append(key)
                found[1].append(lat)
                found[2].append(lon)
        level = {
            at: _Cell(keys, min(lats), max(lats), min(lons), max(lons))
            for at, (keys, lats, lons) in points.items()
        }
        levels = [level]
        for size, smaller in zip(SIZES[-2::-1], SIZES[:0:-1], strict=True):
            ratio = size // smaller
            grouped: dict[tuple[int, int], list[_Cell]] = {}
            for (row, column), cell in level.items():
                grouped.setdefault((row // ratio, column // ratio), []).append(cell)
            level = {at: _parent(children) for at, children in grouped.items()}
            levels.append(level)
        for cells in levels:
            for cell in cells.values():
                cell.measure()
        # each size's cells by where they are, smallest first (`_RATIOS`)
        self._levels = levels
        self._size = sum(len(cell.keys) for cell in levels[-1].values())
        # what the store told of since the last read: (+1 added or -1 removed, key, lat, lon)
        self._pending: list[tuple[int, EventKey, float, float]] = []
        # told of too many changes to follow them: the store builds the cells anew
        self.stale = False
        # (box, near, newest first) -> that area's events merged as far as pages read them
        self._areas: dict[AreaKey, _Merged] = {}
        # held to change the pending changes, the cells or the areas, and to read the cells
        # (`cover`): readers in threads and the writer's hooks take turns. A cell's list of
        # keys is never changed in place, but replaced, so a merge being read stays whole.
        self._lock = threading.Lock()

    # -- following writes ----------------------------------------------------------------------

    def added(self, key: EventKey, props: Props) -> None:
        """An event the store added (with `props`)."""
        self._note(1, key, props)

    def removed(self, key: EventKey, props: Props) -> None:
        """An event the store removed (it had `props`)."""
        self._note(-1, key, props)

    def moved(self, old_key: EventKey, old: Props, new_key: EventKey, new: Props) -> None:
        """An event the store wrote again: followed when its key (its day) or its point
        changed."""
        if old_key != new_key or point(old) != point(new):
            self._note(-1, old_key, old)
            self._note(1, new_key, new)

    def _note(self, sign: int, key: EventKey, props: Props) -> None:
        at = point(props)
        if at is None:
            return  # not in any cell, before or after
        with self._lock:
            if self.stale:
                return
            if self._areas:
                self._areas.clear()  # their merges read the cells as they were
            self._pending.append((sign, key, *at))
            if len(self._pending) > max(_FOLLOWED, self._size // 4):
                # a bulk write: building anew reads each event once, where following would
                # merge every cell's list again
                self.stale, self._pending = True, []

    def _catch_up(self) -> None:
        """Apply the pending changes to the cells of each size (hold `_lock`): each cell a
        change falls in gets its keys anew, its box grown to the points added (and measured
        again), or is dropped once empty; a new cell is made and joined to the one above."""
        pending, self._pending = self._pending, []
        if not pending:
            return
        floor = math.floor
        points = [(sign, key, floor(lat), floor(lon), lat, lon) for sign, key, lat, lon in pending]
        made: list[tuple[int, tuple[int, int], _Cell]] = []  # (size's index, where, cell)
        emptied: list[tuple[int, tuple[int, int], _Cell]] = []
        for depth, ratio in enumerate(_RATIOS):
            # where -> (the net change of each key, the points added)
            changes: dict[tuple[int, int], tuple[dict[EventKey, int], list[tuple[float, float]]]]
            changes = {}
            for sign, key, row, column, lat, lon in points:
                at = (row // ratio, column // ratio)
                found = changes.get(at)
                if found is None:
                    found = changes[at] = ({}, [])
                found[0][key] = found[0].get(key, 0) + sign
                if sign > 0:
                    found[1].append((lat, lon))
            level = self._levels[depth]
            for at, (net, added) in changes.items():
                cell = level.get(at)
                keys = [key for key, n in net.items() if n > 0]
                gone = {key for key, n in net.items() if n < 0}
                if cell is None:
                    if keys:
                        keys.sort()
                        lats, lons = [p[0] for p in added], [p[1] for p in added]
                        cell = _Cell(keys, min(lats), max(lats), min(lons), max(lons))
                        cell.measure()
                        level[at] = cell
                        made.append((depth, at, cell))
                    continue
                if keys or gone:
                    cell.keys = _changed(cell.keys, keys, gone)
                if not cell.keys:
                    del level[at]
                    emptied.append((depth, at, cell))
                elif added:
                    _grow(cell, added)
        last = len(self._levels) - 1
        for depth, (row, column), cell in made:
            parent = self._levels[depth + 1].get((row // 4, column // 4)) if depth < last else None
            if parent is not None:
                parent.children.append(cell)
        for depth, (row, column), cell in emptied:
            parent = self._levels[depth + 1].get((row // 4, column // 4)) if depth < last else None
            if parent is not None:
                parent.children = [c for c in parent.children if c is not cell]
        self._size = sum(len(cell.keys) for cell in self._levels[-1].values())

    # -- reading -------------------------------------------------------------------------------

    def walk(
        self, flt: EventFilter, after: EventKey | None, newest_first: bool, page: int
    ) -> Iterator[tuple[EventKey, bool]]:
        """The keys of the events in the filter's area (a superset: the filter decides) after
        the cursor, in page order, each with whether it is inside for sure. An area's merge is
        kept for the next page and the next reader (`_AREAS` areas, `_PREFIX` events each), as
        the store keeps an entity's sorted events for its timeline."""
        key = (flt.box, flt.near, newest_first)
        with self._lock:
            found = self._areas.get(key)
            if found is None:
                found = _Merged(self._cover(flt), newest_first)
                if len(self._areas) >= _AREAS:
                    del self._areas[next(iter(self._areas))]  # the oldest
                self._areas[key] = found
        return found.walk(after, page + 1)

    def cover(self, flt: EventFilter) -> list[tuple[list[EventKey], bool]]:
        """The sorted keys of each cell the filter's area is covered by, each with whether all
        its events are inside the area (a page need not check their coordinates again); [] for
        a filter without an area."""
        with self._lock:
            return self._cover(flt)

    def _cover(self, flt: EventFilter) -> list[tuple[list[EventKey], bool]]:
        """`cover`, holding `_lock`."""
        self._catch_up()
        area = area_of(flt)
        if area is None:
            return []
        south, north, spans = area
        circle = flt.near if flt.near is not None and flt.near[2] <= _FAR_KM else None
        boxed = flt.box is not None  # else a circle's events are within its band and spans
        if circle is not None:  # the centre as `_apart` takes it, and the radius's bounds
            phi = math.radians(circle[0])
            centre = (phi, math.radians(circle[1]), math.cos(phi))
            reach, within = circle[2] + _SURE_KM, circle[2] * (1 - 1e-9) - _SURE_KM
        found: list[tuple[list[EventKey], bool]] = []
        todo = list(self._levels[-1].values())
        while todo:
            cell = todo.pop()
            if cell.north < south or cell.south > north:
                continue
            for w, e in spans:  # (a loop, not `any`: no generator made per cell)
                if w <= cell.east and cell.west <= e:
                    break
            else:
                continue
            if circle is not None:  # how far its middle is from the centre decides it
                apart = _apart(centre, cell)
                if apart - cell.radius_km > reach:
                    continue  # none of its events is within reach
                inside = apart + cell.radius_km <= within and (
                    not boxed or _in_band(cell, south, north, spans)
                )
            else:
                inside = flt.near is None and _in_band(cell, south, north, spans)
            if inside:
                found.append((cell.keys, True))
            elif (
                not cell.children
                or len(cell.keys) <= _WHOLE
                or (flt.near is None and _mostly_inside(cell, south, north, spans))
            ):
                found.append((cell.keys, False))
            else:
                todo += cell.children
        return found


# Changes followed before the cells are built anew instead (or a quarter of their events, if more).
_FOLLOWED = 4096
# Changes to one cell's keys made one by one (a bisect each); more, and its list is sorted anew.
_ONE_BY_ONE = 16


def point(props: Props) -> tuple[float, float] | None:
    """An event's point, as the cells hold it (finite coordinates only: no filter admits
    another): what they are built from (`EmbeddedStore._geo_cells`) and follow."""
    lat, lon = props.get("geo_lat"), props.get("geo_lon")
    if (
        isinstance(lat, int | float)
        and isinstance(lon, int | float)
        and math.isfinite(lat)
        and math.isfinite(lon)
    ):
        return float(lat), float(lon)
    return None


def _changed(keys: list[EventKey], added: list[EventKey], gone: set[EventKey]) -> list[EventKey]:
    """A new sorted list: `keys` with those `added` (once each) and without those `gone`."""
    if len(added) + len(gone) <= _ONE_BY_ONE:
        found = keys.copy()
        for key in gone:
            at = bisect_left(found, key)
            if at < len(found) and found[at] == key:
                del found[at]
        for key in added:
            at = bisect_left(found, key)
            if at == len(found) or found[at] != key:
                insort(found, key, lo=at)
        return found
    drop = gone.union(added)
    found = [key for key in keys if key not in drop]
    found += added
    found.sort()
    return found


def _grow(cell: _Cell, points: list[tuple[float, float]]) -> None:
    """The cell's box grown to hold `points`, and measured again if it grew."""
    lats, lons = [p[0] for p in points], [p[1] for p in points]
    south, north = min(cell.south, *lats), max(cell.north, *lats)
    west, east = min(cell.west, *lons), max(cell.east, *lons)
    if (south, north, west, east) != (cell.south, cell.north, cell.west, cell.east):
        cell.south, cell.north, cell.west, cell.east = south, north, west, east
        cell.measure()


def _apart(centre: tuple[float, float, float], cell: _Cell) -> float:
    """`haversine_km` from the centre (its latitude and longitude in radians, and the cosine
    of its latitude) to the middle of the cell, with what is known of each computed once:
    the same distance to well under the margin `_SURE_KM`."""
    phi, lam, cos_phi = centre
    h = (
        math.sin((cell.mid_phi - phi) / 2) ** 2
        + cos_phi * cell.mid_cos * math.sin((cell.mid_lambda - lam) / 2) ** 2
    )
    return 2 * EARTH_KM * math.asin(min(1.0, math.sqrt(h)))


def _in_band(cell: _Cell, south: float, north: float, spans: list[tuple[float, float]]) -> bool:
    """Whether the box of the cell's events lies in the band of latitudes and a span."""
    return (
        south <= cell.south
        and cell.north <= north
        and any(w <= cell.west and cell.east <= e for w, e in spans)
    )


# A circle wider than this has its every event measured: distances near half the Earth's
# circumference lose precision (asin near 1), and the margins below would not hold.
_FAR_KM = 9000.0
# How much surer than rounding errors (well under a millimetre below _FAR_KM) a cell must be
# to be read whole without measuring its events, or left out.
_SURE_KM = 1e-3


def _mostly_inside(
    cell: _Cell, south: float, north: float, spans: list[tuple[float, float]]
) -> bool:
    """Whether the area's band and spans hold at least `_MOSTLY` of the box of the cell's
    events (of each side's length): read whole, it costs a few events turned away, where its
    smaller cells would each be a list to merge."""
    height = cell.north - cell.south
    width = cell.east - cell.west
    inner_height = min(cell.north, north) - max(cell.south, south)
    inner_width = sum(max(0.0, min(cell.east, e) - max(cell.west, w)) for w, e in spans)
    return (
        inner_height >= _MOSTLY * height
        and inner_width >= _MOSTLY * width
        and inner_height * inner_width >= _MOSTLY * height * width
    )


_MOSTLY = 0.8


def area_of(flt: EventFilter) -> Area | None:
    """The band of latitudes and the spans of longitude (west <= east) that a box or near
    filter keeps events from, a superset of what it admits; None without such a filter. A
    circle of angular radius r around latitude φ spans asin(sin r / cos φ) of longitude."""
    if flt.box is None and flt.near is None:
        return None
    south, north = -90.0, 90.0
    spans = [(-180.0, 180.0)]
    if flt.box is not None:
        b_south, west, b_north, east = flt.box
        south, north = max(south, b_south), min(north, b_north)
        spans = [(west, east)] if west <= east else [(west, 180.0), (-180.0, east)]
    if flt.near is not None:
        lat, at_lon, km = flt.near
        arc = km / EARTH_KM  # the radius as an angle, in radians
        reach = math.degrees(arc) + 1e-6
        south, north = max(south, lat - reach), min(north, lat + reach)
        if math.radians(abs(lat)) + arc < math.pi / 2:  # the circle holds no pole
            ratio = math.sin(arc) / math.cos(math.radians(lat))
            span = math.degrees(math.asin(min(1.0, ratio))) + 1e-6
            west, east = at_lon - span, at_lon + span
            around = [(max(west, -180.0), min(east, 180.0))]
            if west < -180.0:
                around.append((west + 360.0, 180.0))
            if east > 180.0:
                around.append((-180.0, east - 360.0))
            spans = _overlap(spans, around)
    return south, north, spans


def _overlap(
    one: list[tuple[float, float]], other: list[tuple[float, float]]
) -> list[tuple[float, float]]:
    """The spans of longitude in both lists."""
    both = [(max(a, c), min(b, d)) for a, b in one for c, d in other]
    return [(w, e) for w, e in both if w <= e]


_AREAS = 64  # areas whose merge is kept
_PREFIX = 1000  # events kept merged per area (20 pages of 50)
AreaKey: TypeAlias = tuple[
    tuple[float, float, float, float] | None, tuple[float, float, float] | None, bool
]


class _Merged:
    """An area's events in page order, merged from its cells (`cover`) as far as pages have
    read them, up to `_PREFIX`; a page past that, or whose cursor is past what was read, is
    merged afresh from its cursor."""

    __slots__ = ("_lock", "_rest", "cover", "items", "newest_first")

    def __init__(self, cover: list[tuple[list[EventKey], bool]], newest_first: bool) -> None:
        self.cover, self.newest_first = cover, newest_first
        self.items: list[tuple[EventKey, bool]] = []
        self._rest: Iterator[tuple[EventKey, bool]] | None = merged(cover, None, newest_first)
        self._lock = threading.Lock()  # readers in threads extend `items` one at a time

    def walk(self, after: EventKey | None, read: int) -> Iterator[tuple[EventKey, bool]]:
        """From the cursor on, merging `read` more events at a time when past what was read
        (a page and the event that says another follows)."""
        start = 0 if after is None else self._position(after)
        if start is None:
            return merged(self.cover, after, self.newest_first)
        return self._from(start, max(read, 1))

    def _position(self, after: EventKey) -> int | None:
        """The index of the first item past the cursor, when what was read reaches it."""
        items, newest = self.items, self.newest_first
        if not items or (after < items[-1][0] if newest else after > items[-1][0]):
            return None
        low, high = 0, len(items)
        while low < high:  # the first item past the cursor in page order
            middle = (low + high) // 2
            if (items[middle][0] < after) if newest else (items[middle][0] > after):
                high = middle
            else:
                low = middle + 1
        return low

    def _from(self, start: int, read: int) -> Iterator[tuple[EventKey, bool]]:
        items, at = self.items, start
        while True:
            if at < len(items):
                end = len(items)
                yield from islice(items, at, end)
                at = end
                continue
            with self._lock:
                if at < len(items):
                    continue  # another reader read further meanwhile
                rest = self._rest
                if rest is not None and at < _PREFIX:
                    items.extend(islice(rest, read))
                    if at < len(items):
                        continue
                    self._rest = None  # every event of the area is read
            break
        if self._rest is not None and items:  # past the prefix: merged afresh
            yield from merged(self.cover, items[-1][0], self.newest_first)


def merged(
    cover: list[tuple[list[EventKey], bool]], after: EventKey | None, newest_first: bool
) -> Iterator[tuple[EventKey, bool]]:
    """The keys of the `cover`'s lists after the cursor, in page order, merged as they are
    read, each with whether its list's events are all inside the area. Lists alike in that
    (a circle's, often) are merged by their keys alone: fewer comparisons of tuples."""
    flags = {inside for _, inside in cover}
    if len(flags) == 1:
        (inside,) = flags
        keys = [_keys(keys, after, newest_first) for keys, _ in cover]
        one = keys[0] if len(keys) == 1 else heapq.merge(*keys, reverse=newest_first)
        return zip(one, repeat(inside))
    walks = [zip(_keys(keys, after, newest_first), repeat(inside)) for keys, inside in cover]
    return heapq.merge(*walks, reverse=newest_first)


def _keys(keys: list[EventKey], after: EventKey | None, newest_first: bool) -> Iterator[EventKey]:
    """The keys of one sorted list after the cursor, in page order (read by C's iterators, no
    Python frame per key)."""
    if newest_first:
        stop = bisect_left(keys, after) if after is not None else len(keys)
        return map(keys.__getitem__, range(stop - 1, -1, -1))
    begin = bisect_right(keys, after) if after is not None else 0
    return map(keys.__getitem__, range(begin, len(keys)))
