"""/metrics (api.metrics) and the JSON-lines log (newsgraph.logs) of a real
`newsgraph serve --workers 2`: whichever worker answers a scrape, it counts every process's
requests, refusals and errors; the log is JSON lines, with no traceback for a client's mistake."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from api.metrics import limit_of, operation_of
from newsgraph.logs import JsonFormatter
from tests.support.serve import NEWSGRAPH, free_port, stop_server
from tests.test_live import INGEST, record

TOKEN = "t" * 40
WORKERS = 2


@pytest.fixture(scope="module")
def served(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    directory = tmp_path_factory.mktemp("metrics") / "store"
    port = free_port()
    command = [str(NEWSGRAPH), "serve", "--store", str(directory), "--port", str(port)]
    env = {
        k: v for k, v in os.environ.items() if k != "PROMETHEUS_MULTIPROC_DIR"
    }  # serve makes its own
    process = subprocess.Popen(
        [*command, "--workers", str(WORKERS)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        env={
            **env,
            "PYTHONUNBUFFERED": "1",
            "NEWSGRAPH_TOKENS": f"loader:extractor:{TOKEN}",
            "NEWSGRAPH_WRITE_QUEUE": "1",
        },
    )
    deadline = time.monotonic() + 120
    while True:
        assert process.poll() is None and time.monotonic() < deadline, "serve did not start"
        try:
            if httpx.get(f"http://127.0.0.1:{port}/ready", timeout=1).status_code == 200:
                break
        except httpx.TransportError:
            time.sleep(0.1)
    try:
        yield f"127.0.0.1:{port}", process
    finally:
        stop_server(process)


def _scrape(address: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """The samples of /metrics, asked on a fresh connection (any worker may answer)."""
    text = httpx.get(f"http://{address}/metrics", headers={"connection": "close"}).text
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def _value(
    samples: dict[tuple[str, tuple[tuple[str, str], ...]], float], name: str, **labels: str
) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def test_every_worker_reports_the_requests_of_all(
    served: tuple[str, subprocess.Popen[bytes]],
) -> None:
    address, _ = served
    url = f"http://{address}/graphql"
    for _ in range(10):  # fresh connections: spread over both workers
        response = httpx.post(
            url,
            json={"query": "{ events(first: 1) { edges { node { id } } } }"},
            headers={"connection": "close"},
        )
        assert response.status_code == 200
    httpx.post(url, content=b"{", headers={"content-type": "application/json"})
    httpx.post(url, json={"query": "{ x }"}, headers={"authorization": "Bearer wrong"})
    httpx.post(url, content=b"x" * 70_000, headers={"content-type": "application/json"})
    aliased = "{ " + " ".join(f"a{i}: __typename" for i in range(31)) + " }"
    httpx.post(url, json={"query": aliased})
    httpx.post(url, json={"query": "{ nosuchfield }"})
    httpx.post(url, json={"query": '{ event(id: "nope") { id } }'})
    # a mutation, answered by the writer process (arguments missing: a validation error)
    httpx.post(url, json={"query": "mutation { rejectSubmission { id } }"})

    scrapes = [_scrape(address) for _ in range(6)]
    # the ten, the unknown event, the unknown field and the aliases: queries answered 200
    for samples in scrapes:  # the same whichever worker answered
        requests = "newsgraph_requests_total"
        assert _value(samples, requests, route="/graphql", operation="query", status="200") == 13
        assert _value(samples, requests, route="/graphql", operation="mutation", status="200") == 1
        assert _value(samples, requests, route="/graphql", operation="none", status="401") == 1
        assert _value(samples, "newsgraph_refusals_total", reason="token") == 1
        assert _value(samples, "newsgraph_refusals_total", reason="body_size") == 1
        assert _value(samples, "newsgraph_refusals_total", reason="malformed") == 1
        assert _value(samples, "newsgraph_refusals_total", reason="aliases") == 1
        # nosuchfield, the aliases and the mutation's missing arguments; the unknown event
        assert _value(samples, "newsgraph_graphql_errors_total", kind="request") == 3
        assert _value(samples, "newsgraph_graphql_errors_total", kind="field") == 1
        latency = _value(
            samples, "newsgraph_request_duration_seconds_count", route="/graphql", operation="query"
        )
        assert latency == 13
        assert _value(samples, "newsgraph_write_queue") == 0


def test_a_full_write_queue_is_counted_as_refusals(
    served: tuple[str, subprocess.Popen[bytes]],
) -> None:
    address, _ = served
    records = [
        record(f"m-{i}-{uuid.uuid4().hex[:6]}", "cyber", "Reuters", f"M {i}.") for i in range(300)
    ]
    before = _scrape(address)

    async def burst() -> list[int]:
        async with httpx.AsyncClient(timeout=120) as http:
            responses = await asyncio.gather(
                *(
                    http.post(
                        f"http://{address}/graphql",
                        json={"query": INGEST, "variables": {"records": records[i::12]}},
                        headers={"Authorization": f"Bearer {TOKEN}"},
                    )
                    for i in range(12)
                )
            )
        return [r.status_code for r in responses]

    statuses = asyncio.run(burst())
    assert 429 in statuses and set(statuses) <= {200, 429}, statuses
    after = _scrape(address)

    def grew(name: str, **labels: str) -> float:
        return _value(after, name, **labels) - _value(before, name, **labels)

    assert grew("newsgraph_refusals_total", reason="too_many") == statuses.count(429)
    assert grew(
        "newsgraph_requests_total", route="/graphql", operation="mutation", status="200"
    ) == statuses.count(200)
    assert _value(after, "newsgraph_write_queue") == 0  # all answered: none waiting


def test_the_log_is_json_lines_without_tracebacks_of_client_mistakes(
    served: tuple[str, subprocess.Popen[bytes]],
) -> None:
    address, process = served
    host, port = address.split(":")
    with socket.create_connection((host, int(port))) as sock:  # not HTTP
        sock.sendall(b"GET / HTTP/1.1\r\nContent-Length: nope\r\n\r\n")
        assert sock.recv(100).startswith(b"HTTP/1.1 400")
    httpx.post(
        f"http://{address}/graphql",
        content=b"\xff\xfe",
        headers={"content-type": "application/json"},
    )
    output = stop_server(process)
    lines = [line for line in output.splitlines() if line.startswith("{")]
    assert any("Invalid HTTP request received." in line for line in lines), output
    for line in lines:
        record = json.loads(line)
        assert {"time", "level", "logger", "message", "pid"} <= set(record)
        assert "traceback" not in record, line
    # what is not a log line is the command's two lines at start
    others = [line for line in output.splitlines() if line and not line.startswith("{")]
    assert all(line.startswith(("newsgraph: GraphQL at", "empty store:")) for line in others), (
        output
    )


def test_an_internal_failure_is_logged_with_its_traceback() -> None:
    try:
        raise ValueError("boom")
    except ValueError:
        record = logging.LogRecord(
            "api", logging.ERROR, __file__, 1, "failed", None, sys.exc_info()
        )
    line = json.loads(JsonFormatter().format(record))
    assert line["error"] == "ValueError: boom" and "Traceback" in line["traceback"]
    mistake = logging.LogRecord(
        "uvicorn.error",
        logging.WARNING,
        __file__,
        1,
        "Invalid HTTP request received.",
        None,
        record.exc_info,
    )
    assert "traceback" not in json.loads(JsonFormatter().format(mistake))


@pytest.mark.parametrize(
    ("query", "name", "operation"),
    [
        ("{ a }", None, "query"),
        ("mutation { a }", None, "mutation"),
        ("subscription S { a } query Q { b }", "S", "subscription"),
        ("query A { a } query B { b }", None, "unknown"),
        ("{", None, "unknown"),
        (None, None, "unknown"),
    ],
)
def test_operation_of(query: object, name: object, operation: str) -> None:
    assert operation_of(query, name) == operation


def test_each_limit_is_named_by_its_message() -> None:
    from graphql import GraphQLError

    messages = {
        "'q' exceeds maximum operation depth of 10": "depth",
        "31 aliases found. Allowed: 30": "aliases",
        "Syntax Error: Document contains more than 2000 tokens. Parsing aborted.": "tokens",
        "argument 'text' of search is longer than 2,000 characters (3,000)": "string_length",
        "51 variables: at most 50 per request": "variables",
        "GraphQL introspection has been disabled, but the query asked for '__schema'.": (
            "introspection"
        ),
        "Cannot query field 'x' on type 'Query'.": None,
    }
    for message, limit in messages.items():
        assert limit_of(GraphQLError(message)) == limit, message
