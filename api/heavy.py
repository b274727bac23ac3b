"""Heavy work off the event loop, with a deadline (docs/security.md, docs/analytics.md).

Analytics and `search` scan the graph or run a graph algorithm; on the event loop one of them
would hold every other request. They run off it instead, within a time budget
(`AppConfig.heavy_seconds`) counted from when the request began and shared by its heavy fields
(`deadline`):

- `read(info, fn)`: `fn()` reads the store in one of a small pool of threads
  (`AppConfig.heavy_threads`; the rest queue) and stops itself when the deadline passes
  (between port calls: `graph.analytics.Deadline`), answering `complete: false` with a
  `seconds` bound. The resolver waits for it to end, so the request's lease on the store's
  memory (`api.follow.Follower.reading`, which every HTTP request holds while it runs) is held
  as long as the thread reads: the change log is never applied under it, and it reads one
  state. A thread shares the GIL with the event loop: reading slows pages, for 5 s at most.
- `compute(info, what, fn, *args)`: `fn(*args)` runs a graph algorithm on a projection already
  read (a copy, not the store's memory) in one of as many processes, which share no GIL with
  the event loop, at a lower priority than the server's; past its own time budget the field
  answers a timeout error naming it, and a timer stops the computation in its process.

With `serve --workers N` the store's memory changes only under the lease's exclusive side. In
one process, a mutation (over HTTP) writes memory on the event loop, and may do so while a
thread reads: a read that then fails on a dictionary changing size is tried once more.
"""

from __future__ import annotations

import asyncio
import atexit
import concurrent.futures
import importlib
import multiprocessing
import os
import signal
import sys
import threading
import time
from collections.abc import Callable
from typing import Any, TypeVar

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
            sys.setswitchinterval(min(sys.getswitchinterval(), SWITCH_INTERVAL))
        return pool


def deadline(info: Info) -> analytics.Deadline:
    """The time budget of the request's heavy fields: `AppConfig.heavy_seconds` from when the
    request began (every heavy field of an operation shares it, waiting for a thread
    included)."""
    seconds = info.context.services.config.heavy_seconds
    return analytics.Deadline(seconds, start=info.context.started)


def _retrying(fn: Callable[[], T], spent: list[float]) -> Callable[[], T]:
    def run() -> T:
        began = time.thread_time()
        try:
            return fn()
        except RuntimeError as exc:  # memory written by the event loop while it read
            if "changed size during iteration" not in str(exc):
                raise
            return fn()
        finally:
            spent[0] += time.thread_time() - began  # the thread's CPU, not its waits

    return run


async def read(info: Info, fn: Callable[[], T]) -> T:
    """`fn()`, which reads the store and keeps to its own deadline, in a heavy thread; waits
    for it to end. Stores that are not read from memory (Neo4j) are read the same way: their
    calls block on the network. The CPU seconds it took are added to the request's
    `read_seconds` (what its client's analytics time is charged: `api.slowdown`)."""
    pool = _pool(info.context.services.config.heavy_threads)
    return await asyncio.wrap_future(pool.submit(_retrying(fn, info.context.read_seconds)))


async def compute(
    info: Info, what: str, fn: Callable[..., T], *args: Any, seconds: float | None = None
) -> T:
    """`fn(*args)`, a module-level function of picklable arguments that reads nothing of the
    store (a graph algorithm on a projection), in a process of the heavy pool (no GIL shared
    with the event loop); a timeout error naming `what` and the budget when it takes longer
    than `seconds` (`AppConfig.heavy_seconds`, counted from when it is handed to the pool).
    A timer stops the computation in its process `GRACE` seconds later (the process stays
    and takes the next); one still waiting for a process is dropped."""
    config = info.context.services.config
    budget = config.heavy_seconds if seconds is None else seconds
    future = _processes(config.heavy_threads).submit(_within, budget + GRACE, fn, *args)
    try:
        async with asyncio.timeout(budget):
            return await asyncio.wrap_future(future)
    except TimeoutError:
        future.cancel()  # not started yet: never runs
        raise UserError(
            f"{what} took longer than its time budget of {budget} s: ask for a "
            "narrower window (from, to, categories, minConfidence, types) or a cheaper metric"
        ) from None


_PROCESSES: dict[int, concurrent.futures.ProcessPoolExecutor] = {}
# How much longer than its budget a computation may go on in its process before it is stopped.
GRACE = 0.5
# The heavy processes' niceness: the server's own process comes first for the CPU.
NICENESS = 10
# How often (seconds) a thread holding the GIL is asked to let another have it (Python's default
# is 0.005): the event loop waits at most this long for it while a heavy thread reads.
SWITCH_INTERVAL = 0.001


PRELOADED = ("networkx", "scipy.sparse", "scipy.sparse.linalg", "graph.analytics")


class _OutOfTime(Exception):
    pass


def _alarm(_signum: int, _frame: object) -> None:
    raise _OutOfTime


def _within(seconds: float, fn: Callable[..., T], *args: Any) -> T:
    """`fn(*args)` in a heavy process, stopped by a timer after `seconds` (its answer is no longer
    awaited then): a computation past its time does not keep the CPU."""
    signal.signal(signal.SIGALRM, _alarm)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        return fn(*args)
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)


def _start_process(parent: int) -> None:
    os.nice(NICENESS)
    # A pool's processes outlive a parent that ends without shutting the pool down (killed, or
    # an interpreter exiting past atexit): each ends itself when its parent is gone. The
    # parent's pid comes from the parent: a process started as its parent exits would find
    # itself a child of init already, and wait for init to go.

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(1)
        os._exit(0)

    threading.Thread(target=watch, name="parent", daemon=True).start()
    # What the algorithms import lazily, imported before any timer can interrupt an import
    # (a module left half-imported would break every later computation of the process).
    for module in PRELOADED:
        importlib.import_module(module)


def _processes(count: int) -> concurrent.futures.ProcessPoolExecutor:
    """The process's pool of `count` processes, started (spawned, not forked: the server has
    threads and a graph in memory) at its first use."""
    with _POOLS_LOCK:
        pool = _PROCESSES.get(count)
        if pool is None:
            pool = _PROCESSES[count] = concurrent.futures.ProcessPoolExecutor(
                max_workers=count,
                mp_context=multiprocessing.get_context("spawn"),
                initializer=_start_process,
                initargs=(os.getpid(),),
            )
            # at exit, computations past their time are not waited for
            atexit.register(pool.shutdown, wait=False, cancel_futures=True)
        return pool
