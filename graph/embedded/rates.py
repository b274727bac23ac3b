"""Rate limits' counts in the embedded store's file (`GraphStore.hit`): one row per key, the
times of its hits still in their window. Not graph data: no memory, no change log entry. The
table is made when a writer opens the file (`create`), not by the file's format, so a file
without it keeps its format and a reader never needs it."""

from __future__ import annotations

import json
import sqlite3

TABLE = (
    "CREATE TABLE IF NOT EXISTS rates (key TEXT PRIMARY KEY, hits TEXT NOT NULL, "
    "expires TEXT NOT NULL) WITHOUT ROWID"
)
INDEX = "CREATE INDEX IF NOT EXISTS rates_expires ON rates (expires)"
# Keys whose every hit has left its window, removed at each hit (at most this many).
SWEEP = 100


def create(db: sqlite3.Connection) -> None:
    """The table and its index, if the file lacks them: once, when a writer opens the file."""
    db.execute(TABLE)
    db.execute(INDEX)


def hit(db: sqlite3.Connection, key: str, now: str, since: str, expires: str, limit: int) -> bool:
    """`GraphStore.hit` inside the caller's write transaction (the table made by `create`):
    `now`, `since` (the window's start) and `expires` (when a hit made now leaves its window)
    as the graph's timestamps."""
    row = db.execute("SELECT hits, expires FROM rates WHERE key = ?", (key,)).fetchone()
    recent = [t for t in json.loads(row[0]) if t > since] if row is not None else []
    allowed = len(recent) < limit
    if allowed:
        recent.append(now)
    until = expires if allowed or row is None else row[1]
    db.execute(
        "INSERT OR REPLACE INTO rates (key, hits, expires) VALUES (?, ?, ?)",
        (key, json.dumps(recent), until),
    )
    db.execute(
        "DELETE FROM rates WHERE key IN (SELECT key FROM rates WHERE expires < ? LIMIT ?)",
        (now, SWEEP),
    )
    return allowed
