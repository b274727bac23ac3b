"""`parse_line` validates most lines with faster twins of the record models (strings stripped
by pydantic itself); whatever they accept must come out exactly as the models that give every
rejection its words would have made it, and everything else goes to those models."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel

import loaders
from loaders.records import Record, Rejection, _FastRecord, _no_duplicates, parse_line, validate

SAMPLES = Path(loaders.__file__).parent / "sample_data" / "samples.jsonl"


def exact(text: str, line: int) -> Record | Rejection | None:
    """What the exact models make of a line."""
    if not text.strip():
        return None
    try:
        raw = json.loads(text, object_pairs_hook=_no_duplicates)
    except ValueError:
        return parse_line(text, line)  # not JSON: the fast models never see it
    return validate(raw, line)


def plain(value: object) -> object:
    """A model's values (and which fields were given), all the way down."""
    if isinstance(value, BaseModel):
        fields = {name: plain(v) for name, v in value.__dict__.items()}
        return {**fields, "(given)": sorted(value.model_fields_set)}
    if isinstance(value, list):
        return [plain(v) for v in value]
    return value


def same(a: Record | Rejection | None, b: Record | Rejection | None) -> bool:
    if isinstance(a, Record) and isinstance(b, Record):
        return plain(a) == plain(b)
    return a == b


def good() -> dict[str, Any]:
    for text in SAMPLES.read_text("utf-8").splitlines():
        if isinstance(parse_line(text, 1), Record):
            value: dict[str, Any] = json.loads(text)
            return value
    raise AssertionError("no good sample")


def test_every_sample_line_comes_out_as_the_exact_models_make_it() -> None:
    for number, text in enumerate(SAMPLES.read_text("utf-8").splitlines(), start=1):
        assert same(parse_line(text, number), exact(text, number)), number


@pytest.mark.parametrize("space", [" ", "\t", "\n", "\r", "\x85", "\xa0", "\u2028", "\u3000"])
def test_whitespace_is_stripped_alike(space: str) -> None:
    record = good()
    record["event"]["summary"] = f"{space}A summary{space}"
    record["event"]["entities"] = [
        {"name": f"{space}Kyiv", "type": "place", "aliases": [f"Kiev{space}"]}
    ]
    text = json.dumps(record, ensure_ascii=False)
    parsed = parse_line(text, 1)
    assert same(parsed, exact(text, 1))
    if space not in "\n\r":  # JSON escapes those
        assert isinstance(parsed, _FastRecord)


@pytest.mark.parametrize(
    "value", ["\x00", "\x08", "\x0c", "\x1c", "\x1f", "\x7f", "a\x7fb", " \x1f "]
)
def test_control_characters_are_refused_in_the_same_words(value: str) -> None:
    record = good()
    record["event"]["summary"] = value
    for text in (json.dumps(record), json.dumps(record, ensure_ascii=False)):
        parsed = parse_line(text, 3)
        assert isinstance(parsed, Rejection)
        assert "control character" in parsed.reason
        assert parsed == exact(text, 3)


def test_what_the_fast_models_refuse_is_said_by_the_exact_ones() -> None:
    record = good()
    record["event"]["reports"][0]["claims"] = [{"text": "  ", "tone": "sure"}]
    text = json.dumps(record)
    parsed = parse_line(text, 5)
    assert isinstance(parsed, Rejection)
    assert parsed == exact(text, 5)


def test_the_twins_keep_every_constraint_of_the_exact_models() -> None:
    """The twins differ from the exact models only in how strings are stripped: every field,
    type, default, length and range limit is the same (a limit changed in one set and not the
    other would let the twins accept what the exact models refuse)."""
    exact_schema = Record.model_json_schema()
    twin_schema = json.loads(json.dumps(_FastRecord.model_json_schema()).replace("_Fast", ""))
    assert twin_schema == exact_schema


def test_a_report_may_say_it_was_retracted_and_version_1_records_stay_valid() -> None:
    record = good()
    assert "retracted" not in json.dumps(record)  # a record without it is as valid as before
    record["event"]["reports"][0]["retracted"] = {"on": "2025-03-20", "reason": " withdrawn "}
    text = json.dumps(record)
    parsed = parse_line(text, 1)
    assert isinstance(parsed, _FastRecord) and same(parsed, exact(text, 1))
    retraction = parsed.event.reports[0].retracted
    assert retraction is not None
    assert (retraction.on.isoformat(), retraction.reason) == ("2025-03-20", "withdrawn")
    record["event"]["reports"][0]["retracted"] = {"reason": "no date"}
    bad = parse_line(json.dumps(record), 2)
    assert isinstance(bad, Rejection)
    assert bad.reason == "event.reports[0].retracted.on is required"
