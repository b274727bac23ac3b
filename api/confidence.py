"""How sure the site is about an event (`Confidence`) and each change of its level
(`ConfidenceChange`, also what `confidenceChanged` subscribers receive)."""

from __future__ import annotations

from enum import Enum

import strawberry

from api.context import Info
from api.scalars import ConfidenceLevel, Timestamp
from graph.history import LevelChange


@strawberry.type
class Needs:
    independent_sources: int
    trusted_sources: int


@strawberry.type(description="How sure the site is that the event happened, and why.")
class Confidence:
    level: ConfidenceLevel
    label: str = strawberry.field(description="The level as the page shows it: 'Likely'.")
    independent_sources: int
    trusted_sources: int
    explanation: str = strawberry.field(description="One sentence: why this level.")
    next_level: ConfidenceLevel | None
    needs: Needs = strawberry.field(description="What the next level still needs.")
    hint: str = strawberry.field(
        description="'One more trusted source could elevate it to verified.'"
    )


@strawberry.enum(description="Why an event's confidence level changed.")
class ChangeCause(Enum):
    # One value per `graph.history.Cause`, which every stored change has (a test checks that
    # they agree): a cause missing here would make that event's history unanswerable.
    REPORT = "report"
    APPROVAL = "approval"
    REGISTRY = "registry"
    POLICY = "policy"
    MERGE = "merge"
    SPLIT = "split"
    REVIEW = "review"
    RETRACTION = "retraction"
    CORRECTION = "correction"
    TAKEDOWN = "takedown"


@strawberry.type(description="One change of an event's confidence level: when, why, by whom.")
class ConfidenceChange:
    event_id: strawberry.ID
    at: Timestamp
    previous: ConfidenceLevel | None = strawberry.field(
        description="The level before; null for the event's first rating."
    )
    level: ConfidenceLevel
    cause: ChangeCause
    detail: str = strawberry.field(
        description="Which report, approval or registry change: 'approved submission su_... "
        "(Reuters, https://...)'."
    )
    name: strawberry.Private[str]

    @strawberry.field(
        description="Who: to editors and admins the token's name, to everyone else its role "
        "(loader, editor, admin); 'cli' for the local command line."
    )
    def by(self, info: Info) -> str:
        return info.context.shown_actor(self.name, self.cause.value)

    @classmethod
    def of(cls, change: LevelChange) -> ConfidenceChange:
        return cls(
            event_id=strawberry.ID(change.event_id),
            at=Timestamp(change.at),
            previous=ConfidenceLevel(change.previous) if change.previous else None,
            level=ConfidenceLevel(change.level),
            cause=ChangeCause(change.cause),
            detail=change.detail,
            name=change.by,
        )
