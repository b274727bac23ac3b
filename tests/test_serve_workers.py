"""`newsgraph serve --workers 2` on the embedded store, as production runs it: the CLI loads
beside the server, mutations go through the writer process, a worker killed is started again,
live updates come from whoever wrote, and a full write queue is refused with 429 (issue 14);
queries selecting heavy fields are answered by the analyst process, and by the workers while
it is gone (issue 16)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import socket
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from api.config import DEFAULT_WS_MAX_SOCKETS_PER_CLIENT
from tests.conftest import DATA, shared_file
from tests.support.serve import NEWSGRAPH, free_port, stop_server
from tests.support.websocket import EVENT_ADDED, PROTOCOL, WAIT, Client, websocket
from tests.test_live import INGEST, TOKEN, record

WORKERS = 2
ADMIN = "workers-admin-token-0123456789abcdefghij"
EVENTS = "{ events(first: 100) { edges { node { id } } } }"


def _start(directory: Path, port: int, env: dict[str, str]) -> subprocess.Popen[bytes]:
    command = [str(NEWSGRAPH), "serve", "--store", str(directory), "--port", str(port)]
    process = subprocess.Popen(
        [*command, "--workers", str(WORKERS)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        env={**os.environ, "PYTHONUNBUFFERED": "1", **env},
    )
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        assert process.poll() is None, process.stdout.read().decode() if process.stdout else ""
        try:
            if httpx.get(f"http://127.0.0.1:{port}/ready", timeout=1).status_code == 200:
                return process
        except httpx.TransportError:
            time.sleep(0.1)
    process.kill()
    raise AssertionError("newsgraph serve --workers was not ready in 120 s")


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    directory = tmp_path_factory.mktemp("workers") / "store"
    port = free_port()
    env = {
        "NEWSGRAPH_TOKENS": f"loader:extractor:{TOKEN},admin:root:{ADMIN}",
        "NEWSGRAPH_WRITE_QUEUE": "1",
    }
    process = _start(directory, port, env)
    try:
        yield f"127.0.0.1:{port}", directory
    finally:
        output = stop_server(process)
        assert "Traceback" not in output, output
        assert not _workers(directory), "a worker outlived its server"
        assert not _analysts(directory), "the analyst outlived its server"


def _processes(pattern: str) -> list[int]:
    found = subprocess.run(["pgrep", "-f", pattern], capture_output=True, text=True)
    return [int(pid) for pid in found.stdout.split()]


def _workers(directory: Path) -> list[int]:
    return _processes(f"newsgraph.serving --host .*--store {directory}")


def _analysts(directory: Path) -> list[int]:
    return _processes(f"newsgraph.serving --serve-analyst .*--store {directory}")


def _post(
    address: str,
    query: str,
    variables: dict[str, Any] | None = None,
    headers: dict[str, str] | None = None,
) -> httpx.Response:
    body = {"query": query, "variables": variables or {}}
    return httpx.post(f"http://{address}/graphql", json=body, headers=headers, timeout=WAIT)


def _event_ids(address: str) -> set[str]:
    response = _post(address, EVENTS)
    assert response.status_code == 200, response.text
    return {e["node"]["id"] for e in response.json()["data"]["events"]["edges"]}


def _until(check: Any, seconds: float = 10.0) -> None:
    deadline = time.monotonic() + seconds
    while not check():
        assert time.monotonic() < deadline, "not within the time allowed"
        time.sleep(0.05)


def _every_worker_shows(address: str, wanted: set[str]) -> None:
    """Asked on fresh connections (spread over the workers), every answer shows `wanted`."""
    _until(lambda: all(wanted <= _event_ids(address) for _ in range(3 * WORKERS)))


def test_a_cli_load_beside_the_server_reaches_every_worker(served: tuple[str, Path]) -> None:
    address, directory = served
    before = _event_ids(address)
    source = shared_file(DATA / "wikitimes-2015-09.jsonl")
    loaded = subprocess.run(
        [str(NEWSGRAPH), "load", str(source), "--store", str(directory), "--batch-size", "50"],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=directory.parent,
    )
    assert loaded.returncode == 0, loaded.stderr  # no "store in use": it writes beside serve
    stats = subprocess.run(
        [str(NEWSGRAPH), "stats", "--store", str(directory)], capture_output=True, text=True
    )
    assert stats.returncode == 0, stats.stderr  # a reader, beside both
    response = _post(address, "{ events(first: 1) { edges { node { id } } } }")
    assert int(response.headers["x-newsgraph-change"]) >= 1
    _until(lambda: len(_event_ids(address) - before) >= 50)


def test_a_mutation_through_a_worker_answers_with_its_own_write(served: tuple[str, Path]) -> None:
    address, _ = served
    tag = uuid.uuid4().hex[:8]
    records = [record(f"rw-{tag}", "cyber", "Reuters", f"Written {tag}.")]
    response = _post(
        address,
        INGEST,
        variables={"records": records},
        headers={"Authorization": f"Bearer {TOKEN}"},
    )
    assert response.status_code == 200, response.text
    (result,) = response.json()["data"]["ingest"]["results"]
    event_id = result["eventId"]
    # the worker that answered shows the write already; every worker soon does
    seq = int(response.headers["x-newsgraph-change"])
    assert seq >= 1
    query = "query($id: ID!) { event(id: $id) { summary } }"
    _until(
        lambda: all(
            _post(address, query, variables={"id": event_id}).json()["data"]["event"]
            for _ in range(3 * WORKERS)
        )
    )


def test_a_worker_killed_is_started_again_and_catches_up(served: tuple[str, Path]) -> None:
    address, directory = served
    victim = _workers(directory)[0]
    os.kill(victim, signal.SIGKILL)
    # the other keeps serving meanwhile; a connection the dead one had queued is reset, and a
    # client retries it once, as HTTP clients do (docs/changes.md)
    for _ in range(10):
        try:
            response = _post(address, EVENTS)
        except httpx.TransportError:
            response = _post(address, EVENTS)
        assert response.status_code == 200
    _until(lambda: len(_workers(directory)) == WORKERS and victim not in _workers(directory), 30)
    everything = _event_ids(address)
    _every_worker_shows(address, everything)


def test_a_cli_load_reaches_a_live_subscriber(served: tuple[str, Path]) -> None:
    address, directory = served
    tag = uuid.uuid4().hex[:8]
    source = directory.parent / f"live-{tag}.jsonl"
    source.write_text(json.dumps(record(f"cli-{tag}", "cyber", "Reuters", f"CLI {tag}.")) + "\n")

    async def scenario() -> None:
        async with websocket(f"ws://{address}/graphql") as client:
            operation = await client.subscribe(EVENT_ADDED, {"filter": {"categories": ["CYBER"]}})
            loading = await asyncio.create_subprocess_exec(
                str(NEWSGRAPH),
                "load",
                str(source),
                "--store",
                str(directory),
                cwd=directory.parent,
            )
            assert await loading.wait() == 0
            event = (await client.next(operation))["eventAdded"]
            assert event["summary"] == f"CLI {tag}."

    asyncio.run(scenario())


def test_a_full_write_queue_is_refused_with_429_and_retry_after(served: tuple[str, Path]) -> None:
    address, _ = served
    records = [
        record(f"q-{i}-{uuid.uuid4().hex[:6]}", "cyber", "Reuters", f"Q {i}.") for i in range(300)
    ]

    async def burst() -> list[httpx.Response]:
        async with httpx.AsyncClient(timeout=120) as http:
            return await asyncio.gather(
                *(
                    http.post(
                        f"http://{address}/graphql",
                        json={"query": INGEST, "variables": {"records": records[i::12]}},
                        headers={"Authorization": f"Bearer {TOKEN}"},
                    )
                    for i in range(12)
                )
            )

    responses = asyncio.run(burst())
    statuses = [r.status_code for r in responses]
    assert set(statuses) <= {200, 429}, statuses
    refused = [r for r in responses if r.status_code == 429]
    assert refused, f"12 writes at once with a queue of 1 per worker: {statuses}"
    assert refused[0].headers["retry-after"] == "1"
    assert "try again" in refused[0].json()["errors"][0]["message"]
    assert 200 in statuses  # the queue was full, not the writer gone


def test_a_mutation_over_websocket_is_refused_naming_http(served: tuple[str, Path]) -> None:
    address, _ = served

    async def scenario() -> None:
        async with websocket(f"ws://{address}/graphql") as client:
            mutation = (
                'mutation { submitSource(eventId: "x", url: "https://e.org", outletName: "E") '
                "{ id } }"
            )
            operation = await client.subscribe(mutation)
            message = await client.receive()
            assert message["type"] == "error" and message["id"] == operation, message
            assert "HTTP POST" in message["payload"][0]["message"]

    asyncio.run(scenario())


async def _open_sockets(url: str, count: int, stack: contextlib.AsyncExitStack) -> list[object]:
    """`count` WebSockets opened one after another (the kernel spreads them over the workers),
    each kept open in `stack`: "connection_ack", or the code the server closed it with."""
    outcomes: list[object] = []
    for _ in range(count):
        raw = await stack.enter_async_context(
            connect(url, subprotocols=[PROTOCOL], open_timeout=WAIT)
        )
        client = Client(raw)
        try:
            await client.send({"type": "connection_init", "payload": {}})
            outcomes.append((await client.receive())["type"])
        except ConnectionClosed:
            outcomes.append(raw.close_code)
    return outcomes


def test_websockets_per_client_are_capped_across_the_workers(served: tuple[str, Path]) -> None:
    # The cap is one count shared by the workers (api.sockets): with a count per worker, the
    # 12 sockets, spread over 2 workers, would all be taken.
    address, _ = served
    url = f"ws://{address}/graphql"
    cap = DEFAULT_WS_MAX_SOCKETS_PER_CLIENT

    async def scenario() -> None:
        async with contextlib.AsyncExitStack() as stack:
            outcomes = await _open_sockets(url, cap + 4, stack)
            assert outcomes.count("connection_ack") == cap, outcomes
            assert outcomes.count(4429) == 4, outcomes
        # closed, they count no more, in whichever worker they were
        async with contextlib.AsyncExitStack() as stack:
            assert await _open_sockets(url, cap, stack) == ["connection_ack"] * cap

    asyncio.run(scenario())


def test_every_process_records_into_one_audit(served: tuple[str, Path]) -> None:
    # a token refused by a worker, a loader's mutation answered by the writer process: one
    # record, in the store's directory, which an admin reads from any worker
    address, directory = served
    bad = httpx.post(
        f"http://{address}/graphql",
        json={"query": "{ __typename }"},
        headers={"Authorization": "Bearer no-such-token-0123456789abcdefghijklmn"},
    )
    assert bad.status_code == 401
    tag = uuid.uuid4().hex[:8]
    ingest = {"records": [record(f"audit-{tag}", "cyber", "Reuters", f"Audit {tag}.")]}
    loader = {"Authorization": f"Bearer {TOKEN}"}
    assert "errors" not in _post(address, INGEST, ingest, loader).json()
    assert (directory / "audit.sqlite3").is_file()
    query = "{ auditLog(first: 20) { edges { node { actor action outcome process } } } }"

    def recorded() -> bool:
        answer = httpx.post(
            f"http://{address}/graphql",
            json={"query": query},
            headers={"Authorization": f"Bearer {ADMIN}"},
        ).json()
        nodes = [e["node"] for e in answer["data"]["auditLog"]["edges"]]
        kinds = {(n["actor"], n["action"].split("(")[0], n["outcome"], n["process"]) for n in nodes}
        wanted = {
            ("unknown", "authenticate", "REFUSED", "reader"),
            ("extractor", "mutation ingest", "OK", "writer"),
        }
        return wanted <= kinds

    _until(recorded)


def test_a_second_server_on_the_same_port_is_refused(served: tuple[str, Path]) -> None:
    address, directory = served
    port = address.rpartition(":")[2]
    second = subprocess.run(
        [str(NEWSGRAPH), "serve", "--store", str(directory.parent / "other"), "--port", port],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert second.returncode != 0
    assert "address already in use" in second.stderr.lower(), second.stderr
    assert _post(address, EVENTS).status_code == 200  # the first one still serves


RANKINGS = "{ rankings(metric: DEGREE, first: 5) { entities { entity { name } } complete } }"
HIDDEN = """
query Hub { ...Top }
fragment Top on Query { ... on Query { rankings(metric: PAGERANK, first: 2) { complete } } }
"""


def _process(response: httpx.Response) -> str:
    assert response.status_code == 200, response.text
    assert "errors" not in response.json(), response.text
    return response.headers["x-newsgraph-process"]


def test_heavy_queries_are_answered_by_the_analyst(served: tuple[str, Path]) -> None:
    address, _ = served
    _until(lambda: len(_analysts(served[1])) == 1, 30)
    _until(lambda: _process(_post(address, RANKINGS)) == "analyst", 60)
    assert _post(address, RANKINGS).json()["data"]["rankings"]["complete"] is True
    # a heavy field behind a fragment; a GET; the analyst's niceness is above the workers'
    assert _process(_post(address, HIDDEN)) == "analyst"
    get = httpx.get(
        f"http://{address}/graphql",
        params={"query": "{ rankings(metric: DEGREE, first: 3) { complete } }"},
        headers={"accept": "application/graphql-response+json"},
        timeout=WAIT,
    )
    assert _process(get) == "analyst"
    (analyst,) = _analysts(served[1])
    assert os.getpriority(os.PRIO_PROCESS, analyst) > os.getpriority(
        os.PRIO_PROCESS, _workers(served[1])[0]
    )
    # pages and searches stay with the workers, mutations with the writer
    assert _process(_post(address, EVENTS)) == "reader"
    assert _process(_post(address, '{ search(text: "Putin") { __typename } }')) == "reader"


def test_the_analyst_follows_writes(served: tuple[str, Path]) -> None:
    address, _ = served
    tag = uuid.uuid4().hex[:8]
    records = [record(f"an-{tag}", "cyber", "Reuters", f"Analysed {tag} today.")]
    bearer = {"Authorization": f"Bearer {TOKEN}"}
    written = _post(address, INGEST, variables={"records": records}, headers=bearer)
    assert _process(written) == "writer"
    # a heavy field beside the search, so that the analyst answers it
    search = f"""{{ search(text: "{tag}", first: 5) {{ ... on Event {{ summary }} }}
      rankings(metric: DEGREE, first: 1) {{ complete }} }}"""

    def found() -> bool:
        response = _post(address, search)
        hits = response.json()["data"]["search"]
        return _process(response) == "analyst" and any(tag in h.get("summary", "") for h in hits)

    _until(found, 30)


def test_without_the_analyst_workers_answer_heavy_queries(served: tuple[str, Path]) -> None:
    address, directory = served
    _until(lambda: len(_analysts(directory)) == 1, 30)
    (victim,) = _analysts(directory)
    os.kill(victim, signal.SIGKILL)
    _until(lambda: victim not in _analysts(directory))
    # answered all the same, by a worker, while the analyst is started again
    answered = {_process(_post(address, RANKINGS)) for _ in range(3)}
    assert answered <= {"reader", "analyst"}
    _until(lambda: len(_analysts(directory)) == 1, 30)
    _until(lambda: _process(_post(address, RANKINGS)) == "analyst", 60)


def _established(pids: list[int], port: int) -> dict[int, int]:
    """Each process's established TCP connections on `port` (/proc: its socket descriptors
    matched against the kernel's table)."""
    inodes = set()
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        if fields[3] == "01" and int(fields[1].rsplit(":", 1)[1], 16) == port:
            inodes.add(f"socket:[{fields[9]}]")
    counts = {}
    for pid in pids:
        descriptors = Path(f"/proc/{pid}/fd")
        counts[pid] = sum(1 for fd in descriptors.iterdir() if _link(fd) in inodes)
    return counts


def _link(path: Path) -> str:
    try:
        return os.readlink(path)
    except OSError:  # closed meanwhile
        return ""


def test_connections_are_spread_evenly_over_the_workers(served: tuple[str, Path]) -> None:
    """Kept-alive connections opened one after another: after each, the workers hold as many
    as each other (one apart at most), though the kernel's hash alone would often not; and
    every answer, on a connection handed from one worker to the other or not, is right."""
    address, directory = served
    host, port = address.split(":")
    pids = _workers(directory)
    assert len(pids) == WORKERS
    wanted = _event_ids(address)
    body = json.dumps({"query": EVENTS}).encode()
    request = (
        f"POST /graphql HTTP/1.1\r\nHost: {address}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    ).encode() + body
    with contextlib.ExitStack() as stack:
        clients = []
        for _ in range(16):
            client = stack.enter_context(socket.create_connection((host, int(port)), timeout=WAIT))
            with client.makefile("rb") as answers:
                for _ in range(2):  # twice: the connection stays where it was answered
                    client.sendall(request)
                    status = answers.readline()
                    assert status.startswith(b"HTTP/1.1 200"), status
                    length = 0
                    while (line := answers.readline()) not in (b"\r\n", b""):
                        name, _, value = line.decode().partition(":")
                        if name.lower() == "content-length":
                            length = int(value)
                    answer = json.loads(answers.read(length))
                    assert {e["node"]["id"] for e in answer["data"]["events"]["edges"]} == wanted
            clients.append(client)
            counts = _established(pids, int(port))
            assert sum(counts.values()) == len(clients), counts
            assert max(counts.values()) - min(counts.values()) <= 1, counts


class _KeptAlive:
    """One kept-alive HTTP/1.1 connection to the server, asked the same request again and
    again: each answer's status, change log entry (`x-newsgraph-change`) and JSON body."""

    def __init__(self, stack: contextlib.ExitStack, address: str, request: bytes) -> None:
        host, port = address.split(":")
        self.client = stack.enter_context(socket.create_connection((host, int(port)), WAIT))
        self.answers = stack.enter_context(self.client.makefile("rb"))
        self.request = request

    def ask(self) -> tuple[bytes, int, Any]:
        self.client.sendall(self.request)
        status = self.answers.readline()
        length, change = 0, -1
        while (line := self.answers.readline()) not in (b"\r\n", b""):
            name, _, value = line.decode().partition(":")
            if name.lower() == "content-length":
                length = int(value)
            elif name.lower() == "x-newsgraph-change":
                change = int(value)
        return status, change, json.loads(self.answers.read(length))


def _handed(address: str) -> dict[str, float]:
    """The connections the workers handed to each other so far, by reason (/metrics)."""
    text = httpx.get(f"http://{address}/metrics", timeout=WAIT).text
    found: dict[str, float] = {}
    for line in text.splitlines():
        if line.startswith("newsgraph_connections_handed_total{"):
            labels, _, value = line.rpartition(" ")
            found[labels.split('reason="')[1].split('"')[0]] = float(value)
    return found


def test_pages_during_a_load_are_answered_while_workers_apply_in_turns(
    served: tuple[str, Path], tmp_path: Path
) -> None:
    """While the CLI loads batch after batch beside the server, pages asked on eight kept-alive
    connections are all answered, each connection's answers never go back in time (a
    connection moves only to a worker whose memory is not behind), and connections were handed
    away from a worker about to apply a batch (so that its pages did not wait for it)."""
    address, directory = served
    before = _handed(address).get("apply", 0.0)
    tag = uuid.uuid4().hex[:8]
    records = tmp_path / "records.jsonl"
    with records.open("w", encoding="utf-8") as out:
        for n in range(800):
            summary = f"Turns {tag} event {n} was reported"
            line = record(f"turns-{tag}-{n}", "political", "Reuters", summary)
            out.write(json.dumps(line) + "\n")
    body = json.dumps({"query": EVENTS}).encode()
    request = (
        f"POST /graphql HTTP/1.1\r\nHost: {address}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    ).encode() + body
    command = [str(NEWSGRAPH), "load", str(records), "--store", str(directory)]
    command += ["--rejects", str(tmp_path / "rejects.jsonl")]
    with contextlib.ExitStack() as stack:
        connections = [_KeptAlive(stack, address, request) for _ in range(8)]
        seen = [-1] * len(connections)
        said = stack.enter_context((tmp_path / "load.out").open("wb"))
        load = subprocess.Popen(
            [*command, "--batch-size", "200"], stdout=said, stderr=subprocess.STDOUT
        )
        asked = 0
        while load.poll() is None or asked < 200:
            for n, connection in enumerate(connections):
                status, change, answer = connection.ask()
                assert status.startswith(b"HTTP/1.1 200"), status
                assert "errors" not in answer and len(answer["data"]["events"]["edges"]) > 0
                assert change >= seen[n], f"connection {n} went back from {seen[n]} to {change}"
                seen[n] = change
                asked += 1
        assert load.returncode == 0, (tmp_path / "load.out").read_text()
    assert _handed(address).get("apply", 0.0) > before
    response = _post(address, '{ search(text: "Turns") { __typename } }')
    assert response.status_code == 200


def test_the_servers_runtime_files_are_in_shared_memory() -> None:
    """The files every worker writes on every request (the metrics' memory maps, the
    connection counts) live where no disk journal can hold a write up: /dev/shm on Linux."""
    from newsgraph.serving import SHARED_MEMORY, _runtime_dir

    made = Path(_runtime_dir())
    try:
        assert made.is_dir()
        assert made.stat().st_mode & 0o777 == 0o700  # private to the server's user
        if os.path.isdir(SHARED_MEMORY):
            assert made.parent == Path(SHARED_MEMORY)
    finally:
        made.rmdir()
