"""What the embedded store holds in memory, typed: the networkx graph's own dictionaries and
the store's indexes beside it.

The store reads and fills networkx's dictionaries directly (`_node`, `_succ`, `_pred`), as
`add_node` and `add_edge` would, because their per-call checks cost more than the work on
the hot paths (a bulk load, a page of events). networkx has no type information, so these
aliases and protocols say what the store keeps there, and strict mypy checks the store's
logic against them. They cost nothing at run time.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import NotRequired, Protocol, TypeAlias, TypedDict

import networkx as nx
from sortedcontainers import SortedList

from graph.model import Label, Rel, Value


class NodeData(TypedDict):
    """The attributes of a node: its label, its properties and the rowid of its row. A node
    that networkx made for a relationship's end without a row of its own (a file edited by
    hand) has none of them."""

    label: Label
    props: dict[str, Value]
    row: NotRequired[int]


class EdgeData(TypedDict):
    """The attributes of a relationship: its type, its parallel-edge key (`rkey`), its
    properties as the JSON text of its row (decoded when read, `graph.embedded.codec`) and
    the rowid of its row."""

    type: Rel
    rkey: str
    json: str
    row: int


# The relationships from one node to one other, by networkx key (`edge_name`).
Parallel: TypeAlias = dict[str, EdgeData]
# One node's neighbours (successors or predecessors), each with its relationships.
Neighbours: TypeAlias = dict[str, Parallel]
# Every node's neighbours: networkx's `_succ` (outgoing) or `_pred` (incoming).
Adjacency: TypeAlias = dict[str, Neighbours]


class Graph(Protocol):
    """The part of `networkx.MultiDiGraph` the store uses."""

    _node: dict[str, NodeData]
    _succ: Adjacency
    _pred: Adjacency
    __networkx_cache__: dict[str, object]

    def __contains__(self, n: object) -> bool: ...

    def add_edge(self, u_for_edge: str, v_for_edge: str, key: str, **attr: object) -> str: ...

    def has_edge(self, u: str, v: str, key: str) -> bool: ...

    def remove_node(self, n: str) -> None: ...

    def remove_edge(self, u: str, v: str, key: str) -> None: ...

    def clear(self) -> None: ...


def new_graph() -> Graph:
    graph: Graph = nx.MultiDiGraph()
    return graph


# Where an event sorts: (occurred_on, id). `occurred_on` is a string on every event the
# loaders write; the store keeps whatever the property holds.
EventKey: TypeAlias = tuple[Value, str]


class EventIndex(Protocol):
    """The part of `sortedcontainers.SortedList` the store uses: every event's `EventKey`."""

    def add(self, value: EventKey) -> None: ...

    def discard(self, value: EventKey) -> None: ...

    def __len__(self) -> int: ...

    def irange(
        self,
        minimum: EventKey | None = None,
        maximum: EventKey | None = None,
        inclusive: tuple[bool, bool] = (True, True),
        reverse: bool = False,
    ) -> Iterator[EventKey]: ...


def new_event_index(keys: Iterable[EventKey] = ()) -> EventIndex:
    index: EventIndex = SortedList(keys)
    return index


# The labels `find_nodes` is for, kept in an index of their own: the ids of the editorial
# records (submissions, the log), few among hundreds of thousands of nodes.
RECORD_LABELS = (Label.SUBMISSION, Label.EDIT)
RecordIndex: TypeAlias = dict[Label, set[str]]


def new_record_index() -> RecordIndex:
    return {label: set() for label in RECORD_LABELS}


# The networkx key of a relationship is f"{type}\x1f{key}"; most keys are empty, so those
# names are made once and shared.
EDGE_NAMES = {rel: f"{rel}\x1f" for rel in Rel}


def edge_name(kind: Rel, key: str) -> str:
    return f"{kind}\x1f{key}" if key else EDGE_NAMES[kind]
