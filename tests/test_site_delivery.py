"""Delivering pages to caches, on each store kind: GET answers with ETag and Cache-Control, 304
while nothing was written, 200 with the new data after a write; automatic persisted queries;
gzip; CORS."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from api.app import create_app
from api.config import AppConfig
from api.delivery import _answered_at
from graph.model import Label, NodeWrite, PropertyWrite, WriteBatch
from graph.store import GraphStore
from tests.conftest import load_outlets
from tests.support.graphql import GraphQLClient

OUTLETS = "{ outlets(first: 100) { totalCount edges { node { name } } } }"
SITE = "https://site.example"


class Client(GraphQLClient):
    def get(self, params: dict[str, Any], headers: dict[str, str] | None = None) -> httpx.Response:
        query = {k: v if isinstance(v, str) else json.dumps(v) for k, v in params.items()}
        return self._runner.run(self._http.get("/graphql", params=query, headers=headers))

    def post(self, body: dict[str, Any], headers: dict[str, str] | None = None) -> httpx.Response:
        return self._runner.run(self._http.post("/graphql", json=body, headers=headers))

    def options(self, headers: dict[str, str]) -> httpx.Response:
        return self._runner.run(self._http.options("/graphql", headers=headers))


@pytest.fixture
def site(store: GraphStore) -> Iterator[Client]:
    load_outlets(store)
    config = AppConfig(cors_origins=(SITE,), cache_max_age=30, gzip_minimum_size=200)
    client = Client(create_app(store, config=config))
    try:
        yield client
    finally:
        client.close()


def _names(response: httpx.Response) -> list[str]:
    assert response.status_code == 200, response.text
    edges = response.json()["data"]["outlets"]["edges"]
    return [e["node"]["name"] for e in edges]


def test_a_get_page_is_cacheable_and_revalidated(site: Client) -> None:
    first = site.get({"query": OUTLETS})
    assert "Reuters" in _names(first)
    tag = first.headers["etag"]
    assert first.headers["cache-control"] == "public, max-age=30, must-revalidate"
    assert "Accept" in first.headers["vary"]
    again = site.get({"query": OUTLETS}, {"If-None-Match": tag})
    assert again.status_code == 304
    assert again.content == b""
    assert again.headers["etag"] == tag
    # another page, another validator
    other = site.get({"query": "{ entities { totalCount } }"}, {"If-None-Match": tag})
    assert other.status_code == 200
    assert other.headers["etag"] != tag


def test_a_write_changes_every_pages_etag(site: Client, store: GraphStore) -> None:
    before = site.get({"query": OUTLETS})
    tag = before.headers["etag"]
    assert "Zeta Wire" not in _names(before)
    outlet = PropertyWrite(set={"name": "Zeta Wire", "tier": "unknown"})
    store.write(WriteBatch(nodes=[NodeWrite("ou_zeta", Label.OUTLET, outlet)]))
    after = site.get({"query": OUTLETS}, {"If-None-Match": tag})
    assert after.status_code == 200
    assert "Zeta Wire" in _names(after)
    assert after.headers["etag"] != tag


def test_post_answers_and_errors_are_not_kept(site: Client) -> None:
    posted = site.post({"query": OUTLETS})
    assert posted.status_code == 200 and "etag" not in posted.headers
    refused = site.get({"query": "{ outlets(first: 500) { totalCount } }"})
    assert refused.json()["errors"][0]["message"] == "first must be between 1 and 100, got 500"


def test_automatic_persisted_queries(site: Client) -> None:
    digest = hashlib.sha256(OUTLETS.encode()).hexdigest()
    persisted = {"persistedQuery": {"version": 1, "sha256Hash": digest}}
    unknown = site.get({"extensions": persisted})
    assert unknown.status_code == 200
    assert unknown.headers["cache-control"] == "no-store"
    assert unknown.json() == {
        "errors": [
            {
                "message": "PersistedQueryNotFound",
                "extensions": {"code": "PERSISTED_QUERY_NOT_FOUND"},
            }
        ]
    }
    # the client sends the query with its hash once (Apollo's link: a POST, or a GET)
    assert "Reuters" in _names(site.post({"query": OUTLETS, "extensions": persisted}))
    by_hash = site.get({"extensions": persisted})
    assert "Reuters" in _names(by_hash)
    assert "etag" in by_hash.headers
    wrong = site.post({"query": "{ entities { totalCount } }", "extensions": persisted})
    assert wrong.json()["errors"][0]["message"] == "provided sha does not match query"


def test_large_answers_are_gzipped(site: Client) -> None:
    answer = site.get({"query": OUTLETS}, {"Accept-Encoding": "gzip"})
    assert answer.headers["content-encoding"] == "gzip"
    assert "Reuters" in _names(answer)  # httpx decodes it
    small = site.get({"query": "{ entities { totalCount } }"}, {"Accept-Encoding": "gzip"})
    assert "content-encoding" not in small.headers


def test_cors_lets_the_configured_site_read_pages_and_etags(site: Client) -> None:
    preflight = site.options(
        {
            "Origin": SITE,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "content-type",
        }
    )
    assert preflight.status_code == 200
    assert preflight.headers["access-control-allow-origin"] == SITE
    page = site.get({"query": OUTLETS}, {"Origin": SITE})
    assert page.headers["access-control-allow-origin"] == SITE
    assert "etag" in page.headers["access-control-expose-headers"].lower()
    elsewhere = site.get({"query": OUTLETS}, {"Origin": "https://other.example"})
    assert "access-control-allow-origin" not in elsewhere.headers


def test_without_origins_no_cors_headers(store: GraphStore, tmp_path: Path) -> None:
    client = Client(create_app(store))
    try:
        page = client.get({"query": "{ entities { totalCount } }"}, {"Origin": SITE})
        assert page.status_code == 200
        assert "access-control-allow-origin" not in page.headers
    finally:
        client.close()


def test_an_answer_from_the_analyst_process_is_tagged_with_its_own_position() -> None:
    # the analyst process (serve --workers) may be behind the worker relaying its answer
    behind = [(b"x-newsgraph-process", b"analyst"), (b"x-newsgraph-change", b"7")]
    assert _answered_at(behind, 9) == 7
    assert (
        _answered_at([(b"x-newsgraph-process", b"reader"), (b"x-newsgraph-change", b"7")], 9) == 9
    )
    assert _answered_at([], 9) == 9
