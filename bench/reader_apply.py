"""What a reader following a bulk load spends on each batch, by CPU time (issue 14).

    python -m bench.reader_apply [--events 100000] [--batch-size 500] [--workdir DIR]

The same data as `bench.serve_while_loading`: a copy of the store preloaded with the peer's
`generate.py --seed 1` (N events), into which the loader puts `--seed 2` (N more events),
batch by batch, in this process; after each batch a read-only store on the same file (what
each `serve` worker is) reads the batch's change log entry and rows (`fetch_changes`, a worker
thread in the server), applies them (`apply_changes`: every page waits meanwhile) and reads the
entries again as live updates do (`changes`). Each step is timed by the CPU time of this
thread, which other work on a shared machine bends much less than wall time: the apply is the
least a page asked during it waits. Reported per batch: p50, p99 and max of each step, the
relationship rows a batch writes and removes, and the writer's CPU a batch. Raw figures:
WORKDIR/result-reader_apply.json. The copy is deleted at the end.
"""

from __future__ import annotations

import shutil
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

if __package__ in (None, ""):  # run as a file: python bench/reader_apply.py
    sys.path.insert(0, str(Path(__file__).absolute().parents[1]))

from bench.common import Row, copy_store, log, print_table, save_results
from bench.serving import PEER_DIR, newsgraph_store, pct, peer_data, registry_file

T = TypeVar("T")


def timed(step: Callable[[], T]) -> tuple[T, float]:
    """`step()` and the CPU milliseconds this thread spent on it."""
    started = time.thread_time()
    done = step()
    return done, (time.thread_time() - started) * 1000


def follow_load(store: Path, records: Path, batch_size: int) -> list[dict[str, float]]:
    """Load `records` into `store`, a reader on the same file following batch by batch."""
    from graph.embedded import EmbeddedStore
    from graph.model import WriteBatch
    from graph.store import Derive
    from loaders.jsonl import RejectSink
    from services.load import load_streams

    writer = EmbeddedStore(store)
    writer.setup()
    reader = EmbeddedStore(store, read_only=True)
    reader.setup()
    batches: list[dict[str, float]] = []
    write = writer.write

    def write_and_follow(batch: WriteBatch, derive: Derive | None = None) -> None:
        _, wrote = timed(lambda: write(batch, derive))
        before = reader.read_position()
        pending, fetch = timed(reader.fetch_changes)
        _, apply = timed(lambda: reader.apply_changes(pending))
        read, publish = timed(lambda: reader.changes(before, 1000))
        batches.append(
            {
                "write_ms": wrote,
                "fetch_ms": fetch,
                "apply_ms": apply,
                "read_again_ms": publish,
                "rows_written": sum(len(c.relationships) for c in read),
                "rows_removed": sum(len(c.unlinked) for c in read),
            }
        )

    writer.write = write_and_follow  # type: ignore[method-assign]
    try:
        with records.open("rb") as stream:
            load_streams(writer, [(records.name, stream)], RejectSink(None), batch_size)
    finally:
        writer.close()
        reader.close()
    return batches


def figures(batches: Sequence[dict[str, float]], name: str) -> dict[str, float]:
    values = [b[name] for b in batches]
    return {
        "p50": round(statistics.median(values), 2),
        "p99": round(pct(values, 99), 2),
        "max": round(max(values), 2),
    }


def _shown(figure: str, value: float, unit: str) -> Row:
    """A row of the table shown for what it is: no baseline, no target."""
    return Row(figure, value, unit, None, "", "-", None)


def main(argv: Sequence[str] | None = None) -> None:
    import argparse

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=100_000, help="events per file [100000]")
    parser.add_argument("--batch-size", type=int, default=500, help="records a batch [500]")
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/newsgraph-bench"))
    parser.add_argument("--peer-dir", type=Path, default=PEER_DIR)
    args = parser.parse_args(argv)

    registry = registry_file(args.peer_dir)
    first = peer_data(args.workdir, args.events, 1, args.peer_dir)
    second = peer_data(args.workdir, args.events, 2, args.peer_dir)
    preloaded = newsgraph_store(args.workdir, first, registry)
    copy = args.workdir / f"reader-apply-{args.events}"
    try:
        copy_store(preloaded.directory, copy)
        log(f"loading {second.records.name} into a copy, a reader following: {copy}")
        batches = follow_load(copy, second.records, args.batch_size)
    finally:
        shutil.rmtree(copy, ignore_errors=True)

    steps = {
        name: figures(batches, name)
        for name in ("apply_ms", "fetch_ms", "read_again_ms", "write_ms")
    }
    rows_written = figures(batches, "rows_written")
    rows_removed = figures(batches, "rows_removed")
    records = second.record_count
    writer_seconds = sum(b["write_ms"] for b in batches) / 1000
    apply = steps["apply_ms"]
    table = [
        _shown("reader's apply a batch, p50 (CPU)", apply["p50"], "ms"),
        _shown("reader's apply a batch, p99 (CPU)", apply["p99"], "ms"),
        Row(
            "reader's apply a batch, max (CPU): pages wait at least this",
            apply["max"],
            "ms",
            None,
            "",
            "< 100 ms",
            apply["max"] < 100,
        ),
        _shown(
            "reader's fetch a batch, p50 (CPU, a worker thread)", steps["fetch_ms"]["p50"], "ms"
        ),
        _shown(
            "entries read again for live updates, p50 (CPU)", steps["read_again_ms"]["p50"], "ms"
        ),
        _shown("relationship rows a batch writes, p50", rows_written["p50"], "rows"),
        _shown("relationship rows a batch removes, p50", rows_removed["p50"], "rows"),
        _shown("relationship rows a batch removes, max", rows_removed["max"], "rows"),
        _shown(
            "writer's CPU a batch, p50 (store write: apply, rows, index, log)",
            steps["write_ms"]["p50"],
            "ms",
        ),
    ]
    print_table(
        f"A reader following a load: {len(preloaded.ids.read_text().splitlines()):,} events "
        f"preloaded, {records:,} records loaded in {len(batches)} batches of "
        f"{args.batch_size}",
        table,
    )
    print(f"\nwriter's store writes: {writer_seconds:.1f} s of CPU for {records:,} records")
    payload: dict[str, Any] = {
        "events": args.events,
        "records_loaded": records,
        "batch_size": args.batch_size,
        "batches": len(batches),
        "steps_ms": steps,
        "rows_written": rows_written,
        "rows_removed": rows_removed,
        "per_batch": batches,
    }
    save_results(args.workdir, "reader_apply", payload)


if __name__ == "__main__":
    main()
