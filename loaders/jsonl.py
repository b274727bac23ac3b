"""Stream JSON Lines files into the graph in batches, keeping every rejected line for fixing."""

from __future__ import annotations

import gc
import json
import os
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, BinaryIO

from graph.store import GraphStore
from loaders.ingest import Ingestor
from loaders.records import Record, Rejection, parse_line

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
        return lines


class RejectSink:
    """The rejects file: one JSON object a rejected line, with where it came from, why, and the
    line as it was (`raw`), so it can be fixed and fed again. Created on the first reject."""

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self._file: IO[str] | None = None
        self.count = 0

    def add(self, source: str, rejection: Rejection, raw: str) -> None:
        if self.path is None:
            return
        if self._file is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._file = open(self.path, "w", encoding="utf-8")  # noqa: SIM115
        entry = {"source": source, "line": rejection.line, "reason": rejection.reason, "raw": raw}
        self._file.write(json.dumps(entry, ensure_ascii=False) + "\n")
        self.count += 1

    def flush(self) -> None:
        """Make the rejects durable before the batch they came from is acknowledged."""
        if self._file is not None:
            self._file.flush()
            os.fsync(self._file.fileno())

    def close(self) -> None:
        if self._file is not None:
            self.flush()
            self._file.close()
            self._file = None


def read_lines(stream: BinaryIO) -> Iterator[tuple[int, str | None, int]]:
    """(line number, text or None when it is not UTF-8, bytes read) for each line."""
    for number, raw in enumerate(stream, start=1):
        try:
            yield number, raw.decode("utf-8"), len(raw)
        except UnicodeDecodeError:
            yield number, None, len(raw)


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
    running it again completes it (writes are idempotent).
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
            for number, text, size in read_lines(stream):
                if progress is not None:
                    progress(size)
                if text is None:
                    summary.records += 1
                    summary.rejected += 1
                    rejects.add(name, Rejection(number, "not valid UTF-8 text"), "")
                    continue
                parsed = parse_line(text, number)
                if parsed is None:
                    summary.blank += 1
                    continue
                summary.records += 1
                if isinstance(parsed, Rejection):
                    summary.rejected += 1
                    rejects.add(name, parsed, text.rstrip("\r\n"))
                    continue
                pending.append((number, parsed))
                if len(pending) >= batch_size:
                    flush()
            flush()
    finally:
        if collecting:
            gc.enable()
    rejects.flush()
    summary.duplicates_merged = len(ingestor.merges)
    return summary
