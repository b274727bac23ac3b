"""The editorial outlet registry (`outlets.json`) into Outlet nodes, re-rating what it changes."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from graph import keys
from graph.confidence import current_policy
from graph.model import Label, Merge, NodeWrite, Rel, WriteBatch, timestamp
from graph.store import GraphStore
from loaders.ingest import rate_events
from loaders.records import Name, describe

Tier = Literal["trusted", "standard", "state-affiliated", "unknown"]


class OutletEntry(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)

    name: Name
    aliases: list[Name] = Field(default_factory=list)
    tier: Tier
    group: Annotated[str, Field(min_length=1, max_length=200)] | None = None
    country: Annotated[str, Field(max_length=100)] | None = None
    kind: Annotated[str, Field(max_length=100)] | None = None


class Registry(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)

    outlets: list[OutletEntry]


class RegistryError(ValueError):
    """The registry file is not valid; the message names the entry and field."""


@dataclass
class RegistrySummary:
    created: int = 0
    updated: int = 0
    events_rerated: int = 0
    conflicts: list[str] = field(default_factory=list)


def parse_registry(text: str) -> Registry:
    """Validate the text of an `outlets.json` file."""
    try:
        return Registry.model_validate_json(text)
    except ValidationError as exc:
        raise RegistryError(describe(exc)) from None


def load_registry(
    store: GraphStore, registry: Registry, now: Callable[[], datetime] | None = None
) -> RegistrySummary:
    """Create or update the registry's outlets in one atomic write and re-rate their events.

    An entry is matched to an existing outlet by its name or any alias (normalised), so
    outlets first seen in records as `unknown` gain their tier and group. An entry whose names
    match two different existing outlets is a conflict: it is reported, not guessed at.
    """
    stamp = timestamp((now or (lambda: datetime.now(UTC)))())
    summary = RegistrySummary()
    identities = [keys.outlet_keys([e.name, *e.aliases]) for e in registry.outlets]
    owners = store.lookup_keys([k for ks in identities for k in ks])
    claims: dict[str, str] = {}
    batch = WriteBatch()
    touched: list[str] = []
    for entry, identity in zip(registry.outlets, identities, strict=True):
        matches = sorted({o for k in identity if (o := claims.get(k) or owners.get(k))})
        if len(matches) > 1:
            summary.conflicts.append(
                f"'{entry.name}' names {len(matches)} different outlets ({', '.join(matches)}): "
                "merge them first; entry skipped"
            )
            continue
        outlet = matches[0] if matches else keys.node_id("ou", identity[0])
        if matches:
            summary.updated += 1
        else:
            summary.created += 1
        claims.update({k: outlet for k in identity if k not in owners and k not in claims})
        batch.nodes.append(
            NodeWrite(
                outlet,
                Label.OUTLET,
                Merge(
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
    reported = store.edges(touched, Rel.REPORTS, "out")
    events = sorted({e.dst for edges in reported.values() for e in edges})
    rate_events(store, batch, events, current_policy(store))
    summary.events_rerated = len(events)
    store.write(batch)
    return summary
