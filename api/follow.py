"""Following the store's change log: this process's memory kept current, and every committed
write published to live subscribers once, whoever made it (a `newsgraph load`, another
worker, another API process on Neo4j).

A `Follower` runs beside the app for its whole life. Every `interval` (or at once when this
process wrote, `wake`) it brings the store up to the latest commit (`GraphStore.catch_up`)
and hands each new change log entry to the hub (`api.hub`). A page reads one state: requests
hold a shared lease on a readers-writer lock while they run (`reading`), and memory changes
only under the exclusive side, between pages. The store's entries are applied whole, so a
page never shows part of a write. docs/changes.md has the guarantees and the figures.

Under `serve --workers`, the workers take turns to apply (`ApplyTurns`), and a worker hands
its connections between requests to one that is not applying just before its memory changes:
pages asked meanwhile are answered there instead of waiting (newsgraph.balance).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable, Sequence
from typing import Protocol

import aiorwlock

from api.hub import Hub
from graph.history import LevelChange
from graph.store import Change, ChangeLogTruncated, GraphStore, Prefetching, StoreError

log = logging.getLogger(__name__)

# How often the log is looked at when nothing wakes the follower: the bound on how late a
# reader shows a commit made by another process, beside the time to apply it.
INTERVAL = 0.05
# Entries read from the log per call.
PAGE = 500
# Under `serve --workers`, a worker applies every entry in its turn (never two at once), and
# hands its connections to the other workers meanwhile when the entries pending are more than
# this many stored bytes (about 1,000 rows, 3 ms of CPU to apply: a load's batch). A smaller
# entry (an editor's write, an `ingest` of a few records) is applied with the connections kept:
# handing each away and back cost more than the pages wait (bench.site_cache's mix, one
# `ingest` per 100 pages: 20 against 14 ms of CPU a write over the server's processes, and the
# write answered in 65 against 12 ms; docs/benchmarks.md, session 13).
HAND_OVER_BYTES = 18_000


class ApplyTurns(Protocol):
    """How the workers of one server keep out of each other's way when they apply."""

    def at(self, position: int) -> None:
        """This process's memory shows every change log entry up to `position`."""

    async def begin(self, hand: bool = True) -> None:
        """Wait (a bounded time) until this process may apply: no other is applying. `hand`:
        send its connections between requests to a process that is not applying, and wait
        (a bounded time) for the answers in flight here, each connection handed as it ends."""

    def hand(self) -> None:
        """Memory is about to change (no page is running here): send the pages that would be
        asked here meanwhile to a process that is not applying."""

    def end(self) -> None:
        """The apply is over."""


class Follower:
    """Keeps `store` (already set up) at the latest commit and publishes each entry to `hub`."""

    def __init__(
        self,
        store: GraphStore,
        hub: Hub,
        interval: float = INTERVAL,
        turns: ApplyTurns | None = None,
    ) -> None:
        self.store = store
        self.hub = hub
        self.interval = interval
        self.turns = turns
        # the latest entry published (and applied: reads see everything up to it); entries
        # before the follower starts are not published (nobody subscribed yet)
        self.position = store.catch_up()
        if turns is not None:
            turns.at(self.position)
        # the store, when it reads from memory and can read what was committed in another
        # thread (checked once: a Protocol's isinstance is slow)
        self._prefetching: Prefetching | None = store if isinstance(store, Prefetching) else None
        self._lock = aiorwlock.RWLock()
        self._woken = asyncio.Event()
        self._moved = asyncio.Event()  # set (and replaced) each time `position` moves
        self._task: asyncio.Task[None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        # Called with each run of consecutive entries published here, as read in a worker
        # thread, before any request sees them: the response cache drops what they changed
        # without reading and decoding the log again on the event loop.
        self.listeners: list[Callable[[Sequence[Change]], None]] = []

    @contextlib.asynccontextmanager
    async def reading(self) -> AsyncIterator[None]:
        """Hold while a request reads: memory does not change meanwhile."""
        async with self._lock.reader_lock:
            yield

    def start(self, ticking: bool = True) -> None:
        """Follow from now on, on the running event loop. `ticking=False`: only when this
        process writes (`wrote`) or waits for an entry (`reach`); the writer process of
        `serve --workers` follows so, since its writes catch up first anyway and nobody reads
        from its memory: it spends no CPU applying a load's batches it will never serve."""
        self._loop = asyncio.get_running_loop()
        if ticking:
            self._task = self._loop.create_task(self._run(), name="change-log")

    @property
    def ticking(self) -> bool:
        """Whether it looks at the log on its own, every `interval` (not only when woken)."""
        return self._task is not None and not self._task.done()

    def runs_here(self) -> bool:
        """Whether it runs on the running event loop."""
        return self._loop is asyncio.get_running_loop() and not self._loop.is_closed()

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    def wake(self) -> None:
        """This process committed a write: publish it now rather than at the next tick."""
        self._woken.set()

    async def reach(self, seq: int, timeout: float) -> bool:
        """Wait until reads here show every entry up to `seq` (a write another process made
        for this one: read your writes); False if `timeout` passed first."""
        try:
            async with asyncio.timeout(timeout):
                while self.position < seq:
                    if self._task is None:  # not ticking on its own
                        await self.tick()
                        if self.position < seq:
                            await asyncio.sleep(0.01)
                    else:
                        self.wake()
                        await self._moved.wait()
        except TimeoutError:
            return False
        return True

    async def wrote(self) -> None:
        """This process committed a write: apply what else was committed and publish it all
        before the writer answers, so that a subscription made after the answer never hears
        of that write. At once on a store that reads from memory; a server's log is read in
        worker threads (a round trip never holds the event loop)."""
        store = self.store
        if store.reads_from_memory:
            self._publish(store.catch_up())
            return
        try:
            seen = await asyncio.to_thread(store.catch_up)
        except StoreError:  # the write committed: the next look publishes it
            log.exception("reading the change log failed")
            return
        await self._publish_read(seen)

    async def _run(self) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.interval):
                    await self._woken.wait()
            self._woken.clear()
            try:
                await self.tick()
            except asyncio.CancelledError:
                raise
            except Exception:  # a store that cannot be read now: try again at the next tick
                log.exception("following the change log failed; trying again")

    async def tick(self) -> None:
        """Apply what was committed since the last tick and publish it."""
        store = self.store
        prefetching = self._prefetching
        if prefetching is not None:
            turns = self.turns
            if turns is not None:
                # Under `serve --workers` every entry is applied in turn, read in the turn too
                # (`_apply_in_turn`). Only the entries' size is read before the turn (nothing
                # decoded); an entry committed after it waits for the next look, never applied
                # outside the turn: two workers applying at once held every page in flight,
                # those a worker had just handed to the other included (150-260 ms;
                # docs/benchmarks.md, sessions 12 and 13).
                size = await asyncio.to_thread(prefetching.pending_bytes)
                if size == 0:
                    self._publish(store.read_position())
                    return
                seen = await self._apply_in_turn(prefetching, turns, size > HAND_OVER_BYTES)
            else:
                # Read and decode in a worker thread; memory changes only between pages,
                # applying what was read (a bulk batch: milliseconds).
                pending = await asyncio.to_thread(prefetching.fetch_changes)
                if pending.last == pending.base:
                    self._publish(pending.base)
                    return
                async with self._lock.writer_lock:
                    seen = prefetching.apply_changes(pending)
                self._publish(seen, pending.changes)
                return
        elif store.reads_from_memory:
            async with self._lock.writer_lock:
                seen = store.catch_up()
        else:
            seen = await asyncio.to_thread(store.catch_up)
            await self._publish_read(seen)
            return
        self._publish(seen)

    async def _apply_in_turn(self, prefetching: Prefetching, turns: ApplyTurns, hand: bool) -> int:
        """Change log entries under `serve --workers`: wait for this worker's turn, hand its
        connections to a worker that is not applying (`hand`: a load's batch), then read the
        entries and apply them. Read in the turn too, not before it: reading is CPU in a
        thread of this process, which the pages asked here would wait on (both workers read
        each batch, and when both read it at once, beside the writer, every page waited)."""
        await turns.begin(hand)
        try:
            pending = await asyncio.to_thread(prefetching.fetch_changes)
            async with self._lock.writer_lock:
                if hand:
                    turns.hand()  # the connections that came while it read
                seen = prefetching.apply_changes(pending)
                turns.at(seen)
            # published in the turn too: the response cache notes what each entry touched
            # (a look-up per thing touched, tens of thousands for a bulk batch)
            self._publish(seen, pending.changes)
        finally:
            turns.end()
        return seen

    async def _publish_read(self, seen: int) -> None:
        """`_publish`, the entries read in a worker thread (a server's log: round trips)."""
        if seen <= self.position:
            return
        try:
            changes = await asyncio.to_thread(self._entries, self.position, seen)
        except ChangeLogTruncated:
            log.warning("live updates skipped entries truncated from the change log")
            self.hub.lost()
        except StoreError:
            log.exception("reading the change log failed")
            return
        else:
            self._hand(changes)
            self._tell(changes)
        self._moved_to(seen)

    def _tell(self, changes: Sequence[Change]) -> None:
        for listener in self.listeners:
            listener(changes)

    def _entries(self, after: int, seen: int) -> list[Change]:
        """The log's entries after `after` up to `seen`, oldest first."""
        found: list[Change] = []
        while after < seen:
            changes = self.store.changes(after, PAGE)
            found += [c for c in changes if c.seq <= seen]
            if not changes or changes[-1].seq >= seen:
                break
            after = changes[-1].seq
        return found

    def _hand(self, changes: list[Change]) -> None:
        """Hand the hub each of `changes` not handed yet (another look may have, meanwhile)."""
        for change in changes:
            if change.seq > self.position:
                self._hand_one(change)

    def _hand_one(self, change: Change) -> None:
        """Hand the hub `change` (the next entry after `position`)."""
        self.hub.publish(
            change.created,
            [LevelChange.from_entry(e, entry) for e, entry in change.level_changes],
        )
        self.position = change.seq

    def _moved_to(self, seen: int) -> None:
        """Every entry up to `seen` is handed: say so to those waiting (`reach`)."""
        self.position = max(self.position, seen)
        self._moved.set()
        self._moved = asyncio.Event()

    def _publish(self, seen: int, read: Sequence[Change] = ()) -> None:
        """Hand the hub every entry up to `seen` not handed yet: from `read` (entries read in
        a worker thread, off the event loop) when they are all there, else read here."""
        if seen <= self.position:
            return
        if (
            read
            and read[0].seq <= self.position + 1
            and read[-1].seq >= seen
            and read[-1].seq - read[0].seq == len(read) - 1  # none missing between
        ):
            for change in read:
                if self.position < change.seq <= seen:
                    self._hand_one(change)
            self._tell([change for change in read if change.seq <= seen])
            self._moved_to(seen)
            return
        store = self.store
        try:
            while self.position < seen:
                changes = store.changes(self.position, PAGE)
                if not changes:
                    break
                for change in changes:
                    if change.seq > seen:
                        break
                    self._hand_one(change)
                if changes[-1].seq >= seen:
                    break
        except ChangeLogTruncated:
            log.warning("live updates skipped entries truncated from the change log")
            self.hub.lost()
        except StoreError:
            log.exception("reading the change log failed")
            return
        self._moved_to(seen)
