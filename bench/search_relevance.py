"""The search relevance score: the 50 labelled queries of `bench/search_relevance.jsonl` (or
of the held-out `bench/search_relevance_heldout.jsonl`, with `--set`) over the bundled samples
and generated events, and how many put the intended result in the top 3 (target: 45).

    python -m bench.search_relevance [--set PATH] [--events 300] [--seed 1] [--verbose]

Builds an embedded store in a temporary directory (the set's generated names are those of
`--events 300 --seed 1`, its default), prints each miss and the score; exits 1 under target.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from collections import Counter
from pathlib import Path

if __package__ in (None, ""):  # run as a file: python bench/search_relevance.py
    sys.path.insert(0, str(Path(__file__).absolute().parents[1]))

from graph.embedded import EmbeddedStore
from tools import relevance


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--set", type=Path, default=relevance.CASES, help="the labelled queries (JSON Lines)"
    )
    parser.add_argument("--events", type=int, default=relevance.EVENTS)
    parser.add_argument("--seed", type=int, default=relevance.SEED)
    parser.add_argument("--verbose", action="store_true", help="print every query, not only misses")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as folder:
        store = EmbeddedStore(Path(folder) / "store")
        store.setup()
        try:
            relevance.load(store, args.events, args.seed)
            outcomes = relevance.score(store, relevance.cases(args.set))
        finally:
            store.close()
    by_kind: Counter[str] = Counter()
    totals: Counter[str] = Counter()
    for outcome in outcomes:
        totals[outcome.case.kind] += 1
        by_kind[outcome.case.kind] += outcome.hit
        if args.verbose or not outcome.hit:
            mark = "ok  " if outcome.hit else "MISS"
            print(f"{mark} {outcome.case.query!r:45} rank {outcome.rank} top {outcome.top}")
    hits = sum(o.hit for o in outcomes)
    for kind in totals:
        print(f"{kind:16} {by_kind[kind]}/{totals[kind]}")
    print(
        f"intended result in the top {relevance.TOP}: {hits}/{len(outcomes)} "
        f"(target {relevance.TARGET})"
    )
    return 0 if hits >= relevance.TARGET else 1


if __name__ == "__main__":
    sys.exit(main())
