"""Event identity for records without `event.id`: which existing event a record describes.

Pure domain code (no store, no loader): `features` (mentions, event profiles, blocking keys,
evidence) and `matcher` (weights, the three-way decision, an in-memory matcher).
"""

from graph.identity.features import (
    FEATURES,
    EntityName,
    EventProfile,
    Mention,
    evidence,
    lookup_keys,
    mention_keys,
)
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
