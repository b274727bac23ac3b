"""What `bench.peer` and `bench.serve_while_loading` share: the PostgreSQL + PostGraphile peer
(`../shared/peers/postgraphile`), its generated data loaded into a newsgraph store, the serve
command with `--workers`, a bare HTTP/1.1 client that keeps the response's change header, and
the change log read from the side.

The data is the peer's `generate.py` (not `bench.generate`), so both backends get identical
records; the outlet registry is the one the peer loads (`shared/extractor/outlets.json`).
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import Any
from urllib.parse import urlsplit

from bench.common import DEFAULT_WORKDIR, NEWSGRAPH, count_lines, log, serve_command

ROOT = Path(__file__).resolve().parents[1]
PEER_DIR = Path(
    os.environ.get("NEWSGRAPH_PEER_DIR", str(ROOT.parent / "shared" / "peers" / "postgraphile"))
)
PEER_ROOT = Path(os.environ.get("PG_PEER_ROOT", "/tmp/pg-peer"))
PAGE_QUERY_FILE = ROOT / "api" / "event_page.graphql"
CHANGE_HEADER = "x-newsgraph-change"
REFUSED = "in use by another newsgraph process"


def registry_file(peer_dir: Path) -> Path:
    """The outlet registry the peer loads (`load.py --outlets ../../extractor/outlets.json`)."""
    return peer_dir.parents[1] / "extractor" / "outlets.json"


# -- stopping cleanly -------------------------------------------------------------------------


def _terminated(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def stop_on_sigterm() -> None:
    """SIGTERM unwinds like Ctrl-C, so every `finally` that stops a server runs."""
    signal.signal(signal.SIGTERM, _terminated)


def run_main(main: Callable[[], None]) -> None:
    """`main()`, ending on Ctrl-C or SIGTERM with a line instead of a traceback (the servers
    were stopped on the way out)."""
    try:
        main()
    except KeyboardInterrupt:
        sys.exit("interrupted: every process this run started is stopped")


# -- data -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PeerData:
    records: Path
    ids: Path  # the extractor's event.id of every event, in generate.py's order
    events: int
    seed: int

    @property
    def record_count(self) -> int:
        return count_lines(self.records)


def peer_data(workdir: Path, events: int, seed: int, peer_dir: Path = PEER_DIR) -> PeerData:
    """`generate.py --events N --seed S`, written once under `workdir` and reused."""
    folder = workdir / "peer-data"
    data = PeerData(
        folder / f"gen-{events}-s{seed}.jsonl", folder / f"gen-{events}-s{seed}.ids", events, seed
    )
    if data.records.exists() and data.ids.exists():
        return data
    folder.mkdir(parents=True, exist_ok=True)
    log(f"generating {events:,} events (seed {seed}) with {peer_dir / 'generate.py'}")
    partial = data.records.with_suffix(".jsonl.partial")
    ids_partial = data.ids.with_suffix(".ids.partial")
    command = [sys.executable, str(peer_dir / "generate.py"), "--events", str(events)]
    command += ["--seed", str(seed), "--out", str(partial), "--ids-out", str(ids_partial)]
    subprocess.run(command, check=True)
    ids_partial.rename(data.ids)
    partial.rename(data.records)
    return data


@dataclass(frozen=True)
class LoadedStore:
    directory: Path
    ids: Path  # newsgraph's event ids, line by line the same events as PeerData.ids
    peer_ids: Path  # the peer's keys of those events (all of PeerData.ids that were mapped)
    meta: dict[str, Any]


def run_load(
    store: Path, records: Path, rejects: Path, batch_size: int | None = None
) -> tuple[float, int, str]:
    """`newsgraph load RECORDS --store STORE`: (wall seconds, exit status, its output)."""
    command = [str(NEWSGRAPH), "load", str(records), "--store", str(store)]
    command += ["--rejects", str(rejects)]
    if batch_size is not None:
        command += ["--batch-size", str(batch_size)]
    started = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True)
    return time.perf_counter() - started, done.returncode, done.stdout + done.stderr


def newsgraph_store(workdir: Path, data: PeerData, registry: Path) -> LoadedStore:
    """An embedded store holding `data`, built with the CLI as a user would (`newsgraph outlets
    load`, then `newsgraph load`), cached with the id files both clients ask for."""
    directory = workdir / f"peer-store-{data.events}-s{data.seed}"
    meta_file = directory.with_suffix(".json")
    ids = directory.with_suffix(".ids")
    peer_ids = directory.with_suffix(".peer-ids")
    if meta_file.exists() and directory.exists() and ids.exists() and peer_ids.exists():
        return LoadedStore(directory, ids, peer_ids, json.loads(meta_file.read_text("utf-8")))
    import shutil

    shutil.rmtree(directory, ignore_errors=True)
    log(f"loading {data.records.name} into a newsgraph store {directory}")
    subprocess.run(
        [str(NEWSGRAPH), "outlets", "load", str(registry), "--store", str(directory)],
        check=True,
        capture_output=True,
    )
    seconds, status, output = run_load(directory, data.records, workdir / "peer-rejects.jsonl")
    if status not in (0, 3):
        raise SystemExit(f"newsgraph load failed ({status}):\n{output[-3000:]}")
    records = data.record_count
    log(f"newsgraph load: {records:,} records in {seconds:.0f} s ({records / seconds:,.0f}/s)")
    mapped = map_ids(directory, data.ids, ids, peer_ids)
    meta = {
        "records": records,
        "load_seconds": round(seconds, 2),
        "load_records_per_s": round(records / seconds, 1),
        "load_exit_status": status,
        "events_mapped": mapped,
    }
    meta_file.write_text(json.dumps(meta, indent=1) + "\n", encoding="utf-8")
    return LoadedStore(directory, ids, peer_ids, meta)


def map_ids(directory: Path, peer_ids: Path, out: Path, peer_out: Path) -> int:
    """newsgraph's id of each of the peer's events (the extractor's `event.id` is an identity key
    of the event node), read from the closed store's file, read-only. Writes the two id files
    line for line the same events, so latency.py's seeded shuffle asks both backends for the
    same events in the same order."""
    from graph.keys import event_external_key

    wanted = [line.strip() for line in peer_ids.read_text("utf-8").splitlines() if line.strip()]
    prefix = event_external_key("")
    with readonly(directory) as db:
        rows = db.execute(
            "SELECT key, node FROM keys WHERE key >= ? AND key < ?",
            (prefix, prefix[:-1] + chr(ord(prefix[-1]) + 1)),
        ).fetchall()
    nodes = {str(key): str(node) for key, node in rows}
    pairs = [(i, nodes[event_external_key(i)]) for i in wanted if event_external_key(i) in nodes]
    if len(pairs) < len(wanted):
        log(f"{len(wanted) - len(pairs)} of {len(wanted)} events have no newsgraph id: left out")
    if not pairs:
        raise SystemExit(f"no event of {peer_ids} is in the store {directory}")
    out.write_text("".join(f"{n}\n" for _, n in pairs), encoding="utf-8")
    peer_out.write_text("".join(f"{i}\n" for i, _ in pairs), encoding="utf-8")
    return len(pairs)


@contextmanager
def readonly(directory: Path) -> Iterator[sqlite3.Connection]:
    """The store's SQLite file opened read-only (never locks out or changes the store)."""
    db = sqlite3.connect(f"file:{directory / 'graph.sqlite3'}?mode=ro", uri=True, timeout=10)
    try:
        yield db
    finally:
        db.close()


# -- newsgraph serve --------------------------------------------------------------------------


def serving_arguments(description: str, events_help: str) -> argparse.ArgumentParser:
    """The options both benchmarks take: --workdir, --events, --workers, --concurrency and
    --peer-dir."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--workdir", type=Path, default=DEFAULT_WORKDIR)
    parser.add_argument("--events", type=int, default=100_000, help=events_help)
    parser.add_argument("--workers", type=int, default=None, help="newsgraph serve --workers N")
    parser.add_argument("--concurrency", type=int, default=8, help="concurrent clients [8]")
    parser.add_argument("--peer-dir", type=Path, default=PEER_DIR)
    return parser


def parse_serving(
    parser: argparse.ArgumentParser, argv: Sequence[str] | None
) -> tuple[argparse.Namespace, int]:
    """The arguments and the reader workers to serve with (at least 1), after checking that
    `serve` takes `--workers` when more were asked for; SIGTERM unwinds from then on."""
    args = parser.parse_args(argv)
    stop_on_sigterm()
    check_workers_flag(args.workers)
    return args, args.workers if args.workers and args.workers > 1 else 1


def serve_with_workers(store: Path | str, port: int, workers: int | None) -> list[str]:
    """`newsgraph serve`, with `--workers N` only when N > 1 was asked for."""
    command = serve_command(store, port)
    if workers is not None and workers > 1:
        command += ["--workers", str(workers)]
    return command


def check_workers_flag(workers: int | None) -> None:
    """Stop early, saying why, when `--workers` was asked for and `serve` has no such option."""
    if workers is None or workers <= 1:
        return
    help_text = subprocess.run(
        [str(NEWSGRAPH), "serve", "--help"], capture_output=True, text=True, check=True
    ).stdout
    if "--workers" not in help_text:
        raise SystemExit(
            f"--workers {workers}: this `newsgraph serve` has no --workers option yet "
            "(issue 14); run without --workers to measure one process"
        )


# -- the peer: PostgreSQL + PostGraphile --------------------------------------------------------


@dataclass
class Peer:
    """The peer's scripts, run as its README says; what this run started, to stop it again."""

    directory: Path = PEER_DIR
    root: Path = PEER_ROOT
    started_cluster: bool = False
    started_server: bool = False

    @property
    def python(self) -> Path:
        return self.root / "venv" / "bin" / "python"

    def env(self) -> dict[str, str]:
        values: dict[str, str] = {}
        for line in (self.root / "env").read_text("utf-8").splitlines():
            name, sep, value = line.partition("=")
            if sep:
                values[name.strip()] = value.strip()
        return values

    def setup(self) -> None:
        """`setup.sh`: installs what is missing (apt, npm; ~40 s the first time), starts the
        cluster unless it runs already."""
        log("peer: setup.sh (PostgreSQL cluster, PostGraphile, its venv)")
        done = subprocess.run(
            [str(self.directory / "setup.sh")], capture_output=True, text=True, timeout=1800
        )
        if done.returncode != 0:
            raise SystemExit(f"peer setup.sh failed ({done.returncode}):\n{done.stderr[-3000:]}")
        self.started_cluster = "starting cluster" in done.stderr

    def psql(self, sql: str) -> str:
        env = self.env()
        command = [f"{env['PGBIN']}/psql", "-X", "-At", "-h", "127.0.0.1", "-p", env["PGPORT"]]
        command += ["-U", "postgres", "-d", "peer", "-c", sql]
        return subprocess.run(command, capture_output=True, text=True, check=True).stdout.strip()

    def event_count(self) -> int | None:
        try:
            return int(self.psql("select count(*) from news.events"))
        except (subprocess.CalledProcessError, ValueError):
            return None

    def load(self, workdir: Path, data: PeerData, registry: Path, force: bool) -> dict[str, Any]:
        """`load.py --reset --outlets REGISTRY RECORDS`, unless the database already holds
        exactly this data (a marker in `workdir` and the event count agree)."""
        marker = workdir / "peer-loaded.json"
        wanted = {"records": str(data.records), "bytes": data.records.stat().st_size}
        if not force and marker.exists():
            known = json.loads(marker.read_text("utf-8"))
            if {k: known.get(k) for k in wanted} == wanted and known.get(
                "events_in_db"
            ) == self.event_count():
                log(f"peer: PostgreSQL already holds {data.records.name}")
                return dict(known)
        self.stop_server()  # its schema cache would be stale after --reset
        log(f"peer: load.py --reset {data.records.name}")
        command = [str(self.python), str(self.directory / "load.py"), "--reset"]
        command += ["--outlets", str(registry), str(data.records)]
        started = time.perf_counter()
        done = subprocess.run(command, capture_output=True, text=True)
        seconds = time.perf_counter() - started
        if done.returncode != 0:
            raise SystemExit(f"peer load.py failed ({done.returncode}):\n{done.stderr[-3000:]}")
        self.psql("vacuum analyze")
        records = data.record_count
        log(f"peer load: {records:,} records in {seconds:.0f} s ({records / seconds:,.0f}/s)")
        known = {
            **wanted,
            "events_in_db": self.event_count(),
            "load_seconds": round(seconds, 2),
            "load_records_per_s": round(records / seconds, 1),
        }
        marker.write_text(json.dumps(known, indent=1) + "\n", encoding="utf-8")
        return known

    def serve(self) -> str:
        """`serve.sh` after `serve.sh stop`: a PostGraphile of this run's own; its URL."""
        self.stop_server()
        done = subprocess.run(
            [str(self.directory / "serve.sh")], capture_output=True, text=True, timeout=120
        )
        if done.returncode != 0:
            raise SystemExit(f"peer serve.sh failed ({done.returncode}):\n{done.stderr[-3000:]}")
        self.started_server = True
        return done.stdout.strip().splitlines()[-1]

    def stop_server(self) -> None:
        subprocess.run([str(self.directory / "serve.sh"), "stop"], capture_output=True, timeout=60)
        self.started_server = False

    def stop(self) -> None:
        """Stop what this run started: PostGraphile always, the cluster if it was not running."""
        if self.started_server:
            with suppress(Exception):
                self.stop_server()
        if self.started_cluster:
            log("peer: stopping the PostgreSQL cluster this run started")
            with suppress(Exception):
                subprocess.run(
                    [str(self.directory / "setup.sh"), "stop"], capture_output=True, timeout=120
                )
            self.started_cluster = False

    def versions(self) -> dict[str, str]:
        found: dict[str, str] = {}
        with suppress(Exception):
            found["postgresql"] = self.psql("show server_version")
        with suppress(Exception):
            package = self.root / "node" / "node_modules" / "postgraphile" / "package.json"
            found["postgraphile"] = json.loads(package.read_text("utf-8"))["version"]
        with suppress(Exception):
            node = self.env()["NODE"]
            found["node"] = subprocess.run(
                [node, "--version"], capture_output=True, text=True
            ).stdout.strip()
        return found


# -- the client -------------------------------------------------------------------------------


def pct(values: Sequence[float], p: float) -> float:
    """Percentile by linear interpolation between sorted values: latency.py's `pct`."""
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    k = (len(ordered) - 1) * p / 100.0
    low = int(k)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (k - low)


@dataclass(frozen=True, slots=True)
class Answer:
    status: int
    headers: dict[str, str]
    content: bytes


class RawClient:
    """latency.py's `--client raw`: bare HTTP/1.1 keep-alive POSTs on asyncio streams, one
    connection per worker, a fraction of httpx's CPU per request. The same code, except that
    it keeps the response's headers (latency.py's drops them) and is typed."""

    def __init__(self, url: str, timeout: float) -> None:
        parts = urlsplit(url)
        if parts.scheme != "http" or parts.hostname != "127.0.0.1":
            raise ValueError("benchmarks only target http://127.0.0.1")
        self.host, self.port = parts.hostname, parts.port or 80
        path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        self.timeout = timeout
        self.head = (
            f"POST {path} HTTP/1.1\r\nHost: {parts.netloc}\r\ncontent-type: application/json\r\n"
            "accept: application/json\r\n"
        ).encode()
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
        self.reader = self.writer = None

    async def post(self, body: bytes) -> Answer:
        try:
            return await asyncio.wait_for(self._post(body), self.timeout)
        except BaseException:
            await self.close()
            raise

    async def _post(self, body: bytes) -> Answer:
        if self.reader is None or self.writer is None:
            self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        reader = self.reader
        self.writer.write(self.head + b"content-length: %d\r\n\r\n" % len(body) + body)
        head = await reader.readuntil(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split(" ", 2)[1])
        headers: dict[str, str] = {}
        for line in lines[1:]:
            if ":" in line:
                name, value = line.split(":", 1)
                headers[name.strip().lower()] = value.strip()
        if "content-length" in headers:
            content = await reader.readexactly(int(headers["content-length"]))
        elif "chunked" in headers.get("transfer-encoding", "").lower():
            parts = []
            while True:
                size = int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)
                if size == 0:
                    await reader.readuntil(b"\r\n")
                    break
                parts.append(await reader.readexactly(size))
                await reader.readexactly(2)
            content = b"".join(parts)
        else:
            content = await reader.read()
            headers["connection"] = "close"
        if headers.get("connection", "").lower() == "close":
            await self.close()
        return Answer(status, headers, content)


def problem(answer: Answer) -> str | None:
    """What latency.py's `check` counts as an error: not 200, not JSON, `errors`, null data."""
    if answer.status != 200:
        return f"HTTP {answer.status}: {answer.content[:200]!r}"
    try:
        body = json.loads(answer.content)
    except ValueError:
        return f"not JSON: {answer.content[:200]!r}"
    if body.get("errors"):
        return "errors: " + json.dumps(body["errors"])[:300]
    data = body.get("data")
    if not isinstance(data, dict) or not data or any(v is None for v in data.values()):
        return "no data (id not found?)"
    return None


@dataclass(frozen=True, slots=True)
class Sample:
    sent: float  # wall clock (time.time()) just before the send
    answered: float  # wall clock when the body was read
    ms: float  # latency, from perf_counter
    change: int | None  # X-Newsgraph-Change, when the answer carried it
    error: str | None


def summary(samples: Sequence[Sample], seconds: float) -> dict[str, Any]:
    ms = [s.ms for s in samples]
    errors = [s.error for s in samples if s.error]
    return {
        "requests": len(samples),
        "errors": len(errors),
        "first_error": errors[0] if errors else None,
        "p50_ms": round(pct(ms, 50), 3),
        "p90_ms": round(pct(ms, 90), 3),
        "p99_ms": round(pct(ms, 99), 3),
        "max_ms": round(max(ms), 3) if ms else None,
        "throughput_rps": round(len(samples) / seconds, 1) if seconds else None,
    }


# -- the change log, from the side --------------------------------------------------------------


def parse_at(text: str) -> float:
    """A change's `at` (ISO 8601, UTC) as seconds since the epoch."""
    when = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)
    return when.timestamp()


def read_changes(directory: Path, after: int) -> list[tuple[int, float]] | None:
    """(seq, commit time) of the change log entries after `after`, read-only; None when the
    store has no `changes` table (yet)."""
    try:
        with readonly(directory) as db:
            rows = db.execute(
                "SELECT seq, at FROM changes WHERE seq > ? ORDER BY seq", (after,)
            ).fetchall()
    except sqlite3.OperationalError as exc:
        if "no such table" in str(exc):
            return None
        raise
    return [(int(seq), parse_at(str(at))) for seq, at in rows]


def lags(samples: Sequence[Sample], changes: Sequence[tuple[int, float]]) -> list[float]:
    """Per answer that carried the header: its time minus the commit time of the oldest entry
    committed by then that it does not show (0 when it shows every committed one)."""
    import bisect

    seqs = [seq for seq, _ in changes]
    result = []
    for sample in samples:
        if sample.change is None:
            continue
        index = bisect.bisect_right(seqs, sample.change)  # the first entry it does not show
        if index < len(changes) and changes[index][1] <= sample.answered:
            result.append(sample.answered - changes[index][1])
        else:
            result.append(0.0)
    return result
