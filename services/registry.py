"""The outlet registry into Outlet nodes: tiers, independence groups and aliases, re-rating the
events of every outlet it changes (the file itself is read by `loaders.outlets`)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from graph import keys
from graph.confidence import current_policy
from graph.history import Why
from graph.model import Label, NodeWrite, PropertyWrite, Rel, WriteBatch, timestamp
from graph.store import GraphStore
from loaders.outlets import Registry
from services.conflicts import checked, resolving_again
from services.merging import merge_nodes
from services.rating import rating


@dataclass
class RegistrySummary:
    created: int = 0
    updated: int = 0
    events_rerated: int = 0
    merged: list[str] = field(default_factory=list)  # "'Цензор.НЕТ' into 'Censor.NET'"


def load_registry(
    store: GraphStore,
    registry: Registry,
    now: Callable[[], datetime] | None = None,
    by: str = "cli",
) -> RegistrySummary:
    """Load `registry` (see `_load_registry`), resolving again if a concurrent writer got
    there first."""
    return resolving_again(lambda: _load_registry(store, registry, now, by))


def _load_registry(
    store: GraphStore, registry: Registry, now: Callable[[], datetime] | None, by: str
) -> RegistrySummary:
    """Create or update the registry's outlets in one atomic write and re-rate their events.

    An entry is matched to an existing outlet by its name or any alias (normalised), so
    outlets first seen in records as `unknown` gain their tier and group. An entry whose names
    match several existing outlets says they are one: they merge into the one its name (or
    its earliest-listed alias) matched, with all their reports.
    """
    stamp = timestamp((now or (lambda: datetime.now(UTC)))())
    summary = RegistrySummary()
    identities = [keys.outlet_keys([e.name, *e.aliases]) for e in registry.outlets]
    owners = store.lookup_keys([k for ks in identities for k in ks])
    claims: dict[str, str] = {}
    merged: dict[str, str] = {}

    def find(outlet: str) -> str:
        while outlet in merged:
            outlet = merged[outlet]
        return outlet

    batch = WriteBatch()
    touched: list[str] = []
    for entry, identity in zip(registry.outlets, identities, strict=True):
        found = (claims.get(k) or owners.get(k) for k in identity)
        matches = list(dict.fromkeys(find(o) for o in found if o is not None))
        outlet = matches[0] if matches else keys.node_id("ou", identity[0])
        for other in matches[1:]:
            merged[other] = outlet
            summary.merged.append(f"{other} into {outlet} ('{entry.name}')")
        if matches:
            summary.updated += 1
        else:
            summary.created += 1
        claims.update({k: outlet for k in identity if k not in owners and k not in claims})
        batch.nodes.append(
            NodeWrite(
                outlet,
                Label.OUTLET,
                PropertyWrite(
                    create={"ingested_at": stamp},
                    set={
                        "name": entry.name,
                        "tier": entry.tier,
                        "group": entry.group,
                        "country": entry.country,
                        "kind": entry.kind,
                    },
                    union={"aliases": [entry.name, *entry.aliases]},
                ),
            )
        )
        touched.append(outlet)
    batch.keys.update(claims)
    olds = sorted(store.get_nodes(sorted(merged)))
    reported = store.edges(touched + olds, Rel.REPORTS, "out")
    why = Why("registry", "the outlet registry was loaded", by)
    merge_nodes(store, batch, olds, Label.OUTLET, find, why=why, at=stamp)
    batch.keys = {k: find(o) for k, o in batch.keys.items()}
    batch.nodes = [NodeWrite(find(w.id), w.label, w.change) for w in batch.nodes]
    events = sorted({e.dst for edges in reported.values() for e in edges})
    summary.events_rerated = len(events)
    claims = {k: find(o) for k, o in claims.items()}
    derive = rating(events, current_policy(store), why, stamp)
    store.write(batch, derive=checked(claims, derive))
    return summary
