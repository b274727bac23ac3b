"""The ceiling of the matcher's features: gradient-boosted trees in place of the logistic
regression, on the same candidate pairs, in the same week-block folds (an experiment, not the
matcher: needs scikit-learn, which the project does not depend on).

    PYTHONPATH=<a directory with scikit-learn> python -m bench.identity_trees \\
        --records ../shared/data/ged-syria-2017h1-no-ids.jsonl \\
        --truth ../shared/data/ged-syria-2017h1-truth.json

For each fold: the trees (sklearn's HistGradientBoostingClassifier) are fitted on the training
weeks' candidate pairs (events as the truth groups them, `bench.identity_fit.candidate_pairs`),
the merge threshold chosen as `bench.identity_fit` chooses it (best F1 on the training records
run as a load, precision not below the floor's), and the test weeks run with them. The score of a
candidate is the trees' log-odds (every feature, the words compared for every candidate); the
logistic regression of the same fold is run beside, in the same code, as the reference. Printed
too: each fold's AUC of both models on the test weeks' candidate pairs, overall and among the
same-day look-alikes (same place, all sides), and the interactions the trees use (pairs of
features split on along one path, counted by the gain of the lower split).
"""

from __future__ import annotations

import argparse
import math
import sys
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).absolute().parents[1]))

import graph.identity.matcher as matcher_module
from bench import identity_fit as fitting
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
)
from graph.identity import FEATURES, EventProfile, Mention
from graph.identity.evidence import crowd, evidence, in_window
from graph.identity.matcher import Decision

GRID = fitting.GRID  # the same merge thresholds as the fit


@dataclass
class Model:
    """A scorer of feature rows (log-odds), with the thresholds to decide by."""

    predict: Any  # rows (n, features) -> log-odds (n,)
    merge_at: float = 0.0
    review_at: float = -100.0
    cache: dict[tuple[float, ...], float] = field(default_factory=dict)

    def scores(self, rows: Sequence[Sequence[float]]) -> list[float]:
        keys = [tuple(r) for r in rows]
        missing = [k for k in dict.fromkeys(keys) if k not in self.cache]
        if missing:
            for k, s in zip(missing, self.predict(np.array(missing)), strict=True):
                self.cache[k] = float(s)
        return [self.cache[k] for k in keys]

    def at(self, merge_at: float) -> Model:
        return Model(self.predict, merge_at, min(merge_at, self.review_at), self.cache)


def decide(
    m: Mention,
    candidates: Iterable[tuple[str, EventProfile]],
    weights: Any = None,
    *,
    apart: Any = (),
) -> Decision:
    """`graph.identity.matcher.decide` with a `Model` in place of the weights (every
    candidate's words compared)."""
    model: Model = weights
    scored: list[tuple[str, list[float]]] = []
    for event_id, profile in candidates:
        if not in_window(m, profile):
            continue
        if m.story and m.story in profile.stories:
            continue
        values, _ = evidence(m, profile)
        scored.append((event_id, values))
    if not scored:
        return Decision("new", None, float("-inf"))
    crowd([v for _, v in scored])
    best: tuple[float, str] | None = None
    for (event_id, _), total in zip(scored, model.scores([v for _, v in scored]), strict=True):
        if best is None or total > best[0] or (total == best[0] and event_id < best[1]):
            best = (total, event_id)
    assert best is not None
    total, event_id = best
    outcome = (
        "merge"
        if total >= model.merge_at
        else "possible_duplicate"
        if total >= model.review_at
        else "new"
    )
    return Decision(outcome, event_id, total, (), (), len(scored))  # type: ignore[arg-type]


def choose(model: Model, items: Sequence[Item], truth: Sequence[str], floor: float) -> Model:
    """The merge threshold as `bench.identity_fit.thresholds` chooses it."""
    best: tuple[float, float] | None = None
    for merge_at in GRID:
        q = quality(run_matcher(items, model.at(merge_at)).labels, truth)  # type: ignore[arg-type]
        if q.precision >= floor and (best is None or q.f1 > best[1]):
            best = (merge_at, q.f1)
    return model.at(best[0] if best else max(GRID))


def auc(score: np.ndarray[Any, Any], y: np.ndarray[Any, Any]) -> float:
    order = np.argsort(score, kind="mergesort")
    ranks = np.empty(len(score))
    # average ranks of ties
    sorted_scores = score[order]
    i = 0
    while i < len(score):
        j = i
        while j + 1 < len(score) and sorted_scores[j + 1] == sorted_scores[i]:
            j += 1
        ranks[order[i : j + 1]] = (i + j) / 2 + 1
        i = j + 1
    pos = y == 1
    n1, n0 = int(pos.sum()), int((~pos).sum())
    if not n1 or not n0:
        return math.nan
    return float((ranks[pos].sum() - n1 * (n1 + 1) / 2) / (n1 * n0))


def lookalike(x: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
    at = FEATURES.index
    place = (x[:, at("near")] >= 1.0) | (x[:, at("same_place_name")] > 0.0)
    same_day = (x[:, at("day_after")] == 0.0) & (x[:, at("day_before")] == 0.0)
    return place & (x[:, at("shared_entities")] >= 1.0) & same_day  # type: ignore[no-any-return]


def interactions(trees: Any, gains: Counter[tuple[str, str]]) -> None:
    """Count, over the trees' paths, pairs of (ancestor, descendant) split features, by the
    descendant split's gain."""
    for predictors in trees._predictors:
        for tree in predictors:
            nodes = tree.nodes

            def walk(i: int, above: tuple[int, ...], nodes: Any = nodes) -> None:
                node = nodes[i]
                if node["is_leaf"]:
                    return
                f = int(node["feature_idx"])
                for a in set(above):
                    if a != f:
                        gains[tuple(sorted((FEATURES[a], FEATURES[f])))] += float(node["gain"])  # type: ignore[index]
                walk(int(node["left"]), (*above, f))
                walk(int(node["right"]), (*above, f))

            walk(0, ())


def main(argv: Sequence[str] | None = None) -> int:
    from sklearn.ensemble import HistGradientBoostingClassifier

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--records", type=Path, required=True)
    parser.add_argument("--truth", type=Path, required=True)
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--leaves", type=int, default=8)
    parser.add_argument("--rate", type=float, default=0.05)
    parser.add_argument("--iterations", type=int, default=300)
    parser.add_argument("--min-leaf", type=int, default=40)
    parser.add_argument("--only", default="trees,logistic")
    args = parser.parse_args(argv)
    matcher_module.decide = decide  # type: ignore[assignment]
    items = [Item(i.mention, None, i.raw) for i in read_records(args.records)]
    truth = read_truth(args.truth)
    fold = fitting.folds_of(items, truth, args.folds)
    kinds = args.only.split(",")
    parts: dict[str, list[Quality]] = defaultdict(list)
    gains: Counter[tuple[str, str]] = Counter()
    for k in range(args.folds):
        train = fitting.subset(items, truth, [f != k for f in fold])
        test = fitting.subset(items, truth, [f == k for f in fold])
        pairs = fitting.candidate_pairs(*train)
        test_pairs = fitting.candidate_pairs(*test)
        floor = quality(floor_rule(train[0]), train[1]).precision
        models: dict[str, Model] = {}
        if "trees" in kinds:
            trees = HistGradientBoostingClassifier(
                max_iter=args.iterations,
                learning_rate=args.rate,
                max_leaf_nodes=args.leaves,
                min_samples_leaf=args.min_leaf,
                l2_regularization=1.0,
                early_stopping=False,
                random_state=0,
            ).fit(pairs.x, pairs.y)
            interactions(trees, gains)
            models["trees"] = Model(trees.decision_function)
        if "logistic" in kinds:
            bias, weights = fitting.logistic(pairs, fitting.L2)
            w = np.array(weights)
            models["logistic"] = Model(lambda x, b=bias, w=w: b + x @ w)
        look = lookalike(test_pairs.x)
        for name, model in models.items():
            s = np.array(model.scores(test_pairs.x.tolist()))
            chosen = choose(model, *train, floor)
            q = quality(run_matcher(test[0], chosen).labels, test[1])  # type: ignore[arg-type]
            parts[name].append(q)
            print(
                f"fold {k} {name:<8}: merge_at {chosen.merge_at:+.3f}; test P {q.precision:.3f} "
                f"R {q.recall:.3f} F1 {q.f1:.3f}; pair AUC {auc(s, test_pairs.y):.3f}, "
                f"look-alikes {auc(s[look], test_pairs.y[look]):.3f} ({int(look.sum())})",
                flush=True,
            )
    print(HEADER)
    for name, qs in parts.items():
        print(line(name, add_up(qs)), " per fold F1", " ".join(f"{q.f1:.3f}" for q in qs))
    if gains:
        total = sum(gains.values())
        print("interactions the trees split on (share of the lower splits' gain):")
        for pair, gain in gains.most_common(15):
            print(f"  {pair[0]:<18} x {pair[1]:<18} {gain / total:.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
