"""Retrying the Neo4j store's write transactions (tenacity), with short jittered delays.

A write is retried while the server says a retry can succeed (transient errors: deadlocks,
ArcadeDB's concurrent-modification conflicts) for up to WRITE_RETRY_TIME seconds and, up to
CONSTRAINT_RETRIES times, after losing a concurrent MERGE (a `ConstraintError`, or ArcadeDB's
EntityNotFound for a record a concurrent transaction created or moved that this one's snapshot
cannot see): the retried transaction sees the winner's write and matches it.

The retries are done here rather than by the driver, whose managed transactions wait 1 s, 2 s,
4 s... between tries: under two loaders on ArcadeDB that made a load several times slower. The
store opens its write sessions with `max_transaction_retry_time=0`, so the driver does not retry.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Callable
from typing import TypeVar

from neo4j.exceptions import (
    ClientError,
    ConstraintError,
    DriverError,
    Neo4jError,
    ServiceUnavailable,
    SessionExpired,
)
from tenacity import RetryCallState, Retrying, stop_after_delay, wait_exponential

from graph.store import StoreError, StoreUnavailable

log = logging.getLogger(__name__)

T = TypeVar("T")

# ArcadeDB fails the losing one of two concurrent MERGEs of one key with a ConstraintError
# instead of waiting and matching (docs/neo4j.md); the retried transaction then matches.
CONSTRAINT_RETRIES = 10
ENTITY_NOT_FOUND = "Neo.ClientError.Statement.EntityNotFound"
WRITE_RETRY_TIME = 60.0  # seconds of retrying transient errors before giving up
FIRST_RETRY_DELAY = 0.01
MAX_RETRY_DELAY = 0.5

_BACKOFF = wait_exponential(multiplier=FIRST_RETRY_DELAY, max=MAX_RETRY_DELAY)
_OUT_OF_TIME = stop_after_delay(WRITE_RETRY_TIME)


def lost_merge(exc: BaseException | None) -> bool:
    """Whether `exc` is a write losing a concurrent MERGE (see the module's docstring)."""
    return isinstance(exc, ConstraintError) or (
        isinstance(exc, ClientError) and exc.code == ENTITY_NOT_FOUND
    )


def retryable(exc: BaseException) -> bool:
    """Whether a write that raised `exc` is tried again (within the bounds)."""
    if isinstance(exc, ClientError):
        return lost_merge(exc)
    return isinstance(exc, Neo4jError | DriverError) and exc.is_retryable()


def _jittered(state: RetryCallState) -> float:
    """10 ms, 20 ms, 40 ms... up to 500 ms before each retry, each times 0.5 to 1.5."""
    return random.uniform(0.5, 1.5) * _BACKOFF(state)


class WriteRetry:
    """Runs writes with retries (see the module's docstring) and counts the retries."""

    def __init__(self, target: object) -> None:
        self._target = target  # the store, named in errors
        self.constraint_retries = 0  # writes retried after losing a concurrent MERGE
        self.transient_retries = 0  # writes retried after a transient error

    def __call__(self, attempt: Callable[[], T]) -> T:
        """The result of `attempt()`, tried again while it fails in a way a retry can mend.
        A lost connection is a StoreError; so is losing a MERGE CONSTRAINT_RETRIES times."""
        lost = 0

        def stop(state: RetryCallState) -> bool:
            nonlocal lost
            if state.outcome is not None and lost_merge(state.outcome.exception()):
                lost += 1
                if lost >= CONSTRAINT_RETRIES:
                    return True
            return _OUT_OF_TIME(state)

        retrying = Retrying(
            retry=_retry_if_retryable,
            stop=stop,
            wait=_jittered,
            before_sleep=self._count,
            reraise=True,
        )
        try:
            return retrying(attempt)
        except (ConstraintError, ClientError) as exc:
            if not lost_merge(exc):
                raise
            raise StoreError(
                f"{self._target!r}: a write kept failing on a uniqueness constraint after "
                f"{lost} tries: {exc.message or exc}"
            ) from exc
        except (ServiceUnavailable, SessionExpired, OSError) as exc:
            raise unavailable(self._target, exc) from exc

    def _count(self, state: RetryCallState) -> None:
        exc = state.outcome.exception() if state.outcome is not None else None
        if isinstance(exc, Neo4jError) and lost_merge(exc):
            self.constraint_retries += 1
            log.debug("retrying a write that lost a concurrent MERGE: %s", exc.message)
        else:
            self.transient_retries += 1
            log.debug("retrying a write after a transient error: %s", exc)


def _retry_if_retryable(state: RetryCallState) -> bool:
    exc = state.outcome.exception() if state.outcome is not None else None
    return exc is not None and retryable(exc)


def unavailable(target: object, exc: Exception) -> StoreUnavailable:
    """A lost server, logged, as the store's error: the API answers it as such, and the next
    read or write tries again (the driver reconnects by itself)."""
    log.warning("lost the connection to %r: %s", target, exc)
    return StoreUnavailable(
        f"the graph database cannot be reached now ({type(exc).__name__}); try again shortly"
    )
