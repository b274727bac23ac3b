"""Adjacency views that hide the nodes a write is about to delete, without copying anything:
a write stages its relationships against the graph as it will be once those nodes are gone."""

from __future__ import annotations

from graph.embedded.memory import Adjacency, Neighbours, Parallel


class Without:
    """An adjacency (`_succ` or `_pred`) less the relationships of the nodes in `gone`."""

    __slots__ = ("_adjacency", "_gone")

    def __init__(self, adjacency: Adjacency, gone: set[str]) -> None:
        self._adjacency, self._gone = adjacency, gone

    def get(self, src: str, default: Neighbours) -> Neighbours | Hiding:
        if src in self._gone:
            return default
        neighbours = self._adjacency.get(src)
        return default if neighbours is None else Hiding(neighbours, self._gone)


class Hiding:
    """One node's neighbours less those about to be deleted, without copying them (a hub has
    tens of thousands)."""

    __slots__ = ("_gone", "_neighbours")

    def __init__(self, neighbours: Neighbours, gone: set[str]) -> None:
        self._neighbours, self._gone = neighbours, gone

    def get(self, dst: str, default: Parallel) -> Parallel:
        return default if dst in self._gone else self._neighbours.get(dst, default)
