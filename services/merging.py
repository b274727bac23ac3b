"""Merging nodes found to be one (two spellings of an entity, two fingerprints of an event, two
names of an outlet): the merged-away node's properties, relationships and identity keys move
to the survivor, and the merge is logged so that a split can undo it.

Not to be confused with `graph.model.PropertyWrite`, the rules by which one write changes a node's
properties."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from collections.abc import Set as AbstractSet

from graph import keys
from graph.history import Why, edit
from graph.model import (
    Direction,
    EdgeWrite,
    Label,
    Node,
    NodeWrite,
    PropertyWrite,
    Props,
    Rel,
    Value,
    WriteBatch,
    as_property_write,
    strings,
)
from graph.store import GraphStore
from services.pins import PINS, MergedPins, as_recorded, dropped_text, merge_pins
from services.places import CORRECTED, EDITOR_LOCATION


def merge_nodes(
    store: GraphStore,
    batch: WriteBatch,
    olds: Sequence[str],
    label: Label,
    find: Callable[[str], str],
    stale: AbstractSet[str] = frozenset(),
    why: Why | None = None,
    at: str = "",
) -> None:
    """Append to `batch` the merge of `olds` (stored nodes found to be one with another) into
    their survivors `find(old)`: properties and relationships merged by their rules (see
    `graph.model.RULES`), identity keys re-owned (or dropped when `stale`), `olds` deleted.

    With `why`, each merge is logged (an `Edit` node, action `merge`; the old id's
    `graph.keys.merged_key` goes to the survivor, so links to it resolve) with what a split needs
    to undo it: the merged-away node as it was (properties, keys, relationships) and the
    survivor's properties, keys and involvements before the merge."""
    if not olds:
        return
    nodes = store.get_nodes(list(olds))
    for old, node in nodes.items():
        # an event's pinned properties merge as its records say them: its pins follow the
        # survivor's (`_merge_pins`)
        props = as_recorded(node) if label is Label.EVENT else node.props
        batch.nodes.append(NodeWrite(find(old), label, as_property_write(label, props)))
    survivors = sorted({find(o) for o in olds})
    # the survivors as they were: what the pins follow and the log keeps (one read for both)
    states = store.get_nodes(survivors) if label is Label.EVENT or why is not None else {}
    pinned = _merge_pins(batch, nodes, states, find) if label is Label.EVENT else {}
    moved: dict[tuple[str, Rel, str, str], list[Props]] = {}
    kept: dict[str, list[list[object]]] = {old: [] for old in olds}
    for rel in Rel:
        for direction in ("out", "in"):
            for old, edges in store.edges(list(olds), rel, direction).items():
                for e in edges:
                    kept[old].append([e.src, rel.value, e.dst, e.discriminator, dict(e.props)])
                    if _gives_way(e.src, rel, e.discriminator, pinned.get(find(old))):
                        continue  # an editor's location of a place pin that gave way
                    src = find(e.src) if e.src in olds else e.src
                    dst = find(e.dst) if e.dst in olds else e.dst
                    moved.setdefault((src, rel, dst, e.discriminator), []).append(e.props)
    if why is not None:
        _log_merges(store, batch, nodes, states, kept, label, find, why, at, pinned)
    directions: tuple[Direction, ...] = ("out", "in")
    for direction in directions:
        for edges in store.edges(survivors, Rel.REPORTS, direction).values():
            for e in edges:
                if (e.src, Rel.REPORTS, e.dst, e.discriminator) in moved:
                    moved[(e.src, Rel.REPORTS, e.dst, e.discriminator)].insert(0, e.props)
    for (src, rel, dst, key), found in moved.items():
        for props in found:
            batch.edges.append(EdgeWrite(src, rel, dst, key, as_property_write(rel, props)))
        if rel is Rel.REPORTS and len(found) > 1:
            # Two outlets (or events) that are one reported in one story: pool the claims
            # rather than let one report's claims replace the other's.
            batch.edges.append(
                EdgeWrite(src, rel, dst, key, PropertyWrite(set=_pool_claims(found)))
            )
    for old, owned in store.keys_of(list(olds)).items():
        for key in owned:
            batch.rekeys[key] = None if key in stale else find(old)
        if why is not None:  # a logged merge: the old id keeps resolving, to its survivor
            batch.rekeys[keys.merged_key(old)] = find(old)
    batch.deletes.extend(olds)


def _log_merges(
    store: GraphStore,
    batch: WriteBatch,
    olds: Mapping[str, Node],
    before: Mapping[str, Node],
    kept: Mapping[str, list[list[object]]],
    label: Label,
    find: Callable[[str], str],
    why: Why,
    at: str,
    pinned: Mapping[str, MergedPins],
) -> None:
    """One `merge` entry of the editorial log per merged-away node (see `merge_nodes`); an
    event's names the editors' corrections of it that gave way to the survivor's
    (`pins_dropped`, and in its detail). `before`: the survivors before the merge."""
    survivors = sorted({find(o) for o in olds})
    survivor_keys = store.keys_of(survivors)
    old_keys = store.keys_of(list(olds))
    involved = store.edges(survivors, Rel.INVOLVES, "in") if label is Label.ENTITY else {}
    # An event merge keeps the survivor's relationships too: undoing it restores both events
    # exactly, including relationships both had (whose properties the merge combined).
    own = _edges_of(store, survivors) if label is Label.EVENT else {}
    for old, node in sorted(olds.items()):
        survivor = find(old)
        state = before.get(survivor)
        merged = {"id": old, "props": dict(node.props), "keys": old_keys[old], "edges": kept[old]}
        into: dict[str, object] = {
            "id": survivor,
            "props": dict(state.props) if state is not None else {},
            "keys": survivor_keys.get(survivor, []),
            "involved_in": [e.src for e in involved.get(survivor, [])],
        }
        extra: dict[str, str] = {}
        logged = why
        if label is Label.EVENT:
            into["edges"] = own.get(survivor, [])
            dropped = pinned[survivor].dropped.get(old, []) if survivor in pinned else []
            if dropped:
                data = [json.loads(p.to_entry()) for p in dropped]
                extra["pins_dropped"] = json.dumps(data, ensure_ascii=False, sort_keys=True)
                kept_for = f"corrections of {old} dropped for {survivor}'s"
                logged = Why(
                    why.cause, f"{why.detail}; {kept_for}: {dropped_text(dropped)}", why.by
                )
        batch.nodes.append(
            edit(
                "merge",
                at,
                logged,
                survivor,
                label=label.value,
                merged=old,
                merged_state=json.dumps(merged, ensure_ascii=False, sort_keys=True),
                survivor_state=json.dumps(into, ensure_ascii=False, sort_keys=True),
                **extra,
            )
        )


def _merge_pins(
    batch: WriteBatch,
    olds: Mapping[str, Node],
    survivors: Mapping[str, Node],
    find: Callable[[str], str],
) -> dict[str, MergedPins]:
    """Appends to `batch` the pins of each survivor of events `olds` (`services.pins.merge_pins`:
    the survivor's win, property by property) and the corrected place they keep; returns them
    by survivor (`survivors`: those stored, as they were). Events no editor corrected are left
    to the merge rules."""
    groups: dict[str, list[Node]] = {}
    for old, node in sorted(olds.items()):
        groups.setdefault(find(old), []).append(node)
    found: dict[str, MergedPins] = {}
    for survivor, merging in sorted(groups.items()):
        kept = survivors.get(survivor)
        events = [n for n in (kept, *merging) if n is not None]
        if not any(n.props.get(PINS) for n in events):
            continue
        merged = found[survivor] = merge_pins(kept, merging)
        chosen = {n.id: n for n in events}.get(merged.place_from or "")
        values: dict[str, Value] = {PINS: merged.entries}
        if any(n.props.get(CORRECTED) for n in events):
            values[CORRECTED] = (chosen.text(CORRECTED) if chosen is not None else "") or None
        batch.nodes.append(NodeWrite(survivor, Label.EVENT, PropertyWrite(set=values)))
    return found


def _gives_way(src: str, rel: Rel, key: str, pinned: MergedPins | None) -> bool:
    """Whether an editor's location of merged-away event `src` stays behind (the survivor
    keeps another event's corrected place, or none)."""
    return (
        pinned is not None
        and rel is Rel.OCCURRED_IN
        and key == EDITOR_LOCATION
        and pinned.place_from != src
    )


def _edges_of(store: GraphStore, ids: Sequence[str]) -> dict[str, list[list[object]]]:
    """Every relationship of each of `ids`, as the log keeps them: [src, type, dst, key,
    properties]."""
    found: dict[str, list[list[object]]] = {i: [] for i in ids}
    for rel in Rel:
        for direction in ("out", "in"):
            for node, edges in store.edges(list(ids), rel, direction).items():
                found[node] += [
                    [e.src, rel.value, e.dst, e.discriminator, dict(e.props)] for e in edges
                ]
    return found


def _pool_claims(reports: list[Props]) -> dict[str, Value]:
    pooled: list[tuple[str, str]] = []
    for props in reports:
        pairs = zip(strings(props, "claim_texts"), strings(props, "claim_tones"), strict=True)
        pooled += [p for p in pairs if p not in pooled]
    return {"claim_texts": [t for t, _ in pooled], "claim_tones": [t for _, t in pooled]}


def redirect(batch: WriteBatch, find: Callable[[str], str]) -> None:
    """Point every write of `batch` at the survivors of merges."""
    batch.nodes[:] = [NodeWrite(find(w.id), w.label, w.change) for w in batch.nodes]
    batch.edges[:] = [
        EdgeWrite(find(w.src), w.type, find(w.dst), w.discriminator, w.change) for w in batch.edges
    ]
