"""What the benchmarks share: cached data and stores, servers, the load generator, the table."""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, BinaryIO, cast

import httpx

DEFAULT_WORKDIR = Path("/tmp/newsgraph-bench")
NEWSGRAPH = Path(sys.executable).parent / "newsgraph"
SEED = 1

# The seed page's query, the one tests/test_api.py sends.
PAGE_QUERY = (Path(__file__).resolve().parents[1] / "api" / "event_page.graphql").read_text("utf-8")

TIMELINE_QUERY = """
query Timeline($id: ID!) {
  entity(id: $id) {
    id name
    timeline(first: 50) {
      edges { cursor node { id category summary occurredOn confidence { level label } } }
      pageInfo { hasNextPage endCursor }
    }
  }
}
"""


def arguments(description: str, events: int = 100_000) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument(
        "--workdir",
        type=Path,
        default=DEFAULT_WORKDIR,
        help=f"where generated data and built stores are cached [{DEFAULT_WORKDIR}]",
    )
    parser.add_argument("--events", type=int, default=events, help=f"events [{events}]")
    parser.add_argument("--seed", type=int, default=SEED, help=f"generator seed [{SEED}]")
    return parser


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


# -- data and stores -------------------------------------------------------------------------


@dataclass(frozen=True)
class Dataset:
    records: Path
    registry: Path
    events: int
    seed: int


def dataset(workdir: Path, events: int, seed: int) -> Dataset:
    """The generated records and registry for (events, seed), made once and cached."""
    from bench.generate import write

    folder = workdir / f"data-{events}-s{seed}"
    data = Dataset(folder / "records.jsonl", folder / "outlets.json", events, seed)
    if data.records.exists() and data.registry.exists():
        return data
    folder.mkdir(parents=True, exist_ok=True)
    log(f"generating {events} events (seed {seed}) into {folder}")
    partial = folder / "records.jsonl.partial"
    with partial.open("w", encoding="utf-8") as output:
        write(events, seed, output, data.registry)
    partial.rename(data.records)
    return data


def count_lines(path: Path) -> int:
    with path.open("rb") as stream:
        return sum(1 for _ in stream)


def load_registry_file(store: Any, path: Path) -> None:
    from loaders.outlets import parse_registry
    from services.registry import load_registry

    load_registry(store, parse_registry(path.read_text("utf-8")))


def load_records(store: Any, path: Path) -> Any:
    """Load `path` the way `newsgraph load` does (default batch size), without a progress bar;
    the `LoadSummary`."""
    from loaders.jsonl import RejectSink
    from services.load import load_streams

    with path.open("rb") as stream:
        return load_streams(store, [(path.name, cast(BinaryIO, stream))], RejectSink(None))


@dataclass(frozen=True)
class BuiltStore:
    directory: Path
    meta: dict[str, Any]

    @property
    def events(self) -> int:
        return int(self.meta["counts"]["Event"])

    @property
    def relationships(self) -> int:
        from graph.model import Rel

        return sum(int(self.meta["counts"].get(str(r), 0)) for r in Rel)


def built_store(workdir: Path, data: Dataset) -> BuiltStore:
    """A store holding `data` (registry, then records), built once and cached with what the
    benchmarks need to know about it (counts, the most frequent entity, sample event ids).

    The cache is named with the store's file format (`store-100000-s1-f5`), so that a checkout
    of another format never opens it to write (which would upgrade it under the feet of the
    others using it). A cache of format 4 or before (`store-100000-s1`, named before the format
    was) is copied and the copy upgraded, rather than the store built again."""
    from graph.embedded import EmbeddedStore
    from graph.embedded.fileformat import FORMAT

    stem = f"store-{data.events}-s{data.seed}"
    directory = workdir / f"{stem}-f{FORMAT}"
    meta_file = workdir / f"{stem}-f{FORMAT}.json"
    if meta_file.exists() and directory.exists():
        return BuiltStore(directory, json.loads(meta_file.read_text("utf-8")))
    older, older_meta = workdir / stem, workdir / f"{stem}.json"
    if older_meta.exists() and (older / "graph.sqlite3").exists():
        log(f"copying {older} to {directory} and upgrading the copy to format {FORMAT}")
        snapshot_store(older, directory)
        store = EmbeddedStore(directory)
        store.setup()  # the upgrade, in the copy only
        store.close()
        shutil.copyfile(older_meta, meta_file)
        return BuiltStore(directory, json.loads(meta_file.read_text("utf-8")))
    shutil.rmtree(directory, ignore_errors=True)
    log(f"building the store {directory} from {data.records}")
    store = EmbeddedStore(directory)
    store.setup()
    try:
        started = time.perf_counter()
        load_registry_file(store, data.registry)
        summary = load_records(store, data.records)
        log(f"built in {time.perf_counter() - started:.0f} s: {summary.lines()}")
        meta = describe_store(store)
    finally:
        store.close()
    meta_file.write_text(json.dumps(meta, indent=1) + "\n", encoding="utf-8")
    return BuiltStore(directory, meta)


def describe_store(store: Any) -> dict[str, Any]:
    """Counts, the most frequent entity and a fixed sample of event ids."""
    import random

    from graph.model import Label, Rel

    counts = store.counts()
    nodes = list(store.dump())
    from graph.model import Edge, Node

    events = sorted(n.id for n in nodes if isinstance(n, Node) and n.label is Label.EVENT)
    involved: dict[str, int] = {}
    for item in nodes:
        if isinstance(item, Edge) and item.type is Rel.INVOLVES:
            involved[item.dst] = involved.get(item.dst, 0) + 1
    top = max(sorted(involved), key=lambda i: involved[i])
    (top_node,) = store.get_nodes([top]).values()
    sample = random.Random(7).sample(events, min(1000, len(events)))
    return {
        "counts": counts,
        "top_entity": {"id": top, "name": top_node.text("name"), "events": involved[top]},
        "sample_events": sample,
    }


def copy_store(source: Path, target: Path) -> Path:
    """A copy of a (closed) store directory, for a second process: the store locks its own."""
    shutil.rmtree(target, ignore_errors=True)
    target.mkdir(parents=True)
    for name in ("graph.sqlite3", "graph.sqlite3-wal"):
        if (source / name).exists():
            shutil.copy2(source / name, target / name)
    return target


def snapshot_store(source: Path, target: Path) -> Path:
    """A copy of a store directory another process may be using (SQLite's online backup: one
    consistent state, whatever its WAL holds)."""
    import sqlite3

    shutil.rmtree(target, ignore_errors=True)
    target.mkdir(parents=True)
    source_db = sqlite3.connect(
        f"{(source / 'graph.sqlite3').resolve().as_uri()}?mode=ro", uri=True
    )
    target_db = sqlite3.connect(target / "graph.sqlite3")
    try:
        source_db.backup(target_db)
    finally:
        target_db.close()
        source_db.close()
    return target


# -- servers ---------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class Server:
    process: subprocess.Popen[bytes]
    port: int
    started: float  # perf_counter at spawn
    ready_after: float  # seconds from spawn to the first answered query

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def rss(self) -> tuple[int, int]:
        """(resident, peak resident) bytes of the largest process of the server (`newsgraph
        serve` is a writer process and its reader workers, each with the graph in memory)."""
        sizes = [_rss(pid) for pid in _tree(self.process.pid)]
        return max(r for r, _ in sizes), max(p for _, p in sizes)

    def total_rss(self) -> int:
        """Resident bytes of all the server's processes together."""
        return sum(_rss(pid)[0] for pid in _tree(self.process.pid))

    def cpu_seconds(self) -> float:
        """User and system CPU time the server's processes have used so far."""
        return sum(_cpu(_stat(pid)) for pid in _tree(self.process.pid))


def cpu_of(match: Callable[[str, str], bool]) -> float:
    """User and system CPU seconds used so far by the live processes `match(name, command
    line)` accepts (a peer's server processes, which this run did not start itself)."""
    total = 0.0
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            text = _stat(int(entry))
            with open(f"/proc/{entry}/cmdline", "rb") as cmdline:
                command = cmdline.read().replace(b"\0", b" ").decode("utf-8", "replace")
        except OSError:
            continue
        if match(text[text.find("(") + 1 : text.rfind(")")], command):
            total += _cpu(text)
    return total


def _stat(pid: int) -> str:
    with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as stat:
        return stat.read()


def _cpu(stat: str) -> float:
    """User and system CPU seconds of a process, from its /proc/PID/stat text."""
    fields = stat.rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _tree(pid: int) -> list[int]:
    """`pid` and its descendants."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", encoding="ascii") as stat:
                parent = int(stat.read().rpartition(")")[2].split()[1])
        except (OSError, ValueError):
            continue
        children.setdefault(parent, []).append(int(entry))
    found, todo = [], [pid]
    while todo:
        current = todo.pop()
        found.append(current)
        todo += children.get(current, [])
    return found


def _rss(pid: int) -> tuple[int, int]:
    values: dict[str, int] = {}
    with open(f"/proc/{pid}/status", encoding="ascii") as status:
        for line in status:
            name, _, rest = line.partition(":")
            if name in ("VmRSS", "VmHWM"):
                values[name] = int(rest.split()[0]) * 1024
    return values["VmRSS"], values["VmHWM"]


def _pythonpath() -> str:
    """The checkout first (for `bench.baseline_app`), then whatever the caller had."""
    root = str(Path(__file__).absolute().parents[1])
    rest = os.environ.get("PYTHONPATH", "")
    return f"{root}{os.pathsep}{rest}" if rest else root


def serve_command(store: Path | str, port: int) -> list[str]:
    """`newsgraph serve` on `store`: a directory, or a `bolt://` URI (a str, kept as given)."""
    return [str(NEWSGRAPH), "serve", "--store", str(store), "--port", str(port), "--no-samples"]


def baseline_command(store: Path, port: int) -> list[str]:
    return [sys.executable, "-m", "bench.baseline_app", "--store", str(store), "--port", str(port)]


def start(command: list[str], port: int, probe: tuple[str, dict[str, Any]]) -> Server:
    """Spawn a server and wait (at most 120 s) until it answers `probe` (path, JSON body)."""
    path, body = probe
    started = time.perf_counter()
    output = tempfile.TemporaryFile()  # noqa: SIM115 (the server's output, read if it dies)
    process = subprocess.Popen(
        command,
        stdout=output,
        stderr=subprocess.STDOUT,
        env={**os.environ, "PYTHONUNBUFFERED": "1", "PYTHONPATH": _pythonpath()},
    )
    deadline = started + 120
    with httpx.Client(timeout=5) as client:
        while time.perf_counter() < deadline:
            if process.poll() is not None:
                output.seek(0)
                raise RuntimeError(f"{command[0]} exited: {output.read().decode()[-2000:]}")
            try:
                response = client.post(f"http://127.0.0.1:{port}{path}", json=body)
            except httpx.TransportError:
                time.sleep(0.01)
                continue
            if response.status_code != 200:
                raise RuntimeError(f"{path} answered {response.status_code}: {response.text}")
            return Server(process, port, started, time.perf_counter() - started)
    process.kill()
    raise RuntimeError(f"{command} did not answer within 120 s")


def stop(server: Server) -> None:
    server.process.terminate()
    try:
        server.process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        server.process.kill()
        server.process.wait()


@contextmanager
def running(command: list[str], port: int, probe: tuple[str, dict[str, Any]]) -> Iterator[Server]:
    server = start(command, port, probe)
    try:
        yield server
    finally:
        stop(server)


def page_body(event_id: str) -> dict[str, Any]:
    return {"query": PAGE_QUERY, "variables": {"id": event_id}}


# -- load generator: wrk ---------------------------------------------------------------------

WRK_SCRIPT = """
-- POSTs the bodies in bodies.json in turn; with addresses, thread i targets addresses[i].
local bodies = {BODIES}
local ports = {PORTS}
local path = "{PATH}"
local counter = 0
local threads = {}

function setup(thread)
  local index = #threads + 1
  if #ports > 0 then
    thread.addr = wrk.lookup("127.0.0.1", ports[((index - 1) % #ports) + 1])[1]
  end
  thread:set("offset", index * 7919)
  table.insert(threads, thread)
end

function init(args)
  counter = tonumber(offset) or 0
end

function request()
  counter = counter + 1
  local body = bodies[(counter % #bodies) + 1]
  return wrk.format("POST", path, {["Content-Type"] = "application/json"}, body)
end

function done(summary, latency, requests)
  local out = io.open("{RESULT}", "w")
  out:write(string.format(
    '{"requests": %d, "duration_us": %d, "errors": %d, "non2xx": %d, ' ..
    '"p50_us": %d, "p90_us": %d, "p99_us": %d, "max_us": %d, "mean_us": %f}',
    summary.requests, summary.duration,
    summary.errors.connect + summary.errors.read + summary.errors.write +
      summary.errors.timeout,
    summary.errors.status,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max,
    latency.mean))
  out:close()
end
"""


def _lua_string(text: str) -> str:
    return "[==[" + text + "]==]"


@dataclass(frozen=True)
class WrkResult:
    requests: int
    seconds: float
    errors: int
    p50_ms: float
    p90_ms: float
    p99_ms: float
    max_ms: float

    @property
    def throughput(self) -> float:
        return self.requests / self.seconds


def wrk(
    url: str,
    path: str,
    bodies: Sequence[str],
    connections: int,
    seconds: float,
    threads: int = 1,
    ports: Sequence[int] = (),
) -> WrkResult:
    """Run wrk (bounded: `seconds`, 127.0.0.1 only) POSTing `bodies` in turn to `url + path`.

    wrk is C on epoll: one wrk thread drives thousands of requests a second on a fraction of a
    core, so on two cores the server, not the load generator, is what gets measured."""
    if not url.startswith("http://127.0.0.1:"):
        raise ValueError("benchmarks only target 127.0.0.1")
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is not installed: apt-get install wrk")
    with tempfile.TemporaryDirectory() as tmp:
        result = Path(tmp) / "result.json"
        script = (
            WRK_SCRIPT.replace("{BODIES}", "{" + ",".join(_lua_string(b) for b in bodies) + "}")
            .replace("{PORTS}", "{" + ",".join(str(p) for p in ports) + "}")
            .replace("{PATH}", path)
            .replace("{RESULT}", str(result))
        )
        (Path(tmp) / "bench.lua").write_text(script, encoding="utf-8")
        command = ["wrk", f"-t{threads}", f"-c{connections}", f"-d{max(1, round(seconds))}s"]
        command += ["--timeout", "10s", "-s", str(Path(tmp) / "bench.lua"), url + path]
        completed = subprocess.run(command, capture_output=True, text=True, timeout=seconds + 60)
        if completed.returncode != 0 or not result.exists():
            raise RuntimeError(f"wrk failed: {completed.stdout}\n{completed.stderr}")
        raw = json.loads(result.read_text("utf-8"))
    return WrkResult(
        requests=raw["requests"],
        seconds=raw["duration_us"] / 1e6,
        errors=raw["errors"] + raw["non2xx"],
        p50_ms=raw["p50_us"] / 1000,
        p90_ms=raw["p90_us"] / 1000,
        p99_ms=raw["p99_us"] / 1000,
        max_ms=raw["max_us"] / 1000,
    )


def median_result(results: Sequence[WrkResult]) -> WrkResult:
    """Per figure, the median over repetitions."""
    return WrkResult(
        requests=int(statistics.median(r.requests for r in results)),
        seconds=statistics.median(r.seconds for r in results),
        errors=sum(r.errors for r in results),
        p50_ms=statistics.median(r.p50_ms for r in results),
        p90_ms=statistics.median(r.p90_ms for r in results),
        p99_ms=statistics.median(r.p99_ms for r in results),
        max_ms=max(r.max_ms for r in results),
    )


# -- results ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Row:
    figure: str
    value: float
    unit: str
    baseline: float | None  # measured in the same run
    baseline_name: str
    target: str
    met: bool | None

    @property
    def ratio(self) -> float | None:
        if self.baseline is None or self.baseline == 0:
            return None
        return self.value / self.baseline


def _number(value: float) -> str:
    if value >= 100:
        return f"{value:,.0f}"
    if value >= 10:
        return f"{value:.1f}"
    return f"{value:.2f}"


def print_table(title: str, rows: Sequence[Row], out: IO[str] | None = None) -> None:
    """The figures, each beside its baseline and the ratio, as a Markdown table."""
    out = out or sys.stdout
    print(f"\n## {title}\n", file=out)
    print(f"{machine()}; load average {load_average()}\n", file=out)
    print("| figure | value | baseline (same run) | ratio | target | met |", file=out)
    print("|---|---|---|---|---|---|", file=out)
    for row in rows:
        baseline = (
            f"{_number(row.baseline)} {row.unit} ({row.baseline_name})"
            if row.baseline is not None
            else row.baseline_name or "-"
        )
        ratio = f"{row.ratio:.2f}x" if row.ratio is not None else "-"
        met = "-" if row.met is None else ("yes" if row.met else "**no**")
        print(
            f"| {row.figure} | {_number(row.value)} {row.unit} | {baseline} | {ratio} "
            f"| {row.target} | {met} |",
            file=out,
        )
    out.flush()


def machine() -> str:
    cpu = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return (
        f"{os.cpu_count()} cores ({cpu}), {memory:.0f} GiB, Python {platform.python_version()}, "
        f"{platform.system()} {platform.release()}"
    )


def load_average() -> str:
    """The 1, 5 and 15 minute load averages: other work on the machine skews every figure."""
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def save_results(workdir: Path, name: str, payload: dict[str, Any]) -> None:
    """Keep the run's figures as JSON beside the cached data, for docs/benchmarks.md."""
    workdir.mkdir(parents=True, exist_ok=True)
    payload = {
        "machine": machine(),
        "load_average_after": load_average(),
        "when": time.strftime("%Y-%m-%d %H:%M:%S"),
        **payload,
    }
    (workdir / f"result-{name}.json").write_text(json.dumps(payload, indent=1) + "\n")
