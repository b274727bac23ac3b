"""The embedded store's listings kept near a node (`graph.embedded.near`): the events of an
entity, place or outlet in order, a country's places, an outlet's stories. A change forgets only
the listings it may make wrong; these tests make every kind of change, with every listing built
before it, and compare each answer with a store opened afresh, in the writing process and in a
process following its change log."""

from __future__ import annotations

import random
from pathlib import Path

from graph.embedded import EmbeddedStore
from graph.model import Edge, EdgeWrite, Label, NodeWrite, PropertyWrite, Rel, WriteBatch
from graph.store import EventFilter, EventQuery, NodeQuery

EVENTS = [f"ev_{i}" for i in range(14)]
ENTITIES = [f"en_{i}" for i in range(4)]
COUNTRIES = ["pl_c0", "pl_c1"]
PLACES = [f"pl_{i}" for i in range(4)]
OUTLETS = [f"ou_{i}" for i in range(3)]
STORIES = [f"st_{i}" for i in range(5)]


def _open(directory: Path, read_only: bool = False) -> EmbeddedStore:
    store = EmbeddedStore(directory, read_only=read_only)
    store.setup()
    return store


def _node(node_id: str, label: Label, **props: object) -> NodeWrite:
    return NodeWrite(node_id, label, PropertyWrite(set=props))  # type: ignore[arg-type]


def _day(rng: random.Random) -> str:
    return f"2025-0{rng.randint(1, 3)}-{rng.randint(1, 28):02d}"


def _start() -> WriteBatch:
    rng = random.Random(0)
    return WriteBatch(
        nodes=[
            *(_node(e, Label.EVENT, occurred_on=_day(rng), summary=e) for e in EVENTS),
            *(_node(e, Label.ENTITY, name=e, type="person") for e in ENTITIES),
            *(_node(c, Label.PLACE, name=c, kind="country") for c in COUNTRIES),
            *(_node(p, Label.PLACE, name=p, kind="place") for p in PLACES),
            *(_node(o, Label.OUTLET, name=o) for o in OUTLETS),
            *(_node(s, Label.STORY, slug=s, published_on="2025-01-01") for s in STORIES),
        ]
    )


def _edge(rng: random.Random) -> EdgeWrite:
    event = rng.choice(EVENTS)
    kind = rng.randrange(5)
    if kind == 0:
        return EdgeWrite(event, Rel.INVOLVES, rng.choice(ENTITIES), "", PropertyWrite())
    if kind == 1:
        return EdgeWrite(event, Rel.OCCURRED_IN, rng.choice(PLACES), "", PropertyWrite())
    if kind == 2:  # parallel reports by one outlet, told apart by their story
        url = PropertyWrite(set={"url": f"u{rng.random()}"})
        return EdgeWrite(rng.choice(OUTLETS), Rel.REPORTS, event, rng.choice(STORIES), url)
    if kind == 3:
        country = rng.choice(COUNTRIES)
        return EdgeWrite(rng.choice(PLACES), Rel.IN_COUNTRY, country, "", PropertyWrite())
    return EdgeWrite(rng.choice(OUTLETS), Rel.PUBLISHED, rng.choice(STORIES), "", PropertyWrite())


def _change(rng: random.Random, step: int, store: EmbeddedStore) -> WriteBatch:
    """One change of a random kind: new relationships, one written again (its properties only),
    one unlinked, an event's day moved, another property of an event, a listed node's order
    value, a node deleted, or every node written back (the deleted ones anew)."""
    kind = step % 8
    edges = [e for e in store.dump() if isinstance(e, Edge)]
    if kind == 1 and edges:  # its properties change, not who is near whom
        e = rng.choice(edges)
        flag = PropertyWrite(set={"seen": step})
        return WriteBatch(edges=[EdgeWrite(e.src, e.type, e.dst, e.discriminator, flag)])
    if kind == 2 and edges:
        e = rng.choice(edges)
        return WriteBatch(unlinks=[(e.src, e.type, e.dst, e.discriminator)])
    if kind == 3:  # another day: its place in every listing of events near it moves
        event = rng.choice(EVENTS)
        return WriteBatch(nodes=[_node(event, Label.EVENT, occurred_on=_day(rng))])
    if kind == 4:  # the same day, another summary: the listings stay as they are
        event = rng.choice(EVENTS)
        return WriteBatch(nodes=[_node(event, Label.EVENT, summary=f"s{step}")])
    if kind == 5:  # a listed node's order value
        if rng.random() < 0.5:
            place = rng.choice(PLACES)
            return WriteBatch(nodes=[_node(place, Label.PLACE, name=f"{rng.random()}")])
        story = rng.choice(STORIES)
        return WriteBatch(nodes=[_node(story, Label.STORY, published_on=_day(rng))])
    if kind == 6:
        gone = rng.choice([*EVENTS, *ENTITIES, *PLACES, *STORIES, *OUTLETS])
        return WriteBatch(deletes=[gone])
    if kind == 7:
        return _start()
    return WriteBatch(edges=[_edge(rng) for _ in range(rng.randint(1, 3))])


def _answers(store: EmbeddedStore) -> dict[str, object]:
    """Every listing near a node, whole and as a first page, both ways."""
    found: dict[str, object] = {}
    for node in [*ENTITIES, *PLACES, *COUNTRIES, *EVENTS]:
        for newest in (False, True):
            for first in (2, 50):
                query = EventQuery(EventFilter(entity=node), first, newest_first=newest)
                page = store.query_events(query)
                found[f"events {node} {newest} {first}"] = [(n.id, n.props) for n in page.events]
    for outlet in OUTLETS:
        page = store.query_events(EventQuery(EventFilter(outlet=outlet), 50))
        found[f"reported by {outlet}"] = [n.id for n in page.events]
        for order in ("slug", "published_on"):
            stories = NodeQuery(Label.STORY, order, 50, near=outlet)
            found[f"stories {outlet} {order}"] = [n.id for n in store.list_nodes(stories)]
            found[f"count {outlet} {order}"] = store.count_nodes(stories)
    for country in COUNTRIES:
        places = NodeQuery(Label.PLACE, "name", 50, near=country)
        found[f"places {country}"] = [n.id for n in store.list_nodes(places)]
        found[f"count {country}"] = store.count_nodes(places)
    return found


def _afresh(directory: Path) -> dict[str, object]:
    store = _open(directory, read_only=True)
    try:
        return _answers(store)
    finally:
        store.close()


def test_listings_near_a_node_follow_every_kind_of_change(tmp_path: Path) -> None:
    rng = random.Random(7)
    writer = _open(tmp_path)
    follower = _open(tmp_path, read_only=True)
    try:
        writer.write(_start())
        writer.write(WriteBatch(edges=[_edge(rng) for _ in range(40)]))
        follower.catch_up()
        for step in range(64):
            _answers(writer)  # every listing built before the change
            _answers(follower)
            writer.write(_change(rng, step, writer))
            follower.catch_up()
            expected = _afresh(tmp_path)
            assert _answers(writer) == expected, f"the writer, after change {step}"
            assert _answers(follower) == expected, f"the follower, after change {step}"
            for store in (writer, follower):  # the keys the listings are built from: no other
                assert store._event_keys == {key[1]: key for key in store._events.irange()}
    finally:
        follower.close()
        writer.close()


def test_a_write_keeps_the_listings_it_cannot_change(tmp_path: Path) -> None:
    """A listing the write leaves as it was is not built again (the point of forgetting
    precisely): an event's other property, a relationship elsewhere."""
    store = _open(tmp_path)
    try:
        store.write(_start())
        involve = [
            EdgeWrite("ev_1", Rel.INVOLVES, "en_0", "", PropertyWrite()),
            EdgeWrite("ev_2", Rel.INVOLVES, "en_1", "", PropertyWrite()),
        ]
        store.write(WriteBatch(edges=involve))
        for entity in ("en_0", "en_1"):
            store.query_events(EventQuery(EventFilter(entity=entity), 10))
        kept = store._near.events("en_0", "in")
        assert kept is not None and store._near.events("en_1", "in") is not None
        store.write(WriteBatch(nodes=[_node("ev_1", Label.EVENT, summary="another summary")]))
        store.write(
            WriteBatch(edges=[EdgeWrite("ev_9", Rel.INVOLVES, "en_1", "", PropertyWrite())])
        )
        assert store._near.events("en_0", "in") is kept  # neither write could change it
        assert store._near.events("en_1", "in") is None  # a new event near it
        store.write(WriteBatch(nodes=[_node("ev_1", Label.EVENT, occurred_on="2020-01-01")]))
        assert store._near.events("en_0", "in") is None  # its event moved
    finally:
        store.close()
