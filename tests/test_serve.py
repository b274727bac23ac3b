"""`newsgraph serve` as a newcomer runs it: bundled samples in an empty store, restarts. The one
test that runs the real command as a process (the API's own tests call the app in process);
bad settings stop the command before it serves."""

from __future__ import annotations

from pathlib import Path

import httpx
from click.testing import CliRunner

from newsgraph.cli import main
from tests.support.graphql import PAGE_QUERY
from tests.support.serve import free_port, start_server, stop_server

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
    port = free_port()
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

    port = free_port()
    process = start_server(directory, port, samples=True)
    try:
        assert _post(port, EVENTS) == listing  # nothing loaded twice, nothing lost
        assert _post(port, PAGE_QUERY, {"id": seed["id"]}) == page
    finally:
        stop_server(process)


def test_bad_settings_stop_serve_with_a_message_naming_the_variable(tmp_path: Path) -> None:
    cases = {
        "NEWSGRAPH_SUBMIT_RATE": ("lots", "Error: NEWSGRAPH_SUBMIT_RATE: 'lots' is not a rate"),
        "NEWSGRAPH_TOKENS": ("editor:alice:s3cr3t", "Error: NEWSGRAPH_TOKENS entry 1 (alice)"),
    }
    for name, (value, message) in cases.items():
        done = CliRunner().invoke(
            main,
            ["serve", "--store", str(tmp_path / "store"), "--no-samples"],
            env={name: value},
        )
        assert done.exit_code == 1, (done.output, done.exception)
        assert done.stderr.splitlines()[-1].startswith(message), done.stderr
        assert "Traceback" not in done.stderr
        assert "s3cr3t" not in done.output  # a token is never shown
