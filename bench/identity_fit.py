"""Fit the event matcher's weights and thresholds on records with truth, cross-validated.

    python -m bench.identity_fit --records ../shared/data/ged-syria-2017h1-no-ids.jsonl \\
        --truth ../shared/data/ged-syria-2017h1-truth.json [--folds 5] [--output W]

- **Pairs**: the records are taken in file order; each is compared with the candidate events
  the blocking finds among the events made so far *as the truth groups them* (the profile an
  event would have if every earlier decision had been right). Label 1 for its own event, 0 for
  the others. A record whose true event is not among its candidates is a miss of the blocking
  (counted, not learnt from).
- **Weights**: L2-regularised logistic regression on those pairs (scipy's L-BFGS, the bias not
  regularised). Few features, one regularisation strength, no feature selection. Real
  reporting always names the sides, so `words_without_sides` is then fitted alone on the extra
  records' pairs with a place and no entities to compare, every other weight kept (`fit_one`).
- **Merge threshold**: the matcher is run on the training records as a load would run it (its
  own decisions, not the truth), for each threshold of a grid; the one with the best pairwise F1
  whose precision is not below the floor's on the same records is kept.
- **Review threshold**: possible duplicates do not change the grouping, only the editors'
  queue: the lowest score (grid -8 .. merge threshold) above which at least `--queue-precision`
  (0.1: a pair in ten worth merging) of the pairs the matcher keeps apart are true.
- **Cross-validation**: folds are blocks of consecutive weeks (by the first day of each true
  event), so no true event is split across folds and each test fold is a stretch of time the
  fit has not seen, as a later data set would be. Each fold is fitted on the others and
  measured alone; pair counts are added up over folds.

Writes the weights fitted on all records to `--output` (graph/identity/weights.json), with the
cross-validated figures beside them.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np
from scipy.optimize import minimize

if __package__ in (None, ""):  # run as a file: python bench/identity_fit.py
    sys.path.insert(0, str(Path(__file__).absolute().parents[1]))

from bench.generate import Generator
from bench.identity import (
    HEADER,
    Item,
    Quality,
    add_up,
    floor_rule,
    line,
    quality,
    read_records,
    read_truth,
    run_matcher,
    todays_rule,
    true_queued,
)
from graph.identity import FEATURES, EventProfile, Mention, Weights, lookup_keys
from graph.identity.evidence import crowd, evidence, in_window
from graph.identity.places import use_gazetteer

WEIGHTS_FILE = Path(__file__).resolve().parents[1] / "graph" / "identity" / "weights.json"
L2 = 0.3  # regularisation strength (sum of squared weights, against the summed log-loss)
EXTRA_GENERATED = "2:10000"  # generated records teaching the weights without a place
QUEUE_PRECISION = 0.1  # the review band: at least one pair in ten worth merging
GRID = [x / 4 for x in range(-12, 9)]  # merge thresholds tried: -3 .. 2 in quarter steps
REVIEW_GRID = [x / 4 for x in range(-32, 9)]  # review thresholds tried: -8 .. 2
DROPPED: set[str] = set()  # features left out (weight 0): `--drop`, to measure what one adds


@dataclass
class Pairs:
    x: np.ndarray[Any, np.dtype[np.float64]]
    y: np.ndarray[Any, np.dtype[np.float64]]
    records: int
    blocked_out: int  # records whose true event existed but was not among the candidates


def candidate_pairs(items: Sequence[Item], truth: Sequence[str]) -> Pairs:
    """The (record, candidate event) pairs of the blocking, events grouped by the truth."""
    profiles: dict[str, EventProfile] = {}
    index: dict[str, set[str]] = defaultdict(set)
    rows: list[list[float]] = []
    labels: list[float] = []
    missed = 0
    for item, true in zip(items, truth, strict=True):
        m = item.mention
        found: set[str] = set()
        for key in lookup_keys(m):
            found |= index.get(key, set())
        candidates = [e for e in sorted(found) if in_window(m, profiles[e])]
        if true in profiles and true not in candidates:
            missed += 1
        found_rows = [evidence(m, profiles[event])[0] for event in candidates]
        crowd(found_rows)
        rows.extend(found_rows)
        labels.extend(1.0 if event == true else 0.0 for event in candidates)
        before = profiles.get(true)
        after = EventProfile.of(m) if before is None else before.with_mention(m)
        for key in after.keys() - (before.keys() if before else frozenset()):
            index[key].add(true)
        profiles[true] = after
    x = np.array(rows, dtype=np.float64).reshape(-1, len(FEATURES))
    for name in DROPPED:
        x[:, FEATURES.index(name)] = 0.0
    return Pairs(x, np.array(labels, dtype=np.float64), len(items), missed)


def logistic(pairs: Pairs, l2: float) -> tuple[float, list[float]]:
    """Bias and weights of an L2-regularised logistic regression (bias not regularised)."""
    x, y = pairs.x, pairs.y
    design = np.hstack([np.ones((len(x), 1)), x])

    def loss(theta: np.ndarray[Any, np.dtype[np.float64]]) -> tuple[float, Any]:
        z = design @ theta
        # log(1 + e^z) - y z, stably
        value = float(np.sum(np.logaddexp(0.0, z) - y * z)) + l2 * float(theta[1:] @ theta[1:])
        p = 1.0 / (1.0 + np.exp(-z))
        grad = design.T @ (p - y)
        grad[1:] += 2 * l2 * theta[1:]
        return value, grad

    result = minimize(loss, np.zeros(design.shape[1]), jac=True, method="L-BFGS-B")
    theta = result.x
    return float(theta[0]), [float(w) for w in theta[1:]]


def no_sides(pairs: Pairs) -> np.ndarray[Any, np.dtype[np.bool_]]:
    """The pairs with a place to compare but no entities to compare (either side names none)."""
    x = pairs.x
    keep: np.ndarray[Any, np.dtype[np.bool_]] = (
        (x[:, FEATURES.index("shared_entities")] == 0.0)
        & (x[:, FEATURES.index("no_shared_entity")] == 0.0)
        & (x[:, FEATURES.index("no_place")] == 0.0)
    )
    return keep


def fit_one(pairs: Pairs, bias: float, weights: Sequence[float], feature: str, l2: float) -> float:
    """The weight of one feature, fitted on `pairs` with the bias and every other weight kept
    as they are (L2-regularised logistic regression with an offset)."""
    at = FEATURES.index(feature)
    fixed = np.array(weights, dtype=np.float64)
    fixed[at] = 0.0
    offset = bias + pairs.x @ fixed
    column, y = pairs.x[:, at], pairs.y

    def loss(theta: np.ndarray[Any, np.dtype[np.float64]]) -> tuple[float, Any]:
        z = offset + theta[0] * column
        value = float(np.sum(np.logaddexp(0.0, z) - y * z)) + l2 * float(theta[0] ** 2)
        p = 1.0 / (1.0 + np.exp(-z))
        return value, np.array([float(column @ (p - y)) + 2 * l2 * float(theta[0])])

    if not len(y):
        return 0.0
    return float(minimize(loss, np.zeros(1), jac=True, method="L-BFGS-B").x[0])


def thresholds(
    items: Sequence[Item],
    truth: Sequence[str],
    make: Callable[[float, float], Weights],
    floor_precision: float,
    queue_precision: float,
) -> tuple[float, float, Quality]:
    """The merge threshold (best F1 with precision at least the floor's) and the review
    threshold (lowest score whose queue is at least `queue_precision` true), on `items`;
    `make(merge_at, review_at)` gives the weights to run with."""
    best: tuple[float, float, Quality] | None = None
    for merge_at in GRID:
        q = quality(run_matcher(items, make(merge_at, min(GRID))).labels, truth)
        if q.precision < floor_precision:
            continue
        if best is None or q.f1 > best[2].f1:
            best = (merge_at, q.f1, q)
    if best is None:  # nothing as precise as the floor: the most precise threshold
        merge_at = max(GRID)
        q = quality(run_matcher(items, make(merge_at, merge_at)).labels, truth)
        best = (merge_at, q.f1, q)
    merge_at, _, q = best
    widest = make(merge_at, min(REVIEW_GRID))
    return merge_at, review_threshold(items, truth, widest, queue_precision), q


def review_threshold(
    items: Sequence[Item], truth: Sequence[str], weights: Weights, queue_precision: float
) -> float:
    """The review threshold: the lowest score of the grid above which (up to the merge
    threshold) at least `queue_precision` of the pairs the matcher keeps apart are true, i.e.
    worth an editor's look. Measured in one run with every kept-apart best candidate queued
    (`weights.review_at` the lowest of `REVIEW_GRID`); `weights.merge_at` when none does."""
    run = run_matcher(items, weights)
    members: dict[str, set[str]] = defaultdict(set)
    for label, true in zip(run.labels, truth, strict=True):
        members[label].add(true)
    pairs = [(score, truth[number] in members[event]) for number, event, score in run.queue_scores]
    for candidate in sorted(g for g in REVIEW_GRID if g < weights.merge_at):
        band = [is_true for score, is_true in pairs if score >= candidate]
        if band and sum(band) / len(band) >= queue_precision:
            return candidate
    return weights.merge_at


def without_place(items: Sequence[Item]) -> list[Item]:
    """The records with their places hidden (no place name, no point; the country kept)."""
    return [
        Item(replace(i.mention, place=None, lat=None, lon=None), i.external_id, i.raw)
        for i in items
    ]


def weeks(items: Sequence[Item], truth: Sequence[str]) -> list[int]:
    """Each record's week: the week of its true event's first day, from the data's first."""
    first: dict[str, int] = {}
    for item, true in zip(items, truth, strict=True):
        day = date.fromisoformat(item.mention.day).toordinal()
        first[true] = min(first.get(true, day), day)
    start = min(first.values())
    return [(first[true] - start) // 7 for true in truth]


def folds_of(items: Sequence[Item], truth: Sequence[str], k: int) -> list[int]:
    """Each record's fold: k blocks of consecutive weeks, about equal in records."""
    week = weeks(items, truth)
    per_week: dict[int, int] = defaultdict(int)
    for w in week:
        per_week[w] += 1
    fold_of_week: dict[int, int] = {}
    done = 0
    for w in sorted(per_week):
        fold_of_week[w] = min(k - 1, done * k // len(items))
        done += per_week[w]
    return [fold_of_week[w] for w in week]


def subset(
    items: Sequence[Item], truth: Sequence[str], keep: Sequence[bool]
) -> tuple[list[Item], list[str]]:
    return (
        [i for i, k in zip(items, keep, strict=True) if k],
        [t for t, k in zip(truth, keep, strict=True) if k],
    )


@dataclass
class Fit:
    weights: Weights
    train: Quality
    train_without_place: Quality | None


def fit(
    items: Sequence[Item],
    truth: Sequence[str],
    queue_precision: float,
    l2: float,
    extra: tuple[list[Item], list[str]] = ([], []),
    place_hidden: bool = True,
) -> Fit:
    """Weights from the pairs of `items` and `extra`; thresholds on `items` alone (real
    reporting: the floor's precision there is the bar). With `place_hidden`, also the weights
    for candidates with no place to compare, fitted the same way on `items` with their places
    hidden (the same bar: the floor's precision on `items` as they are)."""
    bias, weights = logistic(candidate_pairs(items, truth), l2)
    more = candidate_pairs(*extra) if extra[0] else None
    if more is not None and "words_without_sides" not in DROPPED:
        # real reporting (Syria) always names the sides: what words are worth without them is
        # learnt from the extra records' pairs with no entities to compare, the rest kept
        keep = no_sides(more)
        sideless = Pairs(more.x[keep], more.y[keep], more.records, more.blocked_out)
        at = FEATURES.index("words_without_sides")
        weights[at] = fit_one(sideless, bias, weights, "words_without_sides", l2)
    floor = quality(floor_rule(items), truth)
    hidden_q: Quality | None = None
    hidden_bias, hidden_weights = 0.0, tuple(0.0 for _ in FEATURES)
    if place_hidden:
        hidden = without_place(items)
        pairs = candidate_pairs(hidden, truth)
        if more is not None:  # the extra records' candidate pairs without a place to compare
            keep = more.x[:, FEATURES.index("no_place")] >= 1.0
            pairs = Pairs(
                np.vstack([pairs.x, more.x[keep]]),
                np.concatenate([pairs.y, more.y[keep]]),
                pairs.records + more.records,
                pairs.blocked_out + more.blocked_out,
            )
        h_bias, h_weights = logistic(pairs, l2)
        hidden_bias, hidden_weights = h_bias, tuple(h_weights)

    def make(merge_at: float, review_at: float) -> Weights:
        # both scores are log-odds of one thing (the record describes the event), fitted the
        # same way: the same thresholds. (Fitted on records with their places hidden, no
        # threshold reaches the floor's precision: one conflict's sides fight in many places a
        # day, which the `crowded` evidence, not a threshold, must tell apart.)
        inner = Weights(hidden_bias, hidden_weights, merge_at, review_at) if place_hidden else None
        return Weights(bias, tuple(weights), merge_at, review_at, inner)

    merge_at, review_at, q = thresholds(items, truth, make, floor.precision, queue_precision)
    if place_hidden:
        hidden_q = quality(
            run_matcher(without_place(items), make(merge_at, review_at)).labels, truth
        )
    return Fit(make(merge_at, review_at), q, hidden_q)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--records", type=Path, required=True)
    parser.add_argument("--truth", type=Path, required=True)
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument(
        "--queue-precision",
        type=float,
        default=QUEUE_PRECISION,
        help=f"the review band: at least this share of its pairs true [{QUEUE_PRECISION}]",
    )
    parser.add_argument("--output", type=Path, default=WEIGHTS_FILE)
    parser.add_argument("--l2", type=float, default=L2, help=f"regularisation [{L2}]")
    parser.add_argument("--whole", action="store_true", help="fit on all records only, no CV")
    parser.add_argument(
        "--extra-records",
        type=Path,
        help="more training records (e.g. generated, another seed), added to every training "
        "fold and never measured: they teach records without a place or a point",
    )
    parser.add_argument("--extra-truth", type=Path)
    parser.add_argument(
        "--extra-generated",
        metavar="SEED:EVENTS",
        default=EXTRA_GENERATED,
        help="the extra records made by bench/generate.py (this seed and number of events, "
        "with their truth) unless --extra-records is given; only their candidate pairs with no "
        "place to compare are used, for the weights without a place; '' for none "
        f"[{EXTRA_GENERATED}: another seed than the one measured]",
    )
    parser.add_argument(
        "--drop",
        default="",
        help="features to leave out (weight 0), comma-separated: to measure what each adds",
    )
    parser.add_argument(
        "--no-gazetteer",
        action="store_true",
        help="no anchors: records without a point are not given their place's gazetteer point "
        "(to measure what anchors add; drop anchor_near,anchor_far too)",
    )
    args = parser.parse_args(argv)
    use_gazetteer(not args.no_gazetteer)
    dropped = set(filter(None, args.drop.split(",")))
    if unknown := dropped - set(FEATURES):
        parser.error(f"--drop: unknown features {sorted(unknown)}")
    DROPPED.clear()
    DROPPED.update(dropped)
    items = [Item(i.mention, None, i.raw) for i in read_records(args.records)]
    truth = read_truth(args.truth)
    fold = folds_of(items, truth, args.folds)
    extra: tuple[list[Item], list[str]] = ([], [])
    if args.extra_records is not None and args.extra_truth is not None:
        extra_items = [Item(i.mention, None, i.raw) for i in read_records(args.extra_records)]
        extra = (extra_items, [f"extra:{t}" for t in read_truth(args.extra_truth)])

    extra_name = args.extra_records.name if args.extra_records else None
    if args.extra_generated and args.extra_records is None:
        seed, events = (int(x) for x in args.extra_generated.split(":"))
        generator = Generator(seed, events)
        lines = generator.generate()
        made = [Mention.from_record(json.loads(text)) for text in lines]
        extra = ([Item(m, None, {}) for m in made], [f"extra:{t}" for t in generator.truth])
        extra_name = f"bench/generate.py --seed {seed} --events {events}"
    print(f"{len(items)} records, {len(set(truth))} true events, {args.folds} folds of weeks")
    parts: dict[str, list[Quality]] = defaultdict(list)
    queued = true = 0
    for k in range(0 if args.whole else args.folds):
        train = subset(items, truth, [f != k for f in fold])
        test = subset(items, truth, [f == k for f in fold])
        fitted = fit(*train, args.queue_precision, args.l2, extra)
        w = fitted.weights
        run = run_matcher(test[0], w)
        q = quality(run.labels, test[1])
        parts["matcher"].append(q)
        parts["today"].append(quality(todays_rule(test[0]), test[1]))
        parts["floor"].append(quality(floor_rule(test[0]), test[1]))
        parts["floor_1"].append(quality(floor_rule(test[0], window=1), test[1]))
        queued += len(run.queue)
        true += true_queued(run, test[1])
        print(
            f"fold {k}: {len(test[0])} records; merge_at {w.merge_at:+.2f} review_at "
            f"{w.review_at:+.2f}; test P {q.precision:.3f} R {q.recall:.3f} F1 {q.f1:.3f} "
            f"(floor P {parts['floor'][-1].precision:.3f} R {parts['floor'][-1].recall:.3f})"
        )
    print("cross-validated (pair counts added up over the test folds):")
    print(HEADER)
    cv = {name: add_up(qs) for name, qs in parts.items()}
    for name, label in (
        ()
        if args.whole
        else (
            ("today", "today's rule"),
            ("floor", "floor (same day)"),
            ("floor_1", "floor (a day either side)"),
            ("matcher", "matcher"),
        )
    ):
        print(line(label, cv[name]))
    print(f"possible duplicates queued {queued}, of them true pairs {true}")

    final = fit(items, truth, args.queue_precision, args.l2, extra)
    pairs = candidate_pairs(items, truth)
    print(
        f"all records: {len(pairs.y)} candidate pairs ({int(pairs.y.sum())} true), "
        f"{pairs.blocked_out} records whose true event the blocking missed"
    )
    fw, hw = final.weights, final.weights.without_place
    print(
        f"fitted on all records: bias {fw.bias:+.3f}, merge_at {fw.merge_at:+.2f}, "
        f"review_at {fw.review_at:+.2f}"
        + (
            ""
            if hw is None
            else f"; without a place: bias {hw.bias:+.3f}, merge_at {hw.merge_at:+.2f}, "
            f"review_at {hw.review_at:+.2f}"
        )
    )
    for number, name in enumerate(FEATURES):
        hidden = "" if hw is None else f"   without a place {hw.weights[number]:+.3f}"
        print(f"  {name:<18} {fw.weights[number]:+.3f}{hidden}")
    print(line("matcher (in sample)", final.train))
    if final.train_without_place is not None:
        print(line("... places hidden (in sample)", final.train_without_place))

    def rounded(q: Quality) -> dict[str, float]:
        return {
            "precision": round(q.precision, 3),
            "recall": round(q.recall, 3),
            "f1": round(q.f1, 3),
            "bcubed_precision": round(q.bcubed_precision, 3),
            "bcubed_recall": round(q.bcubed_recall, 3),
        }

    def rounded_weights(weights: dict[str, Any]) -> dict[str, Any]:
        done = {k: (round(v, 4) if isinstance(v, float) else v) for k, v in weights.items()}
        done["features"] = {k: round(v, 4) for k, v in weights["features"].items()}
        if "without_place" in weights:
            done["without_place"] = rounded_weights(weights["without_place"])
        return done

    data: dict[str, Any] = rounded_weights(fw.to_dict())
    data["fitted"] = {
        "by": "bench/identity_fit.py",
        "records": args.records.name,
        "extra_records": extra_name,
        "l2": args.l2,
        "folds": f"{args.folds} blocks of consecutive weeks",
        "queue_precision": args.queue_precision,
        "cross_validated": {name: rounded(q) for name, q in cv.items()},
        "possible_duplicates": {"queued": queued, "true_pairs": true},
    }
    args.output.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
