"""What the embedded store keeps sorted near a node, and forgets precisely when the graph
changes.

Two kinds of listing, both built on first use and kept: the events adjacent to a node in
(occurred_on, id) order (`query_events` with an entity, place or outlet: the feeds near a node,
related events), and a directory listing near a node in (order value, id) order (`list_nodes`
with `near`: a country's places, an outlet's stories). A hub's listing holds thousands of
events: sorting it costs milliseconds, and forgetting every listing at every write made each
asking after a write pay that again (related events at 100,000 events read a dozen of them).

A change forgets only the listings it may make wrong (`NearListings.forget`): those of the nodes
whose relationships change or that go (their sets change), and those of the neighbours of a
node whose place in a listing changes (an event's day, a listed node's properties, a node that
goes). The store says which (`EmbeddedStore._forget_near`).
"""

from __future__ import annotations

from collections.abc import Iterable

from graph.embedded.memory import EventKey
from graph.model import Direction, Label

ListingKey = tuple[str, Label, str, object]  # (near node, label, order, filter)

# At most this many entries are kept over all listings; past it all are forgotten at once.
NEAR_LIMIT = 2_000_000


class NearListings:
    """The listings kept near nodes, bounded by `NEAR_LIMIT` entries in all."""

    def __init__(self) -> None:
        self._events: dict[tuple[str, Direction], list[EventKey]] = {}
        self._listings: dict[ListingKey, list[tuple[str, str]]] = {}
        self._listings_of: dict[str, set[ListingKey]] = {}  # near node -> its listings' keys
        self.size = 0

    def __bool__(self) -> bool:
        """Whether any listing is kept (an empty one too)."""
        return bool(self._events or self._listings)

    def events(self, node: str, direction: Direction) -> list[EventKey] | None:
        return self._events.get((node, direction))

    def keep_events(self, node: str, direction: Direction, found: list[EventKey]) -> None:
        self._make_room(len(found))
        self._events[(node, direction)] = found
        self.size += len(found)

    def listing(self, key: ListingKey) -> list[tuple[str, str]] | None:
        return self._listings.get(key)

    def keep_listing(self, key: ListingKey, found: list[tuple[str, str]]) -> None:
        self._make_room(len(found))
        self._listings[key] = found
        self._listings_of.setdefault(key[0], set()).add(key)
        self.size += len(found)

    def forget(self, nodes: Iterable[str]) -> None:
        """Forget every listing near any of `nodes`."""
        events, listings = self._events, self._listings
        for node in nodes:
            for direction in ("in", "out"):
                found = events.pop((node, direction), None)
                if found is not None:
                    self.size -= len(found)
            for key in self._listings_of.pop(node, ()):
                self.size -= len(listings.pop(key))

    def clear(self) -> None:
        self._events.clear()
        self._listings.clear()
        self._listings_of.clear()
        self.size = 0

    def _make_room(self, wanted: int) -> None:
        if self.size + wanted > NEAR_LIMIT:
            self.clear()
