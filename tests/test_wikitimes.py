"""Real data: wikitimes-2015-09.jsonl loads as wikitimes-2015-09.expected.json says."""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from itertools import combinations
from typing import Any

import pytest

from graph import keys
from graph.model import Label, Node, Rel
from graph.snapshot import canonical
from graph.store import GraphStore
from tests.conftest import DATA, load_file, shared_file

WIKITIMES = DATA / "wikitimes-2015-09.jsonl"


def expected() -> dict[str, Any]:
    raw = shared_file(DATA / "wikitimes-2015-09.expected.json").read_text("utf-8")
    decoded: dict[str, Any] = json.loads(raw)
    return decoded


def records() -> list[dict[str, Any]]:
    lines = shared_file(WIKITIMES).read_text("utf-8").splitlines()
    return [json.loads(line) for line in lines if line.strip()]


def nodes(store: GraphStore, label: Label) -> list[Node]:
    return [i for i in store.dump() if isinstance(i, Node) and i.label is label]


def aliases(node: Node) -> frozenset[str]:
    value = node.props.get("aliases")
    assert isinstance(value, list)
    return frozenset(value)


def normalisation_groups(names: set[str]) -> set[frozenset[str]]:
    """The distinct names that share one normalised form, for every form with several."""
    groups: defaultdict[str, set[str]] = defaultdict(set)
    for name in names:
        groups[keys.normalise(name)].add(name)
    return {frozenset(g) for g in groups.values() if len(g) > 1}


def entity_id(store: GraphStore, name: str) -> str:
    owners = store.lookup_keys(keys.entity_keys("other", [name]))
    assert len(set(owners.values())) == 1, f"{name}: {owners}"
    return next(iter(owners.values()))


@pytest.fixture
def loaded(store: GraphStore) -> GraphStore:
    summary = load_file(store, WIKITIMES)
    assert summary.records == expected()["records"]
    return store


def test_every_record_loads_as_its_own_event(store: GraphStore) -> None:
    want = expected()
    summary = load_file(store, WIKITIMES)
    assert (summary.records, summary.rejected) == (want["records"], want["rejected"])
    assert summary.loaded == want["records"] - want["rejected"]
    assert summary.events_created == want["events"]
    assert store.counts()["Event"] == want["events"]


@pytest.mark.parametrize("name", ["Syria", "Yemen", "United States"])
def test_events_involving(loaded: GraphStore, name: str) -> None:
    entity = entity_id(loaded, name)
    involved = {e.src for e in loaded.edges([entity], Rel.INVOLVES, "in")[entity]}
    assert len(involved) == expected()["facts_for_analyst_queries"]["events_involving"][name]


def test_most_shared_events(loaded: GraphStore) -> None:
    events = [n.id for n in nodes(loaded, Label.EVENT)]
    involves = loaded.edges(events, Rel.INVOLVES, "out")
    pairs: Counter[tuple[str, str]] = Counter()
    for edges in involves.values():
        pairs.update(combinations(sorted({e.dst for e in edges}), 2))
    entities = {n.id: str(n.props["name"]) for n in nodes(loaded, Label.ENTITY)}
    ranked = [(entities[a], entities[b], n) for (a, b), n in pairs.most_common()]
    want = [tuple(p) for p in expected()["facts_for_analyst_queries"]["most_shared_events"]]
    top = [tuple([*sorted([a, b]), n]) for a, b, n in ranked[: len(want)]]
    assert top == want
    assert ranked[len(want)][2] < want[-1][2], "the ranking has a tie"


def test_node_counts_do_not_exceed_distinct_names(loaded: GraphStore) -> None:
    counts = loaded.counts()
    assert counts["Entity"] <= expected()["distinct_entity_names_in_file"]
    assert counts["Outlet"] <= expected()["distinct_outlet_names_in_file"]


def test_names_merge_exactly_where_they_normalise_alike(loaded: GraphStore) -> None:
    """Entities (all of type `other`, no aliases) and outlets merge when, and only when, their
    names normalise alike (`Al-Jazeera` / `Al Jazeera`, `USA TODAY` / `USA Today`, ...)."""
    entity_names: set[str] = set()
    outlet_names: set[str] = set()
    for rec in records():
        entity_names |= {m["name"] for m in rec["event"]["entities"]}
        outlet_names.add(rec["source_story"]["outlet"])
        outlet_names |= {r["outlet"] for r in rec["event"]["reports"]}
    assert len(entity_names) == expected()["distinct_entity_names_in_file"]

    entities = nodes(loaded, Label.ENTITY)
    assert len(entities) == len({keys.normalise(n) for n in entity_names})
    merged_entities = {aliases(n) for n in entities if len(aliases(n)) > 1}
    assert merged_entities == normalisation_groups(entity_names)

    outlets = nodes(loaded, Label.OUTLET)
    assert len(outlets) == len({keys.normalise(n) for n in outlet_names})
    merged_outlets = {aliases(n) for n in outlets if len(aliases(n)) > 1}
    assert merged_outlets == normalisation_groups(outlet_names)
    assert frozenset({"Al Jazeera", "Al-Jazeera"}) in merged_outlets
    assert set().union(*(aliases(n) for n in outlets)) == outlet_names


def test_loading_twice_changes_nothing(loaded: GraphStore) -> None:
    before = canonical(loaded)
    again = load_file(loaded, WIKITIMES)
    assert (again.events_created, again.events_merged) == (0, expected()["records"])
    assert canonical(loaded) == before
