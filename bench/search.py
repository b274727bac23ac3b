"""Search: type-ahead and full queries against the search index, at two graph sizes.

    python -m bench.search [--small 10000] [--events 100000] [--rounds 20]

For a store of `--small` events (the baseline) and one of `--events` events, both generated
with the same seed (cached in --workdir, as the other benchmarks build them), `graph.search`
answers in process, on the embedded store (the index is read from its SQLite file):

- type-ahead: a prefix of 3+ letters of a frequent name ("Put", "Zel", "Rus", ...), first 10;
- full queries: two or three words, with misspellings and transliterations, first 20.

Each query runs `--rounds` times after a warm-up; the figures are the p50 over all of them,
and the ratio of the large store's to the small one's (the cost should follow the page, not
the graph: within 1.5x). Targets: type-ahead p50 <= 5 ms, full query p50 <= 20 ms.
"""

from __future__ import annotations

import statistics
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a file: python bench/search.py
    sys.path.insert(0, str(Path(__file__).absolute().parents[1]))

from bench.common import Row, arguments, built_store, dataset, log, print_table, save_results

TYPE_AHEAD = ["Put", "Zel", "Tru", "Luk", "Mac", "Erd", "Lav", "Wit", "Rus", "Ukr", "Bel", "Chi"]
FULL = [
    "Putin Lukashenko",
    "Zelenskiy Macron",
    "Путин Трамп",
    "military cooperation Russia",
    "drone production",
    "ceasefire proposal Ukraine",
    "trade agreement China",
    "Lavrof Moscow",
    "Erdogan grain exports",
    "security guarantees",
]


def measure(directory: Path, rounds: int) -> dict[str, Any]:
    """p50 (ms) of the type-ahead and full queries on the store in `directory`."""
    from graph.embedded import EmbeddedStore
    from graph.search import SearchQuery, search

    store = EmbeddedStore(directory)
    store.setup()  # a store built before the index existed gains it here (format 4)
    try:
        figures: dict[str, Any] = {}
        for name, texts, first in (("type_ahead", TYPE_AHEAD, 10), ("full", FULL, 20)):
            queries = [SearchQuery(text, first=first) for text in texts]
            found = [len(search(store, q).hits) for q in queries]  # warm-up
            times: list[float] = []
            for _ in range(rounds):
                for query in queries:
                    started = time.perf_counter()
                    search(store, query)
                    times.append((time.perf_counter() - started) * 1000)
            figures[name] = {
                "p50_ms": statistics.median(times),
                "p99_ms": statistics.quantiles(times, n=100)[98],
                "results": found,
            }
        return figures
    finally:
        store.close()


def main(argv: Sequence[str] | None = None) -> None:
    parser = arguments(__doc__.split("\n\n")[0])
    parser.add_argument("--small", type=int, default=10_000, help="events of the baseline")
    parser.add_argument("--rounds", type=int, default=20, help="runs of each query [20]")
    args = parser.parse_args(argv)
    measured: dict[int, dict[str, Any]] = {}
    for events in dict.fromkeys((args.small, args.events)):
        store = built_store(args.workdir, dataset(args.workdir, events, args.seed))
        log(f"{store.events:,} events: searching")
        measured[events] = measure(store.directory, args.rounds)
    small, large = measured[args.small], measured[args.events]
    rows = []
    for name, label, target in (
        ("type_ahead", "type-ahead (3 letters, first 10)", 5.0),
        ("full", "full query (2-3 words, first 20)", 20.0),
    ):
        value, base = large[name]["p50_ms"], small[name]["p50_ms"]
        rows.append(
            Row(
                f"{label} p50, {args.events:,} events",
                value,
                "ms",
                base,
                f"{args.small:,} events",
                f"≤ {target:g} ms; ≤ 1.5x",
                value <= target and value <= 1.5 * base,
            )
        )
        rows.append(
            Row(
                f"{label} p99, {args.events:,} events",
                large[name]["p99_ms"],
                "ms",
                small[name]["p99_ms"],
                f"{args.small:,} events",
                "-",
                None,
            )
        )
    print_table(
        f"Search on the embedded store, in process; {args.rounds} rounds of "
        f"{len(TYPE_AHEAD)} type-ahead and {len(FULL)} full queries",
        rows,
    )
    save_results(args.workdir, f"search-{args.events}", {str(k): v for k, v in measured.items()})


if __name__ == "__main__":
    main()
