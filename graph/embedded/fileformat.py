"""The embedded store's data directory: its SQLite file (tables, format number, migration) and
the lock that keeps a second process out.

Format 2: nodes, relationships and keys are rowid tables without any index, each row's rowid
kept in memory beside what it holds (`row`). The in-memory graph is the index: an insert
appends (a rowid past the last one) and an update or delete names its rowid, so a batch
dirties few B-tree pages. Format 1 (WITHOUT ROWID tables keyed by random ids, whose every
insert split a random leaf page) is migrated in place when opened.
"""

from __future__ import annotations

import fcntl
import os
import sqlite3
from pathlib import Path
from typing import IO

from graph.store import StoreError

FORMAT = 2
DB_FILE = "graph.sqlite3"
LOCK_FILE = "lock"

_META = "CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID"
_SCHEMA = """
CREATE TABLE IF NOT EXISTS nodes (id TEXT NOT NULL, label TEXT NOT NULL, props TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS edges (
    src TEXT NOT NULL, type TEXT NOT NULL, dst TEXT NOT NULL, key TEXT NOT NULL,
    props TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS keys (key TEXT NOT NULL, node TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS settings (name TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;
"""
# Format 1 to 2, in one transaction: the same rows in the new tables.
_MIGRATE_1 = """
ALTER TABLE nodes RENAME TO nodes_1;
ALTER TABLE edges RENAME TO edges_1;
ALTER TABLE keys RENAME TO keys_1;
CREATE TABLE nodes (id TEXT NOT NULL, label TEXT NOT NULL, props TEXT NOT NULL);
CREATE TABLE edges (
    src TEXT NOT NULL, type TEXT NOT NULL, dst TEXT NOT NULL, key TEXT NOT NULL,
    props TEXT NOT NULL
);
CREATE TABLE keys (key TEXT NOT NULL, node TEXT NOT NULL);
INSERT INTO nodes (id, label, props) SELECT id, label, props FROM nodes_1;
INSERT INTO edges (src, type, dst, key, props) SELECT src, type, dst, key, props FROM edges_1;
INSERT INTO keys (key, node) SELECT key, node FROM keys_1;
DROP TABLE nodes_1;
DROP TABLE edges_1;
DROP TABLE keys_1;
UPDATE meta SET value = '2' WHERE name = 'format';
"""


def acquire_lock(directory: Path) -> IO[str]:
    """An exclusive lock on the data directory, held while the returned file is open; it
    holds this process's id, which a refused process names."""
    handle = open(directory / LOCK_FILE, "a+", encoding="utf-8")  # noqa: SIM115
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.seek(0)
        holder = handle.read().strip() or "unknown"
        handle.close()
        raise StoreError(
            f"the store {directory} is in use by another newsgraph process "
            f"(pid {holder}); stop it first, or give this command another --store"
        ) from None
    handle.seek(0)
    handle.truncate()
    handle.write(str(os.getpid()))
    handle.flush()
    return handle


def connect(directory: Path) -> sqlite3.Connection:
    """The directory's file, opened (WAL journal, synchronous FULL, transactions begun
    explicitly), its tables created if new or its format checked (format 1 is migrated)."""
    db = sqlite3.connect(directory / DB_FILE, isolation_level=None)
    try:
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=FULL")
        _check_format(db, directory)
    except BaseException:
        db.close()
        raise
    return db


def _check_format(db: sqlite3.Connection, directory: Path) -> None:
    """Create the tables of a new file, or check the file's format (migrating format 1)."""
    db.execute(_META)
    row = db.execute("SELECT value FROM meta WHERE name = 'format'").fetchone()
    if row is None:
        old = db.execute(
            "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'nodes'"
        ).fetchone()
        if old is not None:  # tables of format 1 made before its format row
            db.execute("INSERT INTO meta VALUES ('format', '1')")
            row = ("1",)
        else:
            _script(db, f"{_SCHEMA}\nINSERT INTO meta VALUES ('format', '{FORMAT}');")
            return
    if row[0] == "1":
        _script(db, _MIGRATE_1)
        db.execute("VACUUM")  # give back the old tables' pages
    elif row[0] != str(FORMAT):
        raise StoreError(
            f"the store {directory} has format {row[0]}; this newsgraph reads {FORMAT}"
        )


def _script(db: sqlite3.Connection, script: str) -> None:
    """Run `script` as one transaction."""
    try:
        db.executescript(f"BEGIN IMMEDIATE;\n{script}\nCOMMIT;")
    except BaseException:
        if db.in_transaction:
            db.execute("ROLLBACK")
        raise
