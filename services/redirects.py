"""Ids merged away still name their survivor (docs/identity.md, "Links that survive merges"),
and so do the ids that embed them: a report's (`find_report`)."""

from __future__ import annotations

from collections.abc import Sequence

from graph import keys
from graph.analytics import edge_id
from graph.model import Edge, Rel
from graph.store import GraphReader, GraphStore
from services.editing import EditorialError


def survivor(store: GraphStore | GraphReader, node_id: str) -> str | None:
    """The node a merged-away `node_id` was merged into (at the end of a chain of merges), or
    None when `node_id` was never merged away. One key lookup."""
    key = keys.merged_key(node_id)
    return store.lookup_keys([key]).get(key)


def current(store: GraphStore | GraphReader, node_id: str) -> str:
    """`node_id` when it exists, else its survivor, else `node_id` (unknown: the caller says)."""
    return currents(store, [node_id])[node_id]


def currents(store: GraphStore | GraphReader, ids: Sequence[str]) -> dict[str, str]:
    """`current` of each of `ids`, in two reads at most: the nodes, then the survivors of
    those that do not exist (one key lookup)."""
    found = store.get_nodes(list(dict.fromkeys(ids)))
    gone = {i: keys.merged_key(i) for i in ids if i not in found}
    survivors = store.lookup_keys(sorted(set(gone.values()))) if gone else {}
    return {i: survivors.get(gone[i], i) if i in gone else i for i in ids}


def report_id(edge: Edge) -> str:
    """A report's id: its outlet, event and story (`REPORTS:ou_...:ev_...:st_...`), the stable
    id `neighbourhood` gives the relationship too."""
    return edge_id(edge)


def find_report(store: GraphStore, report: str, argument: str) -> Edge:
    """The report with id `report` (`report_id`), its outlet and event followed to their
    survivors if merged away since; or an error naming `argument`."""
    kind, _, rest = report.partition(":")
    parts = rest.split(":")
    if kind != Rel.REPORTS.value or len(parts) != 3 or not all(parts):
        raise EditorialError(
            f"{argument}: '{report}' is not a report id (REPORTS:<outlet>:<event>:<story>, "
            "as Report.id gives it)"
        )
    now = currents(store, parts)
    outlet, event, story = (now[p] for p in parts)
    for edge in store.edges([event], Rel.REPORTS, "in")[event]:
        if (edge.src, edge.discriminator) == (outlet, story):
            return edge
    raise EditorialError(f"{argument}: no report with id '{report}'")
