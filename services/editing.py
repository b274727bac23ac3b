"""What every editorial use case shares: the error an editor can fix, and finding the node a
request names or refusing with an error that names the argument."""

from __future__ import annotations

from graph.errors import DomainError
from graph.model import Label, Node
from graph.store import GraphStore


class EditorialError(DomainError):
    """The request cannot be done as asked; the message says why (shown to the client)."""


def expect(store: GraphStore, node_id: str, label: Label, argument: str) -> Node:
    """The node `node_id`, which the request's `argument` says is a `label`, or an error naming
    the argument."""
    node = store.get_nodes([node_id]).get(node_id)
    if node is None or node.label is not label:
        raise EditorialError(f"{argument}: no {label.value.lower()} with id '{node_id}'")
    return node
