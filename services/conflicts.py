"""Writes that resolve against what they read: checking, inside the write's transaction, that
no concurrent writer claimed the same keys first, and resolving again when one did."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TypeVar

from tenacity import (
    RetryCallState,
    RetryError,
    Retrying,
    retry_if_exception_type,
    stop_after_attempt,
)

from graph.model import WriteBatch
from graph.store import Derive, GraphReader, StoreError, WriteConflict

T = TypeVar("T")
CONFLICT_RETRIES = 10
log = logging.getLogger(__name__)


def resolving_again(work: Callable[[], T]) -> T:
    """`work` (read, resolve, write), run again at once while a concurrent writer got there
    first (`WriteConflict`), at most CONFLICT_RETRIES times."""
    again = Retrying(
        retry=retry_if_exception_type(WriteConflict),
        stop=stop_after_attempt(CONFLICT_RETRIES),
        before_sleep=_log_conflict,
    )
    try:
        return again(work)
    except RetryError as exc:
        conflict = exc.last_attempt.exception()
        raise StoreError(
            f"a write kept conflicting with concurrent writers: {conflict}"
        ) from conflict


def _log_conflict(state: RetryCallState) -> None:
    outcome = state.outcome
    conflict = outcome.exception() if outcome is not None else None
    log.debug("resolving again after a concurrent write: %s", conflict)


def checked(claims: dict[str, str], then: Derive) -> Derive:
    """`then`, once every key the batch claimed is owned by the node it was claimed for: a
    key another writer claimed first means the batch was resolved against a stale graph."""

    def derive(graph: GraphReader) -> WriteBatch:
        owners = graph.lookup_keys(sorted(claims))
        lost = sorted(k for k, node in claims.items() if owners.get(k) != node)
        if lost:
            raise WriteConflict(f"keys claimed meanwhile by another writer: {lost[:5]}")
        return then(graph)

    return derive
