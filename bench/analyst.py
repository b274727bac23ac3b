"""The analysts' filters and counts (issue 18) against an unfiltered listing, on one generated
store.

    python -m bench.analyst [--events 100000] [--repeat 50] [--workdir DIR]

On an embedded store of `--events` generated events (built once, cached in `--workdir`), read
straight from the store in process: the first page of 50 events (newest first) and its total
(`count_events`, capped at 10,000 as `totalCount` is) with no filter and with a category
(the baselines: the unfiltered total is a length, a category's walks every event) and with
each relationship filter (a role, an entity type, a tone, a tier, an outlet group, and one
entity's role); then the counts of every event by month x category x confidence x country
(`eventCounts(groupBy:)`, `graph.analytics.aggregate`) with no filter and with a tier. p50 and
p99 of `--repeat` reads each, and each p50 against the baseline's. The issue states no target
for these; the figures show what each filter costs (docs/analytics.md).
"""

from __future__ import annotations

import statistics
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

if __package__ in (None, ""):  # run as a file: python bench/analyst.py
    sys.path.insert(0, str(Path(__file__).absolute().parents[1]))

from bench.common import arguments, built_store, dataset, log

COUNT_CAP = 10_000  # as `totalCount` counts (api.nodes.EVENT_COUNT_CAP)


def _timed(work: Callable[[], object], repeat: int) -> tuple[float, float]:
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        work()
        times.append((time.perf_counter() - started) * 1000)
    times.sort()
    return statistics.median(times), times[min(len(times) - 1, int(len(times) * 0.99))]


def main(argv: Sequence[str] | None = None) -> None:
    parser = arguments(__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=50, help="reads per query [50]")
    args = parser.parse_args(argv)
    from graph import analytics
    from graph.embedded import EmbeddedStore
    from graph.store import EventFilter, EventQuery

    built = built_store(args.workdir, dataset(args.workdir, args.events, args.seed))
    store = EmbeddedStore(built.directory, read_only=True)
    store.setup()
    try:
        top = built.meta["top_entity"]["id"]
        filters = {
            "no filter (baseline)": EventFilter(),
            "category (walk baseline)": EventFilter(
                categories=("military",), date_from="2000-01-01"
            ),
            "role target": EventFilter(roles=("target",)),
            "entity type group": EventFilter(entity_types=("group",)),
            "tone denied": EventFilter(tones=("denied",)),
            "tier trusted": EventFilter(tiers=("trusted",)),
            "tier + tone uncertain": EventFilter(tiers=("trusted",), tones=("uncertain",)),
            "top entity as target": EventFilter(entity=top, roles=("target",)),
        }
        rows = []
        for name, flt in filters.items():
            query = EventQuery(flt, first=50)
            found = store.count_events(flt, COUNT_CAP)
            page = _timed(lambda q=query: store.query_events(q), args.repeat)  # type: ignore[misc]
            total = _timed(lambda f=flt: store.count_events(f, COUNT_CAP), args.repeat)  # type: ignore[misc]
            rows.append((name, found, page, total))
        by = analytics.DIMENSIONS  # month x category x confidence x country
        counted = []
        for name, flt in (
            ("every event", EventFilter()),
            ("tier trusted", EventFilter(tiers=("trusted",))),
        ):
            result = analytics.aggregate(store, flt, by, "month")

            def count(f: EventFilter = flt) -> object:
                return analytics.aggregate(store, f, by, "month")

            timing = _timed(count, max(5, args.repeat // 5))
            counted.append((name, result.total, len(result.groups), timing))
    finally:
        store.close()
    # pages against the unfiltered page; totals against a category's, a walk of every event
    # (the unfiltered total is a length)
    base_page, base_total = rows[0][2][0], rows[1][3][0]
    print(f"{built.events:,} events, embedded store, in process, {args.repeat} reads each")
    print(
        f"{'filter':<24}{'events':>8}{'page p50':>10}{'p99':>9}{'x base':>8}"
        f"{'total p50':>11}{'p99':>9}{'x base':>8}"
    )
    for name, found, (p50, p99), (t50, t99) in rows:
        print(
            f"{name:<24}{found:>8}{p50:>10.3f}{p99:>9.3f}{p50 / base_page:>8.1f}"
            f"{t50:>11.3f}{t99:>9.3f}{t50 / base_total:>8.1f}"
        )
    print("counts by month x category x confidence x country (ms)")
    for name, events, groups, (c50, c99) in counted:
        print(f"{name:<24}{events:>8} events {groups:>6} groups  p50 {c50:.1f}  p99 {c99:.1f}")
    log("no target in the issue for these; times in ms (milliseconds)")


if __name__ == "__main__":
    main()
