"""Page latency while `newsgraph load` runs beside `newsgraph serve` on one store (issue 14).

    python -m bench.serve_while_loading [--events 100000] [--workers N] [--concurrency 8]
                                        [--idle-requests 4000] [--workdir /tmp/newsgraph-bench]

A store preloaded with `generate.py --seed 1` (N events: the same cached store `bench.peer`
builds) is copied, and `newsgraph serve` (with `--workers N` when N > 1) runs on the copy.
Eight clients (the bare HTTP/1.1 client of the peer's `latency.py --client raw`, closed loop)
ask for the seed page of the preloaded events: first idle, the baseline; then on and on while
`newsgraph load` puts a second generated file (seed 2, another N events) into the same store,
each request's latency kept with its wall-clock time and the response's `X-Newsgraph-Change`
header. Reported: p50, p99 and max during the load against the idle figures (targets: p99 ≤ 3x
idle p99, no page over 100 ms); the load's rate (records over the whole `newsgraph load`
process) beside the same load into another copy of the preloaded store with no server (target
≥ 0.9x); and the lag from a batch's commit to the readers (target p99 ≤ 1 s): per response, its
arrival time minus the commit time (`at`) of the oldest change log entry committed by then that
it does not show (0 when it shows the latest), read from the store's `changes` table read-only.

Until the embedded store lets a writer in beside a server, `newsgraph load` refuses ("the store
is in use by another newsgraph process"): the benchmark then stops saying so, after the idle
figures. Raw figures: WORKDIR/result-serve_while_loading.json. The two store copies are deleted
at the end; every process the run started is stopped, on failure and Ctrl-C too.
"""

from __future__ import annotations

import asyncio
import gc
import json
import random
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a file: python bench/serve_while_loading.py
    sys.path.insert(0, str(Path(__file__).absolute().parents[1]))

from bench.common import (
    NEWSGRAPH,
    PAGE_QUERY,
    Row,
    copy_store,
    free_port,
    log,
    page_body,
    print_table,
    running,
    save_results,
)
from bench.serving import (
    CHANGE_HEADER,
    REFUSED,
    RawClient,
    Sample,
    lags,
    newsgraph_store,
    parse_serving,
    pct,
    peer_data,
    problem,
    read_changes,
    registry_file,
    run_load,
    run_main,
    serve_with_workers,
    serving_arguments,
    summary,
)

WARMUP = 1000
# The client keeps every sample (hundreds of thousands during a load): left to the collector,
# each full collection of this process walked them all (78 ms at 660,000, more while it waited
# for a core), holding the 8 answers in flight at once, which were then measured as slow pages
# of the server. What was kept so far is frozen out of the collector every so many samples.
FREEZE_EVERY = 10_000
NO_HEADER = "n/a (no X-Newsgraph-Change header)"


class Pages:
    """Closed-loop page requests from `concurrency` workers, ids shuffled and cycled."""

    def __init__(self, url: str, ids: Sequence[str], concurrency: int, timeout: float) -> None:
        self.url, self.concurrency, self.timeout = url, concurrency, timeout
        self.ids = list(ids)
        random.Random(1).shuffle(self.ids)
        self.next = 0

    async def run(self, requests: int | None, until: asyncio.Event | None = None) -> list[Sample]:
        """`requests` requests in all, or (None) until `until` is set."""
        samples: list[Sample] = []
        sent = 0

        async def worker() -> None:
            nonlocal sent
            client = RawClient(self.url, self.timeout)
            try:
                while (requests is None or sent < requests) and not (until and until.is_set()):
                    sent += 1
                    event_id = self.ids[self.next % len(self.ids)]
                    self.next += 1
                    body = json.dumps({"query": PAGE_QUERY, "variables": {"id": event_id}}).encode()
                    wall = time.time()
                    started = time.perf_counter()
                    try:
                        answer = await client.post(body)
                        error = problem(answer)
                        header = answer.headers.get(CHANGE_HEADER)
                        change = int(header) if header and header.isdigit() else None
                    except (OSError, TimeoutError, asyncio.IncompleteReadError, ValueError) as exc:
                        error, change = f"{type(exc).__name__}: {exc}", None
                    ms = (time.perf_counter() - started) * 1000
                    samples.append(Sample(wall, time.time(), ms, change, error))
                    if len(samples) % FREEZE_EVERY == 0:
                        gc.freeze()
            finally:
                await client.close()

        await asyncio.gather(*(worker() for _ in range(self.concurrency)))
        return samples


@dataclass
class LoadRun:
    status: int | None = None
    output: str = ""
    started: float = 0.0  # wall clock
    seconds: float = 0.0
    samples: list[Sample] = field(default_factory=list)
    changes: dict[int, float] = field(default_factory=dict)  # seq -> commit time
    change_table: bool = True
    first_seq: int = 0  # the latest entry before the load

    @property
    def refused(self) -> bool:
        return self.status not in (None, 0, 3) and REFUSED in self.output


async def load_beside(
    pages: Pages, command: list[str], store: Path, timeout: float, run: LoadRun
) -> None:
    """Start `command` (the load), keep requesting pages until it exits, and follow the change
    log meanwhile (entries may be truncated later: they are read as they come)."""
    before = await asyncio.to_thread(read_changes, store, 0)
    run.change_table = before is not None
    run.first_seq = max((seq for seq, _ in before or []), default=0)
    stop = asyncio.Event()
    with tempfile.TemporaryFile() as output:
        run.started = time.time()
        started = time.perf_counter()
        process = subprocess.Popen(command, stdout=output, stderr=subprocess.STDOUT)
        try:
            requests = asyncio.create_task(pages.run(None, stop))
            last = run.first_seq
            while process.poll() is None:
                if time.perf_counter() - started > timeout:
                    raise SystemExit(f"the load did not finish within {timeout:.0f} s: stopped")
                await asyncio.sleep(0.1)
                if run.change_table:
                    fresh = await asyncio.to_thread(read_changes, store, last) or []
                    run.changes.update(fresh)
                    last = max([last, *(seq for seq, _ in fresh)])
            run.seconds = time.perf_counter() - started
            run.status = process.returncode
            stop.set()
            run.samples = await requests
            if run.change_table:
                rest = await asyncio.to_thread(read_changes, store, last)
                run.changes.update(rest or [])
        finally:
            stop.set()
            if process.poll() is None:
                process.kill()
                process.wait()
            output.seek(0)
            run.output = output.read().decode("utf-8", "replace")


def lag_figures(run: LoadRun) -> tuple[dict[str, Any], str | None]:
    """(figures, why there are none)."""
    with_header = [s for s in run.samples if s.change is not None]
    if not with_header:
        return {}, NO_HEADER
    if not run.change_table:
        return {}, "n/a (no changes table in graph.sqlite3)"
    values = lags(with_header, sorted(run.changes.items()))
    return {
        "responses": len(values),
        "entries_during_load": len(run.changes),
        "p50_s": round(pct(values, 50), 4),
        "p99_s": round(pct(values, 99), 4),
        "max_s": round(max(values), 4),
    }, None


def slowest(run: LoadRun, n: int = 8) -> str:
    """The `n` slowest pages of the load, each with when it was asked (seconds after the load
    started): where the tail is (the load's start, its batches, its end)."""
    worst = sorted(run.samples, key=lambda s: s.ms, reverse=True)[:n]
    return ", ".join(f"{s.ms:.0f} ms at +{s.sent - run.started:.1f} s" for s in worst)


def text_row(figure: str, value: str, target: str) -> None:
    print(f"| {figure} | {value} | - | - | {target} | - |")


def main(argv: Sequence[str] | None = None) -> None:
    parser = serving_arguments(__doc__.split("\n\n")[0], "events per file [100000]")
    parser.add_argument("--idle-requests", type=int, default=4000, help="idle baseline [4000]")
    parser.add_argument("--load-timeout", type=float, default=3600, help="seconds [3600]")
    parser.add_argument(
        "--batch-size", type=int, default=None, help="newsgraph load --batch-size [its default]"
    )
    parser.add_argument(
        "--nice", type=int, default=None, help="run the load beside the server under nice -n N"
    )
    args, workers = parse_serving(parser, argv)

    registry = registry_file(args.peer_dir)
    first = peer_data(args.workdir, args.events, 1, args.peer_dir)
    second = peer_data(args.workdir, args.events, 2, args.peer_dir)
    preloaded = newsgraph_store(args.workdir, first, registry)
    records = second.record_count
    ids = [line for line in preloaded.ids.read_text("utf-8").splitlines() if line]
    served = args.workdir / f"swl-{args.events}-served"
    alone = args.workdir / f"swl-{args.events}-alone"
    load_run = LoadRun()
    try:
        copy_store(preloaded.directory, served)
        port = free_port()
        command = serve_with_workers(served, port, args.workers)
        log(f"newsgraph: {' '.join(command[1:])}")
        with running(command, port, ("/graphql", page_body(ids[0]))) as server:
            log(f"newsgraph: answered after {server.ready_after:.1f} s")
            pages = Pages(f"{server.url}/graphql", ids, args.concurrency, timeout=30)
            asyncio.run(pages.run(WARMUP))
            started = time.perf_counter()
            idle_samples = asyncio.run(pages.run(args.idle_requests))
            idle = summary(idle_samples, time.perf_counter() - started)
            log(
                f"idle: {idle['throughput_rps']:,.0f} req/s, p50 {idle['p50_ms']:.2f} ms, "
                f"p99 {idle['p99_ms']:.2f} ms, max {idle['max_ms']:.1f} ms, "
                f"errors {idle['errors']}"
            )
            load = [str(NEWSGRAPH), "load", str(second.records), "--store", str(served)]
            if args.nice is not None:
                load = ["nice", "-n", str(args.nice), *load]
            load += ["--rejects", str(args.workdir / "swl-rejects.jsonl")]
            if args.batch_size is not None:
                load += ["--batch-size", str(args.batch_size)]
            log(f"newsgraph load of {records:,} records beside the server")
            asyncio.run(load_beside(pages, load, served, args.load_timeout, load_run))
        during = summary(load_run.samples, load_run.seconds)
        log(
            f"load beside the server: exit {load_run.status} after {load_run.seconds:.1f} s; "
            f"{during['requests']:,} pages meanwhile, p99 {during['p99_ms']:.2f} ms, "
            f"max {during['max_ms']:.1f} ms"
        )
        log(f"slowest pages (seconds after the load started): {slowest(load_run)}")
        if load_run.status not in (0, 3):
            refused(args, idle, load_run, workers)
        copy_store(preloaded.directory, alone)
        log(f"the same load into a copy of the preloaded store, no server: {alone}")
        alone_seconds, alone_status, alone_output = run_load(
            alone, second.records, args.workdir / "swl-rejects-alone.jsonl", args.batch_size
        )
        if alone_status not in (0, 3):
            raise SystemExit(f"newsgraph load failed ({alone_status}):\n{alone_output[-3000:]}")
        # Readers attached and following, no page traffic: what following costs the load.
        shutil.rmtree(alone, ignore_errors=True)
        copy_store(preloaded.directory, alone)
        port = free_port()
        with running(
            serve_with_workers(alone, port, args.workers), port, ("/graphql", page_body(ids[0]))
        ):
            log(f"the same load beside an idle server ({workers} readers following): {alone}")
            attached_seconds, attached_status, attached_output = run_load(
                alone, second.records, args.workdir / "swl-rejects-attached.jsonl", args.batch_size
            )
        if attached_status not in (0, 3):
            raise SystemExit(
                f"newsgraph load failed ({attached_status}):\n{attached_output[-3000:]}"
            )
    finally:
        shutil.rmtree(served, ignore_errors=True)
        shutil.rmtree(alone, ignore_errors=True)

    rate, alone_rate = records / load_run.seconds, records / alone_seconds
    attached_rate = records / attached_seconds
    lag, no_lag = lag_figures(load_run)
    processes = f"{workers} process{'es' if workers > 1 else ''}"
    rows = [
        Row(
            f"page p50 during the load, {processes}",
            during["p50_ms"],
            "ms",
            idle["p50_ms"],
            "idle",
            "-",
            None,
        ),
        Row(
            "page p99 during the load",
            during["p99_ms"],
            "ms",
            idle["p99_ms"],
            "idle",
            "≤ 3x idle p99",
            during["p99_ms"] <= 3 * idle["p99_ms"],
        ),
        Row(
            "slowest page during the load",
            during["max_ms"],
            "ms",
            idle["max_ms"],
            "idle",
            "≤ 100 ms",
            during["max_ms"] <= 100,
        ),
        Row(
            "pages answered during the load",
            during["throughput_rps"],
            "req/s",
            idle["throughput_rps"],
            "idle",
            "-",
            None,
        ),
        Row(
            f"load rate, readers attached and following, no pages asked ({records:,} records)",
            attached_rate,
            "records/s",
            alone_rate,
            "no server",
            "≥ 0.9x",
            attached_rate >= 0.9 * alone_rate,
        ),
        Row(
            f"load rate beside the server answering 8 clients ({records:,} records)",
            rate,
            "records/s",
            alone_rate,
            "no server",
            "report (shares 2 cores with the pages)",
            None,
        ),
    ]
    if lag:
        rows += [
            Row(
                "commit-to-reader lag p99",
                lag["p99_s"] * 1000,
                "ms",
                None,
                "",
                "≤ 1 s",
                lag["p99_s"] <= 1.0,
            ),
            Row("commit-to-reader lag max", lag["max_s"] * 1000, "ms", None, "", "-", None),
        ]
    print_table(
        f"Serving while loading: {len(ids):,} events preloaded, {records:,} more records loaded, "
        f"{args.concurrency} clients (bare HTTP/1.1 client)",
        rows,
    )
    if no_lag:
        text_row("commit-to-reader lag p99 / max", no_lag, "≤ 1 s")
    errors = during["errors"] + idle["errors"]
    print(f"\nerrors: idle {idle['errors']}, during the load {during['errors']}")
    save_results(
        args.workdir,
        "serve_while_loading",
        {
            "events": args.events,
            "records_loaded": records,
            "workers": workers,
            "concurrency": args.concurrency,
            "idle": idle,
            "during_load": during,
            "load_seconds_beside_server": round(load_run.seconds, 2),
            "load_seconds_alone": round(alone_seconds, 2),
            "load_rate_beside_server": round(rate, 1),
            "load_rate_alone": round(alone_rate, 1),
            "load_seconds_readers_attached": round(attached_seconds, 2),
            "load_rate_readers_attached": round(attached_rate, 1),
            "lag": lag or no_lag,
        },
    )
    if errors:
        raise SystemExit(f"{errors} requests failed")


def refused(args: Any, idle: dict[str, Any], run: LoadRun, workers: int) -> None:
    """The load could not run beside the server: say so, keep the idle figures, stop."""
    output = run.output.strip().splitlines()
    reason = output[-1] if output else f"exit status {run.status}"
    save_results(
        args.workdir,
        "serve_while_loading",
        {"events": args.events, "workers": workers, "idle": idle, "load_failed": run.output},
    )
    print(
        f"\nidle page latency ({args.concurrency} clients): p50 {idle['p50_ms']:.2f} ms, "
        f"p99 {idle['p99_ms']:.2f} ms, max {idle['max_ms']:.1f} ms"
    )
    if run.refused:
        raise SystemExit(
            f"newsgraph load refused to run beside newsgraph serve (exit status {run.status}): "
            f"{reason}\nLoading while serving is what issue 14 builds; until the embedded "
            "store takes a writer beside its readers, there is nothing to measure."
        )
    raise SystemExit(f"newsgraph load beside the server failed ({run.status}):\n{reason}")


if __name__ == "__main__":
    run_main(main)
