"""The directories' indexes: every listed node's position in each order, kept sorted as the
store writes, whole and per filter value, so a page of a directory (`list_nodes`) walks from
its cursor and a count (`count_nodes`) is a length, whatever the label's size."""

from __future__ import annotations

import bisect
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any

from sortedcontainers import SortedDict, SortedList

from graph.embedded.memory import NodeData
from graph.model import Label, Node, Props, Value
from graph.store import (
    ALL_MONTHS,
    DIRECTORY_FILTERS,
    DIRECTORY_ORDERS,
    EVENT_ORDERS,
    TRACK,
    EventFilter,
    EventQuery,
    Months,
    NodeQuery,
    TrackRecord,
    track_entries,
)

# (label, order property, filter property or None, its value or None)
Slice = tuple[Label, str, str | None, str | None]
OTHER_ORDERS = tuple(name for name in EVENT_ORDERS if name != "occurred_on")
Position = tuple[str, str]  # (the order property's value, id)


class Directory:
    """For each listed label and order: the sorted positions of all its nodes, and of those
    with each value of each filter property. A node is in an order's lists only when that
    property is a string (`NodeQuery.admits`)."""

    def __init__(self) -> None:
        self._slices: dict[Slice, SortedList] = {}

    def _keys(self, node_id: str, label: Label, props: Props) -> Iterator[tuple[Slice, Position]]:
        for order in DIRECTORY_ORDERS.get(label, ()):
            value = props.get(order)
            if not isinstance(value, str):
                continue
            position = (value, node_id)
            yield (label, order, None, None), position
            for name in DIRECTORY_FILTERS[label]:
                wanted = props.get(name)
                if isinstance(wanted, str):
                    yield (label, order, name, wanted), position

    def ids(self, label: Label, order: str) -> list[str]:
        """The ids of every node of `label` in the order `order` (those whose property is a
        string), in that order."""
        found = self._slices.get((label, order, None, None))
        return [node_id for _, node_id in found] if found is not None else []

    def add(self, node_id: str, label: Label, props: Props) -> None:
        for key, position in self._keys(node_id, label, props):
            self._insert(key, position)

    def discard(self, node_id: str, label: Label, props: Props) -> None:
        for key, position in self._keys(node_id, label, props):
            self._remove(key, position)

    def replace(self, node_id: str, label: Label, old: Props, new: Props) -> None:
        """A listed node's properties went from `old` to `new`: only the positions that
        changed move (a load rewrites an entity or an outlet for each record naming it, and
        its name, the orders' key, seldom changes)."""
        before = set(self._keys(node_id, label, old))
        after = set(self._keys(node_id, label, new))
        for key, position in before - after:
            self._remove(key, position)
        for key, position in after - before:
            self._insert(key, position)

    def _insert(self, key: Slice, position: Position) -> None:
        found = self._slices.get(key)
        if found is None:
            found = self._slices[key] = SortedList()
        found.add(position)

    def _remove(self, key: Slice, position: Position) -> None:
        found = self._slices.get(key)
        if found is not None:
            found.discard(position)
            if not found:
                del self._slices[key]

    def fill(
        self,
        nodes: Iterable[tuple[str, Label, Props]],
        tally: EventTally,
        orders: EventOrders,
        tracks: OutletTracks,
    ) -> None:
        """Index every listed node of `nodes` (a store read from its file), and count and
        order its events in `tally` and `orders`."""
        gathered: dict[Slice, list[Position]] = {}
        events: list[tuple[str, Props]] = []
        for node_id, label, props in nodes:
            if label is Label.EVENT:
                tally.add(props)
                tracks.add(props)
                events.append((node_id, props))
            elif label in DIRECTORY_ORDERS:
                for key, position in self._keys(node_id, label, props):
                    gathered.setdefault(key, []).append(position)
        self._slices = {key: SortedList(positions) for key, positions in gathered.items()}
        orders.fill(events)

    def _smallest(self, query: NodeQuery) -> SortedList | None:
        """The shortest list holding every node of the listing (the others are checked)."""
        keys: list[Slice] = [(query.label, query.order_by, None, None)]
        keys += [(query.label, query.order_by, name, value) for name, value in query.where]
        lists: list[SortedList] = []
        for key in keys:
            found = self._slices.get(key)
            if found is None:
                return None
            lists.append(found)
        return min(lists, key=len)

    def page(self, query: NodeQuery, nodes: Mapping[str, NodeData]) -> list[Node]:
        """`query`'s page, walking the shortest list from the cursor (no `near`)."""
        found = self._smallest(query)
        if found is None:
            return []
        walk: Iterator[Position]
        if query.descending:
            walk = found.irange(maximum=query.after, inclusive=(True, False), reverse=True)
        else:
            walk = found.irange(minimum=query.after, inclusive=(False, True))
        page: list[Node] = []
        for _, node_id in walk:
            if len(page) == query.first:
                break
            props = nodes[node_id]["props"]
            if query.admits(props):
                page.append(Node(node_id, query.label, props))
        return page

    def count(self, query: NodeQuery, nodes: Mapping[str, NodeData]) -> int:
        """How many nodes the listing holds (no `near`): a length for one filter or none; for
        several, the shortest list checked node by node."""
        found = self._smallest(query)
        if found is None:
            return 0
        if len(query.where) <= 1:
            return len(found)
        return sum(1 for _, node_id in found if query.admits(nodes[node_id]["props"]))


def near_page(
    query: NodeQuery, positions: Sequence[tuple[str, str]], attrs: Mapping[str, Any]
) -> list[Node]:
    """`query`'s page among the nodes linked to its `near` node: `positions`, their (order
    value, id) sorted ascending (`EmbeddedStore._near_listing`), found by bisection."""
    after = query.after
    if query.descending:
        end = len(positions) if after is None else bisect.bisect_left(positions, after)
        page = positions[max(0, end - query.first) : end][::-1]
    else:
        start = 0 if after is None else bisect.bisect_right(positions, after)
        page = positions[start : start + query.first]
    return [Node(node_id, query.label, attrs[node_id]["props"]) for _, node_id in page]


class EventTally:
    """How many events there are of each (category, confidence rank), kept as the store
    writes: a listing filtered by nothing else is counted without a walk."""

    def __init__(self) -> None:
        self._cells: dict[tuple[Value, Value], int] = {}

    def _move(self, props: Props, change: int) -> None:
        cell = (props.get("category"), props.get("confidence_rank"))
        count = self._cells.get(cell, 0) + change
        if count:
            self._cells[cell] = count
        else:
            self._cells.pop(cell, None)

    def add(self, props: Props) -> None:
        self._move(props, 1)

    def discard(self, props: Props) -> None:
        self._move(props, -1)

    def count(self, filter: EventFilter) -> int | None:
        """How many events `filter` admits, when it filters by category and level only."""
        alike = EventFilter(
            categories=filter.categories, min_confidence=filter.min_confidence, levels=filter.levels
        )
        if filter != alike:
            return None
        probe: dict[str, Value] = {}
        total = 0
        for (category, rank), count in self._cells.items():
            probe["category"], probe["confidence_rank"] = category, rank
            if filter.admits(probe):
                total += count
        return total


class OutletTracks:
    """Every outlet's track record, the sum of the entries of every event's `track`, kept as
    the store writes: an event written or deleted moves its entries in or out."""

    def __init__(self) -> None:
        self._records: dict[str, TrackRecord] = {}
        # by outlet, by month the events occurred in (`YYYY-MM`; '' without a date), sorted
        self._months: dict[str, SortedDict] = {}

    def _move(self, props: Props, sign: int) -> None:
        month = str(props.get("occurred_on") or "")[:7]
        for outlet, flags in track_entries(props):
            record = self._records.get(outlet, NO_RECORD).plus(flags, sign)
            if record == NO_RECORD:
                self._records.pop(outlet, None)
            else:
                self._records[outlet] = record
            months = self._months.get(outlet)
            if months is None:
                months = self._months[outlet] = SortedDict()
            record = months.get(month, NO_RECORD).plus(flags, sign)
            if record == NO_RECORD:
                months.pop(month, None)
                if not months:
                    del self._months[outlet]
            else:
                months[month] = record

    def add(self, props: Props) -> None:
        if TRACK in props:
            self._move(props, 1)

    def discard(self, props: Props) -> None:
        if TRACK in props:
            self._move(props, -1)

    def get(self, outlet: str, months: Months = ALL_MONTHS) -> TrackRecord:
        """The outlet's record: whole, or the sum of its months in the window (as many as it
        has events in: at most one a month)."""
        if months.whole:
            return self._records.get(outlet, NO_RECORD)
        by_month = self._months.get(outlet)
        total = NO_RECORD
        if by_month is None:
            return total
        # '' (no date) sorts before every month: never in a window
        for month in by_month.irange(minimum=months.since or "0", maximum=months.until):
            if month:
                total = total.combined(by_month[month])
        return total


NO_RECORD = TrackRecord()


class EventOrders:
    """Every event's position in each order but `occurred_on` (the store's own event index):
    (value, id), sorted, for the events whose property is a string (`EVENT_ORDERS`)."""

    def __init__(self) -> None:
        self._orders: dict[str, SortedList] = {name: SortedList() for name in OTHER_ORDERS}

    def add(self, node_id: str, props: Props) -> None:
        for name, order in self._orders.items():
            value = props.get(name)
            if isinstance(value, str):
                order.add((value, node_id))

    def discard(self, node_id: str, props: Props) -> None:
        for name, order in self._orders.items():
            value = props.get(name)
            if isinstance(value, str):
                order.discard((value, node_id))

    def move(self, node_id: str, old: Props, new: Props) -> None:
        """An event's positions from its `old` properties to its `new` ones, in the orders
        whose property changed."""
        for name, order in self._orders.items():
            before, after = old.get(name), new.get(name)
            if before == after:
                continue
            if isinstance(before, str):
                order.discard((before, node_id))
            if isinstance(after, str):
                order.add((after, node_id))

    def fill(self, events: Iterable[tuple[str, Props]]) -> None:
        gathered: dict[str, list[Position]] = {name: [] for name in OTHER_ORDERS}
        for node_id, props in events:
            for name, positions in gathered.items():
                value = props.get(name)
                if isinstance(value, str):
                    positions.append((value, node_id))
        self._orders = {name: SortedList(p) for name, p in gathered.items()}

    def walk(self, query: EventQuery) -> Iterator[Position]:
        """The positions of `query.order_by` from its cursor, in its direction."""
        order = self._orders[query.order_by]
        walk: Iterator[Position]
        if query.newest_first:
            walk = order.irange(maximum=query.after, inclusive=(True, False), reverse=True)
        else:
            walk = order.irange(minimum=query.after, inclusive=(False, True))
        return walk


def sorted_positions(query: EventQuery, events: Iterable[tuple[str, Props]]) -> list[Position]:
    """The positions of `events` in `query.order_by` from its cursor, in its direction (the
    events near an entity or outlet, sorted here: as many as its relationships)."""
    found = sorted(
        (value, node_id)
        for node_id, props in events
        if isinstance(value := props.get(query.order_by), str)
    )
    if query.newest_first:
        found.reverse()
        return [p for p in found if query.after is None or p < query.after]
    return [p for p in found if query.after is None or p > query.after]
