"""What every editorial use case shares: the error an editor can fix, finding the node a
request names (or refusing with an error that names the argument), and the store, clock and
committed confidence changes each editorial class works with (`EditorialWork`)."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from graph.errors import DomainError
from graph.history import LevelChange
from graph.model import Label, Node, WriteBatch, timestamp
from graph.store import GraphReader, GraphStore, WriteConflict

# The longest reason an editor may give for a change (a correction, a takedown).
MAX_REASON = 2000


class EditorialError(DomainError):
    """The request cannot be done as asked; the message says why (shown to the client)."""


def expect(store: GraphStore, node_id: str, label: Label, argument: str) -> Node:
    """The node `node_id`, which the request's `argument` says is a `label`, or an error naming
    the argument."""
    node = store.get_nodes([node_id]).get(node_id)
    if node is None or node.label is not label:
        raise EditorialError(f"{argument}: no {label.value.lower()} with id '{node_id}'")
    return node


def events_still_there(ids: Iterable[str]) -> Callable[[GraphReader], WriteBatch]:
    """A guard (a write's `derive` step, or called first in one) refusing the write when one
    of the events `ids` was merged away meanwhile: the write would have made it anew, without
    the rating it had (no `confidence`)."""
    wanted = sorted(set(ids))

    def guard(graph: GraphReader) -> WriteBatch:
        found = graph.get_nodes(wanted)
        missing = {i for i in wanted if i not in found or "confidence" not in found[i].props}
        if missing:
            raise WriteConflict(f"events merged away meanwhile: {sorted(missing)}")
        return WriteBatch()

    return guard


@dataclass
class EditorialWork:
    """Editorial work on `store`, each operation by `by` (an editor's or admin's name), stamped
    by `now`; the confidence changes it committed are collected in `changes` for live updates."""

    store: GraphStore
    now: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))
    changes: list[LevelChange] = field(default_factory=list)

    def _stamp(self) -> str:
        return timestamp(self.now())

    def _expect(self, node_id: str, label: Label, argument: str) -> Node:
        return expect(self.store, node_id, label, argument)

    def _node(self, node_id: str) -> Node:
        return self.store.get_nodes([node_id])[node_id]
