"""The outlet registry: tiers and groups re-rate events; an entry naming two outlets merges them."""

from __future__ import annotations

import json
from pathlib import Path

from graph import keys
from graph.model import Rel
from graph.snapshot import INGEST_CLOCKS, canonical
from graph.store import EventFilter, EventQuery, GraphStore
from loaders.outlets import parse_registry
from services.registry import load_registry
from tests.conftest import FIXED_NOW, load_file

RECORD = {
    "schema_version": 1,
    "extracted_at": "2026-05-30T04:15:39.113Z",
    "source_story": {"slug": "s1", "outlet": "Censor.NET"},
    "event": {
        "category": "military",
        "summary": "A test event reported three times.",
        "occurred_on": "2025-03-13",
        "reports": [
            {"outlet": "Censor.NET", "claims": [{"text": "It happened.", "tone": "certain"}]},
            {"outlet": "Цензор.НЕТ", "claims": [{"text": "Це сталося.", "tone": "certain"}]},
            {"outlet": "Wire One", "claims": []},
        ],
    },
}
REGISTRY = {
    "outlets": [
        {"name": "Censor.NET", "aliases": ["Цензор.НЕТ"], "tier": "standard", "group": "censor"},
        {"name": "Wire One", "tier": "trusted", "group": "wire-one"},
    ]
}


def _load(store: GraphStore, tmp_path: Path) -> str:
    path = tmp_path / "records.jsonl"
    path.write_text(json.dumps(RECORD, ensure_ascii=False) + "\n", encoding="utf-8")
    load_file(store, path)
    (event,) = store.query_events(EventQuery(EventFilter(), first=5)).events
    return event.id


def _registry(store: GraphStore) -> list[str]:
    summary = load_registry(store, parse_registry(json.dumps(REGISTRY)), now=lambda: FIXED_NOW)
    return summary.merged


def test_unknown_outlets_count_as_their_own_groups(store: GraphStore, tmp_path: Path) -> None:
    event = _load(store, tmp_path)
    props = store.get_nodes([event])[event].props
    assert (props["confidence"], props["independent_sources"]) == ("likely", 3)


def test_a_registry_entry_naming_two_outlets_merges_them_and_re_rates(
    store: GraphStore, tmp_path: Path
) -> None:
    event = _load(store, tmp_path)
    merged = _registry(store)
    assert len(merged) == 1 and "'Censor.NET'" in merged[0]
    owners = store.lookup_keys(keys.outlet_keys(["Censor.NET", "Цензор.НЕТ"]))
    assert len(set(owners.values())) == 1
    (outlet,) = set(owners.values())
    node = store.get_nodes([outlet])[outlet]
    assert node.props["aliases"] == ["Censor.NET", "Цензор.НЕТ"]
    assert node.props["tier"] == "standard"
    # both stories' reports now hang off the one outlet, claims intact
    reports = store.edges([outlet], Rel.REPORTS, "out")[outlet]
    assert sorted(t for r in reports for t in r.props["claim_texts"]) == [  # type: ignore[union-attr]
        "It happened.",
        "Це сталося.",
    ]
    props = store.get_nodes([event])[event].props
    # two independent groups now (censor, wire-one), one of them trusted
    assert (props["independent_sources"], props["trusted_sources"]) == (2, 1)
    assert props["confidence"] == "verified"


def test_registry_first_or_last_gives_the_same_graph(store: GraphStore, tmp_path: Path) -> None:
    _load(store, tmp_path)
    _registry(store)
    after = canonical(store, ignore=INGEST_CLOCKS)
    _registry(store)  # again: nothing changes
    assert canonical(store, ignore=INGEST_CLOCKS) == after
