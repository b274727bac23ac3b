"""Load JSON Lines sources into a store in batches, keeping every rejected line for fixing."""

from __future__ import annotations

import gc
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import BinaryIO

from graph.store import GraphStore
from loaders.jsonl import RejectSink, read_records
from loaders.records import Record
from services.ingest import Ingestor

DEFAULT_BATCH = 500


@dataclass
class LoadSummary:
    """What a load did; `records` counts non-blank lines."""

    records: int = 0
    loaded: int = 0
    events_created: int = 0
    events_merged: int = 0
    rejected: int = 0
    blank: int = 0
    duplicates_merged: int = 0  # existing nodes found to be one with another, and merged
    possible_duplicates: int = 0  # new events queued for editors beside the event they may be

    def lines(self) -> list[str]:
        lines = [
            f"records read:   {self.records}",
            f"loaded:         {self.loaded}",
            f"events created: {self.events_created}",
            f"events merged:  {self.events_merged}",
            f"rejected:       {self.rejected}",
        ]
        if self.duplicates_merged:
            lines.append(
                f"duplicates merged: {self.duplicates_merged} (nodes a record showed to be one)"
            )
        if self.possible_duplicates:
            lines.append(
                f"possible duplicates: {self.possible_duplicates} (queued for editors: "
                "possibleDuplicates)"
            )
        return lines


def load_streams(
    store: GraphStore,
    sources: Iterable[tuple[str, BinaryIO]],
    rejects: RejectSink,
    batch_size: int = DEFAULT_BATCH,
    progress: Callable[[int], None] | None = None,
    ingestor: Ingestor | None = None,
) -> LoadSummary:
    """Load every line of every `(name, stream)` source; bad lines go to `rejects`.

    Each batch of `batch_size` good records is one atomic write, acknowledged only after the
    rejects before it are on disk: a load killed at any point loses nothing acknowledged, and
    running it again completes it (writes are idempotent). A batch holds one source's records.
    """
    ingestor = ingestor or Ingestor(store)
    summary = LoadSummary()
    pending: list[tuple[int, Record]] = []

    def flush() -> None:
        rejects.flush()
        for result in ingestor.ingest(pending):
            summary.loaded += 1
            if result.outcome == "created":
                summary.events_created += 1
            else:
                summary.events_merged += 1
        pending.clear()
        if collecting:
            # What the batch made and still lives (the graph it added, for a store in memory)
            # lives as long as the store: out of the collector's sight from now on, once the
            # young garbage is collected (a load makes none, but a collection makes sure).
            gc.collect(1)
            gc.freeze()

    # The cyclic garbage collector is off while loading and runs between batches instead: a
    # load makes no reference cycles, and yet the collector walked each batch's records and
    # writes again and again while they were alive (a full pass per batch): 30% of a load.
    collecting = gc.isenabled()
    gc.disable()
    try:
        for name, stream in sources:
            for record in read_records(name, stream, rejects, summary, progress):
                pending.append(record)
                if len(pending) >= batch_size:
                    flush()
            flush()
    finally:
        if collecting:
            gc.enable()
    rejects.flush()
    summary.duplicates_merged = len(ingestor.merges)
    summary.possible_duplicates = ingestor.possible_duplicates
    return summary
