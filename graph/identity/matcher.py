"""The decision: which existing event a record without `event.id` describes, if any.

A record is compared with each candidate event (found by the blocking keys, see `features`):
each feature's value times its weight, plus a bias, is the score (log-odds that the record
describes that event). The best-scoring candidate decides:

- score >= `merge_at`: **merge**, the record joins that event;
- score <  `review_at`: **new**, the record makes a new event;
- in between: **possible_duplicate**, a new event, and the pair is queued for editors.

Weights and thresholds are data (`weights.json`, fitted by `bench/identity_fit.py`). Each
decision keeps its score and every feature's value and contribution, so editors see why.
The decision is made against events (profiles), never by chaining record-to-record links.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any, Literal, TypeAlias

from graph.identity.blocking import lookup_keys
from graph.identity.evidence import (
    FEATURES,
    add_words,
    crowd,
    evidence,
    in_window,
    words_bound,
)
from graph.identity.mention import Mention
from graph.identity.profile import EventProfile

Outcome: TypeAlias = Literal["merge", "new", "possible_duplicate"]
OUTCOMES: tuple[Outcome, ...] = ("merge", "possible_duplicate", "new")
SAME_RECORD = "same_record"  # the decision's only evidence when a record is loaded again


@dataclass(frozen=True, slots=True)
class Weights:
    """Each feature's weight, the bias, and the two thresholds (in score units, log-odds).
    `without_place`, when given, scores the candidates with no place to compare (neither both
    points nor both place names): fitted on the same records with their places hidden, so a
    missing place is neither for nor against a merge, and the rest of the evidence decides."""

    bias: float
    weights: tuple[float, ...]  # in the order of `FEATURES`
    merge_at: float
    review_at: float
    without_place: Weights | None = None

    def __post_init__(self) -> None:
        if len(self.weights) != len(FEATURES):
            raise ValueError(f"{len(self.weights)} weights for {len(FEATURES)} features")
        if self.review_at > self.merge_at:
            raise ValueError("review_at must not be above merge_at")
        if self.without_place is not None and self.without_place.without_place is not None:
            raise ValueError("without_place weights have no without_place of their own")

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Weights:
        features = data["features"]
        unknown = set(features) - set(FEATURES)
        if unknown:
            raise ValueError(f"unknown features in weights: {sorted(unknown)}")
        missing = set(FEATURES) - set(features)
        if missing:
            raise ValueError(f"features without a weight: {sorted(missing)}")
        other = data.get("without_place")
        return cls(
            bias=float(data["bias"]),
            weights=tuple(float(features[name]) for name in FEATURES),
            merge_at=float(data["merge_at"]),
            review_at=float(data["review_at"]),
            without_place=None if other is None else cls.from_dict(other),
        )

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "bias": self.bias,
            "features": dict(zip(FEATURES, self.weights, strict=True)),
            "merge_at": self.merge_at,
            "review_at": self.review_at,
        }
        if self.without_place is not None:
            data["without_place"] = self.without_place.to_dict()
        return data

    def scoring(self, values: Sequence[float]) -> Weights:
        """The weights that score a candidate with these feature values: `without_place` when
        there is no place to compare and such weights exist, else these."""
        if self.without_place is not None and values[_NO_PLACE] >= 1.0:
            return self.without_place
        return self

    def total(self, values: Sequence[float]) -> float:
        """The bias plus each value times its weight."""
        return self.bias + sum(w * v for w, v in zip(self.weights, values, strict=True))

    @classmethod
    def load(cls, path: Path | None = None) -> Weights:
        """The weights in `path`, or the fitted ones shipped with the package."""
        if path is None:
            text = resources.files("graph.identity").joinpath("weights.json").read_text("utf-8")
        else:
            text = path.read_text("utf-8")
        return cls.from_dict(json.loads(text))


_NO_PLACE = FEATURES.index("no_place")
WITHOUT_PLACE_NOTE = "no place to compare: scored by the weights for records without a place"
SAME_STORY_NOTE = "candidate events already holding a record of this story left out: {}"
AGAIN_NOTE = "re-extraction of story {}"


@functools.cache
def default_weights() -> Weights:
    """The shipped weights (`weights.json`), read once."""
    return Weights.load()


@dataclass(frozen=True, slots=True)
class Evidence:
    """One feature of a decision: its value, its weight and what it added to the score."""

    name: str
    value: float
    weight: float
    contribution: float


@dataclass(frozen=True, slots=True)
class Decision:
    """What to do with one record. `event` is the event it joins (merge), the event it may
    duplicate (possible_duplicate), or the best candidate it was kept apart from (new; None
    when there was no candidate). `values` are the best candidate's feature values (in the
    order of `FEATURES`) and `weights` theirs: `evidence` lists them, the largest contributions
    first. `notes` say what could not be compared."""

    outcome: Outcome
    event: str | None
    score: float
    values: tuple[float, ...] = ()
    weights: tuple[float, ...] = ()
    candidates: int = 0
    notes: tuple[str, ...] = ()

    @property
    def evidence(self) -> tuple[Evidence, ...]:
        """Each feature's value, weight and contribution, the largest contributions first
        (none when there was no candidate)."""
        if not self.values:
            return ()
        found = [
            Evidence(name, value, weight, weight * value)
            for name, value, weight in zip(FEATURES, self.values, self.weights, strict=True)
        ]
        found.sort(key=lambda e: (-abs(e.contribution), e.name))
        return tuple(found)

    def drivers(self, count: int = 3) -> list[str]:
        """The features that drove the decision, in words: `near=1.00 (+2.31)`."""
        moving = [e for e in self.evidence if e.contribution != 0.0]
        return [f"{e.name}={e.value:.2f} ({e.contribution:+.2f})" for e in moving[:count]]

    def explain(self) -> str:
        """One line for editors: the outcome, the score and the features that drove it."""
        if self.event is None:
            return f"{self.outcome}: no candidate event ({', '.join(self.notes) or 'none found'})"
        words = f"{self.outcome} (score {self.score:+.2f} against {self.event}): "
        words += ", ".join(self.drivers(len(self.values))) or "no evidence"
        if self.notes:
            words += "; " + "; ".join(self.notes)
        return words

    def to_dict(self) -> dict[str, Any]:
        """JSON-compatible, for the editorial log or `Event.identity`."""
        return {
            "outcome": self.outcome,
            "event": self.event,
            "score": round(self.score, 4),
            "candidates": self.candidates,
            "features": {
                e.name: {"value": round(e.value, 4), "contribution": round(e.contribution, 4)}
                for e in self.evidence
            },
            "notes": list(self.notes),
        }


def score(m: Mention, profile: EventProfile, weights: Weights) -> tuple[float, list[float]]:
    """The score of `m` against one event alone (no other candidate: `crowded` is 0) and the
    feature values."""
    values, _ = evidence(m, profile)
    total = weights.bias + sum(w * v for w, v in zip(weights.weights, values, strict=True))
    return total, values


def decide(
    m: Mention,
    candidates: Iterable[tuple[str, EventProfile]],
    weights: Weights | None = None,
    *,
    apart: Collection[str] = (),
) -> Decision:
    """The decision for `m` against its candidate events (id, profile), e.g. those the store
    finds by `lookup_keys(m)`. Candidates in `apart` (events editors said the record's event
    must stay apart from) and those outside the day window are skipped. Ties go to the smaller
    id, so the decision does not depend on the candidates' order."""
    weights = weights or default_weights()
    record = m.record_key()
    scored: list[tuple[str, EventProfile, list[float], list[str]]] = []
    same_story = 0
    for event_id, profile in candidates:
        if event_id in apart:
            continue
        if record in profile.records:  # the same record, loaded again
            return Decision("merge", event_id, float("inf"), (), (), 1, (SAME_RECORD,))
        if not in_window(m, profile):
            continue
        if m.story and m.story in profile.stories:
            # one story gives one record per event it covers: an event already holding a
            # record of this story is another event of the story (a round-up's)
            same_story += 1
            continue
        values, notes = evidence(m, profile, words=False)
        scored.append((event_id, profile, values, notes))
    excluded = (SAME_STORY_NOTE.format(same_story),) if same_story else ()
    if not scored:
        return Decision("new", None, float("-inf"), (), (), 0, ("no candidate event", *excluded))
    crowd([values for _, _, values, _ in scored])
    text_at = FEATURES.index("similar_text")
    best: tuple[float, str, EventProfile, list[float], list[str], Weights] | None = None
    for event_id, profile, values, notes in scored:
        used = weights.scoring(values)
        total = used.total(values)
        # the words are the slow part: compared only where they could reach the review band
        if total + words_bound(m, profile, used.weights) >= used.review_at:
            total += add_words(m, profile, values, used.weights)
        if best is None or total > best[0] or (total == best[0] and event_id < best[1]):
            best = (total, event_id, profile, values, notes, used)
    assert best is not None
    total, event_id, profile, values, notes, used = best
    if values[text_at] == 0.0 and total < used.review_at:  # for the explanation
        total += add_words(m, profile, values, used.weights)
    outcome: Outcome = (
        "merge"
        if total >= used.merge_at
        else "possible_duplicate"
        if total >= used.review_at
        else "new"
    )
    if used is not weights:
        notes = [*notes, WITHOUT_PLACE_NOTE]
    return Decision(
        outcome, event_id, total, tuple(values), used.weights, len(scored), (*notes, *excluded)
    )


def decide_again(
    m: Mention, holders: Iterable[tuple[str, EventProfile]], weights: Weights | None = None
) -> Decision:
    """The decision for a later (or earlier) extraction of a story that `holders` already
    hold (an extraction of a story gives one record per event, so another extraction of it
    describes one of the events it described): a merge into the holder the record scores
    best against (the story exclusion lifted, no day window: the same story's event; ties to
    the smaller id), its notes saying so."""
    weights = weights or default_weights()
    best: tuple[float, str, list[float], list[str], Weights] | None = None
    count = 0
    for event_id, profile in holders:
        count += 1
        values, notes = evidence(m, profile)
        used = weights.scoring(values)
        total = used.total(values)
        if best is None or total > best[0] or (total == best[0] and event_id < best[1]):
            best = (total, event_id, values, notes, used)
    if best is None:
        raise ValueError("a re-extraction needs an event holding its story")
    total, event_id, values, notes, used = best
    if used is not weights:
        notes = [*notes, WITHOUT_PLACE_NOTE]
    return Decision(
        "merge",
        event_id,
        total,
        tuple(values),
        used.weights,
        count,
        (AGAIN_NOTE.format(m.story), *notes),
    )


@dataclass
class Matcher:
    """The matcher over an in-memory index: what a loader does with its store, for benchmarks
    and tests. `add` decides for one mention, then records the outcome (the profile updated,
    the new keys indexed)."""

    weights: Weights = field(default_factory=default_weights)
    new_id: Callable[[int], str] = lambda n: f"ev{n}"
    profiles: dict[str, EventProfile] = field(default_factory=dict)
    index: dict[str, set[str]] = field(default_factory=dict)
    queue: list[tuple[str, str, float]] = field(default_factory=list)  # (new, possible, score)

    def candidates(self, m: Mention) -> list[tuple[str, EventProfile]]:
        found: set[str] = set()
        index = self.index
        for key in lookup_keys(m):
            events = index.get(key)
            if events:
                found |= events
        return [(e, self.profiles[e]) for e in sorted(found)]

    def add(self, m: Mention) -> tuple[str, Decision]:
        """Decide for `m`, record the outcome, and return its event's id and the decision."""
        decision = decide(m, self.candidates(m), self.weights)
        if decision.outcome == "merge" and decision.event is not None:
            event_id = decision.event
            before = self.profiles[event_id]
            after = before.with_mention(m)
            new_keys = after.keys() - before.keys()
        else:
            event_id = self.new_id(len(self.profiles))
            after = EventProfile.of(m)
            new_keys = after.keys()
            if decision.outcome == "possible_duplicate" and decision.event is not None:
                self.queue.append((event_id, decision.event, decision.score))
        self.profiles[event_id] = after
        for key in new_keys:
            self.index.setdefault(key, set()).add(event_id)
        return event_id, decision
