"""The embedded store's data directory: its SQLite file (tables, format number, migration).

Format 5 is format 4 with the search terms' document counts kept in a table (`search_terms`:
listing the terms of a prefix reads those listed, where fts5vocab read every doclist); a
format-4 file gains it, filled from the index, when a writer opens it.

Format 4 is format 3 with the search index (`search_docs`, `search_fts`, `search_vocab`:
`graph.embedded.search`); a format-3 file gains the empty tables when a writer opens it, and
the row `search_stale` in `meta`, which has the writer fill them from the graph (`stale_search`,
then `search_built`) before it serves or writes.

Format 3 is format 2 with the change log (`changes`, `graph.embedded.changelog`); a format-2
file gains the empty table when a writer opens it. Format 2: nodes, relationships and keys
are rowid tables without any index, each row's rowid kept in memory beside what it holds
(`row`). The in-memory graph is the index: an insert appends (a rowid past the last one) and
an update or delete names its rowid, so a batch dirties few B-tree pages. Format 1 (WITHOUT
ROWID tables keyed by random ids, whose every insert split a random leaf page) is migrated in
place when opened.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

from graph.embedded.changelog import TABLE as CHANGES_TABLE
from graph.embedded.search import FILL_TERMS
from graph.embedded.search import SCHEMA as SEARCH_SCHEMA
from graph.store import StoreError

FORMAT = 5
DB_FILE = "graph.sqlite3"

# How long a write waits for another process's write to finish (SQLite's busy timeout): a
# loader's batch takes about a second; an editor's write, milliseconds.
WRITE_WAIT_SECONDS = 60.0

_META = "CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID"
_SCHEMA = (
    """
CREATE TABLE IF NOT EXISTS nodes (id TEXT NOT NULL, label TEXT NOT NULL, props TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS edges (
    src TEXT NOT NULL, type TEXT NOT NULL, dst TEXT NOT NULL, key TEXT NOT NULL,
    props TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS keys (key TEXT NOT NULL, node TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS settings (name TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;
"""
    + CHANGES_TABLE
    + ";\n"
    + SEARCH_SCHEMA
)
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
# Format 2 to 3: the change log, empty (its first entry is the next write's).
_MIGRATE_2 = CHANGES_TABLE + ";\nUPDATE meta SET value = '3' WHERE name = 'format';"
# Format 3 to 4: the search index, empty and marked stale (filled from the graph on opening).
_MIGRATE_3 = (
    SEARCH_SCHEMA
    + "INSERT OR REPLACE INTO meta VALUES ('search_stale', '1');\n"
    + "UPDATE meta SET value = '4' WHERE name = 'format';"
)
# Format 4 to 5: the search terms' table, filled from the index (0.5 s at 100k events).
_MIGRATE_4 = SEARCH_SCHEMA + FILL_TERMS + "\nUPDATE meta SET value = '5' WHERE name = 'format';"


def connect(
    directory: Path, read_only: bool = False, any_thread: bool = False
) -> sqlite3.Connection:
    """The directory's file, opened (WAL journal, synchronous FULL, transactions begun
    explicitly), its tables created if new or its format checked (formats 1 to 4 are
    migrated). `read_only`: the file must exist and have this format; nothing is written.
    `any_thread`: the connection may be used from another thread than the one opening it
    (one at a time)."""
    path = directory / DB_FILE
    if read_only:
        if not path.is_file():
            raise StoreError(
                f"no store at {directory}: nothing was ever written there (load records first, "
                "or check --store)"
            )
        db = sqlite3.connect(
            f"{path.resolve().as_uri()}?mode=ro",
            uri=True,
            isolation_level=None,
            timeout=5.0,
            check_same_thread=not any_thread,
        )
    else:
        db = sqlite3.connect(path, isolation_level=None, timeout=WRITE_WAIT_SECONDS)
    try:
        if read_only:
            _check_readable(db, directory)
        else:
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=FULL")
            _check_format(db, directory)
    except sqlite3.DatabaseError as exc:
        db.close()
        raise StoreError(f"cannot open the store {directory}: {exc}") from exc
    except BaseException:
        db.close()
        raise
    return db


def _check_readable(db: sqlite3.Connection, directory: Path) -> None:
    row = db.execute("SELECT value FROM meta WHERE name = 'format'").fetchone()
    if row is None or row[0] != str(FORMAT):
        found = row[0] if row is not None else "unknown"
        raise StoreError(
            f"the store {directory} has format {found}; this newsgraph reads {FORMAT}: a "
            "command that writes (newsgraph load, outlets load, serve) upgrades it"
        )


def _check_format(db: sqlite3.Connection, directory: Path) -> None:
    """Create the tables of a new file, or check the file's format (migrating formats 1, 2)."""
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
            # OR IGNORE: two processes creating one store at once both succeed
            _script(db, f"{_SCHEMA}\nINSERT OR IGNORE INTO meta VALUES ('format', '{FORMAT}');")
            return
    if row[0] == "1":
        _script(db, _MIGRATE_1)
        db.execute("VACUUM")  # give back the old tables' pages
        row = ("2",)
    if row[0] == "2":
        _script(db, _MIGRATE_2)
        row = ("3",)
    if row[0] == "3":
        _script(db, _MIGRATE_3)
        row = ("4",)
    if row[0] == "4":
        _script(db, _MIGRATE_4)
    elif row[0] != str(FORMAT):
        raise StoreError(
            f"the store {directory} has format {row[0]}; this newsgraph reads {FORMAT}"
        )


def stale_search(db: sqlite3.Connection) -> bool:
    """Whether the search index must be filled from the graph (a migrated format-3 file)."""
    row = db.execute("SELECT 1 FROM meta WHERE name = 'search_stale'").fetchone()
    return row is not None


SEARCH_BUILT = "DELETE FROM meta WHERE name = 'search_stale'"  # in the filling transaction


def _script(db: sqlite3.Connection, script: str) -> None:
    """Run `script` as one transaction."""
    try:
        db.executescript(f"BEGIN IMMEDIATE;\n{script}\nCOMMIT;")
    except BaseException:
        if db.in_transaction:
            db.execute("ROLLBACK")
        raise
