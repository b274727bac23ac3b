"""The analysts' filters and counts over HTTP (`/export/{format}` and `/export/counts/{format}`,
issue 18) on both stores, against what GraphQL answers for the same filter, and the Python
client's filters and counts against a real `newsgraph serve`."""

from __future__ import annotations

import asyncio
import csv
import io
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

from graph.embedded import EmbeddedStore
from graph.store import EventFilter, EventQuery, GraphStore
from newsgraph.cli import main
from newsgraph.client import Client, NewsgraphError
from tests.conftest import load_file, load_outlets
from tests.support.analyst import write_records
from tests.support.graphql import GraphQLClient, bearer
from tests.support.serve import free_port, start_server, stop_server
from tests.support.served import with_http

ANALYST = "analyst-token-0123456789abcdefghijklmnop"
TOKENS = f"analyst:ana:{ANALYST}"
EVENTS = """query($f: EventFilterInput) {
  events(first: 100, filter: $f) { edges { node { id } } } }"""
COUNTS = """query($f: EventFilterInput, $by: [CountBy!], $interval: Interval!) {
  eventCounts(filter: $f, groupBy: $by, interval: $interval) {
    eventsScanned groups { count start end category confidence country { id name } } } }"""


@pytest.fixture
def served(store: GraphStore, tmp_path: Path) -> Iterator[tuple[GraphQLClient, httpx.AsyncClient]]:
    yield from with_http(store, write_records(tmp_path / "analyst.jsonl"), TOKENS)


def _get(http: httpx.AsyncClient, path: str, params: list[tuple[str, str]]) -> httpx.Response:
    query: list[tuple[str, str | int | float | bool | None]] = list(params)
    return asyncio.run(http.get(path, params=query, headers=bearer(ANALYST)))


def _ids(client: GraphQLClient, flt: dict[str, Any]) -> set[str]:
    return {e["node"]["id"] for e in client.data(EVENTS, {"f": flt})["events"]["edges"]}


@pytest.mark.parametrize(
    ("params", "flt"),
    [
        ([("role", "Target")], {"roles": ["target"]}),
        (
            [("tier", "state-affiliated"), ("tone", "denied")],
            {"tiers": ["STATE_AFFILIATED"], "tones": ["DENIED"]},
        ),
        ([("entityType", "group"), ("entityType", "place")], {"entityTypes": ["GROUP", "PLACE"]}),
        (
            [("group", "reuters"), ("category", "military")],
            {"groups": ["reuters"], "categories": ["MILITARY"]},
        ),
    ],
)
def test_an_export_filters_as_graphql_does(
    served: Any, params: list[tuple[str, str]], flt: dict[str, Any]
) -> None:
    client, http = served
    expected = _ids(client, flt)
    assert expected
    response = _get(http, "/export/csv", params)
    assert response.status_code == 200, response.text
    assert {r["event_id"] for r in csv.DictReader(io.StringIO(response.text))} == expected


def test_counts_as_a_table_equal_graphqls(served: Any) -> None:
    client, http = served
    flt = {"tiers": ["TRUSTED", "STANDARD"]}
    answer = client.data(
        COUNTS, {"f": flt, "by": ["PERIOD", "CATEGORY", "COUNTRY"], "interval": "WEEK"}
    )
    groups = answer["eventCounts"]["groups"]
    expected = [
        (g["start"], g["end"], g["category"].lower(), (g["country"] or {}).get("id"), g["count"])
        for g in groups
    ]
    params = [("by", "period"), ("by", "category"), ("by", "country"), ("interval", "week")]
    params += [("tier", "trusted"), ("tier", "standard")]
    table = _get(http, "/export/counts/csv", params)
    assert table.status_code == 200, table.text
    assert table.headers["X-Complete"] == "true"
    rows = list(csv.DictReader(io.StringIO(table.text)))
    assert list(rows[0]) == [
        "period_start",
        "period_end",
        "category",
        "country_id",
        "country",
        "count",
    ]
    assert [
        (
            r["period_start"],
            r["period_end"],
            r["category"],
            r["country_id"] or None,
            int(r["count"]),
        )
        for r in rows
    ] == expected
    names = {g["country"]["id"]: g["country"]["name"] for g in groups if g["country"]}
    assert all(r["country"] == names[r["country_id"]] for r in rows if r["country_id"])
    as_json = _get(http, "/export/counts/json", params).json()
    assert as_json["eventsCounted"] == answer["eventCounts"]["eventsScanned"]
    assert as_json["groups"] == [
        {
            **r,
            "count": int(r["count"]),
            "country_id": r["country_id"] or None,
            "country": r["country"] or None,
        }
        for r in rows
    ]
    parquet = pq.read_table(io.BytesIO(_get(http, "/export/counts/parquet", params).content))
    assert parquet.column("count").to_pylist() == [int(r["count"]) for r in rows]


@pytest.mark.parametrize(
    ("path", "params", "named"),
    [
        ("/export/csv", [("tone", "angry")], "tone: 'angry' is not one of certain"),
        ("/export/csv", [("tier", "gold")], "tier: 'gold' is not one of trusted"),
        ("/export/parquet", [("entityType", "alien")], "entityType: 'alien' is not one of"),
        ("/export/csv", [("role", "x" * 101)], "role: each value must have 1 to 100"),
        ("/export/csv", [("group", f"g{i}") for i in range(21)], "group: given 21 values"),
        ("/export/csv", [("by", "period")], "by: unknown parameter"),
        ("/export/counts/csv", [], "by: give at least one of period"),
        ("/export/counts/csv", [("by", "year")], "by: 'year' is not one of period"),
        ("/export/counts/json", [("by", "period"), ("interval", "year")], "interval: 'year'"),
        ("/export/counts/csv", [("by", "period"), ("tone", "x")], "tone: 'x' is not one of"),
        ("/export/counts/csv", [("by", "period"), ("limit", "5")], "limit: unknown parameter"),
    ],
)
def test_a_bad_parameter_is_a_400_naming_it(
    served: Any, path: str, params: list[tuple[str, str]], named: str
) -> None:
    _, http = served
    response = _get(http, path, params)
    assert response.status_code == 400, response.text
    assert response.json()["errors"][0]["message"].startswith(named)


def test_counts_need_a_role_and_a_known_format(served: Any) -> None:
    _, http = served
    anonymous = asyncio.run(http.get("/export/counts/csv", params={"by": "period"}))
    assert anonymous.status_code == 401
    assert _get(http, "/export/counts/xlsx", [("by", "period")]).status_code == 404


def test_the_client_filters_and_counts_against_a_real_server(tmp_path: Path) -> None:
    store = EmbeddedStore(tmp_path / "store")
    store.setup()
    try:
        load_outlets(store)
        load_file(store, write_records(tmp_path / "analyst.jsonl"))
    finally:
        store.close()
    port = free_port()
    process = start_server(tmp_path / "store", port, env={"NEWSGRAPH_TOKENS": TOKENS})
    try:
        with Client(f"http://127.0.0.1:{port}", token=ANALYST) as nc:
            state = nc.events(tiers=["state-affiliated"], tones=["denied", "claimed"])
            frame = nc.frame(tiers=["state-affiliated"], tones=["denied", "claimed"])
            assert state and set(frame["event_id"]) == {e["id"] for e in state}
            typed = nc.events(entity_types=["organization"], roles=["target"])
            assert {e["id"] for e in typed} == {
                e["id"]
                for e in nc.events()
                if any(
                    i["entity"]["type"] == "ORGANIZATION"
                    and "target" in {r.lower() for r in i["roles"]}
                    for i in e["entities"]
                )
            }
            counts = nc.counts(by=["category", "confidence"], tiers=["trusted"])
            assert sum(c["count"] for c in counts) == len(nc.events(tiers=["trusted"]))
            assert set(counts[0]) == {"category", "confidence", "count"}
            weekly = nc.counts_frame(by=["period"], interval="week", groups=["reuters"])
            assert int(weekly["count"].sum()) == len(nc.events(groups=["reuters"]))
            with pytest.raises(NewsgraphError, match="tier: 'gold'"):
                nc.counts(tiers=["gold"])
            with pytest.raises(NewsgraphError, match="filter.roles"):
                nc.events(roles=[" "])
    finally:
        output = stop_server(process)
        assert "Traceback" not in output, output


def test_the_command_line_export_takes_the_filters(tmp_path: Path) -> None:
    store = EmbeddedStore(tmp_path / "store")
    store.setup()
    try:
        load_outlets(store)
        load_file(store, write_records(tmp_path / "analyst.jsonl"))
        flt = EventFilter(tiers=("state-affiliated",), roles=("target",))
        expected = {e.id for e in store.query_events(EventQuery(flt, first=100)).events}
    finally:
        store.close()
    assert expected
    out = tmp_path / "chosen.json"
    args = ["export", "--store", str(tmp_path / "store"), "--format", "cytoscape-json"]
    args += ["--output", str(out), "--tier", "state-affiliated", "--role", "Target"]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    nodes = json.loads(out.read_text("utf-8"))["elements"]["nodes"]
    assert {n["data"]["id"] for n in nodes if n["data"]["id"].startswith("ev_")} == expected
