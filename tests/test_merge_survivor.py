"""Which node survives when a record shows two stored entities to be one: the one involved in
more events, so that a merge moves the lighter side's relationships (docs/identity.md)."""

from __future__ import annotations

from typing import Any

from graph import keys
from graph.model import Label, Rel
from graph.store import EventFilter, GraphStore
from loaders.records import Record, validate
from services.ingest import Ingestor
from services.resolve import Resolver


def record(tag: str, name: str, aliases: list[str]) -> dict[str, Any]:
    entity: dict[str, Any] = {"name": name, "type": "person", "role": "participant"}
    if aliases:
        entity["aliases"] = aliases
    return {
        "schema_version": 1,
        "extracted_at": "2026-11-25T12:00:00.000Z",
        "source_story": {"slug": f"survivor-{tag}", "outlet": "Reuters"},
        "event": {
            "id": f"survivor-{tag}",
            "category": "political",
            "summary": f"Survivor test {tag}.",
            "occurred_on": "2026-11-24",
            "entities": [entity],
            "reports": [{"outlet": "Reuters", "claims": []}],
        },
    }


def load(store: GraphStore, *raws: dict[str, Any]) -> Ingestor:
    ingestor = Ingestor(store)
    for line, raw in enumerate(raws, 1):
        parsed = validate(raw, line)
        assert isinstance(parsed, Record)
        ingestor.ingest([(line, parsed)])
    return ingestor


def entity_of(store: GraphStore, name: str) -> str:
    key = keys.entity_keys("person", [name])[0]
    return store.lookup_keys([key])[key]


def involved(store: GraphStore, entity: str) -> int:
    return store.count_events(EventFilter(entity=entity), 1000)


def test_the_entity_in_more_events_survives_a_merge(store: GraphStore) -> None:
    """'Smith' is John Smith's alias in three events; Mary Smith, in one event, is then said
    to be 'Smith' too: the two are one, and John Smith's node keeps its id and its events while
    Mary Smith's one involvement moves to it (the first owned key, Mary Smith's, would have
    moved John's three)."""
    load(store, *(record(f"john-{i}", "John Smith", ["Smith"]) for i in range(3)))
    load(store, record("mary-0", "Mary Smith", []))
    john, mary = entity_of(store, "John Smith"), entity_of(store, "Mary Smith")
    assert john != mary and (involved(store, john), involved(store, mary)) == (3, 1)

    ingestor = load(store, record("mary-1", "Mary Smith", ["Smith"]))

    assert ingestor.merges == [(mary, john)]
    assert store.get_nodes([mary]) == {}
    assert entity_of(store, "Mary Smith") == john
    assert involved(store, john) == 5
    survivor = store.get_nodes([john])[john]
    assert {"Mary Smith", "Smith"} <= set(survivor.texts("aliases")) | {survivor.text("name")}
    (entry,) = store.find_nodes(Label.EDIT, {"action": "merge", "label": "Entity"}, "at", 10)
    assert (entry.text("subject"), entry.text("merged")) == (john, mary)
    # links to the merged-away id still lead to the survivor
    assert store.lookup_keys([keys.merged_key(mary)]) == {keys.merged_key(mary): john}
    events = {e.src for e in store.edges([john], Rel.INVOLVES, "in")[john]}
    assert len(events) == 5


def test_among_equals_the_owner_of_the_first_key_survives(store: GraphStore) -> None:
    """One event each: the record's own name decides, as before (the samples' reverse order
    relies on it: docs/identity.md)."""
    load(store, record("john-0", "John Smith", ["Smith"]), record("mary-0", "Mary Smith", []))
    john, mary = entity_of(store, "John Smith"), entity_of(store, "Mary Smith")

    ingestor = load(store, record("mary-1", "Mary Smith", ["Smith"]))

    assert ingestor.merges == [(john, mary)]
    assert entity_of(store, "John Smith") == mary


def test_a_resolver_weighs_what_merged_into_a_node() -> None:
    owners = {"a": "light", "b": "heavy", "c": "other"}
    weights = {"light": 1, "heavy": 7, "other": 7}
    assert Resolver(dict(owners)).resolve(["a", "b"], "en") == "light"  # no weights: first
    weighed = Resolver(dict(owners), lambda ids: {i: weights[i] for i in ids})
    assert weighed.resolve(["a", "b"], "en") == "heavy"
    assert weighed.merged == {"light": "heavy"}
    # later in the batch "heavy" weighs 8 with what merged into it, "other" 7
    assert weighed.resolve(["c", "a"], "en") == "heavy"
    assert weighed.merged == {"light": "heavy", "other": "heavy"}
