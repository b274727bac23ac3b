"""A bounding-box and a near-point query against the timeline query, on one generated store.

    python -m bench.geo_queries [--events 100000] [--repeat 200] [--workdir DIR]

On an embedded store of `--events` generated events (built once, cached in `--workdir`), the
first page of 50 events is read straight from the store (`query_events`, in process) for: the
timeline of the most frequent entity (the baseline, as bench.timeline), events in a box of
20° by 20°, and events within 1,000 km of a point; p50 and p99 of `--repeat` reads each. The
target (issue 13): both geographic p50s within 2x the timeline's, measured in the same run.
Each query is read again and again, as the timeline is (the store keeps an entity's sorted
events, and an area's merge: docs/places.md); the rows marked "new area" move the area by a
millionth of a degree at each read, so that every read finds its cells and merges them anew
(what a map being panned asks). The rows marked "after a write" read each query once after
each of `--writes` small writes (an event moved to another point, as an editor's correction
of its place moves it), the write itself not timed: the first box or circle after a write
applies it to the cells and merges the area anew (the timeline sorts its entity's events
anew). These run on a copy of the cached store, so
the cache is left as it was. A store built before the gazetteer has no `geo_lat`; use a fresh
`--workdir`.
"""

from __future__ import annotations

import random
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path

if __package__ in (None, ""):  # run as a file: python bench/geo_queries.py
    sys.path.insert(0, str(Path(__file__).absolute().parents[1]))

from bench.common import arguments, built_store, dataset, log, snapshot_store


def _row(name: str, found: int, times: list[float]) -> tuple[str, int, float, float]:
    """A query's row: its name, the events its page found, the p50 and p99 of its `times`."""
    times.sort()
    return name, found, statistics.median(times), times[int(len(times) * 0.99)]


def main(argv: Sequence[str] | None = None) -> None:
    parser = arguments(__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=200, help="reads per query [200]")
    parser.add_argument("--writes", type=int, default=50, help="writes, each read after [50]")
    args = parser.parse_args(argv)
    from graph.embedded import EmbeddedStore
    from graph.model import Label, NodeWrite, PropertyWrite, WriteBatch
    from graph.store import EventFilter, EventQuery

    built = built_store(args.workdir, dataset(args.workdir, args.events, args.seed))
    scratch = tempfile.TemporaryDirectory(prefix="geo-queries-")
    log(f"copying the store to {scratch.name} (the writes go to the copy)")
    store = EmbeddedStore(snapshot_store(built.directory, Path(scratch.name) / "store"))
    store.setup()
    try:
        queries = {
            "timeline (baseline)": EventFilter(entity=built.meta["top_entity"]["id"]),
            "box 20x20 deg": EventFilter(box=(30.0, 20.0, 50.0, 40.0)),
            "near 1000 km": EventFilter(near=(40.0, 30.0, 1000.0)),
        }
        moved: dict[str, Callable[[int], EventFilter]] = {
            "box, new area": lambda i: EventFilter(box=(30.0 + i * 1e-6, 20.0, 50.0, 40.0)),
            "near, new area": lambda i: EventFilter(near=(40.0 + i * 1e-6, 30.0, 1000.0)),
        }
        rows = []
        for name, flt in [*queries.items(), *((n, m(-1)) for n, m in moved.items())]:
            query = EventQuery(flt, first=50, newest_first=False)
            found = len(store.query_events(query).events)
            times = []
            for i in range(args.repeat):
                if name in moved:
                    query = EventQuery(moved[name](i), first=50, newest_first=False)
                started = time.perf_counter()
                store.query_events(query)
                times.append((time.perf_counter() - started) * 1000)
            rows.append(_row(name, found, times))
        rng = random.Random(args.seed)
        events = built.meta["sample_events"]
        after = {f"{name.split(' ')[0]}, after a write": flt for name, flt in queries.items()}
        times_after: dict[str, list[float]] = {name: [] for name in after}
        found_after: dict[str, int] = {}
        for _ in range(args.writes):
            for name, flt in after.items():
                point = {"geo_lat": rng.uniform(30.0, 50.0), "geo_lon": rng.uniform(20.0, 40.0)}
                change = NodeWrite(rng.choice(events), Label.EVENT, PropertyWrite(set=point))
                store.write(WriteBatch(nodes=[change]))
                started = time.perf_counter()
                found_after[name] = len(store.query_events(EventQuery(flt, first=50)).events)
                times_after[name].append((time.perf_counter() - started) * 1000)
        rows += [_row(name, found_after[name], times) for name, times in times_after.items()]
    finally:
        store.close()
        scratch.cleanup()
    base = rows[0][2]
    print(
        f"{built.events:,} events, first page of 50, {args.repeat} reads each "
        f"({args.writes} after a write), in process"
    )
    print(f"{'query':<25}{'events':>7}{'p50 ms':>10}{'p99 ms':>10}{'x timeline':>12}")
    for name, found, p50, p99 in rows:
        print(f"{name:<25}{found:>7}{p50:>10.3f}{p99:>10.3f}{p50 / base:>12.2f}")
    log("target: each geographic p50 within 2x the timeline's (the rows read again and again)")


if __name__ == "__main__":
    main()
