"""The labelled relevance set (`bench/search_relevance.jsonl`): at least 45 of its 50 queries
put the intended result in the top 3, on each store, and both stores rank alike."""

from __future__ import annotations

import pytest

from graph.store import GraphStore
from tools import relevance

# What the embedded store ranks, kept to compare the Neo4j store's answers with (same session).
_RANKED: dict[str, list[tuple[int | None, list[str]]]] = {}


@pytest.fixture
def loaded(store: GraphStore) -> GraphStore:
    relevance.load(store)
    return store


def test_the_set_has_fifty_labelled_queries_of_each_kind() -> None:
    cases = relevance.cases()
    assert len(cases) == 50
    assert {c.kind for c in cases} == {"name", "misspelling", "transliteration", "prefix", "phrase"}


def test_the_intended_result_is_in_the_top_3_for_45_of_50(loaded: GraphStore) -> None:
    outcomes = relevance.score(loaded)
    misses = [(o.case.query, o.rank, o.top) for o in outcomes if not o.hit]
    assert len(outcomes) - len(misses) >= relevance.TARGET, misses
    ranked = [(o.rank, o.top) for o in outcomes]
    other = _RANKED.setdefault("first store", ranked)
    assert ranked == other  # the same answers, whichever store served them
