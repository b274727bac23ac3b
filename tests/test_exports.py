"""Exports over HTTP for analysts (`/export/{format}`, api/exports.py) on both stores, and the
Python client (newsgraph/client.py) against a real `newsgraph serve` (issue 18)."""

from __future__ import annotations

import asyncio
import csv
import io
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import networkx as nx
import pyarrow.parquet as pq
import pytest

from graph.store import GraphStore
from newsgraph.client import Client, NewsgraphError
from tests.conftest import EXTRACTOR
from tests.support.graphql import GraphQLClient, bearer
from tests.support.serve import free_port, start_server, stop_server
from tests.support.served import with_http

ANALYST = "analyst-token-0123456789abcdefghijklmnop"
LOADER = "loader-token-0123456789abcdefghijklmnopq"
TOKENS = f"analyst:ana:{ANALYST},loader:extractor:{LOADER}"
PAIR = ("Vladimir Putin", "Alexander Lukashenko")
ALL_EVENTS = """{ events(first: 100) { edges { node { id occurredOn
  entities { entity { name aliases } } } } } }"""


def _names(event: dict[str, Any]) -> set[str]:
    return {n for i in event["entities"] for n in (i["entity"]["name"], *i["entity"]["aliases"])}


def _with_all(client: GraphQLClient, names: tuple[str, ...]) -> set[str]:
    """The events involving every one of `names`, read through GraphQL (another path)."""
    events = [e["node"] for e in client.data(ALL_EVENTS)["events"]["edges"]]
    return {e["id"] for e in events if set(names) <= _names(e)}


@pytest.fixture
def served(store: GraphStore) -> Iterator[tuple[GraphQLClient, httpx.AsyncClient]]:
    yield from with_http(store, EXTRACTOR / "samples.jsonl", TOKENS)


def _get(http: httpx.AsyncClient, path: str, token: str | None = ANALYST, **params: Any) -> Any:
    return asyncio.run(http.get(path, params=params, headers=bearer(token)))


def test_an_entity_pairs_events_as_csv_and_parquet(served: Any) -> None:
    client, http = served
    wanted = _with_all(client, PAIR)
    assert wanted  # the samples have the pair's meeting
    response = _get(http, "/export/csv", entity=list(PAIR))
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/csv")
    assert "attachment" in response.headers["content-disposition"]
    table = list(csv.DictReader(io.StringIO(response.text)))
    assert {row["event_id"] for row in table} == wanted
    for row in table:
        assert set(PAIR) <= set(row["actors"].split("; "))
        assert int(row["sources"]) >= 1 and row["date"] and row["confidence"]
    parquet = _get(http, "/export/parquet", entity=list(PAIR))
    assert parquet.status_code == 200, parquet.text
    frame = pq.read_table(io.BytesIO(parquet.content)).to_pylist()
    assert {row["event_id"] for row in frame} == wanted
    assert all(set(PAIR) <= set(row["actors"]) for row in frame)  # a list column
    # one entity: all its events; none: every event
    alone = _get(http, "/export/csv", entity=PAIR[0])
    assert {r["event_id"] for r in csv.DictReader(io.StringIO(alone.text))} == _with_all(
        client, PAIR[:1]
    )
    every = _get(http, "/export/csv")
    assert len(list(csv.DictReader(io.StringIO(every.text)))) == len(_with_all(client, ()))


def test_gexf_carries_time_spans_for_gephis_timeline(served: Any) -> None:
    client, http = served
    response = _get(http, "/export/gexf", entity=PAIR[0])
    assert response.status_code == 200, response.text
    assert b'mode="dynamic"' in response.content
    graph = nx.read_gexf(io.BytesIO(response.content))
    events = {e["id"]: e for e in (x["node"] for x in client.data(ALL_EVENTS)["events"]["edges"])}
    spans = 0
    for node_id, attrs in graph.nodes(data=True):
        if node_id in events:
            day = str(events[node_id]["occurredOn"])[:10]
            assert (attrs["start"], attrs["end"]) == (day, day)
            spans += 1
        else:  # an entity, outlet, place or story: the days of the events it touches
            assert attrs["start"] <= attrs["end"]
    assert spans == len(_with_all(client, PAIR[:1]))


def test_exports_need_a_role(served: Any) -> None:
    _, http = served
    anonymous = _get(http, "/export/csv", token=None)
    assert anonymous.status_code == 401
    assert "analyst, editor, admin role" in anonymous.json()["errors"][0]["message"]
    loader = _get(http, "/export/csv", token=LOADER)
    assert loader.status_code == 403
    assert "extractor (loader)" in loader.json()["errors"][0]["message"]
    assert _get(http, "/export/csv", token="not-a-token").status_code == 401


@pytest.mark.parametrize(
    ("params", "named"),
    [
        ({"entity": "Nobody At All"}, "entity:"),
        ({"from": "9999-01-01"}, "from:"),
        ({"from": "2025-03-14", "to": "2025-03-13"}, "from: after to"),
        ({"to": "yesterday"}, "to: 'yesterday' is not a date"),
        ({"category": "gossip"}, "category: 'gossip' is not a category"),
        ({"minConfidence": "certain"}, "minConfidence:"),
        ({"outlet": "ou_nothing"}, "outlet: no outlet"),
        ({"limit": "5"}, "limit: unknown parameter"),
        ({"from": ["2025-01-01", "2025-02-01"]}, "from: given 2 times"),
    ],
)
def test_a_bad_parameter_is_refused_naming_it(
    served: Any, params: dict[str, Any], named: str
) -> None:
    _, http = served
    response = _get(http, "/export/csv", **params)
    assert response.status_code == 400, response.text
    assert response.json()["errors"][0]["message"].startswith(named)


def test_an_unknown_format_is_a_404_naming_the_formats(served: Any) -> None:
    _, http = served
    response = _get(http, "/export/xlsx")
    assert response.status_code == 404
    assert "csv" in response.json()["errors"][0]["message"]


def test_the_client_gives_a_data_frame_of_a_pair_against_a_real_server(tmp_path: Path) -> None:
    port = free_port()
    process = start_server(tmp_path / "store", port, samples=True, env={"NEWSGRAPH_TOKENS": TOKENS})
    try:
        url = f"http://127.0.0.1:{port}"
        with Client(url, token=ANALYST) as nc:
            frame = nc.frame(entities=list(PAIR))  # pandas
            events = nc.events()
            named = {e["id"]: {i["entity"]["name"] for i in e["entities"]} for e in events}
            pair = {event for event, names in named.items() if set(PAIR) <= names}
            assert set(frame["event_id"]) == pair and len(frame) == len(pair) >= 1
            by_name = {
                i["entity"]["name"]: i["entity"]["id"] for e in events for i in e["entities"]
            }
            both = nc.events(entities=[by_name[PAIR[0]], by_name[PAIR[1]]])
            assert {e["id"] for e in both} == pair  # the same pair through GraphQL
            assert list(frame.columns)[:3] == ["event_id", "date", "category"]
            timeline = nc.timeline(PAIR[0])
            assert [e["occurredOn"] for e in timeline] == sorted(e["occurredOn"] for e in timeline)
            assert pair <= {e["id"] for e in timeline}
            assert len(nc.events(limit=2)) == 2
            with pytest.raises(NewsgraphError, match="entity: "):
                nc.frame(entities=["Nobody At All"])
            with pytest.raises(NewsgraphError, match="no entity"):
                nc.timeline("Nobody At All")
        with Client(url) as anonymous, pytest.raises(NewsgraphError, match="HTTP 401"):
            anonymous.export("csv")
    finally:
        output = stop_server(process)
        assert "Traceback" not in output, output


PLACED = """{ events(first: 100) { edges { node { id latitude longitude
  place { name countryCode region } country { name countryCode } } } } }"""


def test_a_rows_place_and_point_are_the_pages(served: Any) -> None:
    """The conflict-data columns say where as the event's page does: its chosen place and
    country, the country's ISO code, the place's region, and the point with its precision (a
    record's point, else its place's from the gazetteer)."""
    client, http = served
    pages = {e["node"]["id"]: e["node"] for e in client.data(PLACED)["events"]["edges"]}
    table = list(csv.DictReader(io.StringIO(_get(http, "/export/csv").text)))
    assert {row["event_id"] for row in table} == set(pages)
    for row in table:
        page = pages[row["event_id"]]
        place, country = page["place"] or {}, page["country"] or {}
        assert row["place"] == (place.get("name") or "")
        assert row["country"] == (country.get("name") or "")
        code = country.get("countryCode") or place.get("countryCode") or ""
        assert row["country_code"] == code
        assert row["admin1"] == (place.get("region") or "")
        shown = (page["latitude"], page["longitude"])
        if None in shown:
            assert (row["latitude"], row["longitude"], row["geo_precision"]) == ("", "", "")
        else:
            assert (float(row["latitude"]), float(row["longitude"])) == shown
            assert row["geo_precision"] in {"point", "place"}
    # the seed event: Moscow, Russia; no record gives a point, so the gazetteer's for Moscow
    [seed] = [r for r in table if "Union State" in r["summary"]]
    assert (seed["country"], seed["country_code"], seed["geo_precision"]) == (
        "Russia",
        "RU",
        "place",
    )
