"""`newsgraph serve` as a process, for the one smoke test that runs the real command."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx

NEWSGRAPH = Path(sys.executable).parent / "newsgraph"
START_TRIES = 300  # readiness checks, each waiting up to a second for an answer


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def start_server(
    directory: Path, port: int, samples: bool = False, env: dict[str, str] | None = None
) -> subprocess.Popen[bytes]:
    """`newsgraph serve` on `directory`, once it answers; `samples` lets it load the bundled
    samples into an empty store, as it does for a newcomer; `env` adds to the environment."""
    command = [str(NEWSGRAPH), "serve", "--store", str(directory), "--port", str(port)]
    process = subprocess.Popen(
        command + ([] if samples else ["--no-samples"]),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        env={**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})},
    )
    for _ in range(START_TRIES):
        if process.poll() is not None:
            output = process.stdout.read().decode() if process.stdout else ""
            raise AssertionError(f"newsgraph serve exited: {output}")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/ready", timeout=1).status_code == 200:
                return process
        except httpx.TransportError:
            # Not listening yet: give the process a moment (returning at once if it exits).
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(timeout=0.1)
    process.kill()
    raise AssertionError(f"newsgraph serve was not ready after {START_TRIES} checks")


def stop_server(process: subprocess.Popen[bytes]) -> str:
    """Stop the server; what it printed."""
    process.terminate()
    try:
        output, _ = process.communicate(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        try:  # a child it left behind may hold its output open: not waited for past this
            output, _ = process.communicate(timeout=10)
        except subprocess.TimeoutExpired as exc:
            output = exc.output or b""
            note = b"\n[the server's output stayed open: a process it started outlived it]"
            output += note
    return output.decode("utf-8", "replace") if output else ""


@contextlib.contextmanager
def graphql_url(directory: Path, samples: bool = True) -> Iterator[str]:
    """`newsgraph serve` (a writer and a reader worker) on `directory`, for as long as the
    block runs: its GraphQL address."""
    port = free_port()
    process = start_server(directory, port, samples=samples)
    try:
        yield f"http://127.0.0.1:{port}/graphql"
    finally:
        stop_server(process)
