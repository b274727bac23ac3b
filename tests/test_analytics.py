"""Analytics (`graph.analytics`) on every store kind: the wikitimes facts, paths, timeline
buckets checked by hand, determinism across stores, and the bounds on a generated graph."""

from __future__ import annotations

import dataclasses
import itertools
import json
import random
from collections import Counter
from datetime import date, timedelta
from typing import Any

import pytest

from graph import analytics, keys
from graph.analytics import window as analytics_window
from graph.embedded import EmbeddedStore
from graph.model import EdgeWrite, Label, NodeWrite, PropertyWrite, Rel, Value, WriteBatch
from graph.store import GraphStore
from tests.conftest import DATA, STORE_KINDS, fresh_store, load_file, shared_file

WIKITIMES = DATA / "wikitimes-2015-09.jsonl"


def expected() -> dict[str, Any]:
    raw = shared_file(DATA / "wikitimes-2015-09.expected.json").read_text("utf-8")
    facts: dict[str, Any] = json.loads(raw)["facts_for_analyst_queries"]
    return facts


def entity_id(store: GraphStore, name: str) -> str:
    owners = set(store.lookup_keys(keys.entity_keys("other", [name])).values())
    assert len(owners) == 1, f"{name}: {owners}"
    return owners.pop()


def by_hand(name: str, week_start: date) -> tuple[int, Counter[str], Counter[str]]:
    """From the JSONL file alone: the events naming `name` (as the loader normalises names)
    in the week from `week_start`, per category, and per confidence level as the default policy
    rates them here (no registry: every outlet its own independent source, none trusted, no
    denials: one outlet unverified, two or more likely)."""
    wanted = keys.normalise(name)
    end = week_start + timedelta(days=6)
    categories: Counter[str] = Counter()
    levels: Counter[str] = Counter()
    for line in shared_file(WIKITIMES).read_text("utf-8").splitlines():
        if not line.strip():
            continue
        event = json.loads(line)["event"]
        day = date.fromisoformat(event["occurred_on"][:10])
        names = {keys.normalise(e["name"]) for e in event["entities"]}
        if wanted in names and week_start <= day <= end:
            categories[event["category"]] += 1
            outlets = {keys.normalise(r["outlet"]) for r in event["reports"]}
            levels["likely" if len(outlets) >= 2 else "unverified"] += 1
    return sum(categories.values()), categories, levels


def as_json(value: object) -> str:
    """Answers as canonical JSON (properties in name order, whatever order a store keeps)."""

    def plain(item: object) -> object:
        if dataclasses.is_dataclass(item) and not isinstance(item, type):
            return dataclasses.asdict(item)
        if isinstance(item, date):
            return item.isoformat()
        raise TypeError(f"cannot compare {item!r}")

    return json.dumps(value, default=plain, sort_keys=True)


@dataclasses.dataclass
class Answers:
    """The analytics answers on wikitimes that the facts are checked on and that every store
    kind must give alike."""

    timelines: dict[str, analytics.Timeline]  # monthly, by entity name (the facts' entities)
    co_occurring: dict[str, analytics.CoOccurrence]  # by entity name
    direct: analytics.PathResult  # Saudi Arabia to Yemen, one hop
    longer: analytics.PathResult  # Syria to Yemen, up to three hops
    cograph: analytics.CoGraph
    rankings: list[tuple[list[analytics.Ranked], list[analytics.Bound]]]  # the top 20 of each
    communities: list[list[str]]  # the first 10
    around: analytics.Neighbourhood  # Yemen's, two hops

    def as_json(self) -> str:
        answers: list[object] = []
        for name, timeline in self.timelines.items():
            answers += [timeline, self.co_occurring[name]]
        answers += [self.direct, self.longer, *self.rankings, self.communities, self.around]
        return as_json(answers)


def answers_of(store: GraphStore) -> Answers:
    """The answers on wikitimes, loaded in `store`."""
    names = list(expected()["events_involving"])
    entities = {name: entity_id(store, name) for name in names}
    saudi, yemen = entity_id(store, "Saudi Arabia"), entity_id(store, "Yemen")
    syria = entity_id(store, "Syria")
    cograph = analytics.cooccurrence_graph(store)
    rankings = []
    for metric in ("degree", "pagerank", "betweenness"):
        ranked, bounds = analytics.rank(cograph, metric)
        rankings.append((ranked[:20], bounds))
    return Answers(
        timelines={n: analytics.timeline_buckets(store, e, "month") for n, e in entities.items()},
        co_occurring={n: analytics.co_occurring(store, e) for n, e in entities.items()},
        direct=analytics.paths(store, saudi, yemen, max_hops=1, first=100),
        longer=analytics.paths(store, syria, yemen, max_hops=3, first=10),
        cograph=cograph,
        rankings=rankings,
        communities=analytics.communities(cograph)[:10],
        around=analytics.neighbourhood(store, yemen, hops=2, limit=60),
    )


class WikitimesAnswers:
    """The answers on wikitimes of each store kind (`answers_of`), computed once in this
    module: recorded by a test that loaded wikitimes, or loaded here when none did."""

    def __init__(self, tmp_path_factory: pytest.TempPathFactory) -> None:
        self._tmp_path_factory = tmp_path_factory
        self._answers: dict[str, str] = {}

    def record(self, kind: str, answers: Answers) -> None:
        self._answers[kind] = answers.as_json()

    def of(self, kind: str) -> str:
        if kind not in self._answers:
            store = fresh_store(kind, self._tmp_path_factory.mktemp(f"wikitimes-{kind}"))
            store.setup()
            try:
                load_file(store, WIKITIMES)
                self.record(kind, answers_of(store))
            finally:
                store.close()
        return self._answers[kind]


@pytest.fixture(scope="module")
def wikitimes_answers(tmp_path_factory: pytest.TempPathFactory) -> WikitimesAnswers:
    return WikitimesAnswers(tmp_path_factory)


def test_wikitimes_facts(
    store: GraphStore, request: pytest.FixtureRequest, wikitimes_answers: WikitimesAnswers
) -> None:
    """One load per store kind, every fact of wikitimes-2015-09.expected.json checked."""
    load_file(store, WIKITIMES)
    facts = expected()
    answers = answers_of(store)

    # events per entity: the timeline counts them, co-occurrence scans them
    for name, count in facts["events_involving"].items():
        timeline = answers.timelines[name]
        assert (timeline.total, sum(b.count for b in timeline.buckets)) == (count, count)
        assert timeline.complete
        found = answers.co_occurring[name]
        assert found.events_scanned == count

    # the most shared pairs, from either side, and as the heaviest links of the whole graph
    for first, second, shared in facts["most_shared_events"]:
        one, other = entity_id(store, first), entity_id(store, second)
        for a, b in ((one, other), (other, one)):
            top = analytics.co_occurring(store, a).ranked[0]
            assert (top.entity_id, top.count, len(top.event_ids)) == (b, shared, shared)
    cograph = answers.cograph
    heaviest = sorted(cograph.graph.edges(data="weight"), key=lambda e: (-e[2], e[0], e[1]))
    want = {
        (entity_id(store, a), entity_id(store, b), n) for a, b, n in facts["most_shared_events"]
    }
    assert {(min(a, b), max(a, b), w) for a, b, w in heaviest[:2]} == {
        (min(a, b), max(a, b), n) for a, b, n in want
    }
    assert heaviest[2][2] < heaviest[1][2]

    # a path between two entities through a shared event: Saudi Arabia and Yemen, one hop
    saudi, yemen = entity_id(store, "Saudi Arabia"), entity_id(store, "Yemen")
    direct = answers.direct
    assert direct.complete and len(direct.paths) == 10
    shared_events = set(analytics.co_occurring(store, saudi).ranked[0].event_ids)
    assert {p.event_ids[0] for p in direct.paths} == shared_events
    assert all(p.entity_ids == [saudi, yemen] for p in direct.paths)
    # and a longer one: Syria and Yemen share no event; every path found is a real chain
    syria = entity_id(store, "Syria")
    longer = answers.longer
    hops = [p.hops for p in longer.paths]
    assert longer.complete and hops[0] == 2 and hops == sorted(hops)  # shortest first
    two = analytics.paths(store, syria, yemen, max_hops=2, first=100)
    assert {p.hops for p in two.paths} == {2}
    assert [p for p in longer.paths if p.hops == 2] == two.paths  # every shortest one
    for path in longer.paths:
        involved = store.edges(path.event_ids, Rel.INVOLVES, "out")
        for i, event in enumerate(path.event_ids):
            ends = {e.dst for e in involved[event]}
            assert {path.entity_ids[i], path.entity_ids[i + 1]} <= ends

    # a timeline bucket checked by hand against the file
    week = date(2015, 9, 14)
    count, categories, levels = by_hand("Yemen", week)
    bucket = next(b for b in analytics.timeline_buckets(store, yemen).buckets if b.start == week)
    assert count > 0
    assert (bucket.count, bucket.by_category, bucket.by_confidence) == (
        count,
        dict(categories),
        dict(levels),
    )
    assert bucket.end == date(2015, 9, 20)

    # the answers (rankings, communities and a neighbourhood too), for the comparison
    # across stores
    wikitimes_answers.record(request.node.callspec.params["store"], answers)


def test_every_store_gives_the_same_answers(wikitimes_answers: WikitimesAnswers) -> None:
    """The answers on wikitimes of each store kind, compared (ties are broken by id and
    projections built in id order, so they are identical, floats included)."""
    first, *others = [wikitimes_answers.of(kind) for kind in STORE_KINDS]
    assert all(o == first for o in others)


def test_filters_and_bounds_on_wikitimes(store: GraphStore) -> None:
    load_file(store, WIKITIMES)
    yemen = entity_id(store, "Yemen")
    # a date window narrows everything; empty buckets inside it are listed
    window = analytics_window(date_from="2015-09-14", date_to="2015-09-20")
    timeline = analytics.timeline_buckets(store, yemen, "day", window)
    assert [b.start for b in timeline.buckets][0] == date(2015, 9, 14)
    assert len(timeline.buckets) == 7 and timeline.total == by_hand("Yemen", date(2015, 9, 14))[0]
    # bounds are reported when hit
    few = analytics.co_occurring(store, yemen, max_events=3)
    assert (few.events_scanned, few.complete, few.bounds[0].name) == (3, False, "events")
    assert analytics.timeline_buckets(store, yemen, "day", max_buckets=5).bounds[0].name == (
        "buckets"
    )
    small = analytics.neighbourhood(store, yemen, hops=2, limit=5)
    assert len(small.nodes) == 5 and not small.complete
    assert small.nodes[0].id == yemen and {small.hops[n.id] for n in small.nodes[1:]} == {1}
    window_graph = analytics.cooccurrence_graph(store, max_events=50)
    assert window_graph.events_scanned == 50 and window_graph.bounds[0].name == "events"
    with pytest.raises(analytics.AnalyticsError, match="between 1 and 6"):
        analytics.paths(store, yemen, entity_id(store, "Syria"), max_hops=7)
    ticks = itertools.count()  # a clock one second on at each reading
    timed = analytics.paths(
        store, yemen, entity_id(store, "Syria"), seconds=0.0, clock=lambda: float(next(ticks))
    )
    assert timed.bounds[0].name == "seconds"


# -- bounds on a generated graph ---------------------------------------------------------------

# The generated graph: every event involves one of two hubs (alternately) and one of
# ENTITIES ordinary entities, so the hubs are in half of all events each. The embedded store
# gets the 100k events (about 8 s to write through the port here), each hub in 50k,
# past the path search's default node bound (20k). The neo4j store writes over Bolt, far
# slower, so it gets 2k events and a bound scaled with them: the search must stop on the hub
# either way.
EVENTS = {"embedded": 100_000, "neo4j": 2_000}
ENTITIES = 2_000
HUBS = ("en_hub_a", "en_hub_b")


def generate(store: GraphStore, events: int, batch: int = 5_000, seed: int = 5) -> None:
    """Write the generated graph through the store port, `batch` events per write."""
    chance = random.Random(seed)
    names = [f"en_{i:05d}" for i in range(ENTITIES)] + list(HUBS)
    store.write(
        WriteBatch(
            nodes=[
                NodeWrite(n, Label.ENTITY, PropertyWrite(create={"name": n, "type": "other"}))
                for n in names
            ]
        )
    )
    for start in range(0, events, batch):
        writes = WriteBatch()
        for i in range(start, min(events, start + batch)):
            event = f"ev_{i:07d}"
            props: dict[str, Value] = {
                "occurred_on": f"2025-{1 + i % 12:02d}-{1 + i % 28:02d}",
                "category": "military",
                "summary": event,
                "confidence": "unverified",
                "confidence_rank": 1,
            }
            writes.nodes.append(NodeWrite(event, Label.EVENT, PropertyWrite(create=props)))
            for entity in (HUBS[i % 2], names[chance.randrange(ENTITIES)]):
                merge = PropertyWrite(union={"roles": ["mentioned"]})
                writes.edges.append(EdgeWrite(event, Rel.INVOLVES, entity, "", merge))
        store.write(writes)


def test_path_between_two_hubs_stops_at_its_bound(store: GraphStore) -> None:
    events = EVENTS["embedded" if isinstance(store, EmbeddedStore) else "neo4j"]
    generate(store, events)
    max_nodes = min(analytics.PATH_MAX_NODES, events // 4)
    # a clock that stands still: the search must stop on its node bound, not on time
    found = analytics.paths(
        store, *HUBS, max_hops=3, max_nodes=max_nodes, seconds=10.0, clock=lambda: 0.0
    )
    assert not found.complete
    assert [b.name for b in found.bounds] == ["nodes"]
    assert "stopped at" in found.bounds[0].message
    assert found.nodes_visited == max_nodes  # the node bound is exact
    assert found.edges_read <= events // 2  # one hub's relationships, read once
    # an ordinary entity's neighbourhood stays within its caps too
    around = analytics.neighbourhood(store, HUBS[0], hops=2, limit=100)
    assert len(around.nodes) == 100 and len(around.edges) <= analytics.MAX_ITEMS
    assert {b.name for b in around.bounds} >= {"nodes"}
