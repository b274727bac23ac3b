"""The embedded store keeps the garbage collector off what it holds (gc.freeze) after opening
and after bulk writes, and never freezes a long-running server's garbage with it."""

from __future__ import annotations

import gc
import weakref
from pathlib import Path

from graph.embedded import FREEZE_AFTER, EmbeddedStore
from graph.model import Label, Merge, NodeWrite, WriteBatch


class Cycle:
    """Garbage only the cycle collector can free."""

    def __init__(self) -> None:
        self.me = self


def old_garbage() -> weakref.ref[Cycle]:
    """A reference cycle that survives a full collection while referenced (so it ages into
    the oldest generation), then becomes garbage."""
    cycle = Cycle()
    gc.collect()
    return weakref.ref(cycle)


def entities(count: int, start: int = 0) -> WriteBatch:
    return WriteBatch(
        nodes=[
            NodeWrite(f"en_{i}", Label.ENTITY, Merge(create={"name": f"E{i}"}))
            for i in range(start, start + count)
        ]
    )


def test_small_writes_leave_old_garbage_collectable(tmp_path: Path) -> None:
    store = EmbeddedStore(tmp_path / "store")
    store.setup()
    try:
        frozen = gc.get_freeze_count()
        garbage = old_garbage()
        for i in range(5):  # an editor's submissions, approvals, ... between requests
            store.write(entities(1, start=i))
        assert gc.get_freeze_count() == frozen
        gc.collect()
        assert garbage() is None
        store.write(entities(FREEZE_AFTER, start=100))  # a loader's batch
        assert gc.get_freeze_count() > frozen
    finally:
        store.close()
        gc.unfreeze()


def test_editorial_records_are_found_again_after_reopening(tmp_path: Path) -> None:
    store = EmbeddedStore(tmp_path / "store")
    store.setup()
    props = {"status": "pending", "submitted_at": "2026-01-01"}
    store.write(entities(3))
    store.write(WriteBatch(nodes=[NodeWrite("su_1", Label.SUBMISSION, Merge(create=props))]))
    store.close()
    store = EmbeddedStore(tmp_path / "store")
    store.setup()
    try:
        found = store.find_nodes(Label.SUBMISSION, {"status": "pending"}, "submitted_at", 10)
        assert [n.id for n in found] == ["su_1"]
    finally:
        store.close()
