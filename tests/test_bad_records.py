"""bad-records.jsonl: every line's outcome as bad-records.expected.json says."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from graph import keys
from graph.model import Label, Node, Rel
from graph.snapshot import canonical
from graph.store import GraphStore
from newsgraph.cli import main
from tests.conftest import EXTRACTOR, load_file, shared_file

BAD = EXTRACTOR / "bad-records.jsonl"

# A word each rejection reason must contain: it names the field or the problem.
REASON_WORDS: dict[int, tuple[str, ...]] = {
    1: ("JSON",),
    2: ("event",),
    3: ("summary",),
    4: ("category", "rumour"),
    5: ("occurred_on",),
    6: ("occurred_on",),
    7: ("tone", "sure"),
    8: ("reports",),
    9: ("name",),
    10: ("summary", "2000"),
    11: ("schema_version",),
    13: ("object",),
    15: ("NUL", "summary"),
    17: ("lat",),
    18: ("extracted_at",),
    20: ("twice", "event"),
}


def outcomes() -> dict[int, str]:
    raw = shared_file(EXTRACTOR / "bad-records.expected.json").read_text("utf-8")
    return {entry["line"]: entry["outcome"] for entry in json.loads(raw)["lines"]}


def raw_lines() -> list[str]:
    """The file's lines as they are, without their line ends."""
    return shared_file(BAD).read_text("utf-8").splitlines()


def record(line: int) -> dict[str, Any]:
    decoded: dict[str, Any] = json.loads(raw_lines()[line - 1])
    return decoded


def read_rejects(path: Path) -> dict[int, dict[str, Any]]:
    entries = [json.loads(text) for text in path.read_text("utf-8").splitlines()]
    by_line = {entry["line"]: entry for entry in entries}
    assert len(by_line) == len(entries), "a line is rejected twice"
    return by_line


def event_of(store: GraphStore, line: int) -> Node:
    external = record(line)["event"]["id"]
    owner = store.lookup_keys([keys.event_external_key(external)])
    assert owner, f"line {line} (event {external}) is not in the graph"
    return store.get_nodes(list(owner.values()))[owner[keys.event_external_key(external)]]


def strings(value: object) -> list[str]:
    assert isinstance(value, list)
    return [str(v) for v in value]


def events(store: GraphStore) -> list[Node]:
    return [i for i in store.dump() if isinstance(i, Node) and i.label is Label.EVENT]


@pytest.fixture
def rejects(store: GraphStore, tmp_path: Path) -> dict[int, dict[str, Any]]:
    """Load bad-records.jsonl into `store` and return its rejects by line number."""
    path = tmp_path / "rejects.jsonl"
    load_file(store, BAD, rejects=path)
    return read_rejects(path)


def test_rejected_lines_are_exactly_the_expected_ones(rejects: dict[int, dict[str, Any]]) -> None:
    expected = {line for line, outcome in outcomes().items() if outcome == "rejected"}
    assert set(rejects) == expected
    assert set(REASON_WORDS) == expected


@pytest.mark.parametrize("line", sorted(REASON_WORDS))
def test_reject_reason_names_the_problem(rejects: dict[int, dict[str, Any]], line: int) -> None:
    entry = rejects[line]
    assert entry["source"] == BAD.name
    for word in REASON_WORDS[line]:
        assert word in entry["reason"], f"line {line}: {entry['reason']!r} does not say {word!r}"


def test_rejects_keep_the_original_line(rejects: dict[int, dict[str, Any]]) -> None:
    lines = raw_lines()
    for number, entry in rejects.items():
        assert entry["raw"] == lines[number - 1], f"line {number}"


def test_blank_line_is_neither_loaded_nor_rejected(
    store: GraphStore, rejects: dict[int, dict[str, Any]]
) -> None:
    skipped = [line for line, outcome in outcomes().items() if outcome == "skipped"]
    assert skipped == [12]
    assert raw_lines()[11].strip() == ""
    assert 12 not in rejects


def test_only_the_good_lines_become_events(
    store: GraphStore, rejects: dict[int, dict[str, Any]]
) -> None:
    loaded = [line for line, outcome in outcomes().items() if outcome == "loaded"]
    assert loaded == [14, 16, 19]
    found = {event_of(store, line).id for line in loaded}
    assert len(found) == 3
    assert {e.id for e in events(store)} == found


def test_hostile_text_is_stored_verbatim(
    store: GraphStore, rejects: dict[int, dict[str, Any]]
) -> None:
    source = record(14)["event"]
    event = event_of(store, 14)
    assert event.props["summary"] == source["summary"]
    assert event.props["summary"] == (
        "Robert'); MATCH (n) DETACH DELETE n; // {{7*7}} <script>alert(1)</script>"
    )
    reports = store.edges([event.id], Rel.REPORTS, "in")[event.id]
    stored_claims = sorted(t for e in reports for t in strings(e.props.get("claim_texts")))
    source_claims = sorted(c["text"] for r in source["reports"] for c in r["claims"])
    assert stored_claims == source_claims
    assert any('"necessary measures"' in text for text in stored_claims)
    # The text was data: the rest of the graph is still there.
    assert store.counts()["Entity"] == 7


def test_cyrillic_and_emoji_round_trip(
    store: GraphStore, rejects: dict[int, dict[str, Any]]
) -> None:
    event = event_of(store, 16)
    assert event.props["summary"] == "Зеленський зустрівся з делегацією 🇺🇦 у Києві."
    places = store.edges([event.id], Rel.OCCURRED_IN, "out")[event.id]
    assert len(places) == 1
    place = store.get_nodes([places[0].dst])[places[0].dst]
    assert place.props["name"] == "Київ"
    countries = store.edges([place.id], Rel.IN_COUNTRY, "out")[place.id]
    country_ids = [e.dst for e in countries]
    assert [n.props["name"] for n in store.get_nodes(country_ids).values()] == ["Україна"]


def test_extra_fields_are_ignored(store: GraphStore, rejects: dict[int, dict[str, Any]]) -> None:
    source = record(19)
    assert "sentiment" in source["event"] and "pipeline" in source
    event = event_of(store, 19)
    assert event.props["summary"] == source["event"]["summary"]
    everything = "\n".join(canonical(store))
    assert "sentiment" not in everything
    assert "pipeline" not in everything


def test_summary_counts(store: GraphStore, tmp_path: Path) -> None:
    summary = load_file(store, BAD, rejects=tmp_path / "rejects.jsonl")
    expected = outcomes()
    assert summary.records == sum(1 for o in expected.values() if o != "skipped")
    assert summary.loaded == sum(1 for o in expected.values() if o == "loaded")
    assert summary.rejected == sum(1 for o in expected.values() if o == "rejected")
    assert (summary.records, summary.loaded, summary.rejected, summary.blank) == (19, 3, 16, 1)


def test_loading_twice_changes_nothing(store: GraphStore, tmp_path: Path) -> None:
    first = load_file(store, BAD, rejects=tmp_path / "first.jsonl")
    before = canonical(store)
    second = load_file(store, BAD, rejects=tmp_path / "second.jsonl")
    assert canonical(store) == before
    assert (second.loaded, second.rejected) == (first.loaded, first.rejected)
    assert read_rejects(tmp_path / "second.jsonl") == read_rejects(tmp_path / "first.jsonl")


def test_a_fixed_reject_can_be_fed_again(
    store: GraphStore, rejects: dict[int, dict[str, Any]], tmp_path: Path
) -> None:
    raw = rejects[4]["raw"]
    fixed = raw.replace('"category": "rumour"', '"category": "diplomatic"')
    assert fixed != raw
    path = tmp_path / "fixed.jsonl"
    path.write_text(fixed + "\n", "utf-8")
    before = len(events(store))
    summary = load_file(store, path, rejects=tmp_path / "fixed-rejects.jsonl")
    assert (summary.loaded, summary.rejected) == (1, 0)
    assert not (tmp_path / "fixed-rejects.jsonl").exists()
    summaries = [e.props["summary"] for e in events(store) if e.props["category"] == "diplomatic"]
    assert json.loads(fixed)["event"]["summary"] in summaries
    assert len(events(store)) == before + 1


def _summary_value(output: str, label: str) -> int:
    found = re.search(rf"^{label}:\s+(\d+)$", output, re.MULTILINE)
    assert found is not None, f"no '{label}' in {output!r}"
    return int(found.group(1))


def test_cli_load_prints_the_summary_and_exits_3(tmp_path: Path) -> None:
    rejects = tmp_path / "rejects.jsonl"
    args = ["load", str(shared_file(BAD)), "--store", str(tmp_path / "data")]
    result = CliRunner().invoke(main, [*args, "--rejects", str(rejects)])
    assert result.exit_code == 3, result.output
    assert _summary_value(result.output, "records read") == 19
    assert _summary_value(result.output, "loaded") == 3
    assert _summary_value(result.output, "rejected") == 16
    assert str(rejects) in result.output
    assert sorted(read_rejects(rejects)) == sorted(REASON_WORDS)


def test_cli_load_of_a_missing_file_names_it(tmp_path: Path) -> None:
    missing = tmp_path / "no-such-records.jsonl"
    args = ["load", str(missing), "--store", str(tmp_path / "data")]
    result = CliRunner().invoke(main, [*args, "--rejects", str(tmp_path / "rejects.jsonl")])
    assert result.exit_code not in (0, 3)
    assert isinstance(result.exception, SystemExit), "crashed instead of a clear error"
    assert str(missing) in result.output
    assert "Traceback" not in result.output
