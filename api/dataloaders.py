"""Per-request DataLoaders over the store port: every field of a page batches into a few calls.

Built fresh for each request in `api.app.GraphQLApp.get_context` (a module-level loader would
cache forever). Named `dataloaders` so nobody confuses them with the top-level `loaders/`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from strawberry.dataloader import DataLoader

from api.auth import ANONYMOUS, Actor, RateLimiter
from graph.confidence import Policy
from graph.model import Direction, Edge, Node, Rel
from graph.store import GraphStore

if TYPE_CHECKING:
    from api.live import Hub


def _new_hub() -> Hub:
    from api.live import Hub  # api.live builds on the types, which build on this module

    return Hub()


@dataclass
class Services:
    """What the app keeps across requests."""

    hub: Hub = field(default_factory=_new_hub)
    submissions: RateLimiter = field(default_factory=lambda: RateLimiter("10/minute"))


@dataclass
class Loaders:
    """The per-request context: the store, the policy, the DataLoaders, who is asking (`actor`,
    `client` for rate limits) and the app's `Services` (live updates, the submission limit)."""

    store: GraphStore
    policy: Policy
    actor: Actor = ANONYMOUS
    client: str = "address:unknown"
    services: Services = field(default_factory=lambda: Services())
    nodes: DataLoader[str, Node | None] = field(init=False)
    _edges: dict[tuple[Rel, Direction], DataLoader[str, list[Edge]]] = field(
        init=False, default_factory=dict
    )

    def __post_init__(self) -> None:
        store = self.store

        async def load_nodes(ids: Sequence[str]) -> list[Node | None]:
            found = store.get_nodes(list(ids))
            return [found.get(i) for i in ids]

        self.nodes = DataLoader(load_fn=load_nodes)

    @property
    def hub(self) -> Hub:
        return self.services.hub

    def edges(self, rel: Rel, direction: Direction) -> DataLoader[str, list[Edge]]:
        """The loader of `rel` relationships in `direction` for many nodes at once."""
        loader = self._edges.get((rel, direction))
        if loader is None:
            store = self.store

            async def load(ids: Sequence[str]) -> list[list[Edge]]:
                found = store.edges(list(ids), rel, direction)
                return [found.get(i, []) for i in ids]

            loader = self._edges[(rel, direction)] = DataLoader(load_fn=load)
        return loader
