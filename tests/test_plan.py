"""The write plan combines writes to one node or relationship (`services.plan.combine`):
the combined write must leave exactly what the writes one after another leave."""

from __future__ import annotations

import random

from graph.model import PropertyWrite, Props, Value, apply_write
from services.plan import combine


def _random_merge(rng: random.Random) -> PropertyWrite:
    def pick(names: list[str]) -> dict[str, Value]:
        return {n: rng.choice(["a", "b", "c"]) for n in names}

    ranked = rng.choice(["first", "last", "none"])
    return PropertyWrite(
        create=pick(rng.sample(["x", "y"], rng.randint(0, 2))),
        first=pick(["f1", "f2"]) if ranked == "first" else {},
        last=pick(["l1"]) if ranked == "last" else {},
        rank=rng.choice(["1", "2", "3"]),
        union={n: rng.sample(["p", "q", "r"], rng.randint(0, 2)) for n in rng.sample(["u"], 1)},
        minimum={n: rng.choice(["1", "5", "9"]) for n in rng.sample(["lo"], rng.randint(0, 1))},
        maximum={n: rng.choice(["1", "5", "9"]) for n in rng.sample(["hi"], rng.randint(0, 1))},
        set=pick(["s"]) if rng.random() < 0.1 else {},
    )


def _apply(current: Props | None, merges: list[PropertyWrite]) -> Props | None:
    for merge in merges:
        current = apply_write(current, merge)
    return current


def test_combined_writes_merge_as_the_writes_in_turn() -> None:
    rng = random.Random(6)
    starts: list[Props | None] = [None, {}, {"f1": "z", "_rank_first": "2", "u": ["q"]}]
    starts.append({"l1": "z", "_rank_last": "2", "lo": "5", "hi": "5", "x": "old"})
    for _ in range(3000):
        writes = [_random_merge(rng) for _ in range(rng.randint(1, 5))]
        combined: list[PropertyWrite] = [writes[0]]
        for write in writes[1:]:
            merged = combine(combined[-1], write)
            if merged is None:
                combined.append(write)
            else:
                combined[-1] = merged
        for start in starts:
            assert _apply(start, combined) == _apply(start, writes), writes
