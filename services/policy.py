"""Replacing the confidence policy: the new policy is written, and every event re-rated under
it, a chunk of events per step (see `Editorial.setting_policy`)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import datetime

from graph.confidence import POLICY_SETTING, Policy, current_policy
from graph.history import LevelChange, Why, edit
from graph.model import WriteBatch, timestamp
from graph.store import EventFilter, EventQuery, GraphStore
from services.rating import rating

RERATE_CHUNK = 1000  # events re-rated per write after a policy change


class PolicySteps:
    """Iterating writes a new policy and re-rates every event, RERATE_CHUNK events a step;
    the changes of confidence committed are added to `changes`."""

    def __init__(
        self,
        store: GraphStore,
        policy: Policy,
        by: str,
        now: Callable[[], datetime],
        changes: list[LevelChange],
    ) -> None:
        self.store, self.policy, self.by = store, policy, by
        self.now, self.changes = now, changes

    def __iter__(self) -> Iterator[int]:
        store = self.store
        at = timestamp(self.now())
        previous = current_policy(store)
        detail = f"confidence policy version {previous.version} -> {self.policy.version}"
        why = Why("policy", detail, self.by)
        batch = WriteBatch(
            settings={POLICY_SETTING: self.policy.to_json()},
            nodes=[edit("set-policy", at, why, POLICY_SETTING, before=previous.to_json())],
        )
        after: tuple[str, str] | None = None
        rerated = 0
        while True:
            query = EventQuery(EventFilter(), RERATE_CHUNK, newest_first=False, after=after)
            page = store.query_events(query)
            changes: list[LevelChange] = []
            ids = [e.id for e in page.events]
            store.write(batch, derive=rating(ids, self.policy, why, at, changes))
            self.changes += changes
            rerated += len(ids)
            yield rerated
            if not page.has_next:
                return
            batch = WriteBatch()
            last = page.events[-1]
            after = (last.text("occurred_on"), last.id)
