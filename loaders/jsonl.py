"""JSON Lines files into validated records, keeping every rejected line for fixing.

`services.load.load_streams` writes what these read into a store, batch by batch."""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, BinaryIO, Protocol

from loaders.records import Record, Rejection, parse_line


class LineCounts(Protocol):
    """Where `read_records` counts lines: non-blank ones (`records`), rejected, blank."""

    records: int
    rejected: int
    blank: int


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


def read_records(
    name: str,
    stream: BinaryIO,
    rejects: RejectSink,
    counts: LineCounts,
    progress: Callable[[int], None] | None = None,
) -> Iterator[tuple[int, Record]]:
    """The valid records of the source `name` with their line numbers; bad lines go to
    `rejects`, and every line is counted in `counts`. `progress` is told the bytes read."""
    for number, text, size in read_lines(stream):
        if progress is not None:
            progress(size)
        if text is None:
            counts.records += 1
            counts.rejected += 1
            rejects.add(name, Rejection(number, "not valid UTF-8 text"), "")
            continue
        parsed = parse_line(text, number)
        if parsed is None:
            counts.blank += 1
            continue
        counts.records += 1
        if isinstance(parsed, Rejection):
            counts.rejected += 1
            rejects.add(name, parsed, text.rstrip("\r\n"))
            continue
        yield number, parsed
