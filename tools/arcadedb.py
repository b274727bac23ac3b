"""Start a throwaway ArcadeDB server that speaks Bolt, for the Neo4j store's tests and bench.

ArcadeDB comes from the PyPI package ``arcadedb-embedded``, which ships the server
jars (``arcadedb_embedded/jars/*.jar``, Bolt plugin included) and a JRE
(``arcadedb_embedded/jre/bin/java``, Java 25). This module runs that server as a
plain ``java`` subprocess (no JPype, nothing of the package is imported) with a
``neo4j`` database owned by ``root``, listening on free loopback ports.

In a test::

    with start_arcadedb(tmp_path) as server:
        driver = neo4j.GraphDatabase.driver(server.uri, auth=(server.user, server.password))

From a shell (CI), prints ``NEWSGRAPH_TEST_NEO4J_*=...`` lines and runs until
SIGTERM/SIGINT::

    python -m tools.arcadedb --workdir /tmp/arcadedb

See docs/arcadedb.md for what ArcadeDB's Cypher does differently from Neo4j 5.
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import importlib.util
import os
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import FrameType

__all__ = [
    "ArcadeDBError",
    "ArcadeDBInstall",
    "BoltServer",
    "RestartableArcadeDB",
    "find_arcadedb",
    "main",
    "start_arcadedb",
]

ENV_PREFIX = "NEWSGRAPH_TEST_NEO4J_"
DATABASE = "neo4j"
USER = "root"
_LOG_TAIL_LINES = 40
_PORT_ATTEMPTS = 3
_START_FAILED = 'Exception in thread "main"'
_PORT_TAKEN = ("Unable to listen", "BindException", "Address already in use")


class ArcadeDBError(RuntimeError):
    """ArcadeDB could not be found, started or stopped."""


@dataclass(frozen=True)
class BoltServer:
    """Where a running server is and how to log in."""

    uri: str
    user: str
    password: str
    database: str

    def env(self, prefix: str = ENV_PREFIX) -> dict[str, str]:
        """The connection as environment variables: ``{prefix}URI`` and so on."""
        return {
            f"{prefix}URI": self.uri,
            f"{prefix}USER": self.user,
            f"{prefix}PASSWORD": self.password,
            f"{prefix}DATABASE": self.database,
        }


@dataclass(frozen=True)
class ArcadeDBInstall:
    """The parts of an installed ``arcadedb-embedded`` that the server needs."""

    java: Path
    jars: tuple[Path, ...]

    @property
    def classpath(self) -> str:
        return os.pathsep.join(str(jar) for jar in self.jars)


def find_arcadedb() -> ArcadeDBInstall:
    """Locate the bundled ``java`` and jars of the installed ``arcadedb_embedded`` package.

    Only the package's location is looked up: importing it would load JPype for nothing.
    """
    spec = importlib.util.find_spec("arcadedb_embedded")
    if spec is None or not spec.submodule_search_locations:
        raise ArcadeDBError(
            "the Python package arcadedb-embedded is not installed "
            "(pip install arcadedb-embedded); it ships the ArcadeDB server and its JRE"
        )
    package = Path(next(iter(spec.submodule_search_locations)))
    java = package / "jre" / "bin" / "java"
    jars = tuple(sorted((package / "jars").glob("*.jar")))
    if not os.access(java, os.X_OK):
        raise ArcadeDBError(f"arcadedb-embedded has no runnable bundled JRE at {java}")
    if not any(jar.name.startswith("arcadedb-bolt-") for jar in jars):
        raise ArcadeDBError(f"arcadedb-embedded has no Bolt plugin jar in {package / 'jars'}")
    return ArcadeDBInstall(java=java, jars=jars)


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _free_ports(count: int) -> list[int]:
    ports: list[int] = []
    while len(ports) < count:
        port = _free_port()
        if port not in ports:
            ports.append(port)
    return ports


def _tail(path: Path, lines: int = _LOG_TAIL_LINES) -> str:
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError as exc:
        return f"(no server log at {path}: {exc})"
    return "\n".join(text.splitlines()[-lines:])


def _parent_death_signal() -> Callable[[], None] | None:
    """A preexec_fn that has Linux send SIGTERM to the server if this process dies.

    It works per thread (the signal fires when the forking thread ends), so it is
    only used when the server is started from the main thread.
    """
    if not sys.platform.startswith("linux") or threading.current_thread() is not (
        threading.main_thread()
    ):
        return None
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        prctl = libc.prctl
    except (OSError, AttributeError):
        return None
    pr_set_pdeathsig = 1

    def set_pdeathsig() -> None:
        prctl(pr_set_pdeathsig, int(signal.SIGTERM), 0, 0, 0)

    return set_pdeathsig


def _command(
    install: ArcadeDBInstall,
    root: Path,
    password_file: Path,
    http_port: int,
    bolt_port: int,
    heap: str,
    java_options: Sequence[str] = (),
) -> list[str]:
    settings = {
        "arcadedb.server.rootPath": str(root),
        "arcadedb.server.rootPasswordPath": str(password_file),
        "arcadedb.server.defaultDatabases": f"{DATABASE}[{USER}]",
        "arcadedb.server.plugins": "Bolt:com.arcadedb.bolt.BoltProtocolPlugin",
        "arcadedb.server.httpIncomingHost": "127.0.0.1",
        "arcadedb.server.httpIncomingPort": str(http_port),
        "arcadedb.bolt.host": "127.0.0.1",
        "arcadedb.bolt.port": str(bolt_port),
    }
    return [
        str(install.java),
        f"-Xmx{heap}",
        *java_options,
        "-Djava.awt.headless=true",
        "-Dfile.encoding=UTF-8",
        "--add-modules=jdk.incubator.vector",
        "--enable-native-access=ALL-UNNAMED",
        f"-XX:ErrorFile={root / 'hs_err_pid%p.log'}",
        *(f"-D{key}={value}" for key, value in settings.items()),
        "-cp",
        install.classpath,
        "com.arcadedb.server.ArcadeDBServer",
    ]


def _ready(http_port: int) -> bool:
    url = f"http://127.0.0.1:{http_port}/api/v1/ready"
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return int(response.status) == 204
    except (urllib.error.URLError, OSError):
        return False


def _accepts(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=2):
            return True
    except OSError:
        return False


def _read_from(path: Path, offset: int) -> str:
    try:
        with path.open("rb") as handle:
            handle.seek(offset)
            return handle.read().decode("utf-8", errors="replace")
    except OSError:
        return ""


def _wait_ready(
    process: subprocess.Popen[bytes],
    log: Path,
    offset: int,
    http_port: int,
    bolt_port: int,
    timeout: float,
) -> str | None:
    """None once the server answers; otherwise why it will not."""
    deadline = time.monotonic() + timeout
    while True:
        if process.poll() is not None:
            return f"exited with status {process.returncode} while starting"
        if _ready(http_port) and _accepts(bolt_port):
            return None
        # A failed start leaves the JVM running (non-daemon threads), so it is read
        # from the output rather than waited for.
        if _START_FAILED in _read_from(log, offset):
            return "failed to start"
        if time.monotonic() > deadline:
            return f"did not become ready within {timeout:g}s"
        time.sleep(0.1)


def _stop(process: subprocess.Popen[bytes], timeout: float) -> None:
    if process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=timeout)


def _new_root(workdir: Path) -> tuple[Path, str, Path]:
    """A new server root under `workdir`, a random root password and the file that holds it."""
    workdir.mkdir(parents=True, exist_ok=True)
    # A fresh root on each start: ArcadeDB keeps the root password of its first start
    # (config/server-users.jsonl), so a reused root would ignore the new password.
    root = Path(tempfile.mkdtemp(prefix="arcadedb-", dir=workdir)).resolve()
    password = secrets.token_urlsafe(24)
    # Passed as a file (mode 0600), not on the command line where `ps` shows it.
    password_file = root / "root-password"
    fd = os.open(password_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(password)
    return root, password, password_file


def _spawn(command: list[str], root: Path, log: Path) -> tuple[subprocess.Popen[bytes], int]:
    """The server started in `root`, its output appended to `log`; and where in `log` it starts."""
    with log.open("ab") as out:
        offset = out.tell()
        process = subprocess.Popen(
            command,
            cwd=root,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            preexec_fn=_parent_death_signal(),
        )
    return process, offset


@contextlib.contextmanager
def _running(
    workdir: Path,
    *,
    startup_timeout: float,
    stop_timeout: float,
    heap: str,
    java_options: Sequence[str] = (),
) -> Iterator[tuple[BoltServer, subprocess.Popen[bytes]]]:
    install = find_arcadedb()
    root, password, password_file = _new_root(workdir)
    log = root / "server.out"

    for attempt in range(1, _PORT_ATTEMPTS + 1):
        http_port, bolt_port = _free_ports(2)
        command = _command(install, root, password_file, http_port, bolt_port, heap, java_options)
        process, offset = _spawn(command, root, log)
        try:
            failure = _wait_ready(process, log, offset, http_port, bolt_port, startup_timeout)
        except BaseException:
            _stop(process, stop_timeout)
            raise
        if failure is None:
            break
        _stop(process, stop_timeout)
        output = _read_from(log, offset)
        if attempt < _PORT_ATTEMPTS and any(sign in output for sign in _PORT_TAKEN):
            continue  # another process took one of the ports between choosing and binding
        raise ArcadeDBError(
            f"ArcadeDB {failure} (HTTP port {http_port}, Bolt port {bolt_port}); "
            f"last lines of {log}:\n{_tail(log)}"
        )
    password_file.unlink()  # read at the first start, and kept in config/ from then on

    server = BoltServer(
        uri=f"bolt://127.0.0.1:{bolt_port}",
        user=USER,
        password=password,
        database=DATABASE,
    )
    try:
        yield server, process
    finally:
        _stop(process, stop_timeout)


@contextlib.contextmanager
def start_arcadedb(
    workdir: Path,
    *,
    startup_timeout: float = 60.0,
    stop_timeout: float = 15.0,
    heap: str = "1g",
    java_options: Sequence[str] = (),
) -> Iterator[BoltServer]:
    """Run an ArcadeDB server with Bolt on 127.0.0.1 for the duration of the block.

    Its files (databases, config, logs, the captured output ``server.out``) go to a
    new ``arcadedb-*`` directory under ``workdir``, which is left in place. The root
    password is random for each start. Raises ArcadeDBError, with the tail of the
    server's output, if the server exits or is not ready within ``startup_timeout``.
    On exit the server gets SIGTERM, then SIGKILL after ``stop_timeout`` seconds.
    ``java_options`` go to the JVM after ``-Xmx`` (a benchmark's GC settings and log).
    """
    with _running(
        workdir,
        startup_timeout=startup_timeout,
        stop_timeout=stop_timeout,
        heap=heap,
        java_options=java_options,
    ) as (server, _process):
        yield server


class RestartableArcadeDB:
    """An ArcadeDB server that can be stopped and started again on the same ports, files and
    password (a Bolt server going away and coming back, for the outage tests). `start()` the
    first time creates it as `start_arcadedb` does; `close()` stops it for good."""

    def __init__(
        self, workdir: Path, *, startup_timeout: float = 60.0, stop_timeout: float = 15.0
    ) -> None:
        self._workdir = workdir
        self._startup_timeout = startup_timeout
        self._stop_timeout = stop_timeout
        self._command: list[str] | None = None
        self._root: Path | None = None
        self._ports = (0, 0)
        self._process: subprocess.Popen[bytes] | None = None
        self.server: BoltServer | None = None

    def start(self) -> BoltServer:
        """Start the server (again); returns where it is, the same every time."""
        if self._process is not None and self._process.poll() is None:
            raise ArcadeDBError("the server is running already")
        if self._command is None:
            install = find_arcadedb()
            self._root, password, password_file = _new_root(self._workdir)
            http_port, bolt_port = _free_ports(2)
            self._ports = (http_port, bolt_port)
            self._command = _command(
                install, self._root, password_file, http_port, bolt_port, "512m"
            )
            self.server = BoltServer(f"bolt://127.0.0.1:{bolt_port}", USER, password, DATABASE)
        assert self._root is not None and self.server is not None
        log = self._root / "server.out"
        self._process, offset = _spawn(self._command, self._root, log)
        failure = _wait_ready(self._process, log, offset, *self._ports, self._startup_timeout)
        if failure is not None:
            self.stop()
            raise ArcadeDBError(f"ArcadeDB {failure}; last lines of {log}:\n{_tail(log)}")
        return self.server

    def stop(self) -> None:
        """Stop the server (SIGTERM, then SIGKILL); its files stay for the next `start()`."""
        if self._process is not None:
            _stop(self._process, self._stop_timeout)
            self._process = None

    def close(self) -> None:
        self.stop()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tools.arcadedb",
        description="Run ArcadeDB with Bolt on 127.0.0.1 until SIGTERM or SIGINT, "
        f"after printing {ENV_PREFIX}* lines for the tests.",
    )
    parser.add_argument("--workdir", type=Path, required=True, help="where its files go")
    parser.add_argument("--startup-timeout", type=float, default=60.0, metavar="SECONDS")
    parser.add_argument("--heap", default="1g", help="JVM -Xmx (default: %(default)s)")
    args = parser.parse_args(argv)

    stop = threading.Event()

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)

    started = time.monotonic()
    try:
        with _running(
            args.workdir,
            startup_timeout=args.startup_timeout,
            stop_timeout=15.0,
            heap=args.heap,
        ) as (server, process):
            for key, value in server.env().items():
                print(f"{key}={value}")
            print(
                f"# ArcadeDB ready in {time.monotonic() - started:.1f}s (pid {process.pid})",
                file=sys.stderr,
            )
            sys.stdout.flush()
            while not stop.wait(0.5):
                if process.poll() is not None:
                    print(
                        f"ArcadeDB exited unexpectedly with status {process.returncode}",
                        file=sys.stderr,
                    )
                    return 1
    except ArcadeDBError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
