"""Load throughput of the Neo4j store, against a naive one-transaction-per-record writer.

    python -m bench.load_neo4j [--events 1000] [--seed 1] [--batch-size 500] [--repeat 3]

Runs on the Bolt server that NEWSGRAPH_TEST_NEO4J_URI (with _USER, _PASSWORD, _DATABASE) names,
or else on an ArcadeDB server it starts (`tools/arcadedb.py`, needs arcadedb-embedded).

Both loads take the same records (from `bench/generate.py`: N events, about 1.5 N records;
without it, wikitimes repeated with new event ids) into an emptied database holding the outlet
registry, through the same pipeline as `newsgraph load` (validation, resolution, merging,
confidence):
- bulk: `Neo4jStore` with batches of --batch-size records, one transaction and a few
  `UNWIND $rows` statements per batch;
- naive: one transaction per record (batch size 1), the way a writer that sends each record as
  it comes does.
Prints records per second of each, their ratio and the load average (the machine is shared:
rely on the ratio of one run), and, on an ArcadeDB started here, the CPU seconds of the client
(this process) and of the server (the JVM, from /proc) during each load: less noisy than wall
time, and a load that is client-bound or server-bound shows it.

The server is a JVM whose JIT keeps compiling for a while: on ArcadeDB at 1,000 events the
first bulk load spent more server CPU compiling (5 s) than loading, and the rate rose load
after load until about the sixth (200, 270, 330, 340, 480, 540, 650 records/s). A server in
service is warm, so the server is warmed first, unmeasured: --warm-up-loads bulk loads of the
records, then 300 records one by one; then the two loads alternate --repeat times, and the
medians are printed. --statements adds one bulk load that prints the time of each kind of
statement (the rest of a load is the loader's planning and the commits).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, BinaryIO, cast

if __package__ in (None, ""):  # run as a file: python bench/load_neo4j.py
    sys.path.insert(0, str(Path(__file__).absolute().parents[1]))

ROOT = Path(__file__).absolute().parents[1]
ENV = "NEWSGRAPH_TEST_NEO4J_"


@contextlib.contextmanager
def bolt_server(
    workdir: Path, java_options: Sequence[str] = ()
) -> Iterator[tuple[str, str, str, str | None]]:
    """(uri, user, password, database) of the external server, or of an ArcadeDB started here
    (with `java_options`)."""
    uri = os.environ.get(ENV + "URI")
    if uri:
        yield (
            uri,
            os.environ.get(ENV + "USER", "neo4j"),
            os.environ.get(ENV + "PASSWORD", ""),
            os.environ.get(ENV + "DATABASE") or None,
        )
        return
    from tools.arcadedb import start_arcadedb

    with start_arcadedb(workdir, java_options=java_options) as server:
        yield server.uri, server.user, server.password, server.database


def server_cpu() -> float | None:
    """CPU seconds used so far by the server started here (a child `java` process), or None."""
    me = str(os.getpid())
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:
            continue
        name, fields = text[text.find("(") + 1 : text.rfind(")")], text[text.rfind(")") + 2 :]
        parts = fields.split()
        if name == "java" and parts[1] == me:
            return (int(parts[11]) + int(parts[12])) / os.sysconf("SC_CLK_TCK")
    return None


def records(workdir: Path, events: int, seed: int) -> tuple[Path, Path]:
    """The generated records file, and the registry that goes with it."""
    from bench.generate import write

    path, registry = workdir / "records.jsonl", workdir / "outlets.json"
    with path.open("w", encoding="utf-8") as output:
        write(events, seed, output, registry)
    return path, registry


def empty(store: Any) -> None:
    from tools.bolt import empty_database

    with store._session() as session:
        empty_database(session)


def timed_load(
    server: tuple[str, str, str, str | None],
    path: Path,
    registry: Path | None,
    batch: int,
    times: dict[str, list[float]] | None = None,
    cpu: list[float] | None = None,
) -> tuple[int, float, dict[str, int]]:
    """(records loaded, seconds, counts) of one load into an emptied database; `cpu` gets
    the client's and (when known) the server's CPU seconds during the load."""
    from graph.neo4j import Neo4jStore
    from loaders.jsonl import RejectSink
    from loaders.outlets import parse_registry
    from services.load import load_streams
    from services.registry import load_registry

    store = Neo4jStore(*server)
    store.setup()
    try:
        empty(store)
        if registry is not None:
            load_registry(store, parse_registry(registry.read_text("utf-8")))
        started, client, server_start = time.perf_counter(), time.process_time(), server_cpu()
        watch = statement_times(times) if times is not None else contextlib.nullcontext()
        with watch, path.open("rb") as stream:
            summary = load_streams(
                store, [(path.name, cast(BinaryIO, stream))], RejectSink(None), batch_size=batch
            )
        seconds = time.perf_counter() - started
        if cpu is not None:
            cpu.append(time.process_time() - client)
            after = server_cpu()
            if server_start is not None and after is not None:
                cpu.append(after - server_start)
        return summary.loaded, seconds, store.counts()
    finally:
        store.close()


@contextlib.contextmanager
def statement_times(times: dict[str, list[float]]) -> Iterator[None]:
    """Adds to `times`, per statement (its first 110 characters), [count, seconds, client CPU
    seconds] of every statement the driver runs in a transaction meanwhile, results read in
    full."""
    from neo4j._sync.work.transaction import TransactionBase  # the driver's, not public

    original = TransactionBase.run

    def run(self: Any, query: Any, parameters: Any = None, **kwargs: Any) -> Any:
        started, cpu = time.perf_counter(), time.process_time()
        result = original(self, query, parameters, **kwargs)
        result._buffer_all()  # type: ignore[no-untyped-call]
        entry = times.setdefault(" ".join(str(query).split())[:110], [0, 0.0, 0.0])
        entry[0] += 1
        entry[1] += time.perf_counter() - started
        entry[2] += time.process_time() - cpu
        return result

    TransactionBase.run = run  # type: ignore[method-assign]
    try:
        yield
    finally:
        TransactionBase.run = original  # type: ignore[method-assign]


def print_statements(times: dict[str, list[float]], seconds: float) -> None:
    total = sum(t[1] for t in times.values())
    print(f"statements: {total:.2f} s of the load's {seconds:.2f} s", file=sys.stderr)
    for query, (count, wall, cpu) in sorted(times.items(), key=lambda kv: -kv[1][1])[:15]:
        print(f"  {wall:6.2f} s (client CPU {cpu:5.2f}) {count:5.0f}x  {query}", file=sys.stderr)


def _load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.load_neo4j", description=__doc__)
    parser.add_argument("--events", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--batch-size", type=int, default=500)
    parser.add_argument(
        "--warm-up-loads", type=int, default=5, help="unmeasured bulk loads first (default 5)"
    )
    parser.add_argument(
        "--repeat", type=int, default=3, help="bulk and naive loads, alternating (default 3)"
    )
    parser.add_argument(
        "--statements",
        action="store_true",
        help="one more bulk load, timing each statement (time and client CPU) by its text",
    )
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="bench-neo4j-") as tmp:
        workdir = Path(tmp)
        path, registry = records(workdir, args.events, args.seed)
        with bolt_server(workdir) as server:
            print(f"server: {server[0]} (database {server[3] or 'default'})", file=sys.stderr)
            # The server's JIT (ArcadeDB is a JVM) warms up on unmeasured loads of both kinds.
            for _ in range(args.warm_up_loads):
                warm_n, warm_s, _counts = timed_load(server, path, registry, args.batch_size)
                print(f"warm-up: bulk {warm_n / warm_s:.1f} records/s", file=sys.stderr)
            lines = path.read_text("utf-8").splitlines(keepends=True)
            warm = workdir / "warm-up.jsonl"
            warm.write_text("".join(lines[:300]), encoding="utf-8")
            timed_load(server, warm, registry, 1)
            bulk: list[float] = []
            naive: list[float] = []
            for _ in range(max(args.repeat, 1)):
                cpu: list[float] = []
                bulk_n, bulk_s, bulk_counts = timed_load(
                    server, path, registry, args.batch_size, cpu=cpu
                )
                bulk.append(bulk_n / bulk_s)
                naive_n, naive_s, naive_counts = timed_load(server, path, registry, 1, cpu=cpu)
                naive.append(naive_n / naive_s)
                if bulk_counts != naive_counts:
                    print(
                        f"warning: the two loads differ: {bulk_counts} vs {naive_counts}",
                        file=sys.stderr,
                    )
                print(
                    f"bulk {bulk[-1]:.1f} records/s, naive {naive[-1]:.1f} records/s, "
                    f"{bulk[-1] / naive[-1]:.1f}x (load average {_load()})",
                    file=sys.stderr,
                )
                if len(cpu) == 4:
                    print(
                        f"  CPU seconds, client / server: bulk {cpu[0]:.2f} / {cpu[1]:.2f} "
                        f"(wall {bulk_s:.2f}), naive {cpu[2]:.2f} / {cpu[3]:.2f} "
                        f"(wall {naive_s:.2f})",
                        file=sys.stderr,
                    )
            if args.statements:
                times: dict[str, list[float]] = {}
                _n, seconds, _counts = timed_load(server, path, registry, args.batch_size, times)
                print_statements(times, seconds)
    bulk_rate, naive_rate = statistics.median(bulk), statistics.median(naive)
    runs = f", median of {len(bulk)}" if len(bulk) > 1 else ""
    print(f"records: {bulk_n} ({args.events} events; {sum(bulk_counts.values())} nodes+rels)")
    print(f"bulk  (batches of {args.batch_size}{runs}): {bulk_rate:10.1f} records/s")
    print(f"naive (1 record per transaction{runs}): {naive_rate:10.1f} records/s")
    print(f"bulk / naive: {bulk_rate / naive_rate:.1f}x")
    print(f"load average: {_load()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
