"""The in-process hub of what writes changed, fanned out to live subscribers (`api.live`).

After a write commits, the app calls `Hub.publish` with the events it created and the
confidence levels it changed. Each subscription holds an inbox here; publishing never waits for
a subscriber: a full inbox drops its oldest update (docs/live.md has the overflow policy).
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

from graph.history import LevelChange

# Writes (publish calls) one subscriber may have pending before the oldest is dropped. A write
# is one batch of records, so this bounds memory per subscriber to CAPACITY batches of ids.
CAPACITY = 100

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Update:
    """What one write changed: the events it created and the confidence level changes."""

    created: tuple[str, ...] = ()
    changes: tuple[LevelChange, ...] = ()


# What a subscriber keeps of an update (None: nothing of interest), chosen when publishing so
# that writes a subscriber does not care about never take room in its inbox.
Select = Callable[[Update], Update | None]


class Inbox:
    """One subscriber's bounded queue of updates: the oldest goes when it is full."""

    def __init__(self, select: Select, capacity: int) -> None:
        self.select = select
        self.dropped = 0
        self._pending: deque[Update] = deque()
        self._capacity = capacity
        self._ready = asyncio.Event()

    def put(self, update: Update) -> None:
        if len(self._pending) >= self._capacity:
            self._pending.popleft()
            self.dropped += 1
            if self.dropped == 1:
                log.warning("a live subscriber fell behind; dropping its oldest updates")
        self._pending.append(update)
        self._ready.set()

    def lose(self) -> None:
        """An update meant for it was lost before it could be put here."""
        self.dropped += 1
        self._ready.set()

    async def take(self) -> tuple[list[Update], int]:
        """Everything pending, oldest first, once there is something, and how many updates
        were dropped before it (0 unless the subscriber fell behind)."""
        while not self._pending and not self.dropped:
            self._ready.clear()
            await self._ready.wait()
        taken = list(self._pending)
        self._pending.clear()
        return taken, self.dropped


class Hub:
    """In-process fan-out of what writes changed, to subscribers."""

    def __init__(self, capacity: int = CAPACITY) -> None:
        self.capacity = capacity
        self._inboxes: set[Inbox] = set()

    @property
    def subscribers(self) -> int:
        return len(self._inboxes)

    def publish(self, created: Sequence[str], changes: Sequence[LevelChange]) -> None:
        """Hand the ids of the events a committed write created and the level changes it made
        to every subscriber that wants them. Call it on the event loop thread; it never waits:
        a full inbox drops its oldest update (docs/live.md)."""
        if not created and not changes:
            return
        update = Update(tuple(created), tuple(changes))
        for inbox in list(self._inboxes):
            kept = inbox.select(update)
            if kept is not None:
                inbox.put(kept)

    def lost(self) -> None:
        """Updates were lost before they could be published (the change log was truncated
        past them): every subscriber is told it fell behind, as when its inbox overflows."""
        for inbox in list(self._inboxes):
            inbox.lose()

    @contextmanager
    def subscribe(self, select: Select) -> Iterator[Inbox]:
        """An inbox receiving what `select` keeps of each update until the block ends."""
        inbox = Inbox(select, self.capacity)
        self._inboxes.add(inbox)
        try:
            yield inbox
        finally:
            self._inboxes.discard(inbox)
