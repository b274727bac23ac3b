"""The event page, newsgraph against PostgreSQL + PostGraphile on identical data (issue 14).

    python -m bench.peer [--events 100000] [--workers N] [--rounds 5] [--requests 2000]
                         [--concurrency 8] [--workdir /tmp/newsgraph-bench] [--reload-peer]

The peer is `../shared/peers/postgraphile` (its README): `setup.sh` installs and starts it,
its `generate.py` (seed 1) writes the records, which go into PostgreSQL with its `load.py` and
into an embedded newsgraph store with `newsgraph outlets load` and `newsgraph load`, both
cached under the work dir. Then PostGraphile (`serve.sh`) and `newsgraph serve` (with
`--workers N` when N > 1) run side by side and the peer's own client, `latency.py --client raw`,
asks each for the same events in the same order: newsgraph with `api/event_page.graphql`, the
peer with its `event_page.graphql`. Both are warmed with 5,000 requests; then the rounds
alternate between the two (whose turn is first alternates too), so a busy spell of the shared
machine does not land on one side only. Figures are the medians over the rounds; the baseline
of each is the peer's, measured in the same run. Raw figures: WORKDIR/result-peer.json.
Every server the run started is stopped at the end, on failure and on Ctrl-C too.

Beside the latencies, the CPU each side's server processes used per page (newsgraph's writer,
workers and analyst; PostGraphile's Node process and PostgreSQL's): what a page costs, which a
busy machine changes much less than it changes the latencies.
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a file: python bench/peer.py
    sys.path.insert(0, str(Path(__file__).absolute().parents[1]))

from bench.common import (
    Row,
    cpu_of,
    free_port,
    log,
    page_body,
    print_table,
    running,
    save_results,
)
from bench.serving import (
    PAGE_QUERY_FILE,
    Peer,
    newsgraph_store,
    parse_serving,
    peer_data,
    registry_file,
    run_main,
    serve_with_workers,
    serving_arguments,
)

WARMUP = 5000
KEYS = ("p50_ms", "p90_ms", "p99_ms", "max_ms", "throughput_rps", "server_cpu_ms")


def _peer_process(name: str, command: str) -> bool:
    """PostgreSQL's processes and PostGraphile's (Node running postgraphile)."""
    return name.startswith("postgres") or (name == "node" and "postgraphile" in command)


def latency(
    peer: Peer,
    url: str,
    query: Path,
    ids: Path,
    *,
    label: str,
    concurrency: int,
    requests: int,
    seed: int,
) -> dict[str, Any]:
    """One round of the peer's `latency.py --client raw` (no warm-up of its own); its JSON."""
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "round.jsonl"
        command = [str(peer.python), str(peer.directory / "latency.py"), url, str(query)]
        command += ["--ids-file", str(ids), "--client", "raw", "--concurrency", str(concurrency)]
        command += ["--requests", str(requests), "--warmup", "0", "--seed", str(seed)]
        command += ["--label", label, "--json-out", str(out)]
        done = subprocess.run(command, capture_output=True, text=True, timeout=1800)
        if not out.exists():  # exit status 1 with a result only means some requests failed
            raise SystemExit(f"latency.py failed ({done.returncode}):\n{done.stderr[-3000:]}")
        result: dict[str, Any] = json.loads(out.read_text("utf-8").splitlines()[-1])
    log(
        f"  {label}: {result['throughput_rps']:,.0f} req/s, p50 {result['p50_ms']:.2f} ms, "
        f"p99 {result['p99_ms']:.2f} ms, max {result['max_ms']:.1f} ms, errors "
        f"{result['errors']}, client CPU {result['client_cpu_pct_of_one_core']}%"
    )
    if result["errors"]:
        log(f"    first error: {result['first_error']}")
    return result


def medians(rounds: Sequence[dict[str, Any]]) -> dict[str, Any]:
    figures: dict[str, Any] = {
        k: statistics.median(r[k] for r in rounds)
        for k in KEYS
        if all(k in r for r in rounds)  # bench.site_cache's rounds have no server CPU
    }
    figures["max_ms"] = max(r["max_ms"] for r in rounds)
    figures["errors"] = sum(r["errors"] for r in rounds)
    figures["range_throughput_rps"] = [
        min(r["throughput_rps"] for r in rounds),
        max(r["throughput_rps"] for r in rounds),
    ]
    figures["range_p99_ms"] = [min(r["p99_ms"] for r in rounds), max(r["p99_ms"] for r in rounds)]
    return figures


def main(argv: Sequence[str] | None = None) -> None:
    parser = serving_arguments(__doc__.split("\n\n")[0], "events [100000]")
    parser.add_argument("--rounds", type=int, default=5, help="rounds per side [5]")
    parser.add_argument("--requests", type=int, default=2000, help="requests per round [2000]")
    parser.add_argument(
        "--reload-peer", action="store_true", help="load PostgreSQL again even if it holds the data"
    )
    args, workers = parse_serving(parser, argv)

    peer = Peer(directory=args.peer_dir)
    registry = registry_file(args.peer_dir)
    try:
        peer.setup()
        data = peer_data(args.workdir, args.events, 1, args.peer_dir)
        store = newsgraph_store(args.workdir, data, registry)
        peer_load = peer.load(args.workdir, data, registry, args.reload_peer)
        peer_url = peer.serve()
        log(f"peer: PostGraphile at {peer_url}")
        first_id = store.ids.read_text("utf-8").split("\n", 1)[0]
        port = free_port()
        command = serve_with_workers(store.directory, port, args.workers)
        log(f"newsgraph: {' '.join(command[1:])}")
        with running(command, port, ("/graphql", page_body(first_id))) as server:
            log(f"newsgraph: answered after {server.ready_after:.1f} s at {server.url}/graphql")
            sides = {
                "peer": (peer_url, args.peer_dir / "event_page.graphql", store.peer_ids),
                "newsgraph": (f"{server.url}/graphql", PAGE_QUERY_FILE, store.ids),
            }

            def cpu(side: str) -> float:
                return server.cpu_seconds() if side == "newsgraph" else cpu_of(_peer_process)

            def measure(side: str, requests: int, seed: int, label: str) -> dict[str, Any]:
                url, query, ids = sides[side]
                before = cpu(side)
                figures = latency(
                    peer,
                    url,
                    query,
                    ids,
                    label=label,
                    concurrency=args.concurrency,
                    requests=requests,
                    seed=seed,
                )
                figures["server_cpu_ms"] = (cpu(side) - before) * 1000 / requests
                log(f"    server CPU {figures['server_cpu_ms']:.3f} ms a page")
                return figures

            log(f"warming both with {WARMUP:,} requests")
            for side in sides:
                measure(side, WARMUP, 1, f"{side} warm-up")
            rounds: dict[str, list[dict[str, Any]]] = {side: [] for side in sides}
            for k in range(args.rounds):
                order = ["peer", "newsgraph"] if k % 2 == 0 else ["newsgraph", "peer"]
                for side in order:
                    label = f"{side} round {k + 1}/{args.rounds}"
                    rounds[side].append(measure(side, args.requests, 2 + k, label))
        versions = peer.versions()
    finally:
        peer.stop()

    ours, theirs = medians(rounds["newsgraph"]), medians(rounds["peer"])
    processes = f"{workers} process{'es' if workers > 1 else ''}"
    rows = [
        Row(
            f"event page throughput, {processes}",
            ours["throughput_rps"],
            "req/s",
            theirs["throughput_rps"],
            "PostgreSQL + PostGraphile",
            "≥ 1.0x peer",
            ours["throughput_rps"] >= theirs["throughput_rps"],
        ),
        Row(
            f"event page p50, {processes}",
            ours["p50_ms"],
            "ms",
            theirs["p50_ms"],
            "PostgreSQL + PostGraphile",
            "-",
            None,
        ),
        Row(
            f"server CPU per page, {processes}",
            ours["server_cpu_ms"],
            "ms",
            theirs["server_cpu_ms"],
            "PostgreSQL + PostGraphile",
            "-",
            None,
        ),
        Row(
            f"event page p99, {processes}",
            ours["p99_ms"],
            "ms",
            theirs["p99_ms"],
            "PostgreSQL + PostGraphile",
            "≤ peer's",
            ours["p99_ms"] <= theirs["p99_ms"],
        ),
    ]
    print_table(
        f"Event page against PostgreSQL + PostGraphile: {store.meta['events_mapped']:,} events "
        f"(generate.py seed 1, {data.record_count:,} records), {args.concurrency} clients, "
        f"latency.py --client raw, median of {args.rounds} x {args.requests:,} requests",
        rows,
    )
    print(
        f"\nrounds: newsgraph {_ranges(ours)}; peer {_ranges(theirs)}; errors newsgraph "
        f"{ours['errors']}, peer {theirs['errors']}; peer {_versions(versions)}"
    )
    save_results(
        args.workdir,
        "peer",
        {
            "events": args.events,
            "events_asked": store.meta["events_mapped"],
            "records": data.record_count,
            "workers": workers,
            "concurrency": args.concurrency,
            "rounds": args.rounds,
            "requests_per_round": args.requests,
            "commit": _commit(),
            "peer_versions": versions,
            "newsgraph": ours,
            "peer": theirs,
            "ratio_throughput": ours["throughput_rps"] / theirs["throughput_rps"],
            "ratio_p99": ours["p99_ms"] / theirs["p99_ms"],
            "newsgraph_rounds": rounds["newsgraph"],
            "peer_rounds": rounds["peer"],
            "newsgraph_load": store.meta,
            "peer_load": peer_load,
        },
    )
    if ours["errors"] or theirs["errors"]:
        raise SystemExit("some requests failed: see the rounds above")


def _ranges(figures: dict[str, Any]) -> str:
    low, high = figures["range_throughput_rps"]
    p99_low, p99_high = figures["range_p99_ms"]
    return f"{low:,.0f}-{high:,.0f} req/s, p99 {p99_low:.1f}-{p99_high:.1f} ms"


def _versions(versions: dict[str, str]) -> str:
    return ", ".join(f"{name} {version}" for name, version in versions.items()) or "versions ?"


def _commit() -> str:
    done = subprocess.run(
        ["git", "-C", str(Path(__file__).resolve().parents[1]), "rev-parse", "--short", "HEAD"],
        capture_output=True,
        text=True,
    )
    return done.stdout.strip()


if __name__ == "__main__":
    run_main(main)
