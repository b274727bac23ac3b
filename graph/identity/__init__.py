"""Event identity for records without `event.id`: which existing event a record describes.

Pure domain code (no store, no loader), one module per concept: `normalise` (how names,
places, words, days and points compare), `places` (the gazetteer's point of a record's place,
its anchor), `mention` (what a record says of its event),
`profile` (what an event is known by), `blocking` (how candidates are found), `evidence` (the
features comparing a record with an event) and `matcher` (weights, the three-way decision, an
in-memory matcher). docs/identity-matcher.md describes the rule and its figures.
"""

from graph.identity.blocking import lookup_keys, mention_keys
from graph.identity.evidence import FEATURES, evidence
from graph.identity.matcher import (
    OUTCOMES,
    Decision,
    Evidence,
    Matcher,
    Outcome,
    Weights,
    decide,
    decide_again,
    default_weights,
    score,
)
from graph.identity.mention import EntityName, Mention
from graph.identity.profile import EventProfile

__all__ = [
    "FEATURES",
    "OUTCOMES",
    "Decision",
    "EntityName",
    "EventProfile",
    "Evidence",
    "Matcher",
    "Mention",
    "Outcome",
    "Weights",
    "decide",
    "decide_again",
    "default_weights",
    "evidence",
    "lookup_keys",
    "mention_keys",
    "score",
]
