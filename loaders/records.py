"""The extractor's record, version 1 (`shared/extractor/README.md`), validated with pydantic.

`parse_line` turns one JSON Lines line into a `Record` or a `Rejection` whose reason names the
field and says what is wrong in words a person understands.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import UTC, date, datetime
from itertools import accumulate
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainValidator,
    StringConstraints,
    ValidationError,
)
from pydantic_core import ErrorDetails

from graph.dates import out_of_range
from graph.model import Category, EntityType, Tone

SCHEMA_VERSION = 1
# How deep arrays and objects may nest in one line (a record needs 6): a deeper line is refused
# before it is parsed, as Python's parser would recurse until RecursionError, a crash.
MAX_DEPTH = 64
MAX_NAME_LENGTH = 500  # of a name or alias of an entity or outlet

_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_CONTROL_NAMES = {0: "NUL", 0x7F: "DEL"}
_DAY = re.compile(r"\d{4}-\d{2}-\d{2}")
_TIMESTAMP = re.compile(r"\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})")


def _clean_text(value: Any) -> Any:
    """Trim strings and refuse control characters (other than tab and newlines)."""
    if not isinstance(value, str):
        return value
    found = _CONTROL.search(value)
    if found:
        code = ord(found.group())
        name = _CONTROL_NAMES.get(code, f"U+{code:04X}")
        raise ValueError(f"contains the control character {name}")
    return value.strip()


def _in_range(value: date, given: str) -> None:
    problem = out_of_range(value, repr(given))
    if problem is not None:
        raise ValueError(problem)


def _timestamp(value: Any) -> datetime:
    """An RFC 3339 timestamp with its offset, as an aware datetime in UTC, within the graph's
    dates (`graph.dates`)."""
    if not isinstance(value, str) or not _TIMESTAMP.fullmatch(value.strip()):
        raise ValueError(f"{value!r} is not an RFC 3339 timestamp (like 2026-05-30T04:15:39.113Z)")
    try:
        given = datetime.fromisoformat(value.strip())
    except ValueError as exc:
        raise ValueError(f"{value!r} is not a real timestamp ({exc})") from None
    _in_range(given, value)  # in its own zone: in UTC, 9999-12-31T23:59:59-23:59 overflows
    moment = given.astimezone(UTC)
    _in_range(moment, value)
    return moment


def _day_or_timestamp(value: Any) -> date:
    """A date (`YYYY-MM-DD`) or an RFC 3339 timestamp (a `datetime`, in UTC), within the
    graph's dates."""
    if isinstance(value, str) and _DAY.fullmatch(value.strip()):
        try:
            day = date.fromisoformat(value.strip())
        except ValueError as exc:
            raise ValueError(f"{value!r} is not a real date ({exc})") from None
        _in_range(day, value)
        return day
    if isinstance(value, str) and _TIMESTAMP.fullmatch(value.strip()):
        return _timestamp(value)
    raise ValueError(f"{value!r} is not a date (YYYY-MM-DD) or an RFC 3339 timestamp")


def parse_moment(value: str) -> date:
    """A date or an RFC 3339 timestamp as a record gives one (ValueError saying what is wrong),
    for editors' arguments that take what a record's dates take."""
    return _day_or_timestamp(value)


Text = Annotated[str, BeforeValidator(_clean_text)]
Name = Annotated[Text, Field(min_length=1, max_length=MAX_NAME_LENGTH)]
Timestamp = Annotated[datetime, PlainValidator(_timestamp)]
DayOrTimestamp = Annotated[date, PlainValidator(_day_or_timestamp)]


class _Part(BaseModel):
    # Unknown extra fields are ignored: the extractor adds fields over time.
    model_config = ConfigDict(extra="ignore", frozen=True, strict=False)


class SourceStory(_Part):
    slug: Annotated[Text, Field(min_length=1, max_length=500)]
    outlet: Name
    url: Annotated[Text, Field(max_length=2000)] | None = None
    published_on: DayOrTimestamp | None = None


class Location(_Part):
    place: Annotated[Text, Field(max_length=500)] | None = None
    country: Annotated[Text, Field(max_length=500)] | None = None
    lat: Annotated[float, Field(ge=-90, le=90)] | None = None
    lon: Annotated[float, Field(ge=-180, le=180)] | None = None


class EntityMention(_Part):
    name: Name
    type: EntityType
    aliases: list[Name] = Field(default_factory=list, max_length=100)
    role: Annotated[Text, Field(max_length=100)] | None = None


class Claim(_Part):
    text: Annotated[Text, Field(min_length=1, max_length=2000)]
    tone: Tone


# The outlet withdrew this report (optional; version 1 records without it stay valid).
class Retraction(_Part):
    on: DayOrTimestamp
    reason: Annotated[Text, Field(max_length=2000)] | None = None


class ReportPart(_Part):
    outlet: Name
    url: Annotated[Text, Field(max_length=2000)] | None = None
    claims: list[Claim] = Field(default_factory=list, max_length=200)
    retracted: Retraction | None = None


class EventPart(_Part):
    id: Annotated[Text, Field(min_length=1, max_length=500)] | None = None
    category: Category
    summary: Annotated[Text, Field(min_length=1, max_length=2000)]
    occurred_on: DayOrTimestamp
    location: Location | None = None
    entities: list[EntityMention] = Field(default_factory=list, max_length=500)
    reports: list[ReportPart] = Field(min_length=1, max_length=500)


class Record(_Part):
    schema_version: Literal[1]
    extracted_at: Timestamp
    source_story: SourceStory
    event: EventPart


# The same records, validated twice as fast: strings stripped by pydantic itself instead of by
# `_clean_text` (a Python call for every string: half the cost of validating a record). Only for
# lines in which no string can hold a control character (`_maybe_control`), and only when they
# validate: every other line is validated by the models above, which give each rejection its
# words. pydantic strips the Unicode White_Space that `str.strip` strips, but for \x1c-\x1f,
# which are control characters. The twins keep every other constraint of the models above
# (`tests/test_records.py` compares their JSON schemas): change both together.
_ESCAPED_CONTROL = re.compile(r"\\(?:[bf]|u00[01]|u007[fF])")


def _maybe_control(line: str) -> bool:
    r"""Whether a line that decoded as JSON may hold a control character in a string: raw, only
    DEL can be (JSON refuses the others), or escaped as \b, \f, \u0000-\u001f or \u007f.
    Most lines have no backslash at all."""
    return "\x7f" in line or ("\\" in line and _ESCAPED_CONTROL.search(line) is not None)


_Stripped = Annotated[str, StringConstraints(strip_whitespace=True)]
_StrippedName = Annotated[_Stripped, Field(min_length=1, max_length=MAX_NAME_LENGTH)]


class _FastSourceStory(SourceStory):
    slug: Annotated[_Stripped, Field(min_length=1, max_length=500)]
    outlet: _StrippedName
    url: Annotated[_Stripped, Field(max_length=2000)] | None = None


class _FastLocation(Location):
    place: Annotated[_Stripped, Field(max_length=500)] | None = None
    country: Annotated[_Stripped, Field(max_length=500)] | None = None


class _FastEntityMention(EntityMention):
    name: _StrippedName
    aliases: list[_StrippedName] = Field(default_factory=list, max_length=100)
    role: Annotated[_Stripped, Field(max_length=100)] | None = None


class _FastClaim(Claim):
    text: Annotated[_Stripped, Field(min_length=1, max_length=2000)]


class _FastRetraction(Retraction):
    reason: Annotated[_Stripped, Field(max_length=2000)] | None = None


class _FastReportPart(ReportPart):
    outlet: _StrippedName
    url: Annotated[_Stripped, Field(max_length=2000)] | None = None
    claims: list[_FastClaim] = Field(default_factory=list, max_length=200)  # type: ignore[assignment]
    retracted: _FastRetraction | None = None


class _FastEventPart(EventPart):
    id: Annotated[_Stripped, Field(min_length=1, max_length=500)] | None = None
    summary: Annotated[_Stripped, Field(min_length=1, max_length=2000)]
    location: _FastLocation | None = None
    entities: list[_FastEntityMention] = Field(default_factory=list, max_length=500)  # type: ignore[assignment]
    reports: list[_FastReportPart] = Field(min_length=1, max_length=500)  # type: ignore[assignment]


class _FastRecord(Record):
    source_story: _FastSourceStory
    event: _FastEventPart


@dataclass(frozen=True, slots=True)
class Rejection:
    line: int
    reason: str


class _DuplicateKey(ValueError):
    pass


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    seen: dict[str, Any] = {}
    for key, value in pairs:
        if key in seen:
            raise _DuplicateKey(key)
        seen[key] = value
    return seen


_STRING = re.compile(r'"(?:[^"\\]++|\\.)*+"')
_NOT_BRACKET = re.compile(r"[^\[\]{}]++")
_STEP = {"[": 1, "{": 1, "]": -1, "}": -1}


def nested_deeper_than(text: str, limit: int) -> bool:
    """Whether the arrays and objects of the JSON `text` nest deeper than `limit`, found without
    parsing it (strings are skipped: their brackets are text). A line with no more than `limit`
    brackets that open, most records, is counted only; others are scanned at C speed."""
    if text.count("[") + text.count("{") <= limit:
        return False
    brackets = _NOT_BRACKET.sub("", _STRING.sub("", text))
    return max(accumulate(map(_STEP.__getitem__, brackets)), default=0) > limit


def parse_line(text: str, line: int) -> Record | Rejection | None:
    """One JSON Lines line: a `Record`, a `Rejection` with its reason, or None for a blank line."""
    if not text or text.isspace():  # as `not text.strip()`, without copying the line
        return None
    text = text.rstrip("\r\n")
    if nested_deeper_than(text, MAX_DEPTH):
        return Rejection(line, f"arrays and objects nested deeper than {MAX_DEPTH} levels")
    try:
        raw = json.loads(text, object_pairs_hook=_no_duplicates)
    except _DuplicateKey as exc:
        return Rejection(line, f"the key '{exc}' appears twice in one object")
    except json.JSONDecodeError as exc:
        truncated = " (the line looks truncated)" if exc.pos >= len(text.rstrip()) else ""
        return Rejection(line, f"not valid JSON: {exc.msg} at column {exc.colno}{truncated}")
    if (
        isinstance(raw, dict)
        and raw.get("schema_version") == SCHEMA_VERSION
        and not _maybe_control(text)
    ):
        try:
            return _FastRecord.model_validate(raw)
        except ValidationError:
            pass  # said in the words of `validate`
    return validate(raw, line)


def validate(raw: Any, line: int) -> Record | Rejection:
    """Validate an already-decoded record."""
    if not isinstance(raw, dict):
        return Rejection(line, f"a record must be a JSON object, not {_json_type(raw)}")
    version = raw.get("schema_version")
    if version != SCHEMA_VERSION and version is not None:
        return Rejection(
            line,
            f"schema_version {version!r} is not supported: this loader reads version "
            f"{SCHEMA_VERSION}",
        )
    try:
        return Record.model_validate(raw)
    except ValidationError as exc:
        return Rejection(line, describe(exc))


def describe(exc: ValidationError) -> str:
    """A validation error in plain words: its first few problems, each naming its field."""
    return "; ".join(_describe(e) for e in exc.errors()[:5])


def _describe(error: ErrorDetails) -> str:
    """A pydantic error in plain words, naming the field (`event.reports[0].claims[1].tone`)."""
    where = _path(error["loc"])
    kind, value = error["type"], error.get("input")
    if kind == "missing":
        return f"{where} is required"
    if kind == "literal_error":
        expected = error.get("ctx", {}).get("expected", "")
        return f"{where}: unknown value {value!r}; expected one of {expected}"
    ctx = error.get("ctx", {})
    if kind in ("too_short", "string_too_short"):
        if isinstance(value, list):
            return f"{where} needs at least {ctx.get('min_length', 1)} item(s)"
        return f"{where} is empty"
    if kind in ("too_long", "string_too_long"):
        unit = "items" if isinstance(value, list) else "characters"
        return f"{where} is longer than {ctx.get('max_length')} {unit} ({len(value)})"
    if kind == "model_type" or kind == "dict_type":
        return f"{where} must be a JSON object, not {_json_type(value)}"
    if kind in ("greater_than_equal", "less_than_equal"):
        return f"{where} is out of range: {error['msg'].lower()}, got {value!r}"
    message = error["msg"]
    message = message.removeprefix("Value error, ")
    return f"{where}: {message}"


def _path(loc: tuple[int | str, ...]) -> str:
    text = ""
    for part in loc:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            text += ("." if text else "") + part
    return text or "record"


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    return "an object"
