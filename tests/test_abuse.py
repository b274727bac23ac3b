"""Issue 16's abuse cases, on the real components: the loader (`newsgraph load`'s own path) and
the app called in process over HTTP. What once crashed (OverflowError, RecursionError, an HTTP
500, "Unexpected error.") is refused with a message naming what was wrong and what the limit
is, and ordinary input is answered as before."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from graphql import SchemaMetaFieldDef, get_introspection_query, graphql_sync
from starlette.applications import Starlette
from strawberry.extensions.parser_cache import _get_parse_cache
from websockets.exceptions import ConnectionClosed

from api import compiled, introspection
from api.app import create_app
from api.limits import VALIDATED
from api.schema import schema
from api.tokens import Tokens
from graph.store import GraphStore
from loaders.records import MAX_DEPTH, Record, Rejection, parse_line
from newsgraph.settings import Settings
from newsgraph.wiring import app_arguments
from tests.conftest import EXTRACTOR, fresh_store, load_file, shared_file
from tests.support.graphql import asgi_client, bearer, serving
from tests.support.websocket import WAIT, websocket

LOADER = "loader-token-0123456789abcdefghijklmnop"
RANGE = "(1000-01-01 to 9998-12-31)"
INGEST = """mutation($records: [JSON!]!) {
  ingest(records: $records) { loaded rejected results { index status reason } }
}"""


def seed() -> dict[str, Any]:
    record: dict[str, Any] = json.loads(shared_file(EXTRACTOR / "seed-event.json").read_text())
    return record


def with_value(path: str, value: object) -> dict[str, Any]:
    """The seed record with the field at the dotted `path` set to `value`."""
    record = seed()
    *parents, last = path.split(".")
    where = record
    for part in parents:
        where = where[part]
    where[last] = value
    return record


@pytest.fixture
def store(tmp_path: Path) -> Iterator[GraphStore]:
    # Every case here is refused or answered before any store-specific code runs.
    opened = fresh_store("embedded", tmp_path)
    opened.setup()
    try:
        yield opened
    finally:
        opened.close()


@pytest.fixture
def app(store: GraphStore) -> Starlette:
    return create_app(store, Tokens.configured(f"loader:extractor:{LOADER}"))


def post(app: Starlette, body: dict[str, Any] | bytes, token: str | None = None) -> httpx.Response:
    async def call() -> httpx.Response:
        async with asgi_client(app) as client:
            if isinstance(body, bytes):
                headers = {"content-type": "application/json", **bearer(token)}
                return await client.post("/graphql", content=body, headers=headers)
            return await client.post("/graphql", json=body, headers=bearer(token))

    return asyncio.run(call())


def errors(response: httpx.Response) -> list[str]:
    return [e["message"] for e in response.json()["errors"]]


# -- dates outside the range: a rejection naming the field, not OverflowError -----------------

OUTSIDE = [
    ("extracted_at", "9999-12-31T23:59:59-23:59"),  # OverflowError in UTC, before
    ("extracted_at", "0001-01-01T00:00:00+00:01"),  # the same at the other end
    ("extracted_at", "9998-12-31T23:00:00-23:00"),  # in range as given, year 9999 in UTC
    ("extracted_at", "1000-01-01T00:30:00+01:00"),  # year 999 in UTC
    ("event.occurred_on", "9999-06-01"),
    ("event.occurred_on", "0999-12-31"),
    ("source_story.published_on", "9999-12-31T23:59:59-23:59"),
]


@pytest.mark.parametrize(("field", "value"), OUTSIDE)
def test_a_date_outside_the_range_is_a_rejection_naming_the_field(field: str, value: str) -> None:
    found = parse_line(json.dumps(with_value(field, value)), 7)
    assert found == Rejection(7, f"{field}: {value!r} is outside the supported dates {RANGE}")


@pytest.mark.parametrize("value", ["1000-01-01T00:00:00Z", "9998-12-31T23:59:59.999Z"])
def test_the_ends_of_the_range_are_accepted(value: str) -> None:
    assert isinstance(parse_line(json.dumps(with_value("extracted_at", value)), 1), Record)


def test_newsgraph_load_rejects_the_line_and_loads_the_others(
    store: GraphStore, tmp_path: Path
) -> None:
    lines = [seed(), with_value("extracted_at", "9999-12-31T23:59:59-23:59")]
    source = tmp_path / "records.jsonl"
    source.write_text("".join(json.dumps(r) + "\n" for r in lines), encoding="utf-8")
    rejects = tmp_path / "rejects.jsonl"
    summary = load_file(store, source, rejects)
    assert (summary.loaded, summary.rejected) == (1, 1)
    (rejected,) = [json.loads(line) for line in rejects.read_text("utf-8").splitlines()]
    assert rejected["line"] == 2
    assert rejected["reason"].startswith("extracted_at: '9999-12-31T23:59:59-23:59' is outside")


def test_an_ingest_of_good_and_bad_loads_the_good_and_rejects_the_bad(app: Starlette) -> None:
    records = [seed(), with_value("extracted_at", "9999-12-31T23:59:59-23:59")]
    response = post(app, {"query": INGEST, "variables": {"records": records}}, LOADER)
    assert response.status_code == 200, response.text
    report = response.json()["data"]["ingest"]
    assert (report["loaded"], report["rejected"]) == (1, 1)
    good, bad = report["results"]
    assert good["status"] == "LOADED"
    assert bad == {
        "index": 1,
        "status": "REJECTED",
        "reason": f"extracted_at: '9999-12-31T23:59:59-23:59' is outside the supported dates "
        f"{RANGE}",
    }


# -- nesting: refused before parsing, not RecursionError ----------------------------------------


def test_a_line_nested_200000_deep_is_a_rejection_naming_the_limit() -> None:
    line = "[" * 200_000 + "]" * 200_000
    assert parse_line(line, 3) == Rejection(3, "arrays and objects nested deeper than 64 levels")


def test_nesting_is_counted_outside_strings_only() -> None:
    deep = with_value("unknown_field", json.loads("[" * MAX_DEPTH + "]" * MAX_DEPTH))
    assert isinstance(parse_line(json.dumps(deep), 1), Rejection)
    shallower = with_value(
        "unknown_field", json.loads("[" * (MAX_DEPTH - 1) + "]" * (MAX_DEPTH - 1))
    )
    assert isinstance(parse_line(json.dumps(shallower), 1), Record)  # the record is one level
    bracketed = with_value("event.summary", '\\"[{' * 400 + " a summary")
    assert isinstance(parse_line(json.dumps(bracketed), 1), Record)


def test_a_truncated_line_is_still_said_to_be_truncated() -> None:
    line = json.dumps(seed())
    cut = line[: line.index('"entities"') + 40]
    found = parse_line(cut, 1)
    assert isinstance(found, Rejection) and "truncated" in found.reason


def test_a_request_nested_200000_deep_is_a_400_naming_the_limit(app: Starlette) -> None:
    nested = "[" * 200_000 + "]" * 200_000
    body = f'{{"query": "{{ __typename }}", "variables": {{"v": {nested}}}}}'.encode()
    response = post(app, body, LOADER)  # 400 kB: a body a caller with a token may send
    assert response.status_code == 400
    assert errors(response) == [
        "the request's JSON has arrays and objects nested deeper than 64 levels"
    ]
    # and an ingest of ordinary records is far inside it
    records = [seed()]
    assert post(app, {"query": INGEST, "variables": {"records": records}}, LOADER).is_success


def test_a_body_that_is_not_json_or_not_utf8_is_a_400(app: Starlette) -> None:
    assert errors(post(app, b"{not json")) == [
        "the request body is not JSON: Expecting property name enclosed in double quotes"
    ]
    assert errors(post(app, b'{"query": "\xff"}')) == ["the request body is not UTF-8 text"]


# -- dates in queries: refused naming the argument, not "Unexpected error." ---------------------


def test_timeline_buckets_in_year_9999_is_refused_naming_the_argument(
    app: Starlette, store: GraphStore, tmp_path: Path
) -> None:
    source = tmp_path / "seed.jsonl"
    source.write_text(json.dumps(seed()) + "\n", encoding="utf-8")
    load_file(store, source)
    query = """{ entity(name: "Lukashenko") {
      timelineBuckets(from: "9999-01-01", to: "9999-12-31") { total } } }"""
    assert errors(post(app, {"query": query})) == [
        f"argument 'from' of timelineBuckets: 9999-01-01 is outside the supported dates {RANGE}",
        f"argument 'to' of timelineBuckets: 9999-12-31 is outside the supported dates {RANGE}",
    ]
    inside = """{ entity(name: "Lukashenko") {
      timelineBuckets(from: "2025-03-01", to: "2025-03-31") { total } } }"""
    response = post(app, {"query": inside})
    assert response.json() == {"data": {"entity": {"timelineBuckets": {"total": 1}}}}


@pytest.mark.parametrize(
    ("query", "variables", "message"),
    [
        (
            '{ events(filter: {from: "0999-12-31"}) { edges { cursor } } }',
            None,
            "argument 'filter.from' of events: 0999-12-31 is outside the supported dates",
        ),
        (
            "query($d: Date) { rankings(to: $d) { complete } }",
            {"d": "9999-12-31"},
            "Variable '$d' has invalid value: 9999-12-31 is outside the supported dates",
        ),
        (
            '{ neighbourhood(id: "x", filter: {to: "9999-01-01"}) { complete } }',
            None,
            "argument 'filter.to' of neighbourhood: 9999-01-01 is outside the supported dates",
        ),
    ],
)
def test_every_date_argument_is_refused_outside_the_range(
    app: Starlette, query: str, variables: dict[str, str] | None, message: str
) -> None:
    assert errors(post(app, {"query": query, "variables": variables})) == [f"{message} {RANGE}"]


# -- size limits: each refused naming the limit, ordinary requests unaffected ------------------


def test_a_body_over_the_limit_is_a_413_before_it_is_read(app: Starlette) -> None:
    query = "{ __typename }" + " " * (64 * 1024)
    response = post(app, {"query": query})
    assert response.status_code == 413
    assert errors(response) == [
        "the request body is larger than 65,536 bytes, the limit for a request without a token"
    ]
    assert post(app, {"query": "{ __typename }"}).json() == {"data": {"__typename": "Query"}}


def test_a_body_without_a_length_is_counted_as_it_streams(app: Starlette) -> None:
    async def chunks() -> AsyncIterator[bytes]:
        yield b'{"query": "{ __typename }", "pad": "'
        for _ in range(100):
            yield b"x" * 1024
        yield b'"}'

    async def call() -> httpx.Response:
        async with asgi_client(app) as client:
            headers = {"content-type": "application/json"}
            return await client.post("/graphql", content=chunks(), headers=headers)

    response = asyncio.run(call())
    assert "content-length" not in response.request.headers
    assert response.status_code == 413, response.text
    assert errors(response)[0].startswith("the request body is larger than 65,536 bytes")


def test_a_caller_with_a_token_has_the_larger_body_limit(app: Starlette) -> None:
    records = [seed()] * 40  # 110 kB: over the anonymous limit
    body = {"query": INGEST, "variables": {"records": records}}
    assert post(app, body).status_code == 413
    response = post(app, body, LOADER)
    assert response.status_code == 200, response.text
    assert response.json()["data"]["ingest"]["loaded"] == 1  # one event, merged 39 times


LONG = "x" * 3000


@pytest.mark.parametrize(
    ("query", "variables", "message"),
    [
        (
            f'{{ entity(name: "{LONG}") {{ id }} }}',
            None,
            "argument 'name' of entity is longer than 2,000 characters (3,000)",
        ),
        (
            "query($n: String) { outlet(name: $n) { id } }",
            {"n": LONG},
            "variable '$n' is longer than 2,000 characters (3,000)",
        ),
        (
            f'{{ events(filter: {{place: "{LONG}"}}) {{ edges {{ cursor }} }} }}',
            None,
            "argument 'filter.place' of events is longer than 2,000 characters (3,000)",
        ),
        (
            "query($f: EventFilterInput) { events(filter: $f) { edges { cursor } } }",
            {"f": {"entity": LONG}},
            "variable '$f.entity' is longer than 2,000 characters (3,000)",
        ),
        (
            'mutation($a: [String!]) { updateOutlet(id: "o", aliases: $a) { __typename } }',
            {"a": ["a", LONG]},
            "variable '$a[1]' is longer than 2,000 characters (3,000)",
        ),
        (
            f'{{ entity(name: "{LONG[:1000]}") {{ id }} }}',
            None,
            "name is longer than 500 characters (1,000)",
        ),
    ],
)
def test_a_string_argument_over_the_limit_is_refused_naming_it(
    app: Starlette, query: str, variables: dict[str, Any] | None, message: str
) -> None:
    response = post(app, {"query": query, "variables": variables})
    assert response.status_code == 200
    assert message in errors(response)
    assert LONG not in response.text  # not echoed back


def test_the_limits_are_settings(store: GraphStore) -> None:
    settings = Settings(max_string_length=10, max_variables=2, max_body_bytes=200)
    small = create_app(store, *app_arguments(settings))
    assert errors(post(small, {"query": '{ search(text: "Lukashenko!") { __typename } }'})) == [
        "argument 'text' of search is longer than 10 characters (11)"
    ]
    three = {"query": "{ __typename }", "variables": {"a": 1, "b": 2, "c": 3}}
    assert errors(post(small, three)) == ["3 variables: at most 2 per request"]
    assert post(small, {"query": "{ __typename }", "variables": {"a": 1, "b": 2}}).is_success
    assert post(small, {"query": "{ __typename }" + " " * 200}).status_code == 413


def test_too_many_variables_are_refused(app: Starlette) -> None:
    variables = {f"v{i}": i for i in range(51)}
    response = post(app, {"query": "{ __typename }", "variables": variables})
    assert errors(response) == ["51 variables: at most 50 per request"]


def test_query_texts_over_the_size_limit_are_not_cached(app: Starlette) -> None:
    # strawberry's parser cache and the validation cache (api.limits), shared by every request
    parsed = _get_parse_cache(256)

    def sizes() -> tuple[int, int]:
        info = parsed.cache_info()  # type: ignore[attr-defined]
        return int(info.currsize), len(VALIDATED)

    before = sizes()
    long = "# " + "x" * 10_000 + "\n{ __typename }"
    assert post(app, {"query": long}).json() == {"data": {"__typename": "Query"}}
    assert sizes() == before
    unique = "{ __typename } # " + uuid.uuid4().hex
    assert post(app, {"query": unique}).json() == {"data": {"__typename": "Query"}}
    assert sizes() in {(before[0] + 1, before[1] + 1), (256, 256)}


# -- introspection and GraphiQL -----------------------------------------------------------------


def get_page(app: Starlette) -> httpx.Response:
    async def call() -> httpx.Response:
        async with asgi_client(app) as client:
            return await client.get("/graphql", headers={"accept": "text/html"})

    return asyncio.run(call())


def test_introspection_is_computed_once_and_equals_graphql_cores_own(
    app: Starlette, monkeypatch: pytest.MonkeyPatch
) -> None:
    query = get_introspection_query()
    own = graphql_sync(schema._schema, query)
    assert own.errors is None
    resolve = SchemaMetaFieldDef.resolve
    assert resolve is not None
    calls = []

    def counted(*args: Any) -> Any:
        calls.append(1)
        return resolve(*args)

    monkeypatch.setattr(SchemaMetaFieldDef, "resolve", counted)
    introspection._answers.clear()
    compiled._PLANS.clear()  # plans made by earlier tests hold the resolver they found then
    first, second = post(app, {"query": query}), post(app, {"query": query})
    assert first.json() == second.json() == {"data": own.data}
    assert len(calls) == 1
    # a query that is not only introspection is executed as usual
    mixed = post(app, {"query": "{ __schema { queryType { name } } events { edges { cursor } } }"})
    assert mixed.json()["data"]["__schema"] == {"queryType": {"name": "Query"}}
    assert len(calls) == 2


def test_graphiql_is_served_by_default(app: Starlette) -> None:
    page = get_page(app)
    assert page.status_code == 200
    assert "graphiql" in page.text.lower()


def test_introspection_and_graphiql_can_be_turned_off(store: GraphStore) -> None:
    settings = Settings(introspection=False, graphiql=False)
    closed = create_app(store, *app_arguments(settings))
    for query in [get_introspection_query(), '{ __type(name: "Event") { name } }']:
        found = errors(post(closed, {"query": query}))
        assert found and all(m.startswith("GraphQL introspection has been disabled") for m in found)
    assert post(closed, {"query": "{ __typename }"}).json() == {"data": {"__typename": "Query"}}
    assert get_page(closed).status_code == 404


def test_a_websocket_message_nested_too_deep_closes_the_socket_as_not_json(app: Starlette) -> None:
    async def scenario() -> tuple[int | None, str | None]:
        async with serving(app) as served, websocket(f"ws://{served}/graphql") as client:
            await client.socket.send(
                '{"type": "ping", "payload": ' + "[" * 20_000 + "]" * 20_000 + "}"
            )
            with pytest.raises(ConnectionClosed):
                await asyncio.wait_for(client.socket.recv(), WAIT)
            close = client.socket.close_code, client.socket.close_reason
        return close

    assert asyncio.run(scenario()) == (4400, "WebSocket message must be valid JSON")


def test_too_many_variables_are_refused_when_each_is_used(app: Starlette) -> None:
    # bench.abuse's attack: 51 declared and used variables pass validation, so it is the
    # variables' limit that refuses them (not "variable never used")
    names = [f"v{i}" for i in range(51)]
    used = ", ".join(f"${n}" for n in names)
    query = (
        "query(" + ", ".join(f"${n}: ID!" for n in names) + ") "
        f"{{ events(filter: {{entities: [{used}]}}) {{ edges {{ node {{ id }} }} }} }}"
    )
    response = post(app, {"query": query, "variables": {n: "y" * 1000 for n in names}})
    assert errors(response) == ["51 variables: at most 50 per request"]
    fifty = {n: "y" * 1000 for n in names[:50]}
    unused = query.replace(", $v50: ID!", "").replace(", $v50]", "]")
    assert "variables: at most" not in post(app, {"query": unused, "variables": fifty}).text
