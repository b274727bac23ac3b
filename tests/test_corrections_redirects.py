"""Links that survive merges, on both stores: an id merged away (by the loader or an editor)
still answers, with the node it merged into, and says it was redirected; a split or an undo
gives the id back; exports and copies keep the mapping."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

from api.app import create_app
from api.tokens import Tokens
from graph import keys
from graph.model import Label, Rel
from graph.store import GraphStore
from services.editorial import Editorial
from services.event_editing import EventEditing
from services.export import export
from tests.conftest import EXTRACTOR, load_file, load_outlets, shared_file
from tests.support.graphql import GraphQLClient
from tests.test_event_editing import by_stories
from tests.test_event_matching import ELSEWHERE, FIRST, SAME, load, record

PALMYRA = record(
    "Outlet P",
    "p-1",
    "2017-03-01",
    "Army and IS fight in Palmyra",
    {"place": "Palmyra", "country": "Syria", "lat": 34.55, "lon": 38.27},
)

EDITOR = "editor-token-0123456789abcdefghijklmnop"
EVENT = "query($id: ID!) { event(id: $id) { id redirectedFrom summary } }"
ENTITY = "query($id: ID!) { entity(id: $id) { id redirectedFrom name } }"
NODE = "query($id: ID!) { node(id: $id) { __typename id redirectedFrom } }"


def client_of(store: GraphStore) -> GraphQLClient:
    return GraphQLClient(create_app(store, Tokens.configured(f"editor:alice:{EDITOR}")))


def ask(client: GraphQLClient, query: str, **variables: Any) -> Any:
    answer = client.query(query, variables).json()
    assert "errors" not in answer, answer
    return next(iter(answer["data"].values()))


def error_of(client: GraphQLClient, query: str, **variables: Any) -> str:
    answer = client.query(query, variables).json()
    return str(answer["errors"][0]["message"])


def test_an_event_merged_by_an_editor_answers_by_its_old_id(
    store: GraphStore, tmp_path: Path
) -> None:
    load(store, tmp_path, [FIRST, SAME, ELSEWHERE])
    raqqa, homs = by_stories(store, ["a-1", "b-1"]), by_stories(store, ["c-1"])
    editing = EventEditing(store)
    entry = editing.merge_events(homs.id, raqqa.id, "alice")
    client = client_of(store)
    try:
        found = ask(client, EVENT, id=homs.id)
        assert (found["id"], found["redirectedFrom"]) == (raqqa.id, homs.id)
        assert ask(client, NODE, id=homs.id) == {
            "__typename": "Event",
            "id": raqqa.id,
            "redirectedFrom": homs.id,
        }
        # the graph view and path search take old ids too
        around = "query($id: ID!) { neighbourhood(id: $id) { center } }"
        assert ask(client, around, id=homs.id) == {"center": raqqa.id}
        # asked by its own id, nothing is redirected
        assert ask(client, EVENT, id=raqqa.id)["redirectedFrom"] is None
        # a redirect keeps its kind: the old event id is no entity
        assert error_of(client, ENTITY, id=homs.id) == f"no entity with id '{homs.id}'"
        assert error_of(client, EVENT, id="ev_nope") == "no event with id 'ev_nope'"

        # undone, the old id is its own again
        editing.undo(entry.id, "bob")
        found = ask(client, EVENT, id=homs.id)
        assert (found["id"], found["redirectedFrom"]) == (homs.id, None)
        assert store.lookup_keys([keys.merged_key(homs.id)]) == {}
    finally:
        client.close()


def test_a_chain_of_merges_ends_at_the_last_survivor(store: GraphStore, tmp_path: Path) -> None:
    load(store, tmp_path, [FIRST, ELSEWHERE, PALMYRA])
    raqqa, homs = by_stories(store, ["a-1"]), by_stories(store, ["c-1"])
    palmyra = by_stories(store, ["p-1"])
    editing = EventEditing(store)
    editing.merge_events(homs.id, raqqa.id, "alice")
    editing.merge_events(raqqa.id, palmyra.id, "alice")
    client = client_of(store)
    try:
        for old in (homs.id, raqqa.id):
            found = ask(client, EVENT, id=old)
            assert (found["id"], found["redirectedFrom"]) == (palmyra.id, old)
    finally:
        client.close()


def test_an_entity_merged_by_the_loader_answers_by_its_old_id_until_split(
    store: GraphStore, tmp_path: Path
) -> None:
    """Reversed, one record a batch, the samples make 'Aleksandr Lukashenko' an entity of its
    own until the seed record names both spellings: the loader merges them."""
    load_outlets(store)
    lines = shared_file(EXTRACTOR / "samples.jsonl").read_text("utf-8").splitlines()
    reversed_file = tmp_path / "reversed.jsonl"
    reversed_file.write_text("\n".join(lines[::-1]) + "\n", "utf-8")
    load_file(store, reversed_file, batch_size=1)
    (entry,) = store.find_nodes(Label.EDIT, {"action": "merge", "label": "Entity"}, "at", 10)
    old, survivor = entry.text("merged"), entry.text("subject")
    client = client_of(store)
    try:
        found = ask(client, ENTITY, id=old)
        assert (found["id"], found["redirectedFrom"]) == (survivor, old)
        assert ask(client, NODE, id=old)["id"] == survivor

        # exports keep the mapping
        out = io.BytesIO()
        export(store, "cytoscape-json", out)
        assert json.loads(out.getvalue())["redirects"][old] == survivor

        Editorial(store).split(entry.id, "alice")
        found = ask(client, ENTITY, id=old)
        assert (found["id"], found["redirectedFrom"]) == (old, None)
    finally:
        client.close()


def test_a_split_undone_leaves_the_new_id_naming_the_event(
    store: GraphStore, tmp_path: Path
) -> None:
    load(store, tmp_path, [FIRST, SAME])
    raqqa = by_stories(store, ["a-1", "b-1"])
    editing = EventEditing(store)
    story = next(
        e.src
        for e in store.edges([raqqa.id], Rel.DESCRIBES, "in")[raqqa.id]
        if store.get_nodes([e.src])[e.src].text("slug") == "b-1"
    )
    _, split, entry = editing.split_event(raqqa.id, [story], "alice")
    client = client_of(store)
    try:
        assert ask(client, EVENT, id=split.id)["redirectedFrom"] is None
        # a link shared while the split stood still answers once it is undone
        editing.undo(entry.id, "bob")
        found = ask(client, EVENT, id=split.id)
        assert (found["id"], found["redirectedFrom"]) == (raqqa.id, split.id)
        # split again, the id is its own again
        _, again, _ = editing.split_event(raqqa.id, [story], "alice")
        assert again.id == split.id
        found = ask(client, EVENT, id=split.id)
        assert (found["id"], found["redirectedFrom"]) == (split.id, None)
        assert store.lookup_keys([keys.merged_key(split.id)]) == {}
    finally:
        client.close()
