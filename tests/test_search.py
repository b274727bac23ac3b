"""Search (`graph.search` over each store's index): one contract suite on both stores, so a
search answers the same whichever store serves it."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import neo4j
import pytest

from graph.embedded import EmbeddedStore, fileformat
from graph.model import (
    EdgeWrite,
    Label,
    NodeWrite,
    PropertyWrite,
    Rel,
    WriteBatch,
)
from graph.neo4j import Neo4jStore
from graph.neo4j import queries as q
from graph.search import SearchError, SearchQuery, find, search
from graph.store import GraphStore, StoreError
from tests.conftest import BOLT, ROOT, load_file, load_outlets

SAMPLES = ROOT / "loaders" / "sample_data"


def _entity(node_id: str, name: str, aliases: list[str] | None = None) -> NodeWrite:
    change = PropertyWrite(first={"name": name}, create={"type": "person"}, rank="1")
    if aliases:
        change.union = {"aliases": aliases}
    return NodeWrite(node_id, Label.ENTITY, change)


def _event(node_id: str, summary: str, day: str) -> NodeWrite:
    return NodeWrite(
        node_id,
        Label.EVENT,
        PropertyWrite(first={"summary": summary, "occurred_on": day}, rank="1"),
    )


def _involves(event: str, entity: str) -> EdgeWrite:
    return EdgeWrite(event, Rel.INVOLVES, entity, "", PropertyWrite(union={"roles": ["actor"]}))


@pytest.fixture
def samples(store: GraphStore) -> GraphStore:
    load_outlets(store, SAMPLES / "outlets.json")
    load_file(store, SAMPLES / "samples.jsonl")
    return store


def ids(store: GraphStore, text: str, *types: Label, first: int = 10) -> list[str]:
    return [d.id for d in find(store, text, types or (Label.EVENT, Label.ENTITY), first)]


def names(store: GraphStore, text: str, *types: Label) -> list[str]:
    found = find(store, text, types or (Label.ENTITY, Label.PLACE, Label.OUTLET), 5)
    return [(d.names or d.body)[0] for d in found]


def test_names_transliterations_misspellings_and_prefixes_find_the_entity(
    samples: GraphStore,
) -> None:
    for text in ["Putin", "putin", "Путин", "Puttin", "Vladimir Putin", "Vla", "put"]:
        assert names(samples, text)[0] == "Vladimir Putin", text
    for text in ["Lukashenka", "Лукашенко", "lukash", "Alexander Lukashenko"]:
        assert names(samples, text)[0] == "Alexander Lukashenko", text
    assert names(samples, "ISW")[0] == "Institute for the Study of War"


def test_words_anywhere_in_a_summary_find_the_event(samples: GraphStore) -> None:
    found = find(samples, "Lukashenko Putin", [Label.EVENT], 3)
    assert found and "Lukashenko" in found[0].body[0] and "Putin" in found[0].body[0]


def test_another_form_of_a_word_finds_the_event(store: GraphStore) -> None:
    # Snowball stems: "talks", "talked" and "talking" are "talk"; "strike" finds "striking"
    store.write(
        WriteBatch(
            nodes=[
                _event("ev_talk", "Ministers talked about grain exports", "2025-01-02"),
                _event("ev_strike", "Drones striking a substation", "2025-01-03"),
                _event("ev_other", "Ministers signed a grain deal", "2025-01-04"),
            ]
        )
    )
    assert ids(store, "grain talks", Label.EVENT)[0] == "ev_talk"
    assert ids(store, "talking ", Label.EVENT) == ["ev_talk"]
    assert ids(store, "drone strike", Label.EVENT) == ["ev_strike"]
    (hit,) = search(store, SearchQuery("drone strike", (Label.EVENT,))).hits
    (summary,) = hit.highlights
    assert [summary.text[a:b] for a, b in summary.spans] == ["Drones", "striking"]


def test_function_words_are_not_required(store: GraphStore) -> None:
    store.write(
        WriteBatch(
            nodes=[
                _event("ev_bases", "Russian military bases permitted, Belarus says", "2025-01-02"),
                _event("ev_in", "Troops stationed in the region", "2025-01-03"),
            ]
        )
    )
    # the second event holds only "in" of the query: it is not a result
    assert ids(store, "military bases in Belarus", Label.EVENT) == ["ev_bases"]
    (hit,) = search(store, SearchQuery("Troops in region", (Label.EVENT,))).hits
    (summary,) = hit.highlights
    assert [summary.text[a:b] for a, b in summary.spans] == ["Troops", "region"]  # not "in"
    # a text of function words alone is searched as it is; one being typed is a prefix
    assert ids(store, "in the ", Label.EVENT) == ["ev_in"]
    assert set(ids(store, "Belarus in", Label.EVENT)) == {"ev_bases", "ev_in"}


def test_a_misspelt_first_or_second_letter_is_forgiven(store: GraphStore) -> None:
    store.write(
        WriteBatch(
            nodes=[
                _entity("en_witkoff", "Steve Witkoff", ["Witkoff"]),
                _entity("en_rydeov", "Wanda Rydeov"),
                _entity("en_zelensky", "Volodymyr Zelensky"),
            ]
        )
    )
    assert ids(store, "Vitkoff")[:1] == ["en_witkoff"]  # the first letter
    assert ids(store, "Rideov ")[:1] == ["en_rydeov"]  # the second
    assert ids(store, "iWtkoff")[:1] == ["en_witkoff"]  # the two swapped
    # a word found as it is typed is not respelt: "Vitk" is no prefix of an indexed term and is
    # too short for a guess
    assert ids(store, "Vitk") == []
    # a variant of a word that is not the last is looked up by itself too
    assert set(ids(store, "Witkof Zelensky")) >= {"en_witkoff", "en_zelensky"}


def test_a_misspelt_prefix_finds_what_it_would_complete(store: GraphStore) -> None:
    store.write(WriteBatch(nodes=[_entity("en_luk", "Alexander Lukashenko")]))
    assert ids(store, "Lukashan") == ["en_luk"]
    assert ids(store, "Lukashan ") == []  # a whole word, too far from "lukashenko"


def test_a_cyrillic_soft_sign_does_not_split_a_query_word(store: GraphStore) -> None:
    store.write(WriteBatch(nodes=[_entity("en_zel", "Volodymyr Zelensky", ["Zelenskyy"])]))
    # anyascii writes "Зеленський" as "Zelens'kiy": without the sign it is "zelenskiy"
    assert ids(store, "Зеленський") == ["en_zel"]
    assert ids(store, "Зеленьский Володимир") == ["en_zel"]


def test_claims_are_searched_and_highlighted(samples: GraphStore) -> None:
    page = search(samples, SearchQuery("Kremlin said", (Label.EVENT,), 3))
    assert page.hits
    claims = [h for h in page.hits[0].highlights if h.field == "claim"]
    assert claims
    (first, *_) = claims
    assert [first.text[a:b] for a, b in first.spans][:2] == ["Kremlin", "said"]


def test_types_narrow_the_results(samples: GraphStore) -> None:
    only_places = find(samples, "Moscow", [Label.PLACE], 10)
    assert only_places and {d.label for d in only_places} == {Label.PLACE}
    assert {d.label for d in find(samples, "Moscow", [Label.EVENT], 10)} == {Label.EVENT}


def test_pages_follow_one_another_without_repeats(samples: GraphStore) -> None:
    everything = [h.doc.id for h in search(samples, SearchQuery("russia", first=50)).hits]
    assert len(everything) >= 3
    first = search(samples, SearchQuery("russia", first=2))
    rest = search(samples, SearchQuery("russia", first=50, offset=2))
    assert first.has_next and not rest.has_next
    assert [h.doc.id for h in first.hits + rest.hits] == everything


def test_a_popular_entity_comes_before_the_events_naming_it(store: GraphStore) -> None:
    # "Putin" in 60 events: the entity must still be the first answer to type-ahead.
    events = [
        _event(f"ev_{i:03d}", f"Putin spoke on day {i}", f"2025-01-{i % 28 + 1:02d}")
        for i in range(60)
    ]
    store.write(
        WriteBatch(
            nodes=[_entity("en_putin", "Vladimir Putin", ["Putin"]), *events],
            edges=[_involves(e.id, "en_putin") for e in events],
        )
    )
    assert ids(store, "Put")[0] == "en_putin"
    assert ids(store, "Putin")[0] == "en_putin"
    found = find(store, "putin", [Label.EVENT], 3)
    assert [d.day for d in found] == ["2025-01-28", "2025-01-28", "2025-01-27"]  # newest first


def test_the_index_follows_writes_renames_and_deletes(store: GraphStore) -> None:
    store.write(WriteBatch(nodes=[_entity("en_a", "Zelenskyy")]))
    assert ids(store, "zelensky") == ["en_a"]
    store.write(WriteBatch(nodes=[_entity("en_a", "Ignored", ["Volodymyr Zelensky"])]))
    assert ids(store, "volodymyr") == ["en_a"]
    store.write(WriteBatch(deletes=["en_a"]))
    assert ids(store, "zelenskyy") == []
    assert store.search_vocabulary(["zel"], 10) == {"zel": []}


def test_a_long_prefix_finds_every_term_it_starts_few_or_many(store: GraphStore) -> None:
    # The embedded store asks a prefix of 4+ letters as the OR of the terms it starts (up to
    # 64), and past that as an FTS5 prefix: both must find the same documents as Neo4j.
    many = [_entity(f"en_m{i:02d}", f"Prodx{i:02d}") for i in range(70)]
    few = [
        _entity("en_a", "Production Alpha"),
        _entity("en_b", "Productions Beta"),
        _entity("en_c", "Productive Alpha"),
    ]
    store.write(WriteBatch(nodes=[*few, *many]))
    lookups = [
        (Label.ENTITY, ("produc",), True),
        (Label.ENTITY, ("productio",), True),
        (Label.ENTITY, ("prod",), True),
        (Label.ENTITY, ("prodx",), True),
        (Label.ENTITY, ("alpha", "produc"), True),
        (Label.ENTITY, ("prodz",), True),
        (Label.EVENT, ("produc",), True),
    ]
    found = {k: sorted(v) for k, v in store.search_postings(lookups, 100).items()}
    assert found[lookups[0]] == ["en_a", "en_b", "en_c"]
    assert found[lookups[1]] == ["en_a", "en_b"]
    assert found[lookups[2]] == sorted(["en_a", "en_b", "en_c", *(e.id for e in many)])
    assert found[lookups[3]] == sorted(e.id for e in many)
    assert found[lookups[4]] == ["en_a", "en_c"]
    assert found[lookups[5]] == found[lookups[6]] == []


def test_the_terms_document_counts_follow_writes_and_deletes(store: GraphStore) -> None:
    store.write(
        WriteBatch(
            nodes=[
                _entity("en_a", "Kallas Kallas"),
                _entity("en_b", "Kaja Kallas"),
                _event("ev_1", "Kallas met Kaja", "2025-01-01"),
            ]
        )
    )
    assert store.search_vocabulary(["ka"], 10) == {"ka": [("kaja", 2), ("kallas", 3)]}
    store.write(WriteBatch(deletes=["en_b"]))
    store.write(WriteBatch(nodes=[_entity("en_a", "Ignored", ["Kalle"])]))  # an alias added
    assert store.search_vocabulary(["ka"], 10) == {"ka": [("kaja", 1), ("kallas", 2), ("kalle", 1)]}
    store.write(WriteBatch(deletes=["ev_1"]))
    assert store.search_vocabulary(["ka", "kaj"], 10) == {
        "ka": [("kallas", 1), ("kalle", 1)],
        "kaj": [],
    }


def test_a_named_nodes_popularity_counts_each_neighbour_once(store: GraphStore) -> None:
    def place(node_id: str, name: str) -> NodeWrite:
        return NodeWrite(node_id, Label.PLACE, PropertyWrite(first={"name": name}, rank="1"))

    def link(src: str, rel: Rel, dst: str, key: str = "") -> EdgeWrite:
        return EdgeWrite(src, rel, dst, key, PropertyWrite())

    events = [_event(f"ev_{i}", "Shelling", "2025-01-01") for i in range(2)]
    store.write(
        WriteBatch(
            nodes=[place("pl_r", "Donetsk"), place("pl_c", "Ukraine"), *events],
            edges=[
                *(link(e.id, Rel.OCCURRED_IN, "pl_r") for e in events),
                link("pl_r", Rel.IN_COUNTRY, "pl_c"),
                link("pl_c", Rel.IN_COUNTRY, "pl_r"),  # a neighbour on both sides
                link("ev_0", Rel.OCCURRED_IN, "pl_r", "again"),  # a second relationship
            ],
        )
    )
    docs = store.search_documents(["pl_r", "pl_c"])
    # two events and the country: 3 (2 bits), where counting one twice would make 4 (3 bits)
    assert docs["pl_r"].popularity == (3).bit_length() == 2
    assert docs["pl_c"].popularity == (1).bit_length()


def test_a_reader_of_the_store_sees_the_index(store: GraphStore) -> None:
    store.write(WriteBatch(nodes=[_entity("en_a", "Ursula von der Leyen")]))
    if not isinstance(store, EmbeddedStore):
        return  # a server: every reader reads the same index
    reader = EmbeddedStore(store.directory, read_only=True)
    reader.setup()
    try:
        assert ids(reader, "leyen") == ["en_a"]
        store.write(WriteBatch(nodes=[_entity("en_b", "Kaja Kallas")]))
        assert ids(reader, "kallas") == ["en_b"]  # read from the file, as written
        reader.catch_up()
        assert reader.get_nodes(["en_b"])
    finally:
        reader.close()


@pytest.mark.parametrize(
    ("text", "types", "message"),
    [
        ("", (Label.EVENT,), "text must not be empty"),
        ("   ", (Label.EVENT,), "text must not be empty"),
        ("x" * 10_000, (Label.EVENT,), "text is longer than 200 characters"),
        ("putin", (Label.STORY,), "types: 'Story' is not searchable"),
        ("putin", (), "types must name at least one type"),
    ],
)
def test_bad_searches_are_refused_saying_why(
    store: GraphStore, text: str, types: tuple[Label, ...], message: str
) -> None:
    with pytest.raises(SearchError, match=message):
        search(store, SearchQuery(text, types))


def test_punctuation_alone_finds_nothing(store: GraphStore) -> None:
    store.write(WriteBatch(nodes=[_entity("en_a", "Putin")]))
    assert search(store, SearchQuery("?!")).hits == []


def test_a_format_3_file_gains_its_index_when_a_writer_opens_it(tmp_path: Path) -> None:
    old = EmbeddedStore(tmp_path)
    old.setup()
    old.write(
        WriteBatch(nodes=[_entity("en_a", "Lukashenko"), _event("ev_1", "A summit", "2025-01-01")])
    )
    old.close()
    with sqlite3.connect(tmp_path / fileformat.DB_FILE) as db:  # as format 3 left it
        db.executescript(
            "DROP TABLE search_vocab; DROP TABLE search_fts; DROP TABLE search_docs;"
            "UPDATE meta SET value = '3' WHERE name = 'format';"
        )
    db.close()
    reader = EmbeddedStore(tmp_path, read_only=True)
    with pytest.raises(StoreError, match="format 3"):
        reader.setup()
    store = EmbeddedStore(tmp_path)
    store.setup()
    try:
        assert ids(store, "lukashenka") == ["en_a"]
        assert ids(store, "summit") == ["ev_1"]
    finally:
        store.close()
    reopened = EmbeddedStore(tmp_path, read_only=True)
    reopened.setup()
    try:
        assert ids(reopened, "summit") == ["ev_1"]
    finally:
        reopened.close()


def test_a_format_4_file_gains_its_terms_counts_when_a_writer_opens_it(tmp_path: Path) -> None:
    old = EmbeddedStore(tmp_path)
    old.setup()
    old.write(
        WriteBatch(
            nodes=[_entity("en_a", "Lukashenko"), _event("ev_1", "Lukashenko met", "2025-01-01")]
        )
    )
    old.close()
    with sqlite3.connect(tmp_path / fileformat.DB_FILE) as db:  # as format 4 left it
        db.executescript(
            "DROP TABLE search_terms; UPDATE meta SET value = '4' WHERE name = 'format';"
        )
    db.close()
    reader = EmbeddedStore(tmp_path, read_only=True)
    with pytest.raises(StoreError, match="format 4"):
        reader.setup()
    store = EmbeddedStore(tmp_path)
    store.setup()
    try:
        assert store.search_vocabulary(["luk", "met"], 5) == {
            "luk": [("lukashenko", 2)],
            "met": [("met", 1)],
        }
        assert ids(store, "lukashenka") == ["en_a", "ev_1"]
    finally:
        store.close()


def test_a_neo4j_graph_written_before_the_index_gains_it_on_setup(store: GraphStore) -> None:
    if not isinstance(store, Neo4jStore):
        return  # the embedded store's older files: the format-3 test above
    store.write(WriteBatch(nodes=[_entity("en_a", "Lukashenko")]))
    server = BOLT.server(0)
    driver = neo4j.GraphDatabase.driver(store.uri, auth=(server.user, server.password))
    with driver, driver.session(database=store.database) as session:
        for label in (q.SEARCH_DOC_LABEL, q.SEARCH_POSTING_LABEL, q.SEARCH_TERM_LABEL):
            session.run(f"MATCH (n:{label}) DETACH DELETE n").consume()
    assert ids(store, "lukashenko") == []
    again = Neo4jStore(store.uri, server.user, server.password, store.database)
    again.setup()
    try:
        assert ids(again, "lukashenka") == ["en_a"]
    finally:
        again.close()
