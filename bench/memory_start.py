"""Start and memory: from `newsgraph serve` to the first answered query, and resident memory.

    python -m bench.memory_start [--events 100000] [--repeat 3]

Spawns `newsgraph serve` on a store of N generated events and times it from the spawn to the
first answered event-page query (polled every 10 ms), then reads its resident memory (VmRSS)
and, after 5 s of page queries from 8 clients, its peak (VmHWM). The baseline, in the same run:
the same on an empty store, which is the cost of Python, the imports and the server. Bytes per
relationship: the resident memory above the empty store's, over the relationship count.
"""

from __future__ import annotations

import json
import shutil
import statistics
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a file: python bench/memory_start.py
    sys.path.insert(0, str(Path(__file__).absolute().parents[1]))

from bench.common import (
    Row,
    arguments,
    built_store,
    dataset,
    free_port,
    log,
    page_body,
    print_table,
    save_results,
    serve_command,
    start,
    stop,
    wrk,
)

MB = 1024 * 1024


def one_start(directory: Path, event_id: str) -> dict[str, float]:
    port = free_port()
    server = start(serve_command(directory, port), port, ("/graphql", page_body(event_id)))
    try:
        rss, _ = server.rss()
        total = server.total_rss()
        cpu = server.cpu_seconds()
        wrk(server.url, "/graphql", [json.dumps(page_body(event_id))], 8, 5)
        _, peak = server.rss()
    finally:
        stop(server)
    return {"seconds": server.ready_after, "cpu": cpu, "rss": rss, "peak": peak, "total": total}


def main(argv: Sequence[str] | None = None) -> None:
    parser = arguments(__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=3, help="starts of each store [3]")
    args = parser.parse_args(argv)

    store = built_store(args.workdir, dataset(args.workdir, args.events, args.seed))
    empty = args.workdir / "store-empty"
    event_id = store.meta["sample_events"][0]
    full_runs: list[dict[str, float]] = []
    empty_runs: list[dict[str, float]] = []
    for rep in range(args.repeat):
        shutil.rmtree(empty, ignore_errors=True)
        empty_runs.append(one_start(empty, event_id))
        full_runs.append(one_start(store.directory, event_id))
        log(
            f"rep {rep + 1}: {full_runs[-1]['seconds']:.2f} s, "
            f"{full_runs[-1]['rss'] / MB:,.0f} MB (peak {full_runs[-1]['peak'] / MB:,.0f} MB); "
            f"empty store {empty_runs[-1]['seconds']:.2f} s, {empty_runs[-1]['rss'] / MB:,.0f} MB"
        )
    shutil.rmtree(empty, ignore_errors=True)

    def median(runs: list[dict[str, float]], name: str) -> float:
        return statistics.median(r[name] for r in runs)

    rels = store.relationships
    nodes = sum(int(store.meta["counts"].get(str(label), 0)) for label in _labels())
    data_bytes = median(full_runs, "rss") - median(empty_runs, "rss")
    disk = sum(f.stat().st_size for f in store.directory.iterdir() if f.is_file())
    rows = [
        Row(
            "start to first answered query",
            median(full_runs, "seconds"),
            "s",
            median(empty_runs, "seconds"),
            "empty store",
            "≤ 10 s",
            median(full_runs, "seconds") <= 10,
        ),
        Row(
            "CPU time to first answered query",
            median(full_runs, "cpu"),
            "s",
            median(empty_runs, "cpu"),
            "empty store",
            "-",
            None,
        ),
        Row(
            "resident memory after start (the largest process)",
            median(full_runs, "rss") / MB,
            "MB",
            median(empty_runs, "rss") / MB,
            "empty store",
            "≤ 2,048 MB",
            median(full_runs, "rss") <= 2048 * MB,
        ),
        Row(
            "resident memory of all processes (writer + 1 worker)",
            median(full_runs, "total") / MB,
            "MB",
            median(empty_runs, "total") / MB,
            "empty store",
            "report",
            None,
        ),
        Row(
            "peak resident memory (after 5 s of queries)",
            median(full_runs, "peak") / MB,
            "MB",
            median(empty_runs, "peak") / MB,
            "empty store",
            "≤ 2,048 MB",
            median(full_runs, "peak") <= 2048 * MB,
        ),
        Row(
            "bytes per relationship (memory above the empty store)",
            data_bytes / rels,
            "B",
            disk / rels,
            "on disk (SQLite)",
            "report",
            None,
        ),
    ]
    print_table(
        f"Start and memory: {store.events:,} events, {nodes:,} nodes, {rels:,} relationships; "
        f"medians of {args.repeat} starts",
        rows,
    )
    result: dict[str, Any] = {
        "full": full_runs,
        "empty": empty_runs,
        "relationships": rels,
        "nodes": nodes,
        "disk_bytes": disk,
    }
    save_results(args.workdir, f"memory_start-{args.events}", result)


def _labels() -> list[str]:
    from graph.model import Label

    return [str(label) for label in Label]


if __name__ == "__main__":
    main()
