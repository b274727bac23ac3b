"""The per-request context resolvers get as `info.context`, and what the app keeps across
requests (`Services`). Nothing here is a GraphQL type: the types build on this module."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

from strawberry.dataloader import DataLoader
from strawberry.types import Info as _Info

from api.audit import AuditLog
from api.auth import RateLimiter
from api.config import DEFAULT_SUBMIT_RATE, AppConfig
from api.dataloaders import Immediate, Loader, Primed
from api.follow import Follower
from api.hub import Hub
from api.memo import Fragments, Tape
from api.tokens import ANONYMOUS, Actor, Role, Tokens
from graph.confidence import Policy
from graph.model import Direction, Edge, Node, Rel
from graph.store import GraphStore, Months, PagePart, PageReading, TrackRecord

T = TypeVar("T")


@dataclass
class Services:
    """What the app keeps across requests."""

    hub: Hub = field(default_factory=Hub)
    submissions: RateLimiter = field(default_factory=lambda: RateLimiter(DEFAULT_SUBMIT_RATE))
    config: AppConfig = field(default_factory=AppConfig)  # the limits `api.limits` applies
    # follows the store's change log while the app runs (set in the app's lifespan)
    follower: Follower | None = None
    # the clients' budgets of analytics cost over time (`api.cost`; made by its first request)
    cost_budget: object | None = None
    # the answers to selections on single objects, kept across requests (api.memo)
    fragments: Fragments | None = field(default_factory=Fragments)
    # the API's tokens: who may still use a socket, and the roles the public history shows
    tokens: Tokens = field(default_factory=Tokens)
    # the audit record (api.audit; None: kept nowhere), and which process of the server this
    # is, as the record names it
    audit: AuditLog | None = None
    process: str = "reader"

    async def wrote(self) -> None:
        """This process committed a write: publish it from the log before answering."""
        if self.follower is not None:
            await self.follower.wrote()


@dataclass
class RequestContext:
    """The per-request context: the store, the policy, the DataLoaders, who is asking (`actor`,
    `client` for rate limits) and the app's `Services` (live updates, the submission limit).
    Built fresh for each request in `api.app.GraphQLApp.get_context`."""

    store: GraphStore
    policy: Policy
    actor: Actor = ANONYMOUS
    client: str = "address:unknown"
    services: Services = field(default_factory=lambda: Services())
    nodes: Loader[str, Node | None] = field(init=False)
    # outlets' track records, many per read (a directory page of outlets: one read, not one each)
    track_records: Loader[str, TrackRecord] = field(init=False)
    _read_ahead: Primed[str, Node | None] = field(init=False, repr=False)
    _edges: dict[tuple[Rel, Direction], Loader[str, list[Edge]]] = field(
        init=False, default_factory=dict
    )
    # track records over a window of months, a loader per window
    _windows: dict[Months, Loader[str, TrackRecord]] = field(init=False, default_factory=dict)
    immediate: bool = field(init=False, default=False)
    # the reads made through the loaders while a kept fragment is made (api.memo), and the
    # loaders by their kind
    tape: Tape = field(init=False, default_factory=Tape)
    _kinds: dict[tuple[Any, ...], Immediate[Any, Any]] = field(
        init=False, default_factory=dict, repr=False
    )
    # when the request began: the time budget of its heavy fields counts from here (api.heavy)
    started: float = field(init=False, default_factory=time.monotonic)
    # the CPU seconds its heavy fields' reads took in their threads (api.heavy), one figure
    # shared with the request's scope (`api.slowdown.ANALYTICS_SECONDS`): what a client's
    # analytics time is charged
    read_seconds: list[float] = field(default_factory=lambda: [0.0])

    def __post_init__(self) -> None:
        store = self.store
        self.immediate = store.reads_from_memory
        if self.immediate:
            tape = self.tape
            self.nodes = Immediate(store.get_nodes, _none, tape, ("nodes",))
            self.track_records = Immediate(store.track_records, TrackRecord, tape, ("tracks", None))
            return

        # A store that reads from a server (Neo4j) is read in worker threads: a round trip
        # never holds the event loop, and other requests run meanwhile (docs/neo4j.md).
        async def load_nodes(ids: Sequence[str]) -> list[Node | None]:
            found = await asyncio.to_thread(store.get_nodes, list(ids))
            return [found.get(i) for i in ids]

        self.nodes = self._read_ahead = Primed(DataLoader(load_fn=load_nodes))

        async def load_track_records(ids: Sequence[str]) -> list[TrackRecord]:
            found = await asyncio.to_thread(store.track_records, list(ids))
            return [found.get(i, TrackRecord()) for i in ids]

        self.track_records = DataLoader(load_fn=load_track_records)

    @property
    def hub(self) -> Hub:
        return self.services.hub

    @property
    def fragments(self) -> Fragments | None:
        """The kept fragments this request may use (`api.memo`): an anonymous request's, on a
        store that reads from memory; None for any other."""
        if self.immediate and self.actor is ANONYMOUS:
            return self.services.fragments
        return None

    def loader_of(self, kind: tuple[Any, ...]) -> Immediate[Any, Any]:
        """The loader of `kind`, as its `Immediate` notes its reads (`api.memo`)."""
        known = self._kinds.get(kind)
        if known is not None:
            return known
        loader: object = None
        match kind:
            case ("nodes",):
                loader = self.nodes
            case ("tracks", None):
                loader = self.track_records
            case ("tracks", months):
                loader = self.track_records_in(months)
            case ("edges", rel, direction):
                loader = self.edges(rel, direction)
        if not isinstance(loader, Immediate):
            raise ValueError(f"no immediate loader of kind {kind!r}")
        self._kinds[kind] = loader
        return loader

    def shown_actor(self, name: str, cause: str) -> str:
        """Who made a change, as this caller may see it: editors and admins see the token's
        name; everyone else its role (a name may be an email), from the tokens configured
        now, else the role that `cause` needs; `cli` (the local command line) stays."""
        if self.actor.can(Role.EDITOR) or name == "cli":
            return name
        role = self.services.tokens.role_of(name)
        if role is not None:
            return str(role)
        return _CAUSE_ROLES.get(cause, str(Role.EDITOR))

    async def read(self, read: Callable[..., T], *args: Any) -> T:
        """`read(*args)`, a read of the store: at once when the store reads from memory, else
        in a worker thread, so that a round trip to the server never holds the event loop (a
        resolver awaiting it under `at_once` still runs to completion at once on the embedded
        store)."""
        self.tape.went_around()
        if self.immediate:
            return read(*args)
        return await asyncio.to_thread(read, *args)

    async def call(self, work: Callable[..., T], *args: Any) -> T:
        """`work(*args)`, a use case that writes the store and reads what it wrote (a
        mutation's): at once when the store reads from memory (its writes apply there, one
        at a time, as before), else in a worker thread, so that the round trips of a write
        never hold the event loop either (docs/neo4j.md)."""
        self.tape.went_around()
        if self.immediate:
            return work(*args)
        return await asyncio.to_thread(work, *args)

    def clear(self) -> None:
        """Forget what this context has read (a subscription's context lives as long as its
        connection, and the graph changes meanwhile)."""
        self._edges.clear()
        self._windows.clear()
        self._kinds.clear()
        self.__post_init__()

    def track_records_in(self, months: Months) -> Loader[str, TrackRecord]:
        """The loader of outlets' track records over a window of months, many per read."""
        if months.whole:
            return self.track_records
        loader = self._windows.get(months)
        if loader is None:
            store = self.store
            if self.immediate:

                def fetch(ids: list[str]) -> Mapping[str, TrackRecord]:
                    return store.track_records(ids, months)

                loader = self._windows[months] = Immediate(
                    fetch, TrackRecord, self.tape, ("tracks", months)
                )
                return loader

            async def load(ids: Sequence[str]) -> list[TrackRecord]:
                found = await asyncio.to_thread(store.track_records, list(ids), months)
                return [found.get(i, TrackRecord()) for i in ids]

            loader = self._windows[months] = DataLoader(load_fn=load)
        return loader

    def edges(self, rel: Rel, direction: Direction) -> Loader[str, list[Edge]]:
        """The loader of `rel` relationships in `direction` for many nodes at once."""
        loader = self._edges.get((rel, direction))
        if loader is None:
            store = self.store
            if self.immediate:

                def fetch(ids: list[str]) -> Mapping[str, list[Edge]]:
                    return store.edges(ids, rel, direction)

                loader = self._edges[(rel, direction)] = Immediate(
                    fetch, list, self.tape, ("edges", rel, direction)
                )
                return loader

            async def load(ids: Sequence[str]) -> list[list[Edge]]:
                found = await asyncio.to_thread(store.edges, list(ids), rel, direction)
                return [found.get(i, []) for i in ids]

            loader = self._edges[(rel, direction)] = Primed(DataLoader(load_fn=load))
        return loader

    async def read_event_page(self, event_id: str, parts: frozenset[PagePart]) -> None:
        """Read an event page's neighbourhood at once, where the store can (`PageReading`:
        Neo4j, one statement), and prime the loaders with it: the page's fields then find
        what they load, and the page is read in one round trip and one transaction. Nothing
        on a store that reads from memory, or when no part is asked for."""
        store = self.store
        if self.immediate or not parts or not isinstance(store, PageReading):
            return
        found = await asyncio.to_thread(store.read_event_neighbourhood, event_id, parts)
        self._read_ahead.prime_many(found.nodes)
        for (node_id, rel, direction), edges in found.edges.items():
            loader = self.edges(rel, direction)
            assert isinstance(loader, Primed)
            loader.prime(node_id, edges)


# The least role that can make a change of each cause, for a name no token has any more.
_CAUSE_ROLES = {"report": str(Role.LOADER), "policy": str(Role.ADMIN), "takedown": str(Role.ADMIN)}


def _none() -> None:
    return None


# What resolvers are given: `info.context` is the request's context.
Info = _Info[RequestContext, None]
