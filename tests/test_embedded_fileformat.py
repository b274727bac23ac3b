"""The embedded store's file (`graph.embedded.fileformat`), format 2 (rowid tables, rowids kept
in memory): a format 1 file is migrated when opened, and reads and writes as one loaded anew;
a format it does not know is refused."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from graph.embedded import EmbeddedStore
from graph.embedded.fileformat import DB_FILE, FORMAT
from graph.model import Edge, Node
from graph.snapshot import canonical
from graph.store import StoreError
from tests.conftest import EXTRACTOR, load_file, load_outlets

_FORMAT_1 = """
CREATE TABLE meta (name TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;
CREATE TABLE nodes (id TEXT PRIMARY KEY, label TEXT NOT NULL, props TEXT NOT NULL) WITHOUT ROWID;
CREATE TABLE edges (
    src TEXT NOT NULL, type TEXT NOT NULL, dst TEXT NOT NULL, key TEXT NOT NULL,
    props TEXT NOT NULL, PRIMARY KEY (src, type, dst, key)
) WITHOUT ROWID;
CREATE TABLE keys (key TEXT PRIMARY KEY, node TEXT NOT NULL) WITHOUT ROWID;
CREATE TABLE settings (name TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;
INSERT INTO meta VALUES ('format', '1');
"""


def _as_format_1(store: EmbeddedStore, directory: Path) -> None:
    """Write what `store` holds into a new data directory in format 1."""
    directory.mkdir(parents=True)
    db = sqlite3.connect(directory / DB_FILE)
    db.executescript(_FORMAT_1)
    for item in store.dump():
        if isinstance(item, Node):
            db.execute("INSERT INTO nodes VALUES (?, ?, ?)", (item.id, item.label, _text(item)))
        elif isinstance(item, Edge):
            row = (item.src, item.type, item.dst, item.discriminator, _text(item))
            db.execute("INSERT INTO edges VALUES (?, ?, ?, ?, ?)", row)
        elif item[0].startswith("setting:"):
            db.execute("INSERT INTO settings VALUES (?, ?)", (item[0][8:], item[1]))
        else:
            db.execute("INSERT INTO keys VALUES (?, ?)", item)
    db.commit()
    db.close()


def _text(item: Node | Edge) -> str:
    return json.dumps(dict(item.props), ensure_ascii=False, sort_keys=True)


def _format(directory: Path) -> str:
    db = sqlite3.connect(directory / DB_FILE)
    try:
        return str(db.execute("SELECT value FROM meta WHERE name = 'format'").fetchone()[0])
    finally:
        db.close()


def test_a_format_1_store_is_migrated_and_then_loads_like_a_new_one(tmp_path: Path) -> None:
    fresh = EmbeddedStore(tmp_path / "fresh")
    fresh.setup()
    load_outlets(fresh)
    load_file(fresh, EXTRACTOR / "samples.jsonl")
    expected = canonical(fresh)
    _as_format_1(fresh, tmp_path / "old")

    old = EmbeddedStore(tmp_path / "old")
    old.setup()
    try:
        assert _format(tmp_path / "old") == str(FORMAT)
        assert canonical(old) == expected
        # Loading the same file again changes nothing, as on the store loaded anew.
        load_file(old, EXTRACTOR / "samples.jsonl")
        load_file(fresh, EXTRACTOR / "samples.jsonl")
        assert canonical(old) == canonical(fresh)
    finally:
        old.close()
        fresh.close()
    reopened = EmbeddedStore(tmp_path / "old")
    reopened.setup()
    try:
        assert canonical(reopened) == expected
    finally:
        reopened.close()


def test_an_unknown_format_is_refused(tmp_path: Path) -> None:
    directory = tmp_path / "future"
    directory.mkdir()
    db = sqlite3.connect(directory / DB_FILE)
    db.executescript(_FORMAT_1.replace("'1'", "'99'"))
    db.close()
    with pytest.raises(StoreError, match="format 99"):
        EmbeddedStore(directory).setup()
