"""Heavy work off the event loop, with a deadline (docs/security.md, docs/analytics.md).

Analytics and `search` scan the graph or run a graph algorithm; on the event loop one of them
would hold every other request. They run in a small pool of threads instead
(`AppConfig.heavy_threads`, the rest queue), each with a time budget
(`AppConfig.heavy_seconds`) counted from when the field was asked:

- `read(info, fn)`: `fn(deadline)` reads the store and stops itself when the deadline passes
  (between port calls: `graph.analytics.Deadline`), answering `complete: false` with a
  `seconds` bound. The resolver waits for it to end, so the request's lease on the store's
  memory (`api.follow.Follower.reading`, which every HTTP request holds while it runs) is
  held as long as the thread reads: the change log is never applied under it, and it reads
  one state.
- `compute(info, what, fn, deadline)`: `fn()` runs a graph algorithm on a projection already
  read (its own copy, not the store's memory); when the deadline passes first, the field
  answers a timeout error naming the budget, and the thread is left to finish on its own (it
  keeps its place in the pool until then, so the pool bounds how many run).

With `serve --workers N` the store's memory changes only under the lease's exclusive side. In
one process, a mutation (over HTTP) writes memory on the event loop, and may do so while a
thread reads: a read that then fails on a dictionary changing size is tried once more.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import math
import threading
from collections.abc import Callable
from typing import TypeVar

from api.context import Info
from api.errors import UserError
from graph import analytics

T = TypeVar("T")

_POOLS: dict[int, concurrent.futures.ThreadPoolExecutor] = {}
_POOLS_LOCK = threading.Lock()


def _pool(threads: int) -> concurrent.futures.ThreadPoolExecutor:
    """The process's pool of `threads` threads (shared by every app of the process)."""
    with _POOLS_LOCK:
        pool = _POOLS.get(threads)
        if pool is None:
            pool = _POOLS[threads] = concurrent.futures.ThreadPoolExecutor(
                max_workers=threads, thread_name_prefix="heavy"
            )
        return pool


def deadline(info: Info, seconds: float | None = None) -> analytics.Deadline:
    """The time budget of a field asked now: `AppConfig.heavy_seconds`, or `seconds` if less."""
    budget = info.context.services.config.heavy_seconds
    return analytics.Deadline(budget if seconds is None else min(seconds, budget))


def _retrying(fn: Callable[[], T]) -> Callable[[], T]:
    def run() -> T:
        try:
            return fn()
        except RuntimeError as exc:  # memory written by the event loop while it read
            if "changed size during iteration" not in str(exc):
                raise
            return fn()

    return run


async def read(info: Info, fn: Callable[[], T]) -> T:
    """`fn()`, which reads the store and keeps to its own deadline, in a heavy thread; waits
    for it to end. Stores that are not read from memory (Neo4j) are read the same way: their
    calls block on the network."""
    pool = _pool(info.context.services.config.heavy_threads)
    return await asyncio.wrap_future(pool.submit(_retrying(fn)))


async def compute(info: Info, what: str, fn: Callable[[], T], until: analytics.Deadline) -> T:
    """`fn()`, which reads nothing of the store, in a heavy thread; a timeout error naming
    `what` and the budget if `until` passes first."""
    pool = _pool(info.context.services.config.heavy_threads)
    future = pool.submit(fn)
    left = math.inf if until.at is None else max(until.at - until.clock(), 0.0)
    try:
        async with asyncio.timeout(None if math.isinf(left) else left):
            return await asyncio.shield(asyncio.wrap_future(future))
    except TimeoutError:
        future.cancel()  # not started yet: never runs; running: ends on its own
        raise UserError(
            f"{what} took longer than its time budget of {until.seconds} s: ask for a "
            "narrower window (from, to, categories, minConfidence, types) or a cheaper metric"
        ) from None
