"""`newsgraph serve` as a newcomer runs it: bundled samples in an empty store, restarts."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import httpx

from graph.embedded import EmbeddedStore
from graph.model import Label, Merge, NodeWrite, WriteBatch
from tests.test_api import NEWSGRAPH, PAGE_QUERY, _free_port, start_server, stop_server

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


def test_internal_failures_are_masked_and_logged_client_mistakes_answered(
    tmp_path: Path,
) -> None:
    directory = tmp_path / "store"
    store = EmbeddedStore(directory)
    store.setup()
    try:  # an event the API cannot render: its category is not one it knows
        store.write(
            WriteBatch(
                nodes=[
                    NodeWrite(
                        "ev_broken",
                        Label.EVENT,
                        Merge(set={"category": "bogus", "occurred_on": "2025-01-01"}),
                    )
                ]
            )
        )
    finally:
        store.close()
    port = _free_port()
    process = start_server(directory, port)
    try:
        url = f"http://127.0.0.1:{port}/graphql"
        broken = httpx.post(url, json={"query": '{ event(id: "ev_broken") { category } }'})
        assert broken.status_code == 200
        assert broken.json()["errors"][0]["message"] == "Unexpected error."
        query = "query($id: ID!) { event(id: $id) { id } }"
        bad = httpx.post(url, json={"query": query, "variables": {"id": [1]}})
        assert bad.status_code == 200
        assert "ID cannot represent value: [1]" in bad.json()["errors"][0]["message"]
        missing = httpx.post(url, json={"query": '{ event(id: "ev_nope") { id } }'})
        assert missing.json()["errors"][0]["message"] == "no event with id 'ev_nope'"
    finally:
        log = stop_server(process)
    assert "'bogus' is not a valid Category" in log  # the operator sees what went wrong
    assert "ev_nope" not in log and "cannot represent" not in log  # clients' mistakes are not


def test_bad_settings_stop_serve_with_a_message_naming_the_variable(tmp_path: Path) -> None:
    cases = {
        "NEWSGRAPH_SUBMIT_RATE": ("lots", "Error: NEWSGRAPH_SUBMIT_RATE: 'lots' is not a rate"),
        "NEWSGRAPH_TOKENS": ("editor:alice:s3cr3t", "Error: NEWSGRAPH_TOKENS entry 1 (alice)"),
    }
    for name, (value, message) in cases.items():
        done = subprocess.run(
            [str(NEWSGRAPH), "serve", "--store", str(tmp_path / "store"), "--no-samples"],
            capture_output=True,
            text=True,
            timeout=60,
            env={**os.environ, name: value},
        )
        assert done.returncode == 1, done
        assert done.stderr.splitlines()[-1].startswith(message), done.stderr
        assert "Traceback" not in done.stderr
        assert "s3cr3t" not in done.stderr  # a token is never shown
