"""Event identity measured: the matcher, today's rule and the issue's floor, on records with truth.

    python -m bench.identity --records ../shared/data/ged-syria-2017h1-no-ids.jsonl \\
        --truth ../shared/data/ged-syria-2017h1-truth.json [--weights W]

`--truth` is a JSON list, element i the true event of line i+1 (as `ged-…-truth.json`, or the
file `bench/generate.py --truth` writes). Records are matched in file order, one at a time, as a
bulk load would: each record is compared with the events made so far (an in-memory index by
blocking keys, profiles updated as records join). Records carrying `event.id` are left to the
trusted-id rule: their id is their event, and the matcher never sees them.

Printed for each rule: events found against true events, pairwise precision, recall and F1
(over pairs of records), B-cubed precision and recall, and for the matcher records/s and the
possible duplicates queued (how many of them are true pairs). Two ceilings read the truth: the
metadata's (records are one event when their true events share day, place and sides: what no
rule on those can beat) and the matcher given each record's true day (no late reports).
"""

from __future__ import annotations

import argparse
import gc
import json
import sys
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a file: python bench/identity.py
    sys.path.insert(0, str(Path(__file__).absolute().parents[1]))

from graph.identity import Matcher, Mention, Weights
from graph.identity.normalise import day_number, day_text, haversine_km, place_key
from graph.identity.places import use_gazetteer
from graph.keys import digest, normalise

# -- data -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Item:
    """One record: its mention, its external id (or None), and the raw record."""

    mention: Mention
    external_id: str | None
    raw: dict[str, Any]


def read_records(path: Path) -> list[Item]:
    items = []
    with path.open(encoding="utf-8") as stream:
        for line in stream:
            if not line.strip():
                continue
            raw = json.loads(line)
            items.append(Item(Mention.from_record(raw), raw["event"].get("id"), raw))
    return items


def read_truth(path: Path) -> list[str]:
    return [str(t) for t in json.loads(path.read_text("utf-8"))]


# -- scores -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Quality:
    events: int
    true_events: int
    precision: float
    recall: float
    f1: float
    bcubed_precision: float
    bcubed_recall: float
    true_positive: int
    predicted_pairs: int
    true_pairs: int


def _pairs(n: int) -> int:
    return n * (n - 1) // 2


def quality(predicted: Sequence[str], truth: Sequence[str]) -> Quality:
    """Pairwise and B-cubed scores of a grouping of records against the true one."""
    both = Counter(zip(predicted, truth, strict=True))
    sizes_p, sizes_t = Counter(predicted), Counter(truth)
    tp = sum(_pairs(n) for n in both.values())
    pp = sum(_pairs(n) for n in sizes_p.values())
    tt = sum(_pairs(n) for n in sizes_t.values())
    precision = tp / pp if pp else 1.0
    recall = tp / tt if tt else 1.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    n = len(predicted)
    bp = sum(c * c / sizes_p[p] for (p, _), c in both.items()) / n if n else 1.0
    br = sum(c * c / sizes_t[t] for (_, t), c in both.items()) / n if n else 1.0
    return Quality(len(sizes_p), len(sizes_t), precision, recall, f1, bp, br, tp, pp, tt)


def add_up(parts: Sequence[Quality]) -> Quality:
    """Scores over several disjoint parts (cross-validation folds) from their pair counts; the
    B-cubed scores averaged by records is not possible from counts: weighted by events."""
    tp = sum(q.true_positive for q in parts)
    pp = sum(q.predicted_pairs for q in parts)
    tt = sum(q.true_pairs for q in parts)
    precision = tp / pp if pp else 1.0
    recall = tp / tt if tt else 1.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    weights = [q.true_events for q in parts]
    total = sum(weights) or 1
    bp = sum(q.bcubed_precision * w for q, w in zip(parts, weights, strict=True)) / total
    br = sum(q.bcubed_recall * w for q, w in zip(parts, weights, strict=True)) / total
    return Quality(sum(q.events for q in parts), total, precision, recall, f1, bp, br, tp, pp, tt)


# -- today's rule, offline (docs/identity.md, loaders/ingest.py `_event_identity`) --------------


class _Union:
    def __init__(self) -> None:
        self.parent: dict[str, str] = {}

    def find(self, x: str) -> str:
        parent = self.parent
        parent.setdefault(x, x)
        root = x
        while parent[root] != root:
            root = parent[root]
        while parent[x] != root:
            parent[x], x = root, parent[x]
        return root

    def union(self, a: str, b: str) -> None:
        ra, rb = self.find(a), self.find(b)
        if ra != rb:
            self.parent[max(ra, rb)] = min(ra, rb)


def _entities(items: Sequence[Item]) -> tuple[_Union, list[list[tuple[str, str]]]]:
    """Entity resolution as the loader does it: an entity is its keys (`entity:{type}:{name}`
    for the name and each alias), and a mention whose keys belong to two entities merges them.
    Each record's entities as (key, role)."""
    union = _Union()
    per_record = []
    for item in items:
        found = []
        for entity in item.raw["event"].get("entities") or []:
            names = [entity["name"], *(entity.get("aliases") or [])]
            keys = [f"entity:{entity['type']}:{normalise(n)}" for n in names]
            for key in keys[1:]:
                union.union(keys[0], key)
            found.append((keys[0], (entity.get("role") or "").casefold()))
        per_record.append(found)
    return union, per_record


def todays_rule(items: Sequence[Item]) -> list[str]:
    """Today's fingerprints: `event:id` when given; else the participants fingerprint (UTC day,
    category, sorted entities whose role is `participant`) and the summary fingerprint (UTC day,
    category, digest of the normalised summary); records sharing a fingerprint are one event."""
    entities, per_record = _entities(items)
    events = _Union()
    labels = []
    for number, (item, found) in enumerate(zip(items, per_record, strict=True)):
        m, me = item.mention, f"record:{number}"
        if item.external_id is not None:
            events.union(me, f"event:id:{item.external_id.strip()}")
        else:
            participants = sorted({entities.find(k) for k, role in found if role == "participant"})
            if participants:
                events.union(
                    me, f"event:participants:{m.day}:{m.category}:{','.join(participants)}"
                )
            events.union(me, f"event:summary:{m.day}:{m.category}:{digest(normalise(m.summary))}")
        labels.append(me)
    return [events.find(label) for label in labels]


def floor_rule(items: Sequence[Item], window: int = 0) -> list[str]:
    """The issue's floor: a record joins the first existing event with the same sides (its
    entities, resolved), on the same day (or within `window` days), within 3 km or with the same
    place name once generic words are dropped; else it makes a new event. An event is what its
    first record says (its day, sides, place and point): this reproduces the issue's figures."""
    entities, per_record = _entities(items)
    index: dict[tuple[int, tuple[str, ...]], list[tuple[int, str, tuple[float, float] | None]]]
    index = defaultdict(list)
    labels: list[str] = []
    for number, (item, found) in enumerate(zip(items, per_record, strict=True)):
        if item.external_id is not None:
            labels.append(f"id:{item.external_id}")
            continue
        m = item.mention
        sides = tuple(sorted({entities.find(k) for k, _ in found}))
        place = place_key(m.place) if m.place else ""
        point = (m.lat, m.lon) if m.lat is not None and m.lon is not None else None
        day = day_number(m.day)  # the day it gives (the floor reads no words)
        chosen: int | None = None
        for offset in range(-window, window + 1):
            for event, other_place, other_point in index[(day + offset, sides)]:
                same = bool(place) and place == other_place
                if not same and point is not None and other_point is not None:
                    same = haversine_km(*point, *other_point) <= 3.0
                if same and (chosen is None or event < chosen):
                    chosen = event
        if chosen is None:
            chosen = number
            index[(day, sides)].append((number, place, point))
        labels.append(f"floor:{chosen}")
    return labels


# -- ceilings: what the records' day, place and sides can give at best -------------------------


def _true_days(items: Sequence[Item], truth: Sequence[str]) -> dict[str, int]:
    """Each true event's day: the earliest its records give (a late report gives the day after)."""
    days: dict[str, int] = {}
    for item, true in zip(items, truth, strict=True):
        day = day_number(item.mention.day)
        days[true] = min(days.get(true, day), day)
    return days


def metadata_ceiling(items: Sequence[Item], truth: Sequence[str]) -> list[str]:
    """The oracle of the metadata: records are one event exactly when their true events share
    the day, the place (the name most of their records give, generic words dropped) and the
    sides (resolved as the loader does). No rule reading day, place and sides can do better:
    what it still merges, only words (or nothing in the records) tell apart."""
    entities, per_record = _entities(items)
    days = _true_days(items, truth)
    places: dict[str, Counter[str]] = defaultdict(Counter)
    sides: dict[str, set[str]] = defaultdict(set)
    for item, found, true in zip(items, per_record, truth, strict=True):
        places[true][item.mention._place] += 1
        sides[true].update(entities.find(k) for k, _ in found)
    keys = {
        true: digest(str(days[true]), places[true].most_common(1)[0][0], *sorted(sides[true]))
        for true in days
    }
    return [keys[true] for true in truth]


def with_true_days(items: Sequence[Item], truth: Sequence[str]) -> list[Item]:
    """The records with each one's day set to its true event's (no late reports)."""
    days = _true_days(items, truth)
    out = []
    for item, true in zip(items, truth, strict=True):
        day = day_text(days[true])
        out.append(Item(replace(item.mention, day=day), item.external_id, item.raw))
    return out


# -- the matcher ------------------------------------------------------------------------------


@dataclass
class Run:
    labels: list[str]
    queue: list[tuple[int, str]]  # (record number, the event it may duplicate)
    queue_scores: list[tuple[int, str, float]]  # the same with each pair's score
    seconds: float
    matched: int  # records the matcher decided for (without event.id)
    outcomes: Counter[str]


def run_matcher(items: Sequence[Item], weights: Weights | None = None) -> Run:
    """The matcher over `items` in order, as a bulk load runs it."""
    matcher = Matcher(weights) if weights is not None else Matcher()
    labels: list[str] = []
    queue: list[tuple[int, str]] = []
    scores: list[tuple[int, str, float]] = []
    outcomes: Counter[str] = Counter()
    matched = 0
    # the records read beforehand are not the matcher's: keep the garbage collector from
    # walking them again and again (a loader streams them)
    gc.collect()
    gc.freeze()
    started = time.perf_counter()
    for number, item in enumerate(items):
        if item.external_id is not None:
            labels.append(f"id:{item.external_id}")
            continue
        matched += 1
        event, decision = matcher.add(item.mention)
        outcomes[decision.outcome] += 1
        if decision.outcome == "possible_duplicate" and decision.event is not None:
            queue.append((number, decision.event))
            scores.append((number, decision.event, decision.score))
        labels.append(event)
    seconds = time.perf_counter() - started
    gc.unfreeze()
    return Run(labels, queue, scores, seconds, matched, outcomes)


def true_queued(run: Run, truth: Sequence[str]) -> int:
    """How many queued possible duplicates are true pairs: the record's true event is the true
    event of a record of the event it may duplicate."""
    members: dict[str, set[str]] = defaultdict(set)
    for label, true in zip(run.labels, truth, strict=True):
        members[label].add(true)
    return sum(1 for number, event in run.queue if truth[number] in members[event])


# -- printing ---------------------------------------------------------------------------------


def line(name: str, q: Quality) -> str:
    return (
        f"{name:<28} {q.events:>7} {q.true_events:>6}  P {q.precision:.3f}  R {q.recall:.3f}  "
        f"F1 {q.f1:.3f}  B3 P {q.bcubed_precision:.3f}  R {q.bcubed_recall:.3f}"
    )


HEADER = f"{'rule':<28} {'events':>7} {'true':>6}  pairwise (P, R, F1) and B-cubed (P, R)"


def mention_rate(items: Sequence[Item], repeat: int = 3) -> float:
    """Records/s of making the mentions from decoded records (what the loader adds per record)."""
    best = float("inf")
    for _ in range(repeat):
        started = time.perf_counter()
        for item in items:
            Mention.from_record(item.raw)
        best = min(best, time.perf_counter() - started)
    return len(items) / best if best else float("inf")


def report(
    items: Sequence[Item], truth: Sequence[str], weights: Weights | None, out: Callable[[str], Any]
) -> dict[str, Quality]:
    results: dict[str, Quality] = {}
    without = sum(1 for i in items if i.external_id is None)
    out(f"{len(items)} records ({without} without event.id), {len(set(truth))} true events")
    out(HEADER)
    results["today"] = quality(todays_rule(items), truth)
    out(line("today's rule", results["today"]))
    results["floor"] = quality(floor_rule(items), truth)
    out(line("floor (same day)", results["floor"]))
    results["floor_1"] = quality(floor_rule(items, window=1), truth)
    out(line("floor (a day either side)", results["floor_1"]))
    run = run_matcher(items, weights)
    results["matcher"] = quality(run.labels, truth)
    out(line("matcher", results["matcher"]))
    queued = len(run.queue)
    out(
        f"matcher outcomes: {dict(run.outcomes)}; possible duplicates queued {queued}, "
        f"of them true pairs {true_queued(run, truth)}"
    )
    results["ceiling"] = quality(metadata_ceiling(items, truth), truth)
    out(line("ceiling: day, place, sides", results["ceiling"]))
    results["true_days"] = quality(run_matcher(with_true_days(items, truth), weights).labels, truth)
    out(line("matcher, true days given", results["true_days"]))
    rate = run.matched / run.seconds if run.seconds else float("inf")
    out(
        f"matcher speed: {rate:,.0f} records/s ({1e6 / rate:.1f} us per record: candidates, "
        f"decision, profile and index update); making mentions from decoded records: "
        f"{mention_rate(items):,.0f} records/s"
    )
    return results


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--records", type=Path, required=True, help="JSON Lines records")
    parser.add_argument("--truth", type=Path, required=True, help="JSON list: line i's event")
    parser.add_argument("--weights", type=Path, help="weights.json [graph/identity/weights.json]")
    parser.add_argument("--strip-ids", action="store_true", help="ignore event.id (match all)")
    parser.add_argument(
        "--no-gazetteer",
        action="store_true",
        help="no anchors: records without a point are not given their place's gazetteer point",
    )
    args = parser.parse_args(argv)
    use_gazetteer(not args.no_gazetteer)
    items = read_records(args.records)
    if args.strip_ids:
        items = [Item(i.mention, None, i.raw) for i in items]
    truth = read_truth(args.truth)
    if len(truth) != len(items):
        parser.error(f"{len(truth)} truth entries for {len(items)} records")
    weights = Weights.load(args.weights) if args.weights else None
    report(items, truth, weights, print)
    return 0


if __name__ == "__main__":
    sys.exit(main())
