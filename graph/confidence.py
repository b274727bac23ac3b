"""Confidence of an event, from its reports, the outlet registry and the editorial policy.

The policy is data (`policy.json`, or the copy editors keep in the store), read through
`Policy`; this module only applies it.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Iterable
from dataclasses import dataclass
from importlib import resources
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

from graph.model import Tier, Tone, Value
from graph.store import GraphStore

POLICY_SETTING = "confidence_policy"
_NUMBERS = ("no", "One", "Two", "Three", "Four", "Five", "Six", "Seven", "Eight", "Nine", "Ten")


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Rung(_Frozen):
    level: Annotated[str, Field(min_length=1)]
    label: Annotated[str, Field(min_length=1)]
    min_independent: Annotated[int, Field(ge=1)]
    min_trusted: Annotated[int, Field(ge=0)]
    explanation: str


class DisputedRule(_Frozen):
    level: str = "disputed"
    label: str = "Disputed"
    explanation: str


class Policy(_Frozen):
    """The confidence policy: a ladder of levels, lowest first, and when an event is disputed."""

    version: int
    trusted_tiers: list[Tier]
    disputed_tones: list[Tone]
    ladder: Annotated[list[Rung], Field(min_length=1)]
    disputed: DisputedRule

    @classmethod
    def default(cls) -> Policy:
        """The site's default policy, shipped with the package."""
        return policy_of(None)

    @classmethod
    def from_json(cls, text: str) -> Policy:
        return cls.model_validate_json(text)

    def to_json(self) -> str:
        return json.dumps(self.model_dump(), ensure_ascii=False, sort_keys=True)

    def rank(self, level: str) -> int:
        """Order of levels for filtering: disputed 0, then the ladder from 1 upwards."""
        if level == self.disputed.level:
            return 0
        for index, rung in enumerate(self.ladder, start=1):
            if rung.level == level:
                return index
        raise ValueError(f"unknown confidence level '{level}'")

    def label(self, level: str) -> str:
        if level == self.disputed.level:
            return self.disputed.label
        return next(r.label for r in self.ladder if r.level == level)


@dataclass(frozen=True, slots=True)
class Report:
    """What confidence needs to know of one report: who said it, their standing, their tones."""

    outlet_id: str
    tier: str
    group: str  # independence group; an outlet outside any group is its own group
    tones: tuple[str, ...]
    # Retracted by its outlet (the extractor said so, or an editor did): shown, not counted.
    retracted: bool = False


@dataclass(frozen=True, slots=True)
class Confidence:
    level: str
    label: str
    rank: int
    independent_sources: int
    trusted_sources: int
    explanation: str
    next_level: str | None
    needs_independent: int
    needs_trusted: int
    hint: str

    def to_props(self) -> dict[str, Value]:
        """The event properties that store this assessment."""
        return {
            "confidence": self.level,
            "confidence_rank": self.rank,
            "independent_sources": self.independent_sources,
            "trusted_sources": self.trusted_sources,
            "confidence_explanation": self.explanation,
            "confidence_next": self.next_level,
            "needs_independent": self.needs_independent,
            "needs_trusted": self.needs_trusted,
            "confidence_hint": self.hint,
        }


def assess(reports: Iterable[Report], policy: Policy) -> Confidence:
    """The confidence of an event reported by `reports` under `policy`. A retracted report
    is no source: it neither counts nor disputes."""
    reports = [r for r in reports if not r.retracted]
    groups = {r.group for r in reports}
    trusted_groups = {r.group for r in reports if r.tier in policy.trusted_tiers}
    independent, trusted = len(groups), len(trusted_groups)
    denying = {r.group for r in reports if set(r.tones) & set(policy.disputed_tones)}
    if denying:
        rule = policy.disputed
        return Confidence(
            level=rule.level,
            label=rule.label,
            rank=0,
            independent_sources=independent,
            trusted_sources=trusted,
            explanation=rule.explanation,
            next_level=None,
            needs_independent=0,
            needs_trusted=0,
            hint=f"This event is rated {rule.level}: a source denies it; editors review "
            "disputed events before any other rating.",
        )
    reached = 0
    for index, rung in enumerate(policy.ladder):
        if independent >= rung.min_independent and trusted >= rung.min_trusted:
            reached = index
    rung = policy.ladder[reached]
    following = policy.ladder[reached + 1] if reached + 1 < len(policy.ladder) else None
    needs_independent = needs_trusted = 0
    if following is None:
        hint = f"This event is rated {rung.level}, the highest level."
    else:
        needs_independent = max(0, following.min_independent - independent)
        needs_trusted = max(0, following.min_trusted - trusted)
        hint = _hint(needs_independent, needs_trusted, following.level)
    return Confidence(
        level=rung.level,
        label=rung.label,
        rank=reached + 1,
        independent_sources=independent,
        trusted_sources=trusted,
        explanation=rung.explanation,
        next_level=following.level if following else None,
        needs_independent=needs_independent,
        needs_trusted=needs_trusted,
        hint=hint,
    )


def _hint(independent: int, trusted: int, level: str) -> str:
    """'One more trusted source could elevate it to verified.' and its variants.

    A trusted source from a new independence group counts towards both needs at once.
    """
    if trusted and independent <= trusted:
        return f"{_count(trusted)} more trusted {_sources(trusted)} could elevate it to {level}."
    if trusted:
        return (
            f"{_count(independent)} more independent {_sources(independent)}, "
            f"{_count(trusted).lower()} of them trusted, could elevate it to {level}."
        )
    more = f"{_count(independent)} more independent {_sources(independent)}"
    return f"{more} could elevate it to {level}."


def _count(n: int) -> str:
    return _NUMBERS[n] if n < len(_NUMBERS) else str(n)


def _sources(n: int) -> str:
    return "source" if n == 1 else "sources"


def current_policy(store: GraphStore) -> Policy:
    """The policy editors keep in `store`, or the default one when they have not set one."""
    return policy_of(store.get_setting(POLICY_SETTING))


# A policy is frozen, so one parsed is shared: every write and every page reads the current
# policy (each `ingest` read and validated the packaged file again: 0.3 ms of the writer's 6 ms
# a record).
@functools.lru_cache(maxsize=8)
def policy_of(stored: str | None) -> Policy:
    """The policy stored as `stored` (a setting's text), or the default one for None."""
    if stored is None:
        stored = resources.files("graph").joinpath("policy.json").read_text(encoding="utf-8")
    return Policy.model_validate_json(stored)
