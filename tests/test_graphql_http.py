"""GraphQL over HTTP on a real `newsgraph serve`: the media type and status each Accept gets
(api.media), and graphql-http's server audit at every MUST and SHOULD (13 and 23 in 1.23.1)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from api.media import GRAPHQL_RESPONSE, JSON, preferred
from tests.support.serve import graphql_url

# The audit's version (its count of audits changes between releases) and the graphql it runs on.
GRAPHQL_HTTP = "graphql-http@1.23.1"
GRAPHQL_JS = "graphql@16.15.0"
AUDIT = Path(__file__).parent / "support" / "graphql_http_audit.cjs"
# Where npm installs them once: NEWSGRAPH_NODE_DIR, else a cache folder of the user.
NODE_DIR = Path(
    os.environ.get("NEWSGRAPH_NODE_DIR", Path.home() / ".cache" / "newsgraph" / "graphql-http")
)
NEW = {"accept": GRAPHQL_RESPONSE}
OLD = {"accept": JSON}


@pytest.mark.parametrize(
    ("accept", "media"),
    [
        (None, JSON),
        ("", JSON),
        ("*/*", JSON),
        ("application/*", JSON),
        ("application/json", JSON),
        (GRAPHQL_RESPONSE, GRAPHQL_RESPONSE),
        (f"{GRAPHQL_RESPONSE}; charset=utf-8", GRAPHQL_RESPONSE),
        (f"{GRAPHQL_RESPONSE}, application/json;q=0.9", GRAPHQL_RESPONSE),
        (f"application/json, {GRAPHQL_RESPONSE}", GRAPHQL_RESPONSE),
        (f"application/json, {GRAPHQL_RESPONSE};q=0.5", JSON),
        (f"*/*, {GRAPHQL_RESPONSE}", GRAPHQL_RESPONSE),
        (f"{GRAPHQL_RESPONSE};q=0, application/json", JSON),
        ("text/html", JSON),  # neither: the legacy type, as the spec allows
        ("application/json;q=abc", JSON),
    ],
)
def test_the_media_type_follows_the_accept_header(accept: str | None, media: str) -> None:
    assert preferred(accept) == media


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """`newsgraph serve` (a writer and a reader worker) with the bundled samples."""
    with graphql_url(tmp_path_factory.mktemp("store")) as url:
        yield url


def _post(url: str, body: object, headers: dict[str, str]) -> httpx.Response:
    return httpx.post(url, json=body, headers=headers, timeout=10)


def test_a_request_error_is_a_400_without_data_under_the_new_type(server: str) -> None:
    for query in [
        "{ events(first: 1) {",
        "{ nosuchfield }",
        "query ($n: Int!) { events(first: $n) { totalCount } }",
    ]:
        response = _post(server, {"query": query, "variables": {"n": "x"}}, NEW)
        assert response.status_code == 400, (query, response.text)
        assert response.headers["content-type"].startswith(GRAPHQL_RESPONSE)
        payload = response.json()
        assert "data" not in payload and payload["errors"], payload


def test_a_limit_refusal_is_a_request_error_too(server: str) -> None:
    aliased = "{ " + " ".join(f"a{i}: __typename" for i in range(31)) + " }"
    response = _post(server, {"query": aliased}, NEW)
    assert response.status_code == 400
    assert "aliases" in response.json()["errors"][0]["message"]


def test_application_json_keeps_200_and_null_data(server: str) -> None:
    for headers in (OLD, {}, {"accept": "*/*"}):
        response = _post(server, {"query": "{ nosuchfield }"}, headers)
        assert response.status_code == 200
        assert response.headers["content-type"] == JSON
        assert response.json()["data"] is None


def test_a_field_error_is_a_200_with_data_under_either_type(server: str) -> None:
    for headers, media in ((NEW, GRAPHQL_RESPONSE), (OLD, JSON)):
        response = _post(server, {"query": '{ event(id: "no-such-id") { id } }'}, headers)
        assert response.status_code == 200
        assert response.headers["content-type"].startswith(media)
        payload = response.json()
        assert payload["data"] == {"event": None} and payload["errors"][0]["path"] == ["event"]


def test_a_mutation_answered_by_the_writer_process_is_negotiated_there(server: str) -> None:
    # The worker sends the mutation to the writer process, which answers as the client asked.
    query = "mutation { rejectSubmission { id } }"  # arguments missing: a validation error
    response = _post(server, {"query": query}, NEW)
    assert response.status_code == 400, response.text
    assert response.headers["content-type"].startswith(GRAPHQL_RESPONSE)
    assert "data" not in response.json()
    assert _post(server, {"query": query}, OLD).status_code == 200


def test_refusals_before_graphql_keep_their_status_and_json(server: str) -> None:
    response = httpx.post(server, content=b"{", headers={**NEW, "content-type": JSON})
    assert response.status_code == 400
    assert response.headers["content-type"] == JSON


def _node_dir() -> Path:
    """graphql-http installed with npm (once), or the test fails saying why."""
    if (NODE_DIR / "node_modules" / "graphql-http" / "package.json").exists():
        return NODE_DIR
    npm = shutil.which("npm")
    assert npm is not None, "node is installed but npm is not: cannot install graphql-http"
    NODE_DIR.mkdir(parents=True, exist_ok=True)
    package = NODE_DIR / "package.json"
    if not package.exists():
        package.write_text('{"name": "newsgraph-graphql-http-audit", "private": true}\n')
    command = [npm, "install", "--prefix", str(NODE_DIR), "--no-audit", "--no-fund"]
    done = subprocess.run(
        [*command, "--loglevel=error", GRAPHQL_HTTP, GRAPHQL_JS],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, f"npm install failed: {done.stderr}"
    return NODE_DIR


def test_graphql_http_audit_passes_every_must_and_should(server: str) -> None:
    node = shutil.which("node")
    if node is None:
        pytest.skip("node is not installed: graphql-http's audit runs on Node (18 or newer)")
    done = subprocess.run(
        [node, str(AUDIT), str(_node_dir()), server], capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr
    audits = [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]
    counts = {level: sum(1 for a in audits if a["level"] == level) for level in ("MUST", "SHOULD")}
    assert counts == {"MUST": 13, "SHOULD": 23}, counts
    failed = [a for a in audits if a["level"] in ("MUST", "SHOULD") and not a["ok"]]
    assert not failed, "\n".join(f"{a['id']} {a['name']}: {a['reason']}" for a in failed)
