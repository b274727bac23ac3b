"""The labelled relevance sets: the original one (`bench/search_relevance.jsonl`, written while
the ranking was tuned) and the held-out one (`bench/search_relevance_heldout.jsonl`, written
before it was first run; docs/search.md). On each store, at least 45 of each set's 50 queries
put the intended result in the top 3, and both stores rank alike."""

from __future__ import annotations

import pytest

from graph.store import GraphStore
from tools import relevance

HELDOUT = relevance.ROOT / "bench" / "search_relevance_heldout.jsonl"
SETS = {"original": relevance.CASES, "heldout": HELDOUT}
KINDS = {
    "original": {"name", "misspelling", "transliteration", "prefix", "phrase"},
    "heldout": {"name", "misspelling", "transliteration", "prefix", "phrase", "claim"},
}

# What the first store ranks, kept to compare the other store's answers with (same session).
_RANKED: dict[str, list[tuple[int | None, list[str]]]] = {}


@pytest.fixture
def loaded(store: GraphStore) -> GraphStore:
    relevance.load(store)
    return store


@pytest.mark.parametrize("name", SETS)
def test_each_set_has_fifty_labelled_queries_of_each_kind(name: str) -> None:
    cases = relevance.cases(SETS[name])
    assert len(cases) == 50
    assert len({c.query for c in cases}) == 50
    assert {c.kind for c in cases} == KINDS[name]


def test_the_held_out_queries_are_new() -> None:
    original = {c.query.casefold() for c in relevance.cases(relevance.CASES)}
    assert not original & {c.query.casefold() for c in relevance.cases(HELDOUT)}


def test_the_intended_result_is_in_the_top_3_for_45_of_50(loaded: GraphStore) -> None:
    for name, path in SETS.items():
        outcomes = relevance.score(loaded, relevance.cases(path))
        misses = [(o.case.query, o.rank, o.top) for o in outcomes if not o.hit]
        assert len(outcomes) - len(misses) >= relevance.TARGET, (name, misses)
        ranked = [(o.rank, o.top) for o in outcomes]
        other = _RANKED.setdefault(name, ranked)
        assert ranked == other, name  # the same answers, whichever store served them
