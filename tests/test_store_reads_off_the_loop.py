"""A store that reads from a server (Neo4j) is never read on the event loop's thread by the
public listings (`RequestContext.read`): the events and their totals, timelines, directories
and their totals, a name's lookup, a country filter's. The embedded store reads from memory,
at once, on the loop.

The store is the real one, watched: each call of a port method notes the thread it ran on.
"""

from __future__ import annotations

import asyncio
import threading
from typing import Any

from api.context import RequestContext
from api.schema import schema
from graph.confidence import current_policy
from graph.store import GraphStore
from tests.conftest import EXTRACTOR, load_file, load_outlets

QUERIES = [
    "{ events(first: 3) { totalCount totalCountIsExact edges { node { id } } } }",
    '{ entity(name: "Vladimir Putin") { timeline(first: 2) { totalCount edges { node { id } } } } '
    "}",
    '{ outlet(name: "Reuters") { events(first: 2) { edges { node { id } } } } }',
    "{ entities(first: 2) { totalCount edges { node { name } } } }",
    "{ outlets(first: 2) { totalCount edges { node { name } } } }",
    "{ places(first: 2) { totalCount edges { node { name } } } }",
    "{ stories(first: 2) { totalCount edges { node { slug } } } }",
    '{ events(first: 2, filter: {country: "RU"}) { totalCount edges { node { id } } } }',
]

# The port's reads these listings make; others (a node's relationships) go through DataLoaders,
# which read in threads already.
LISTINGS = frozenset({"query_events", "count_events", "list_nodes", "count_nodes", "lookup_keys"})


class Watched:
    """`store`, noting for each listing read whether it ran on the event loop's thread."""

    def __init__(self, store: GraphStore, loop_thread: int) -> None:
        self._store = store
        self._loop_thread = loop_thread
        self.on_loop: list[str] = []
        self.off_loop: list[str] = []

    def __getattr__(self, name: str) -> Any:
        found = getattr(self._store, name)
        if name not in LISTINGS:
            return found

        def read(*args: Any, **kwargs: Any) -> Any:
            here = threading.get_ident() == self._loop_thread
            (self.on_loop if here else self.off_loop).append(name)
            return found(*args, **kwargs)

        return read


def test_public_listings_read_a_server_off_the_event_loop(store: GraphStore) -> None:
    load_outlets(store)
    load_file(store, EXTRACTOR / "samples.jsonl")

    async def run() -> Watched:
        watched = Watched(store, threading.get_ident())
        for query in QUERIES:
            context = RequestContext(watched, current_policy(store))
            result = await schema.execute(query, context_value=context)
            assert not result.errors, (query, result.errors)
        return watched

    watched = asyncio.run(run())
    assert {"query_events", "count_events", "list_nodes", "count_nodes", "lookup_keys"} <= {
        *watched.on_loop,
        *watched.off_loop,
    }
    if store.reads_from_memory:
        assert not watched.off_loop  # memory: read at once, no thread
    else:
        assert not watched.on_loop, watched.on_loop
