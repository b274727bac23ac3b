"""Ids merged away still name their survivor (docs/identity.md, "Links that survive merges")."""

from __future__ import annotations

from graph import keys
from graph.store import GraphReader, GraphStore


def survivor(store: GraphStore | GraphReader, node_id: str) -> str | None:
    """The node a merged-away `node_id` was merged into (at the end of a chain of merges), or
    None when `node_id` was never merged away. One key lookup."""
    key = keys.merged_key(node_id)
    return store.lookup_keys([key]).get(key)


def current(store: GraphStore | GraphReader, node_id: str) -> str:
    """`node_id` when it exists, else its survivor, else `node_id` (unknown: the caller says)."""
    if store.get_nodes([node_id]):
        return node_id
    return survivor(store, node_id) or node_id
