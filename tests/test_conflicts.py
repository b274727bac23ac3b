"""`services.conflicts.resolving_again`: work is run again at once after each `WriteConflict`,
at most CONFLICT_RETRIES times, and any other error goes straight through."""

from __future__ import annotations

import pytest

from graph.store import StoreError, WriteConflict
from services.conflicts import CONFLICT_RETRIES, resolving_again


def test_work_runs_again_until_it_no_longer_conflicts() -> None:
    calls: list[int] = []

    def work() -> str:
        calls.append(len(calls))
        if len(calls) < 3:
            raise WriteConflict("a key was claimed meanwhile")
        return "written"

    assert resolving_again(work) == "written"
    assert len(calls) == 3


def test_work_that_keeps_conflicting_gives_up_with_a_store_error() -> None:
    calls: list[int] = []

    def work() -> None:
        calls.append(len(calls))
        raise WriteConflict(f"conflict {len(calls)}")

    with pytest.raises(StoreError, match="kept conflicting.*conflict 10") as caught:
        resolving_again(work)
    assert not isinstance(caught.value, WriteConflict)
    assert isinstance(caught.value.__cause__, WriteConflict)
    assert len(calls) == CONFLICT_RETRIES


def test_other_errors_are_not_retried() -> None:
    calls: list[int] = []

    def work() -> None:
        calls.append(len(calls))
        raise StoreError("the store is gone")

    with pytest.raises(StoreError, match="the store is gone"):
        resolving_again(work)
    assert len(calls) == 1
