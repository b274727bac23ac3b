"""`newsgraph serve` as a newcomer runs it: bundled samples in an empty store, restarts."""

from __future__ import annotations

from pathlib import Path

import httpx

from tests.test_api import PAGE_QUERY, _free_port, start_server, stop_server

EVENTS = "{ events(first: 100) { edges { node { id summary confidence { level } } } } }"


def _post(port: int, query: str, variables: dict[str, str] | None = None) -> dict[str, object]:
    body = {"query": query, "variables": variables or {}}
    response = httpx.post(f"http://127.0.0.1:{port}/graphql", json=body, timeout=10)
    assert response.status_code == 200, response.text
    payload: dict[str, object] = response.json()
    assert "errors" not in payload, payload
    return payload


def test_an_empty_store_gets_the_bundled_samples_and_a_restart_serves_the_same(
    tmp_path: Path,
) -> None:
    directory = tmp_path / "store"
    port = _free_port()
    process = start_server(directory, port, samples=True)
    try:
        listing = _post(port, EVENTS)
        edges = listing["data"]["events"]["edges"]  # type: ignore[index]
        seed = next(
            e["node"] for e in edges if e["node"]["summary"].startswith("Russian President")
        )
        page = _post(port, PAGE_QUERY, {"id": seed["id"]})
    finally:
        stop_server(process)
    assert len(edges) == 3
    assert seed["confidence"]["level"] == "VERIFIED"

    port = _free_port()
    process = start_server(directory, port, samples=True)
    try:
        assert _post(port, EVENTS) == listing  # nothing loaded twice, nothing lost
        assert _post(port, PAGE_QUERY, {"id": seed["id"]}) == page
    finally:
        stop_server(process)
