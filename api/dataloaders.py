"""Per-request DataLoaders over the store port: every field of a page batches into a few calls.

Built fresh for each request in `api.app.GraphQLApp.get_context` (a module-level loader would
cache forever). Named `dataloaders` so nobody confuses them with the top-level `loaders/`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from strawberry.dataloader import DataLoader

from graph.confidence import Policy
from graph.model import Direction, Edge, Node, Rel
from graph.store import GraphStore


@dataclass
class Loaders:
    store: GraphStore
    policy: Policy
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
