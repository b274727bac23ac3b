"""A canonical, comparable form of a whole graph: for content hashes, copies and tests."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable

from graph.keys import MERGED
from graph.model import Edge, Label, Node
from graph.store import GraphStore

# What records how the graph was built rather than what it says, and so differs between two
# loads of the same data (in another order, at another time): the ingestion clock, when and
# in which steps confidence changed (and when it last did, `level_since`), the editorial log
# (which merges one order revealed), and the matcher's decision for each record (`identity` on
# DESCRIBES: which event was there first).
INGEST_CLOCKS = frozenset(
    {"ingested_at", "confidence_history", "level_since", "identity", Label.EDIT.value}
)


def canonical(store: GraphStore, ignore: Iterable[str] = ()) -> list[str]:
    """Every node, relationship and identity key as sorted JSON lines, leaving out `ignore`d
    properties and the nodes of `ignore`d labels. Ignoring the editorial log (`Edit`) ignores
    the redirects its merges left too (`graph.keys.merged_key`)."""
    skip = frozenset(ignore)
    logless = Label.EDIT.value in skip
    lines: list[str] = []
    for item in store.dump():
        if isinstance(item, Node):
            if item.label.value in skip:
                continue
            props = {k: v for k, v in item.props.items() if k not in skip}
            lines.append(_line(["node", item.id, item.label.value, props]))
        elif isinstance(item, Edge):
            props = {k: v for k, v in item.props.items() if k not in skip}
            lines.append(
                _line(["edge", item.src, item.type.value, item.dst, item.discriminator, props])
            )
        elif not (logless and item[0].startswith(MERGED)):
            lines.append(_line(["key", *item]))
    return sorted(lines)


def content_hash(store: GraphStore, ignore: Iterable[str] = ()) -> str:
    """SHA-256 over `canonical(store, ignore)`."""
    digest = hashlib.sha256()
    for line in canonical(store, ignore):
        digest.update(line.encode("utf-8") + b"\n")
    return digest.hexdigest()


def _line(value: object) -> str:
    return json.dumps(value, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
