"""Answers of `newsgraph serve` sent in one write (`newsgraph.http`), read off a raw socket.

A real server (writer and worker) on the bundled samples; the client is a bare socket, so what
arrives is what the server wrote: a whole answer in one read, the same bytes HTTP says, and the
cases where the head must not wait (100 Continue, a body-less 304, a HEAD) still answered.
"""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import pytest

from tests.support.serve import graphql_url

PAGE = (Path(__file__).parents[1] / "api" / "event_page.graphql").read_text()
FIRST = "{ events(first: 1) { edges { node { id } } } }"


@pytest.fixture(scope="module")
def address(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, int]]:
    with graphql_url(tmp_path_factory.mktemp("served") / "store") as url:
        host, port = url.removeprefix("http://").removesuffix("/graphql").split(":")
        yield host, int(port)


def _connect(address: tuple[str, int]) -> socket.socket:
    sock = socket.create_connection(address, timeout=10)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return sock


def _read(sock: socket.socket, head_only: bool = False) -> tuple[int, dict[str, str], bytes, int]:
    """One answer off `sock`: status, headers, body, and how many reads it took."""
    data, reads = b"", 0
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        assert chunk, f"the connection closed after {data!r}"
        data, reads = data + chunk, reads + 1
    head, _, body = data.partition(b"\r\n\r\n")
    status_line, *lines = head.decode("latin-1").split("\r\n")
    headers = {k.lower(): v.strip() for k, _, v in (line.partition(":") for line in lines)}
    length = 0 if head_only else int(headers.get("content-length", "0"))
    while len(body) < length:
        chunk = sock.recv(65536)
        assert chunk, "the connection closed in the body"
        body, reads = body + chunk, reads + 1
    assert len(body) == length, "more bytes than the answer's length"
    return int(status_line.split()[1]), headers, body, reads


def _post(query: str, variables: dict[str, object] | None = None) -> bytes:
    body = json.dumps({"query": query, "variables": variables or {}}).encode()
    head = (
        "POST /graphql HTTP/1.1\r\nhost: test\r\ncontent-type: application/json\r\n"
        f"content-length: {len(body)}\r\n\r\n"
    )
    return head.encode() + body


def test_an_answer_arrives_whole_in_one_read(address: tuple[str, int]) -> None:
    with _connect(address) as sock:
        sock.sendall(_post(FIRST))
        status, _, body, _ = _read(sock)
        assert status == 200
        event_id = json.loads(body)["data"]["events"]["edges"][0]["node"]["id"]
        # the event page, several times on one kept-alive connection: head and body together
        for _ in range(5):
            sock.sendall(_post(PAGE, {"id": event_id}))
            status, headers, body, reads = _read(sock)
            assert status == 200 and headers["content-type"].startswith("application/")
            assert json.loads(body)["data"]["event"]["id"] == event_id
            assert reads == 1


def _worker_writes(port: int) -> int:
    """The write system calls so far of the reader worker serving `port` (`/proc/PID/io`)."""
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            words = cmdline.read_bytes().decode("utf-8", "replace").split("\0")
            if "newsgraph.serving" not in words or f"{port}" not in words:
                continue
            io = (cmdline.parent / "io").read_text()
        except OSError:
            continue
        return int(next(line.split()[1] for line in io.splitlines() if line.startswith("syscw")))
    raise AssertionError(f"no worker serving port {port}")


def test_an_answer_is_one_write(address: tuple[str, int]) -> None:
    """uvicorn alone writes a head, then a body: two system calls an answer."""
    with _connect(address) as sock:
        for _ in range(3):  # warm: the worker's first answers may log or open files
            sock.sendall(_post(FIRST))
            _read(sock)
        before = _worker_writes(address[1])
        for _ in range(50):
            sock.sendall(_post(FIRST))
            assert _read(sock)[0] == 200
        writes = _worker_writes(address[1]) - before
    assert 50 <= writes < 65, writes


def test_a_client_waiting_for_100_continue_gets_it(address: tuple[str, int]) -> None:
    request = _post(FIRST)
    head, _, body = request.partition(b"\r\n\r\n")
    with _connect(address) as sock:
        sock.sendall(head + b"\r\nexpect: 100-continue\r\n\r\n")
        sock.settimeout(5)  # the interim answer comes before the body is sent, not after
        assert sock.recv(65536).startswith(b"HTTP/1.1 100 Continue\r\n")
        sock.sendall(body)
        status, _, answer, _ = _read(sock)
        assert status == 200 and json.loads(answer)["data"]["events"]["edges"]


def test_answers_without_a_body_are_sent_and_the_connection_goes_on(
    address: tuple[str, int],
) -> None:
    get = f"GET /graphql?query={quote(FIRST)} HTTP/1.1\r\nhost: test\r\n"
    with _connect(address) as sock:
        sock.sendall(f"{get}\r\n".encode())
        status, headers, _, _ = _read(sock)
        assert status == 200 and headers["etag"]
        # not modified: a head and no body
        sock.sendall(f"{get}if-none-match: {headers['etag']}\r\n\r\n".encode())
        status, _, body, _ = _read(sock)
        assert (status, body) == (304, b"")
        # a HEAD: the GET's head, no body
        sock.sendall(b"HEAD /health HTTP/1.1\r\nhost: test\r\n\r\n")
        status, headers, _, _ = _read(sock, head_only=True)
        assert status == 200 and int(headers["content-length"]) > 0
        # and the connection still answers
        sock.sendall(b"GET /health HTTP/1.1\r\nhost: test\r\n\r\n")
        status, _, body, _ = _read(sock)
        assert status == 200 and json.loads(body) == {"status": "ok"}
