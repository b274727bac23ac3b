"""The event page over HTTP: the seed page's GraphQL query against `newsgraph serve`.

    python -m bench.event_page [--events 100000] [--duration 10] [--repeat 3]

Serves a store of N generated events with `newsgraph serve` (uvicorn, one process) and asks for
the seed page of 1,000 sampled events in turn from 8 concurrent clients (wrk, closed loop):
p50, p99 and throughput, the medians of `--repeat` runs of `--duration` seconds. The baseline,
measured in the same run with the same load: `bench.baseline_app`, a plain Starlette JSON
endpoint serving the same data (checked equal first) from the same store.

Two processes: the embedded store locks its directory, so `uvicorn --workers 2` cannot open it
twice. Instead two `newsgraph serve` processes run on two copies of the store (read-only
replicas, as a second worker would be), each on its own port, and one wrk with two threads
sends each thread's 4 connections to one of them.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path

if __package__ in (None, ""):  # run as a file: python bench/event_page.py
    sys.path.insert(0, str(Path(__file__).absolute().parents[1]))

from bench.common import (
    BuiltStore,
    Row,
    WrkResult,
    arguments,
    baseline_command,
    built_store,
    copy_store,
    dataset,
    free_port,
    log,
    median_result,
    page_body,
    print_table,
    running,
    save_results,
    serve_command,
    start,
    stop,
    wrk,
)

GRAPHQL = "/graphql"
BASELINE = "/page"


def check_same_data(store: BuiltStore, ids: Sequence[str]) -> None:
    """The baseline must answer exactly what the GraphQL query answers."""
    import httpx

    answers: dict[str, list[object]] = {}
    for name, command, path in (
        ("graphql", serve_command, GRAPHQL),
        ("baseline", baseline_command, BASELINE),
    ):
        port = free_port()
        probe = (path, page_body(ids[0]))
        with (
            running(command(store.directory, port), port, probe) as server,
            httpx.Client(timeout=10) as client,
        ):
            answers[name] = [
                client.post(server.url + path, json=page_body(i)).json()["data"] for i in ids
            ]
    for event_id, graphql, plain in zip(ids, answers["graphql"], answers["baseline"], strict=True):
        if graphql != plain:
            raise SystemExit(
                f"the baseline differs from GraphQL for {event_id}:\n"
                f"{json.dumps(graphql, indent=1)[:3000]}\n{json.dumps(plain, indent=1)[:3000]}"
            )
    log(f"baseline checked: same data as GraphQL for {len(ids)} events")


def measure(
    commands: Sequence[list[str]],
    ports: Sequence[int],
    path: str,
    bodies: Sequence[str],
    connections: int,
    duration: float,
    repeat: int,
) -> WrkResult:
    """Start the servers, warm them up, and run wrk `repeat` times; the medians."""
    probe = (path, json.loads(bodies[0]))
    servers = [start(c, p, probe) for c, p in zip(commands, ports, strict=True)]
    try:
        threads = len(ports)
        url = f"http://127.0.0.1:{ports[0]}"
        wrk(url, path, bodies, connections, 3, threads=threads, ports=ports)  # warm-up
        runs = [
            wrk(url, path, bodies, connections, duration, threads=threads, ports=ports)
            for _ in range(repeat)
        ]
    finally:
        for server in servers:
            stop(server)
    for run in runs:
        log(
            f"  {path} x{len(ports)}: {run.throughput:,.0f} req/s, p50 {run.p50_ms:.2f} ms, "
            f"p99 {run.p99_ms:.2f} ms, errors {run.errors}"
        )
    return median_result(runs)


def main(argv: Sequence[str] | None = None) -> None:
    parser = arguments(__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=float, default=10, help="seconds per run [10]")
    parser.add_argument("--repeat", type=int, default=3, help="runs per server [3]")
    parser.add_argument("--connections", type=int, default=8, help="concurrent clients [8]")
    parser.add_argument("--no-two", action="store_true", help="skip the two-process figures")
    args = parser.parse_args(argv)
    # The page, not the response cache: the 1,000 sampled pages repeat, so it would answer
    # nearly every request (bench.site_cache measures it).
    os.environ["NEWSGRAPH_RESPONSE_CACHE_BYTES"] = "0"

    data = dataset(args.workdir, args.events, args.seed)
    store = built_store(args.workdir, data)
    ids: list[str] = store.meta["sample_events"]
    bodies = [json.dumps(page_body(i)) for i in ids]
    check_same_data(store, ids[:25])

    one = [free_port()]
    log(f"newsgraph serve, 1 process, {args.connections} clients")
    graphql = measure(
        [serve_command(store.directory, one[0])],
        one,
        GRAPHQL,
        bodies,
        args.connections,
        args.duration,
        args.repeat,
    )
    log("baseline (plain Starlette), 1 process")
    plain = measure(
        [baseline_command(store.directory, one[0])],
        one,
        BASELINE,
        bodies,
        args.connections,
        args.duration,
        args.repeat,
    )
    rows = [
        Row(
            "p50 latency, 1 process",
            graphql.p50_ms,
            "ms",
            plain.p50_ms,
            "plain Starlette",
            "≤ 5 ms; ≤ 3x baseline",
            graphql.p50_ms <= 5 and graphql.p50_ms <= 3 * plain.p50_ms,
        ),
        Row(
            "p99 latency, 1 process",
            graphql.p99_ms,
            "ms",
            plain.p99_ms,
            "plain Starlette",
            "≤ 20 ms",
            graphql.p99_ms <= 20,
        ),
        Row(
            "throughput, 1 process",
            graphql.throughput,
            "req/s",
            plain.throughput,
            "plain Starlette",
            "-",
            None,
        ),
    ]
    results: dict[str, object] = {
        "events": store.events,
        "graphql_1": graphql.__dict__,
        "baseline_1": plain.__dict__,
    }
    if not args.no_two:
        replica = copy_store(store.directory, args.workdir / f"{store.directory.name}-replica")
        two = [free_port(), free_port()]
        dirs = [store.directory, replica]
        log(f"newsgraph serve, 2 processes (two copies of the store), {args.connections} clients")
        graphql2 = measure(
            [serve_command(d, p) for d, p in zip(dirs, two, strict=True)],
            two,
            GRAPHQL,
            bodies,
            args.connections,
            args.duration,
            args.repeat,
        )
        log("baseline, 2 processes")
        plain2 = measure(
            [baseline_command(d, p) for d, p in zip(dirs, two, strict=True)],
            two,
            BASELINE,
            bodies,
            args.connections,
            args.duration,
            args.repeat,
        )
        rows += [
            Row(
                "p50 latency, 2 processes",
                graphql2.p50_ms,
                "ms",
                plain2.p50_ms,
                "plain Starlette",
                "≤ 5 ms",
                graphql2.p50_ms <= 5,
            ),
            Row(
                "p99 latency, 2 processes",
                graphql2.p99_ms,
                "ms",
                plain2.p99_ms,
                "plain Starlette",
                "≤ 20 ms",
                graphql2.p99_ms <= 20,
            ),
            Row(
                "throughput, 2 processes",
                graphql2.throughput,
                "req/s",
                plain2.throughput,
                "plain Starlette",
                "-",
                None,
            ),
        ]
        results |= {"graphql_2": graphql2.__dict__, "baseline_2": plain2.__dict__}
    print_table(
        f"Event page over HTTP: {store.events:,} events, {args.connections} clients (wrk), "
        f"medians of {args.repeat} x {args.duration:g} s",
        rows,
    )
    save_results(args.workdir, f"event_page-{args.events}", results)


if __name__ == "__main__":
    main()
