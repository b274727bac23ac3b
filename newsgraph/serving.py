"""`newsgraph serve`: reader workers on one port and, on the embedded store, one writer process.

The process started by `newsgraph serve` reserves the port (`reserve`), then:
- on the embedded store it is the **writer**: it opens the store to write and serves the
  GraphQL app on a private Unix socket, where only the workers send mutations (one at a time,
  off the workers' event loops);
- it starts `--workers` **reader workers** (`python -m newsgraph.serving`), each a process of
  its own that opens the store read-only, follows its change log (`api.follow`) and serves
  pages from its own memory on the port (its own SO_REUSEPORT socket: the kernel spreads
  connections over the workers, and the workers even out what it spreads unevenly,
  `newsgraph.balance`); a worker that dies is started again and catches up from
  the log;
- on Neo4j there is no writer process: every worker writes to the database itself;
- unless `NEWSGRAPH_ANALYST` is false, it starts one **analyst** process: a reader like the
  workers (its own memory, following the log), on a private Unix socket, at a lower CPU
  priority; the workers send it every query that selects a heavy field (`api.forward`), so no
  scan or graph algorithm shares a worker's GIL with the pages it serves.

The settings (tokens, limits) are read by each process from the same environment.
docs/changes.md says what a worker costs and what the processes share.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable

import uvicorn

from api.app import create_app
from api.config import AppConfig
from api.forward import KEEP_ALIVE, Analyst, Writer
from api.metrics import MULTIPROCESS_DIR, process_gone
from api.shared_answers import SharedAnswers
from api.sockets import SharedSockets
from api.tokens import Tokens
from graph.store import GraphStore
from newsgraph import balance, logs
from newsgraph.balance import Balance
from newsgraph.http import ApplyTurns, HeldHeadersProtocol
from newsgraph.settings import Settings, load_settings
from newsgraph.wiring import app_arguments, make_store, prepare, reads_only

log = logging.getLogger(__name__)

# A worker that exits is started again, but not more often than this (seconds).
RESTART_PAUSE = 1.0
# The analyst's niceness: the workers serving pages come first for the CPU. The lowest priority
# (19, a CPU weight of 15 against a worker's 1,024; 10 is 110): its analytics have time budgets
# and answer `complete: false` when starved, pages have none (docs/security.md).
ANALYST_NICENESS = 19


# Memory-backed storage for the files every worker writes on every request (the metrics'
# memory maps, the connection counts): on a disk-backed /tmp, a write to such a page could wait
# for the file system's journal while a load beside the server syncs its batches (gunicorn
# keeps its workers' heartbeat files there for the same reason).
SHARED_MEMORY = "/dev/shm"


def _runtime_dir() -> str:
    """A new private directory for the server's runtime files: in shared memory where the
    system has it, else in the temporary directory."""
    shm = (
        SHARED_MEMORY
        if os.path.isdir(SHARED_MEMORY) and os.access(SHARED_MEMORY, os.W_OK)
        else None
    )
    return tempfile.mkdtemp(prefix="newsgraph-", dir=shm)


def _socket(host: str, port: int, reuse_port: bool) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if reuse_port:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind((host, port))
    return sock


def reserve(host: str, port: int) -> socket.socket:
    """The port, held for the workers (bound, not listening: it gets no connections). Each
    worker listens on a socket of its own bound to it with SO_REUSEPORT, once its store is
    read, and the kernel spreads connections over the workers listening (a shared socket
    gave a burst of connections to whichever worker woke first); a worker that dies takes
    its socket with it, so new connections go to the others at once. A port that another
    process holds, a second `newsgraph serve` among them, is refused here."""
    with _socket(host, port, reuse_port=False) as probe:  # raises if the port is taken
        port = probe.getsockname()[1]
    return _socket(host, port, reuse_port=True)


# How long a worker's thread may hold the interpreter while another waits for it (Python's
# default: 5 ms). The follower reads and decodes a load's batch in a thread of its own (tens of
# ms of Python); meanwhile the event loop, after each socket read or write, waited up to the
# whole interval to run again, a page's few such waits adding up while pages queued: a loop
# held 163 ms in one socket write beside a 94 ms decode (docs/benchmarks.md, session 11).
SWITCH_INTERVAL = 0.0005


def settle() -> None:
    """Leave what the process built to start (modules, the schema, the store's memory, the
    driver) out of the collector's later passes: called once a server process listens.

    Without it every full collection walks them all again: in a worker on Neo4j, which holds
    no graph in memory, one took 110-620 ms every 8-10 s at 380 pages/s (measured with
    `gc.callbacks`), the slowest pages of its c=1 p99 (docs/neo4j.md, "Pauses"). The embedded
    store freezes its graph itself when it opens (graph.embedded.store)."""
    gc.collect()
    gc.freeze()


def listen(host: str, port: int) -> socket.socket:
    """A worker's listening socket on the port the server reserved."""
    sock = _socket(host, port, reuse_port=True)
    sock.listen(2048)
    return sock


class Workers:
    """The reader workers: started, watched (a worker that exits is started again) and
    stopped."""

    def __init__(self, command: Callable[[int], list[str]], count: int) -> None:
        self.command = command
        self.count = count
        self.processes: list[subprocess.Popen[bytes]] = []
        self._stopping = threading.Event()
        self._watcher: threading.Thread | None = None

    def start(self) -> None:
        self.processes = [self._spawn(i) for i in range(self.count)]
        self._watcher = threading.Thread(target=self._watch, name="workers", daemon=True)
        self._watcher.start()

    def _spawn(self, index: int) -> subprocess.Popen[bytes]:
        return subprocess.Popen(self.command(index))

    def _watch(self) -> None:
        while not self._stopping.wait(RESTART_PAUSE):
            for index, process in enumerate(self.processes):
                code = process.poll()
                if code is not None and not self._stopping.is_set():
                    log.warning(
                        "worker %d (pid %d) exited with %s; starting it again",
                        index,
                        process.pid,
                        code,
                    )
                    process_gone(process.pid)
                    self.processes[index] = self._spawn(index)

    def stop(self) -> None:
        if self._stopping.is_set():
            return
        self._stopping.set()
        for process in self.processes:
            with contextlib.suppress(ProcessLookupError):
                process.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + 10
        for process in self.processes:
            try:
                process.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def serve(
    spec: str,
    host: str,
    port: int,
    workers: int,
    on_startup: Callable[[GraphStore], None],
) -> None:
    """Serve `spec` on host:port with `workers` reader workers (and, on the embedded store,
    this process as the writer). `on_startup` runs once the writer's store is open (the
    bundled samples for an empty store)."""
    logs.configure()
    # Every process writes its metrics here; /metrics, on any worker, adds them up (api.metrics).
    metrics = None if os.environ.get(MULTIPROCESS_DIR) else _runtime_dir()
    if metrics is not None:
        os.environ[MULTIPROCESS_DIR] = metrics
    settings = load_settings()
    tokens, config = app_arguments(settings, spec)
    held = reserve(host, port)
    port = held.getsockname()[1]
    store = make_store(spec, settings)
    private = _runtime_dir()
    writer_socket = os.path.join(private, "writer.sock")
    analyst_socket = os.path.join(private, "analyst.sock") if settings.analyst else None
    with_writer = reads_only(spec) is not None
    # the workers' shared count of open WebSockets per client (api.sockets)
    sockets = os.path.join(private, "sockets.sqlite")
    # the workers' open connections, spread evenly (newsgraph.balance)
    balance.prepare(private, workers)
    # the answers their response caches share (api.shared_answers)
    answers = os.path.join(private, "answers")

    def command(index: int) -> list[str]:
        args = [sys.executable, "-m", "newsgraph.serving", "--host", host, "--port", str(port)]
        args += ["--store", spec, "--sockets", sockets]
        args += ["--balance", private, str(index), str(workers)]
        if workers > 1:
            args += ["--shared-answers", answers]
        if with_writer:
            args += ["--writer", writer_socket]
        if analyst_socket is not None:
            args += ["--analyst", analyst_socket]
        return args

    def analyst_command(index: int) -> list[str]:
        assert analyst_socket is not None
        args = [sys.executable, "-m", "newsgraph.serving", "--serve-analyst", analyst_socket]
        args += ["--store", spec]
        if with_writer:
            args += ["--writer", writer_socket]
        return args

    pool = Workers(command, workers)
    analysts = Workers(analyst_command, 1 if analyst_socket is not None else 0)
    try:
        if not with_writer:  # Neo4j: the workers write themselves
            store.setup()
            try:
                on_startup(store)
            finally:
                store.close()
            analysts.start()
            pool.start()
            _wait_for_signal()
            return

        def listening() -> None:
            os.chmod(writer_socket, 0o600)  # only this user's processes send it writes

        app = create_app(
            store, tokens, config, on_startup=lambda: on_startup(store), behind_workers=True
        )
        # The writer trusts only the client key a worker sends (`api.forward.CLIENT_HEADER`).
        writer_config = uvicorn.Config(
            app,
            uds=writer_socket,
            timeout_keep_alive=KEEP_ALIVE,  # longer than a worker keeps one idle
            log_level="warning",
            proxy_headers=False,
            log_config=logs.config(),
        )
        server = _WriterServer(writer_config)
        server.after_startup = listening

        def stop() -> None:
            pool.stop()
            analysts.stop()

        server.before_exit = stop  # uvicorn ends the process with the signal it got
        # The workers read the store while this process does: they follow the log from
        # wherever they start (the samples an empty store gets come to them that way), and a
        # mutation sent before the writer listens is a 503 with Retry-After.
        prepare(spec)
        analysts.start()
        pool.start()
        server.run()
    finally:
        pool.stop()
        analysts.stop()
        held.close()
        with contextlib.suppress(OSError):
            shutil.rmtree(private)
        if metrics is not None:
            shutil.rmtree(metrics, ignore_errors=True)


class _WriterServer(uvicorn.Server):
    """The writer's server, which starts the workers once it listens."""

    after_startup: Callable[[], None] = staticmethod(lambda: None)
    before_exit: Callable[[], None] = staticmethod(lambda: None)

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets)
        if not self.should_exit:
            settle()
            self.after_startup()

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        self.before_exit()
        await super().shutdown(sockets)


def _wait_for_signal() -> None:
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    stop.wait()


def worker(
    host: str,
    port: int,
    spec: str,
    writer_socket: str | None,
    analyst_socket: str | None,
    sockets: str | None = None,
    balance: tuple[str, int, int] | None = None,
    shared_answers: str | None = None,
) -> None:
    """One reader worker: the app on the server's port (a socket of its own, listening once
    its store is read), its store read-only when a writer process takes the mutations; the
    queries selecting heavy fields go to the analyst process, if there is one; open
    WebSockets counted with the other workers' in the file `sockets` (api.sockets); its
    connections spread with theirs (`balance`: the directory of newsgraph.balance, this
    worker's index and the number of workers); answers kept in the directory `shared_answers`
    with the other workers (api.shared_answers)."""
    settings, tokens, config, store = _reader(spec, writer_socket)
    sys.setswitchinterval(SWITCH_INTERVAL)
    queue = settings.write_queue
    writer = Writer(writer_socket, queue) if writer_socket is not None else None
    analyst = Analyst(analyst_socket, settings.analyst_queue) if analyst_socket else None
    shared = SharedSockets(sockets) if sockets is not None else None
    spread = Balance(*balance) if balance is not None else None
    # the workers take turns to apply the change log, out of each other's way (when they
    # read from memory: the embedded store)
    turns = ApplyTurns(spread) if spread is not None and spread.workers > 1 else None
    app = create_app(
        store,
        tokens,
        config,
        writer=writer,
        analyst=analyst,
        sockets=shared,
        turns=turns,
        shared_answers=(
            SharedAnswers.beside(shared_answers, config.response_cache_bytes)
            if shared_answers is not None and config.response_cache_bytes
            else None
        ),
    )
    # X-Forwarded-For is the app's to read, from NEWSGRAPH_TRUSTED_PROXIES only (uvicorn's own
    # proxy headers are off); a WebSocket message is held to the largest body a request may
    # have (the app holds each to its actor's limit).
    server_config = uvicorn.Config(
        app,
        http=HeldHeadersProtocol,  # an answer in one write, not two (newsgraph.http)
        log_level="warning",
        proxy_headers=False,
        ws_max_size=max(config.max_body_bytes, config.max_body_bytes_with_token),
        log_config=logs.config(),
    )
    server = _WorkerServer(server_config)
    if spread is not None:
        server.balance = HeldHeadersProtocol.balance = spread
    server.run(sockets=[listen(host, port)])


class _WorkerServer(uvicorn.Server):
    """A reader worker's server: it adopts the connections other workers hand it
    (newsgraph.balance) as if it had accepted them."""

    balance: Balance | None = None

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets)
        if self.should_exit:
            return
        settle()
        balance = self.balance
        if balance is None:
            return
        loop = asyncio.get_running_loop()
        config = self.config

        def protocol() -> asyncio.Protocol:  # as uvicorn makes one for what it accepts
            made: asyncio.Protocol = config.http_protocol_class(  # type: ignore[call-arg]
                config=config, server_state=self.server_state, app_state=self.lifespan.state
            )
            if isinstance(made, HeldHeadersProtocol):
                made.adopted = True
            return made

        def adopt(sock: socket.socket) -> None:
            sock.setblocking(False)
            loop.create_task(loop.connect_accepted_socket(protocol, sock))

        balance.receive(adopt)

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        if self.balance is not None:
            self.balance.close()
        await super().shutdown(sockets)


def analyst(socket_path: str, spec: str, writer_socket: str | None) -> None:
    """The analyst process: a reader like a worker (its store read-only when a writer process
    takes the mutations, following the change log), serving the workers' heavy queries on a
    private Unix socket, at a lower CPU priority than theirs."""
    os.nice(ANALYST_NICENESS)
    _, tokens, config, store = _reader(spec, writer_socket)
    # Its callers are the workers, who say who their client is (`api.forward.CLIENT_HEADER`).
    app = create_app(store, tokens, config, behind_workers=True, follows_log=True)
    server = _WriterServer(
        uvicorn.Config(
            app,
            uds=socket_path,
            timeout_keep_alive=KEEP_ALIVE,  # longer than a worker keeps one idle
            log_level="warning",
            proxy_headers=False,
            log_config=logs.config(),
        )
    )
    server.after_startup = lambda: os.chmod(socket_path, 0o600)
    server.run()


def _reader(spec: str, writer_socket: str | None) -> tuple[Settings, Tokens, AppConfig, GraphStore]:
    """What a worker and the analyst start alike: ending with the server, logs, settings, and
    the store opened (read-only when a writer process takes the mutations) before serving, so
    that no request waits on a process still reading it."""
    _exit_with_parent()
    logs.configure()
    settings = load_settings()
    tokens, config = app_arguments(settings, spec)
    store = reads_only(spec) if writer_socket is not None else None
    if store is None:
        store = make_store(spec, settings)
    store.setup()
    return settings, tokens, config, store


def _exit_with_parent() -> None:
    """Stop this worker (as SIGTERM would) if the process that started it goes, however it
    went: a worker never outlives its server."""
    parent = os.getppid()

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(RESTART_PAUSE)
        os.kill(os.getpid(), signal.SIGTERM)

    threading.Thread(target=watch, name="parent", daemon=True).start()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="newsgraph-worker", description=__doc__)
    parser.add_argument("--host")
    parser.add_argument("--port", type=int)
    parser.add_argument("--store", required=True)
    parser.add_argument("--writer", default=None)
    parser.add_argument("--analyst", default=None, help="the analyst's socket (for a worker)")
    parser.add_argument("--serve-analyst", default=None, help="be the analyst, on this socket")
    parser.add_argument("--sockets", default=None, help="the workers' shared WebSocket count")
    parser.add_argument("--shared-answers", default=None, help="the workers' shared answers")
    parser.add_argument(
        "--balance",
        nargs=3,
        metavar=("DIR", "INDEX", "WORKERS"),
        default=None,
        help="spread connections with the other workers (newsgraph.balance)",
    )
    args = parser.parse_args(argv)
    if args.serve_analyst:
        analyst(args.serve_analyst, args.store, args.writer)
        return
    if args.host is None or args.port is None:
        parser.error("a worker needs --host and --port")
    balance = None
    if args.balance is not None:
        directory, index, count = args.balance
        balance = (directory, int(index), int(count))
    worker(
        args.host,
        args.port,
        args.store,
        args.writer,
        args.analyst,
        args.sockets,
        balance,
        args.shared_answers,
    )


if __name__ == "__main__":
    main()
