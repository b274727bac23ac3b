"""An entity's timeline: the first page of 50 events of the most frequent entity.

    python -m bench.timeline [--small 10000] [--events 100000] [--duration 5] [--repeat 3]

For a store of `--small` events (the baseline) and one of `--events` events, both generated
with the same seed, `newsgraph serve` answers the timeline query for the store's most frequent
entity from one client at a time (wrk, one connection, closed loop): p50 and p99, medians of
`--repeat` runs. The cost should follow the page, not the graph: the two p50s within 1.5x.
The same page is then read straight from the store (`query_events`, in process) to show how
much of it is the store's.
"""

from __future__ import annotations

import json
import statistics
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a file: python bench/timeline.py
    sys.path.insert(0, str(Path(__file__).absolute().parents[1]))

from bench.common import (
    TIMELINE_QUERY,
    BuiltStore,
    Row,
    WrkResult,
    arguments,
    built_store,
    dataset,
    free_port,
    log,
    median_result,
    print_table,
    running,
    save_results,
    serve_command,
    wrk,
)


def over_http(store: BuiltStore, duration: float, repeat: int) -> tuple[WrkResult, int]:
    """wrk medians, and how many events the page held."""
    import httpx

    top = store.meta["top_entity"]["id"]
    body = {"query": TIMELINE_QUERY, "variables": {"id": top}}
    port = free_port()
    with running(serve_command(store.directory, port), port, ("/graphql", body)) as server:
        answer = httpx.post(server.url + "/graphql", json=body, timeout=30).json()
        if "errors" in answer:
            raise SystemExit(f"the timeline query failed: {answer['errors']}")
        size = len(answer["data"]["entity"]["timeline"]["edges"])
        bodies = [json.dumps(body)]
        wrk(server.url, "/graphql", bodies, 1, 2)  # warm-up
        runs = [wrk(server.url, "/graphql", bodies, 1, duration) for _ in range(repeat)]
    for run in runs:
        log(f"  {store.events:,} events: p50 {run.p50_ms:.2f} ms, p99 {run.p99_ms:.2f} ms")
    return median_result(runs), size


def in_store(store: BuiltStore, calls: int = 300) -> float:
    """p50 milliseconds of the same page read straight from the store."""
    from graph.embedded import EmbeddedStore
    from graph.store import EventFilter, EventQuery

    opened = EmbeddedStore(store.directory)
    opened.setup()
    try:
        query = EventQuery(
            EventFilter(entity=store.meta["top_entity"]["id"]), first=50, newest_first=False
        )
        times: list[float] = []
        for _ in range(calls):
            started = time.perf_counter()
            opened.query_events(query)
            times.append(time.perf_counter() - started)
    finally:
        opened.close()
    return statistics.median(times) * 1000


def main(argv: Sequence[str] | None = None) -> None:
    parser = arguments(__doc__.split("\n\n")[0])
    parser.add_argument("--small", type=int, default=10_000, help="events of the baseline")
    parser.add_argument("--duration", type=float, default=5, help="seconds per run [5]")
    parser.add_argument("--repeat", type=int, default=3, help="runs per store [3]")
    args = parser.parse_args(argv)

    measured: dict[int, dict[str, Any]] = {}
    for events in (args.small, args.events):
        store = built_store(args.workdir, dataset(args.workdir, events, args.seed))
        top = store.meta["top_entity"]
        log(f"{store.events:,} events: {top['name']} ({top['id']}) is in {top['events']} events")
        http, size = over_http(store, args.duration, args.repeat)
        measured[events] = {
            "top_entity": top,
            "page": size,
            "http": http.__dict__,
            "store_p50_ms": in_store(store),
        }
    small, large = measured[args.small], measured[args.events]
    rows = [
        Row(
            f"timeline p50 over HTTP, {args.events:,} events",
            large["http"]["p50_ms"],
            "ms",
            small["http"]["p50_ms"],
            f"{args.small:,} events",
            "≤ 10 ms; ≤ 1.5x",
            large["http"]["p50_ms"] <= 10
            and large["http"]["p50_ms"] <= 1.5 * small["http"]["p50_ms"],
        ),
        Row(
            f"timeline p99 over HTTP, {args.events:,} events",
            large["http"]["p99_ms"],
            "ms",
            small["http"]["p99_ms"],
            f"{args.small:,} events",
            "-",
            None,
        ),
        Row(
            f"the same page from the store (query_events), {args.events:,} events",
            large["store_p50_ms"],
            "ms",
            small["store_p50_ms"],
            f"{args.small:,} events",
            "-",
            None,
        ),
    ]
    print_table(
        f"Entity timeline, first page of 50 for the most frequent entity "
        f"({large['top_entity']['events']:,} events at {args.events:,}, "
        f"{small['top_entity']['events']:,} at {args.small:,}); one client, medians of "
        f"{args.repeat} x {args.duration:g} s",
        rows,
    )
    save_results(args.workdir, f"timeline-{args.events}", {str(k): v for k, v in measured.items()})


if __name__ == "__main__":
    main()
