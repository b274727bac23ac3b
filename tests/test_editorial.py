"""Editorial work on both stores: submissions and review, the registry, the policy, entity
merges and splits, and the confidence history each of them writes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from graph import keys
from graph.confidence import Policy
from graph.history import LevelChange, history
from graph.model import Label, Node, Rel
from graph.snapshot import INGEST_CLOCKS, canonical
from graph.store import GraphStore
from loaders.records import Record, validate
from services.editing import EditorialError
from services.editorial import Editorial
from services.ingest import Ingestor
from tests.conftest import EXTRACTOR, load_file, load_outlets, shared_file

REUTERS = "https://www.reuters.com/world/europe/putin-lukashenko-sign-security-treaty-2025-03-13/"


def seed_record() -> Record:
    raw = json.loads(shared_file(EXTRACTOR / "seed-event.json").read_text("utf-8"))
    record = validate(raw, 1)
    assert isinstance(record, Record)
    return record


@pytest.fixture
def seeded(store: GraphStore) -> tuple[GraphStore, str]:
    """The outlet registry and the seed record alone: the seed event is `likely`."""
    load_outlets(store)
    (result,) = Ingestor(store).ingest([(1, seed_record())])
    return store, result.event_id


def outlet_id(store: GraphStore, name: str) -> str:
    (key,) = keys.outlet_keys([name])
    return store.lookup_keys([key])[key]


def event(store: GraphStore, event_id: str) -> Node:
    return store.get_nodes([event_id])[event_id]


def levels(changes: list[LevelChange]) -> list[tuple[str | None, str]]:
    return [(c.previous, c.level) for c in changes]


def submit(editorial: Editorial, event_id: str, **given: str) -> Node:
    values = {"url": REUTERS, "outletName": "Reuters"} | given
    return editorial.submit(event_id, values, "anonymous")


def test_the_seed_alone_is_likely_and_its_history_says_why(seeded: tuple[GraphStore, str]) -> None:
    store, event_id = seeded
    node = event(store, event_id)
    assert node.props["confidence"] == "likely"
    assert node.props["confidence_hint"] == "One more trusted source could elevate it to verified."
    (first,) = history(event_id, node.props)
    assert (first.previous, first.level, first.cause, first.by) == (None, "likely", "report", "cli")
    assert "Institute for the Study of War" in first.detail


def test_a_submission_changes_nothing_until_approved(seeded: tuple[GraphStore, str]) -> None:
    store, event_id = seeded
    before = canonical(store)
    editorial = Editorial(store)
    submission = submit(editorial, event_id, claim="They signed it.", tone="certain")
    assert submission.props["status"] == "pending"
    after = [line for line in canonical(store) if submission.id not in line]
    assert after == before  # only the submission and its link were added
    assert [n.id for n in editorial.pending(10)] == [submission.id]
    assert [n.id for n in editorial.pending(10, event_id=event_id)] == [submission.id]
    assert editorial.pending(10, event_id="ev_other") == []


def test_approval_makes_a_report_and_verifies_the_seed(seeded: tuple[GraphStore, str]) -> None:
    store, event_id = seeded
    editorial = Editorial(store)
    submission = submit(editorial, event_id, claim="They signed it.", tone="certain")
    review = editorial.approve(submission.id, "alice", note="checked the article")
    assert review.duplicate_of is None
    assert review.submission.props["status"] == "approved"
    assert review.submission.props["reviewed_by"] == "alice"
    node = event(store, event_id)
    assert node.props["confidence"] == "verified"
    assert levels(editorial.changes) == [("likely", "verified")]
    last = history(event_id, node.props)[-1]
    assert (last.cause, last.by) == ("approval", "alice")
    assert submission.id in last.detail and REUTERS in last.detail
    reports = store.edges([event_id], Rel.REPORTS, "in")[event_id]
    (report,) = [r for r in reports if r.props.get("url") == REUTERS]
    outlet = store.get_nodes([report.src])[report.src]
    assert (outlet.text("name"), outlet.text("tier")) == ("Reuters", "trusted")  # the registry's
    assert report.texts("claim_texts") == ["They signed it."]
    assert editorial.pending(10) == []


def test_an_unknown_outlet_is_created_as_unknown_tier(seeded: tuple[GraphStore, str]) -> None:
    store, event_id = seeded
    editorial = Editorial(store)
    submission = submit(editorial, event_id, outletName="Minsk Daily Courier")
    editorial.approve(submission.id, "alice")
    created = outlet_id(store, "Minsk Daily Courier")
    assert store.get_nodes([created])[created].text("tier") == "unknown"
    assert event(store, event_id).props["confidence"] == "likely"  # unknown tier: not trusted
    assert editorial.changes == []


def test_a_duplicate_url_is_recognised_and_changes_nothing(
    seeded: tuple[GraphStore, str],
) -> None:
    store, event_id = seeded
    editorial = Editorial(store)
    editorial.approve(submit(editorial, event_id).id, "alice")
    graph = canonical(store)
    # the same article: host case, a trailing slash and a fragment do not make it another
    same = REUTERS.replace("www.reuters.com", "WWW.Reuters.com").rstrip("/") + "#top"
    again = submit(editorial, event_id, url=same)
    review = editorial.approve(again.id, "bob")
    assert review.submission.props["status"] == "duplicate"
    assert review.duplicate_of == f"the report by Reuters ({REUTERS})"
    reports = store.edges([event_id], Rel.REPORTS, "in")[event_id]
    assert len([r for r in reports if r.props.get("url") == REUTERS]) == 1
    changed = [line for line in canonical(store) if again.id not in line and "ed_" not in line]
    assert changed == [line for line in graph if "ed_" not in line]


def test_reviews_happen_once_and_bad_input_names_the_field(
    seeded: tuple[GraphStore, str],
) -> None:
    store, event_id = seeded
    editorial = Editorial(store)
    submission = submit(editorial, event_id)
    rejected = editorial.reject(submission.id, "  paywalled, cannot check  ", "bob")
    assert (rejected.props["status"], rejected.props["review_note"]) == (
        "rejected",
        "paywalled, cannot check",
    )
    with pytest.raises(EditorialError, match="already rejected \\(by bob"):
        editorial.approve(submission.id, "alice")
    with pytest.raises(EditorialError, match="^reason: "):
        editorial.reject(submit(editorial, event_id).id, " ", "bob")
    with pytest.raises(EditorialError, match="^id: no submission"):
        editorial.approve(event_id, "alice")
    cases = {
        "url: URL scheme should be 'http' or 'https'": {"url": "ftp://example.org/a"},
        "url: Input should be a valid URL": {"url": "not a url"},
        "outletName is empty": {"outletName": "  "},
        "tone: unknown value 'sure'": {"tone": "sure"},
        "claim is longer than 2000 characters": {"claim": "x" * 2001},
    }
    for message, given in cases.items():
        with pytest.raises(EditorialError, match=message.replace("(", "\\(")):
            submit(editorial, event_id, **given)
    with pytest.raises(EditorialError, match="^eventId: no event with id 'ev_nope'"):
        submit(editorial, "ev_nope")
    assert len(editorial.pending(100)) == 1  # only the valid one waits


def test_registry_edits_rerate_and_say_why(seeded: tuple[GraphStore, str]) -> None:
    store, event_id = seeded
    editorial = Editorial(store)
    kyiv = outlet_id(store, "Kyiv Independent")
    outlet = editorial.update_outlet(kyiv, {"tier": "trusted"}, "alice")
    assert outlet.text("tier") == "trusted"
    assert event(store, event_id).props["confidence"] == "verified"
    last = history(event_id, event(store, event_id).props)[-1]
    assert (last.cause, last.by, last.previous, last.level) == (
        "registry",
        "alice",
        "likely",
        "verified",
    )
    assert "Kyiv Independent: tier standard -> trusted" in last.detail
    # one independence group for all three reporting outlets: one independent source
    for name in ("Kyiv Independent", "Censor.NET", "Institute for the Study of War"):
        editorial.update_outlet(outlet_id(store, name), {"group": "one-group"}, "alice")
    assert event(store, event_id).props["confidence"] == "unverified"
    renamed = editorial.update_outlet(kyiv, {"aliases": ["The Kyiv Independent", "KI"]}, "alice")
    assert renamed.texts("aliases") == ["KI", "Kyiv Independent", "The Kyiv Independent"]
    assert outlet_id(store, "KI") == kyiv
    with pytest.raises(EditorialError, match="^aliases: a name is already another outlet's"):
        editorial.update_outlet(kyiv, {"aliases": ["Reuters"]}, "alice")
    with pytest.raises(EditorialError, match="^tier: "):
        editorial.update_outlet(kyiv, {"tier": "gold"}, "alice")
    log = store.find_nodes(Label.EDIT, {"action": "update-outlet"}, "at", 100)
    assert len(log) == 5 and all(e.text("by") == "alice" for e in log)


def test_merging_outlets_pools_their_reports(seeded: tuple[GraphStore, str]) -> None:
    store, event_id = seeded
    editorial = Editorial(store)
    censor = outlet_id(store, "Censor.NET")
    kyiv = outlet_id(store, "Kyiv Independent")
    editorial.merge_outlets(censor, kyiv, "alice")
    assert store.get_nodes([censor]) == {}
    assert outlet_id(store, "Censor.NET") == kyiv
    reporters = {e.src for e in store.edges([event_id], Rel.REPORTS, "in")[event_id]}
    assert censor not in reporters and kyiv in reporters
    assert event(store, event_id).props["independent_sources"] == 2
    with pytest.raises(EditorialError, match="^from: no outlet"):
        editorial.merge_outlets(censor, kyiv, "alice")


def test_a_policy_change_rerates_every_event_and_is_recorded(
    seeded: tuple[GraphStore, str],
) -> None:
    store, event_id = seeded
    editorial = Editorial(store)
    policy = json.loads(Policy.default().to_json())
    policy["version"] += 1
    policy["trusted_tiers"] = ["trusted", "standard"]
    applied = editorial.set_policy(json.dumps(policy), "root")
    assert applied.trusted_tiers == ["trusted", "standard"]
    assert event(store, event_id).props["confidence"] == "verified"
    last = history(event_id, event(store, event_id).props)[-1]
    assert (last.cause, last.by) == ("policy", "root")
    assert levels(editorial.changes) == [("likely", "verified")]
    policy["ladder"][0]["min_independent"] = 0
    with pytest.raises(
        EditorialError, match=r"^policy\.ladder\[0\]\.min_independent is out of range"
    ):
        editorial.set_policy(json.dumps(policy), "root")
    with pytest.raises(EditorialError, match="^policy: not valid JSON"):
        editorial.set_policy("{", "root")


def _entity(store: GraphStore, event_id: str, name: str) -> str:
    involved = store.edges([event_id], Rel.INVOLVES, "out")[event_id]
    nodes = store.get_nodes([e.dst for e in involved])
    (found,) = [i for i, n in nodes.items() if n.text("name") == name]
    return found


def test_an_entity_merge_splits_back_to_what_it_was(seeded: tuple[GraphStore, str]) -> None:
    store, event_id = seeded
    editorial = Editorial(store)
    putin = _entity(store, event_id, "Vladimir Putin")
    lukashenko = _entity(store, event_id, "Alexander Lukashenko")
    entry = editorial.merge_entities(lukashenko, putin, "alice")
    merged = store.get_nodes([putin])[putin]
    assert "Lukashenko" in merged.texts("aliases") and store.get_nodes([lukashenko]) == {}
    assert store.lookup_keys(["entity:person:lukashenko"]) == {"entity:person:lukashenko": putin}
    # a record since the merge, naming the merged-away spelling: its involvement goes back too
    raw = json.loads(shared_file(EXTRACTOR / "seed-event.json").read_text("utf-8"))
    raw["event"]["summary"] = "Lukashenko visited Minsk."
    raw["event"]["occurred_on"] = "2025-03-20"
    raw["event"]["entities"] = [{"name": "Lukashenko", "type": "person", "role": "participant"}]
    record = validate(raw, 2)
    assert isinstance(record, Record)
    (visit,) = Ingestor(store).ingest([(2, record)])

    kept, restored = editorial.split(entry.id, "bob")
    assert restored.id == lukashenko and kept.id == putin
    assert restored.texts("aliases") == [
        "Alexander Lukashenko",
        "Belarusian President Alexander Lukashenko",
        "Lukashenko",
    ]
    assert "Lukashenko" not in kept.texts("aliases")
    assert store.lookup_keys(["entity:person:lukashenko"]) == {
        "entity:person:lukashenko": lukashenko
    }
    assert [e.dst for e in store.edges([visit.event_id], Rel.INVOLVES, "out")[visit.event_id]] == [
        lukashenko
    ]
    assert {e.src for e in store.edges([lukashenko], Rel.INVOLVES, "in")[lukashenko]} == {
        event_id,
        visit.event_id,
    }
    split_log = store.find_nodes(Label.EDIT, {"action": "split"}, "at", 10)
    assert [(e.text("by"), e.text("subject")) for e in split_log] == [("bob", putin)]
    with pytest.raises(EditorialError, match="was split already, by bob"):
        editorial.split(entry.id, "bob")


def test_an_automatic_merge_can_be_split(store: GraphStore, tmp_path: Path) -> None:
    """Reversed, one record per batch, the samples name Lukashenko twice before the seed
    links the spellings: the loader merges them, and the log lets an editor undo it."""
    load_outlets(store)
    lines = shared_file(EXTRACTOR / "samples.jsonl").read_text("utf-8").splitlines()
    reversed_file = tmp_path / "reversed.jsonl"
    reversed_file.write_text("\n".join(lines[::-1]) + "\n", "utf-8")
    load_file(store, reversed_file, batch_size=1)
    merges = store.find_nodes(Label.EDIT, {"action": "merge", "label": "Entity"}, "at", 10)
    assert len(merges) == 1
    (entry,) = merges
    kept, restored = Editorial(store).split(entry.id, "alice")
    names = {kept.text("name"), restored.text("name")}
    assert names == {"Alexander Lukashenko", "Aleksandr Lukashenko"}
    assert not set(kept.texts("aliases")) & set(restored.texts("aliases"))


def test_a_merge_split_at_once_leaves_the_graph_as_it_was(
    seeded: tuple[GraphStore, str],
) -> None:
    store, event_id = seeded
    editorial = Editorial(store)
    putin = _entity(store, event_id, "Vladimir Putin")
    lukashenko = _entity(store, event_id, "Alexander Lukashenko")
    before = canonical(store, ignore=INGEST_CLOCKS)
    entry = editorial.merge_entities(lukashenko, putin, "alice")
    assert canonical(store, ignore=INGEST_CLOCKS) != before
    editorial.split(entry.id, "alice")
    assert canonical(store, ignore=INGEST_CLOCKS) == before
    log = store.find_nodes(Label.EDIT, {"subject": putin}, "at", 10)
    assert sorted(e.text("action") for e in log) == ["merge", "split"]
