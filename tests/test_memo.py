"""Kept fragments (api.memo): a page made again answers its reports and stories from what it
made before while nothing they read changed, and answers exactly what a page made afresh does
after each kind of write to what they read; editors never get them; a page the response cache
keeps is still dropped by a change to a fragment it reused. The embedded store only: on Neo4j
no fragment is kept (its loaders wait)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from api.app import create_app
from api.compiled import KEEP_FROM
from api.config import AppConfig
from api.memo import Fragment, Fragments
from api.response_cache import CACHE_HEADER
from api.tokens import Tokens
from graph.embedded import EmbeddedStore
from graph.model import (
    EdgeWrite,
    Label,
    Node,
    NodeWrite,
    PropertyWrite,
    Rel,
    Value,
    WriteBatch,
)
from tests.conftest import EXTRACTOR, load_file, load_outlets, shared_file
from tests.support.graphql import PAGE_QUERY, GraphQLClient

EDITOR = "editor-token-0123456789abcdefghijklmnop"
TOKENS = f"editor:alice:{EDITOR}"
REPORTS_ONLY = "query($id: ID!) { event(id: $id) { reports { outlet { name } claims { text } } } }"
RETRACTIONS = """query($id: ID!) { event(id: $id) {
  reports { id outlet { name } retraction { reasons by } } } }"""


class Site:
    """Two apps on one store: `kept` keeps fragments, `fresh` keeps none; neither keeps whole
    answers unless asked, so every page is made."""

    def __init__(self, store: EmbeddedStore, response_cache: bool = False) -> None:
        tokens = Tokens.configured(TOKENS)
        size = AppConfig().response_cache_bytes if response_cache else 0
        kept = create_app(store, tokens, AppConfig(response_cache_bytes=size))
        self.fragments: Fragments = kept.state.fragments
        self.kept = GraphQLClient(kept)
        fresh = AppConfig(response_cache_bytes=0, kept_fragments=0)
        self.fresh = GraphQLClient(create_app(store, tokens, fresh))

    def close(self) -> None:
        self.kept.close()
        self.fresh.close()

    def page(self, event_id: str, query: str = PAGE_QUERY, token: str | None = None) -> Any:
        """The answer with kept fragments, after checking it is the answer made afresh."""
        kept = self.kept.query(query, {"id": event_id}, token=token).json()
        assert "errors" not in kept, kept
        fresh = self.fresh.query(query, {"id": event_id}, token=token).json()
        assert kept == fresh
        return kept["data"]["event"]


def _add_report(store: EmbeddedStore, event: str, outlet: str, story: str) -> None:
    claims: dict[str, Value] = {"claim_texts": [f"Said in {story}"], "claim_tones": ["claimed"]}
    _write(
        store,
        NodeWrite(story, Label.STORY, PropertyWrite(set={"slug": story})),
        EdgeWrite(outlet, Rel.PUBLISHED, story, "", PropertyWrite()),
        EdgeWrite(outlet, Rel.REPORTS, event, story, PropertyWrite(set=claims)),
    )


@pytest.fixture
def store(tmp_path: Path) -> Iterator[EmbeddedStore]:
    opened = EmbeddedStore(tmp_path / "store")
    opened.setup()
    load_outlets(opened)
    load_file(opened, shared_file(EXTRACTOR / "samples.jsonl"))
    # the busiest sample event made as big as the pages fragments are kept for
    event = _busiest(opened)
    outlets = sorted(n.id for n in opened.dump() if isinstance(n, Node) and n.label is Label.OUTLET)
    for n in range(KEEP_FROM):
        _add_report(opened, event, outlets[n % len(outlets)], f"st-big-{n}")
    try:
        yield opened
    finally:
        opened.close()


@pytest.fixture
def site(store: EmbeddedStore) -> Iterator[Site]:
    made = Site(store)
    try:
        yield made
    finally:
        made.close()


def _by_reports(store: EmbeddedStore) -> list[str]:
    """The events, the most reported first."""
    events = [n.id for n in store.dump() if isinstance(n, Node) and n.label is Label.EVENT]
    reports = store.edges(events, Rel.REPORTS, "in")
    return sorted(events, key=lambda e: (len(reports[e]), e), reverse=True)


def _busiest(store: EmbeddedStore) -> str:
    return _by_reports(store)[0]


def _write(store: EmbeddedStore, *writes: NodeWrite | EdgeWrite) -> None:
    store.write(
        WriteBatch(
            nodes=[w for w in writes if isinstance(w, NodeWrite)],
            edges=[w for w in writes if isinstance(w, EdgeWrite)],
        )
    )


def test_a_page_made_again_answers_its_reports_from_what_it_kept(
    site: Site, store: EmbeddedStore
) -> None:
    event = _busiest(store)
    first = site.page(event)
    assert len(first["reports"]) >= 2
    # made once, its reports are not kept (a page asked once: the tail); a story two of its
    # reports name is, seen twice
    assert site.fragments.made < len(first["reports"])
    assert site.page(event) == first
    made, reused = site.fragments.made, site.fragments.reused
    assert made >= len(first["reports"])  # made a second time: kept
    again = site.page(event)
    assert again == first
    assert site.fragments.made == made  # nothing made again
    assert site.fragments.reused - reused >= len(first["reports"])


def test_a_page_of_few_reports_keeps_none(site: Site, store: EmbeddedStore) -> None:
    """Made whole in well under a millisecond: keeping its fragments would cost more."""
    smallest = _by_reports(store)[-1]
    assert len(site.page(smallest)["reports"]) < KEEP_FROM
    assert site.page(smallest) == site.page(smallest)
    assert (site.fragments.made, site.fragments.reused) == (0, 0)


def test_each_write_to_what_a_fragment_read_makes_it_again(
    site: Site, store: EmbeddedStore
) -> None:
    event = _busiest(store)
    page = site.page(event)
    reports = store.edges([event], Rel.REPORTS, "in")[event]
    report = reports[0]

    # the outlet's name (read through `Report.outlet`)
    _write(store, NodeWrite(report.src, Label.OUTLET, PropertyWrite(set={"name": "Renamed"})))
    names = [r["outlet"]["name"] for r in site.page(event)["reports"]]
    assert "Renamed" in names

    # the report's own claims (its properties: the fragment's version)
    claims = {"claim_texts": ["A new claim"], "claim_tones": ["claimed"]}
    _write(
        store,
        EdgeWrite(report.src, Rel.REPORTS, event, report.discriminator, PropertyWrite(set=claims)),
    )
    texts = [c["text"] for r in site.page(event)["reports"] for c in r["claims"]]
    assert "A new claim" in texts

    # the story's slug (a story node read by `Report.story` and `extraction.stories`)
    story = report.discriminator
    _write(store, NodeWrite(story, Label.STORY, PropertyWrite(set={"slug": "renamed-story"})))
    slugs = [r["story"]["slug"] for r in site.page(event)["reports"]]
    assert "renamed-story" in slugs

    # who published the story (the relationship `Story.outlet` reads)
    other = next(e.src for e in reports if e.src != report.src)
    _write(store, EdgeWrite(other, Rel.PUBLISHED, story, "", PropertyWrite()))
    site.page(event)

    # a report added: the page has it, and the others come from what was kept
    added_story = "st_memo_added"
    _write(
        store,
        NodeWrite(added_story, Label.STORY, PropertyWrite(set={"slug": "memo-added"})),
        EdgeWrite(other, Rel.PUBLISHED, added_story, "", PropertyWrite()),
        EdgeWrite(other, Rel.REPORTS, event, added_story, PropertyWrite(set=claims)),
    )
    reused = site.fragments.reused
    after = site.page(event)
    assert len(after["reports"]) == len(page["reports"]) + 1
    assert site.fragments.reused - reused >= len(page["reports"]) - 1


def test_an_editor_never_gets_a_kept_fragment(site: Site, store: EmbeddedStore) -> None:
    event = _busiest(store)
    report = store.edges([event], Rel.REPORTS, "in")[event][0]
    retracted: dict[str, Value] = {
        "retracted_on": "2017-03-03",
        "retracted_by": ["alice"],
        "retraction_reasons": ["withdrawn"],
    }
    _write(
        store,
        EdgeWrite(
            report.src, Rel.REPORTS, event, report.discriminator, PropertyWrite(set=retracted)
        ),
    )
    public = site.page(event, RETRACTIONS)
    assert site.page(event, RETRACTIONS) == public  # kept for the public
    shown = [r["retraction"]["by"] for r in public["reports"] if r["retraction"]]
    assert shown == [["editor"]]
    reused, made = site.fragments.reused, site.fragments.made
    edited = site.page(event, RETRACTIONS, token=EDITOR)
    assert [r["retraction"]["by"] for r in edited["reports"] if r["retraction"]] == [["alice"]]
    assert (site.fragments.reused, site.fragments.made) == (reused, made)
    assert site.page(event, RETRACTIONS) == public


def test_a_kept_page_is_dropped_by_a_change_to_a_fragment_it_reused(store: EmbeddedStore) -> None:
    """The page's reads include what its reused fragments read: made again after a write to
    its event, with kept reports, it is still dropped when one of their outlets is renamed."""
    site = Site(store, response_cache=True)
    try:
        event = _busiest(store)
        reports = store.edges([event], Rel.REPORTS, "in")[event]
        site.page(event, REPORTS_ONLY)
        answer = site.kept.query(REPORTS_ONLY, {"id": event})
        assert answer.headers[CACHE_HEADER] == "hit"
        # reports added: the page is made again, then again from kept fragments
        _add_report(store, event, reports[0].src, "st-memo-kept-1")
        assert site.kept.query(REPORTS_ONLY, {"id": event}).headers[CACHE_HEADER] == "miss"
        _add_report(store, event, reports[0].src, "st-memo-kept-2")
        reused = site.fragments.reused
        assert site.kept.query(REPORTS_ONLY, {"id": event}).headers[CACHE_HEADER] == "miss"
        assert site.fragments.reused > reused
        assert site.kept.query(REPORTS_ONLY, {"id": event}).headers[CACHE_HEADER] == "hit"
        # an outlet of a reused report renamed: the kept page goes
        last = reports[-1].src
        _write(store, NodeWrite(last, Label.OUTLET, PropertyWrite(set={"name": "Renamed"})))
        again = site.kept.query(REPORTS_ONLY, {"id": event})
        assert again.headers[CACHE_HEADER] == "miss"
        names = [r["outlet"]["name"] for r in again.json()["data"]["event"]["reports"]]
        assert "Renamed" in names
        assert site.page(event, REPORTS_ONLY) == again.json()["data"]["event"]
    finally:
        site.close()


def test_fragments_are_bounded() -> None:
    fragments = Fragments(size=2)
    for n in range(3):
        fragments.keep(("selection", n), Fragment(version=n, answer={"n": n}, reads=()))
    assert len(fragments) == 2
    assert fragments.get(("selection", 0)) is None  # the least recently used went
    assert fragments.get(("selection", 2)) is not None
