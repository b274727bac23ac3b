"""Copy a whole graph from one store to another (embedded to Neo4j is how a user graduates).

Everything `dump()` gives is copied verbatim, every property included: nodes, then
relationships, then identity keys and settings, in batches of atomic writes. The target must be
empty. At the end both stores are compared by their counts and `graph.snapshot.content_hash`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TypeVar

from graph.model import Edge, EdgeWrite, Node, NodeWrite, PropertyWrite, WriteBatch
from graph.snapshot import content_hash
from graph.store import GraphStore, StoreError

DEFAULT_BATCH = 1000
T = TypeVar("T")
SETTING_PREFIX = "setting:"  # how dump() tells settings from identity keys


class CopyError(StoreError):
    """The copy could not start, or the target does not hold what the source holds."""


@dataclass(frozen=True, slots=True)
class CopySummary:
    nodes: int
    relationships: int
    keys: int
    settings: int
    content_hash: str

    def lines(self) -> list[str]:
        return [
            f"nodes:         {self.nodes}",
            f"relationships: {self.relationships}",
            f"keys:          {self.keys}",
            f"settings:      {self.settings}",
            f"content hash:  {self.content_hash} (source and target agree)",
        ]


def copy_graph(
    source: GraphStore,
    target: GraphStore,
    batch_size: int = DEFAULT_BATCH,
    progress: Callable[[int], None] | None = None,
) -> CopySummary:
    """Copy everything in `source` into the empty `target`, then verify. Both must be open."""
    if batch_size < 1:
        raise CopyError("the batch size must be at least 1")
    if any(target.counts().values()) or _has_keys_or_settings(target):
        raise CopyError(f"the target store {target!r} is not empty; copy into a new, empty store")
    nodes: list[NodeWrite] = []
    edges: list[EdgeWrite] = []
    keys: dict[str, str] = {}
    settings: dict[str, str] = {}
    counted = {"nodes": 0, "relationships": 0, "keys": 0, "settings": 0}

    def flush(batch: WriteBatch, size: int) -> None:
        target.write(batch)
        if progress is not None:
            progress(size)

    # dump() is in no particular order: nodes go first (relationship ends must exist), keys
    # last (their owners must exist); relationships wait in memory until the nodes are in.
    for item in source.dump():
        if isinstance(item, Node):
            nodes.append(NodeWrite(item.id, item.label, PropertyWrite(set=dict(item.props))))
            counted["nodes"] += 1
            if len(nodes) >= batch_size:
                flush(WriteBatch(nodes=nodes), len(nodes))
                nodes = []
        elif isinstance(item, Edge):
            edges.append(
                EdgeWrite(
                    item.src,
                    item.type,
                    item.dst,
                    item.discriminator,
                    PropertyWrite(set=dict(item.props)),
                )
            )
            counted["relationships"] += 1
        elif item[0].startswith(SETTING_PREFIX):
            settings[item[0].removeprefix(SETTING_PREFIX)] = item[1]
            counted["settings"] += 1
        else:
            keys[item[0]] = item[1]
            counted["keys"] += 1
    if nodes:
        flush(WriteBatch(nodes=nodes), len(nodes))
    for chunk in _chunks(edges, batch_size):
        flush(WriteBatch(edges=chunk), len(chunk))
    key_items = list(keys.items())
    for chunk_keys in _chunks(key_items, batch_size):
        flush(WriteBatch(keys=dict(chunk_keys)), len(chunk_keys))
    if settings:
        flush(WriteBatch(settings=settings), len(settings))
    return verify(source, target, counted)


def verify(source: GraphStore, target: GraphStore, counted: dict[str, int]) -> CopySummary:
    """Compare counts and content hashes; CopyError naming what differs."""
    before, after = source.counts(), target.counts()
    if before != after:
        differ = {k: (before.get(k), after.get(k)) for k in before.keys() | after.keys()}
        wrong = {k: v for k, v in differ.items() if v[0] != v[1]}
        raise CopyError(f"the copy's counts differ (source, target): {wrong}")
    expected, got = content_hash(source), content_hash(target)
    if expected != got:
        raise CopyError(f"the copy's content hash {got} differs from the source's {expected}")
    return CopySummary(
        nodes=counted["nodes"],
        relationships=counted["relationships"],
        keys=counted["keys"],
        settings=counted["settings"],
        content_hash=expected,
    )


def _has_keys_or_settings(store: GraphStore) -> bool:
    return any(isinstance(item, tuple) for item in store.dump())


def _chunks(items: list[T], size: int) -> Iterable[list[T]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]
