"""The embedded store's search index: SQLite FTS5 beside the graph's tables (format 4).

`search_docs` holds one row per search document (`graph.search.IndexedDoc`), its rowid being
the document's `order` (a collision, one in 2^39 documents of a day, takes the next free
rowid); `search_fts` is an FTS5 index over its terms (external content: the rows of
`search_docs`), with prefix indexes of 2 and 3 letters for type-ahead; `search_vocab` lists its
terms with their document counts (fts5vocab). A write updates them in its own transaction
(`update`), so a reader of the file, any process, sees the index of the graph it reads.

A term's postings are read by rowid, greatest first, at most a page: FTS5 walks its doclist in
rowid order and stops there, so a term in 100,000 events costs what one in 40 does.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator, Mapping, Sequence

from graph.model import Label
from graph.search import IndexedDoc, Lookup, is_term, label_range

SCHEMA = """
CREATE TABLE IF NOT EXISTS search_docs (
    rowid INTEGER PRIMARY KEY, doc TEXT NOT NULL UNIQUE, label TEXT NOT NULL,
    day TEXT NOT NULL, popularity INTEGER NOT NULL, names TEXT NOT NULL, body TEXT NOT NULL,
    terms_names TEXT NOT NULL, terms_body TEXT NOT NULL
);
CREATE VIRTUAL TABLE IF NOT EXISTS search_fts USING fts5(
    terms_names, terms_body, content='search_docs', content_rowid='rowid',
    tokenize='ascii', prefix='2 3', detail='none'
);
CREATE VIRTUAL TABLE IF NOT EXISTS search_vocab USING fts5vocab(search_fts, 'row');
"""

_SEP = "\n"  # between the names (and the body's parts) in one column
_COLUMNS = "rowid, doc, label, day, popularity, names, body, terms_names, terms_body"
_CHUNK = 500  # ids per IN (...) list


def _chunks(items: Sequence[str]) -> Iterator[Sequence[str]]:
    for start in range(0, len(items), _CHUNK):
        yield items[start : start + _CHUNK]


def _doc(row: tuple[int, str, str, str, int, str, str, str, str]) -> IndexedDoc:
    _, doc, label, day, popularity, names, body, terms_names, terms_body = row
    return IndexedDoc(
        id=doc,
        label=Label(label),
        names=tuple(names.split(_SEP)) if names else (),
        body=tuple(body.split(_SEP)) if body else (),
        day=day,
        popularity=popularity,
        terms_names=terms_names,
        terms_body=terms_body,
    )


def _stored(db: sqlite3.Connection, ids: Sequence[str]) -> dict[str, tuple[int, IndexedDoc]]:
    found: dict[str, tuple[int, IndexedDoc]] = {}
    for chunk in _chunks(ids):
        marks = ",".join("?" * len(chunk))
        for row in db.execute(f"SELECT {_COLUMNS} FROM search_docs WHERE doc IN ({marks})", chunk):
            found[row[1]] = (row[0], _doc(row))
    return found


def _remove(db: sqlite3.Connection, row: int, doc: IndexedDoc) -> None:
    db.execute(
        "INSERT INTO search_fts (search_fts, rowid, terms_names, terms_body) "
        "VALUES ('delete', ?, ?, ?)",
        (row, doc.terms_names, doc.terms_body),
    )
    db.execute("DELETE FROM search_docs WHERE rowid = ?", (row,))


def _insert(db: sqlite3.Connection, doc: IndexedDoc) -> None:
    row = doc.order()
    while db.execute("SELECT 1 FROM search_docs WHERE rowid = ?", (row,)).fetchone():
        row += 1
    db.execute(
        f"INSERT INTO search_docs ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (
            row,
            doc.id,
            doc.label.value,
            doc.day,
            doc.popularity,
            _SEP.join(doc.names),
            _SEP.join(doc.body),
            doc.terms_names,
            doc.terms_body,
        ),
    )
    db.execute(
        "INSERT INTO search_fts (rowid, terms_names, terms_body) VALUES (?, ?, ?)",
        (row, doc.terms_names, doc.terms_body),
    )


def update(db: sqlite3.Connection, docs: Mapping[str, IndexedDoc | None]) -> None:
    """Bring the index's documents with these ids to `docs` (None: removed), inside the open
    transaction; a document that indexes the same is only given its new popularity."""
    stored = _stored(db, list(docs))
    for doc_id, doc in docs.items():
        old = stored.get(doc_id)
        if old is not None and doc is not None and old[1].same_index(doc):
            if old[1] != doc:
                db.execute(
                    "UPDATE search_docs SET popularity = ?, names = ?, body = ?, day = ? "
                    "WHERE rowid = ?",
                    (doc.popularity, _SEP.join(doc.names), _SEP.join(doc.body), doc.day, old[0]),
                )
            continue
        if old is not None:
            _remove(db, *old)
        if doc is not None:
            _insert(db, doc)


def rebuild(db: sqlite3.Connection, docs: Iterator[IndexedDoc]) -> None:
    """Replace the whole index by `docs`, inside the open transaction."""
    db.execute("DELETE FROM search_docs")
    db.execute("INSERT INTO search_fts (search_fts) VALUES ('delete-all')")
    for doc in docs:
        _insert(db, doc)


def vocabulary(
    db: sqlite3.Connection, prefixes: Sequence[str], limit: int
) -> dict[str, list[tuple[str, int]]]:
    result: dict[str, list[tuple[str, int]]] = {}
    for prefix in prefixes:
        if not is_term(prefix):
            result[prefix] = []
            continue
        # terms are [a-z0-9]: '{' sorts after every letter and digit
        rows = db.execute(
            "SELECT term, doc FROM search_vocab WHERE term >= ? AND term < ? ORDER BY term LIMIT ?",
            (prefix, prefix + "{", max(limit, 0)),
        )
        result[prefix] = [(str(t), int(n)) for t, n in rows]
    return result


def postings(
    db: sqlite3.Connection, lookups: Sequence[Lookup], limit: int
) -> dict[Lookup, list[str]]:
    result: dict[Lookup, list[str]] = {}
    for lookup in lookups:
        label, terms, prefix = lookup
        if not terms or not all(is_term(t) for t in terms):
            result[lookup] = []  # not terms the index could hold
            continue
        low, high = label_range(label)
        # terms are [a-z0-9]: quoted, they are plain FTS5 strings (and a parameter anyway)
        expression = " AND ".join(f'"{t}"' for t in terms) + ("*" if prefix else "")
        rows = db.execute(
            "SELECT d.doc FROM (SELECT rowid FROM search_fts WHERE search_fts MATCH ? "
            "AND rowid BETWEEN ? AND ? ORDER BY rowid DESC LIMIT ?) AS f "
            "JOIN search_docs AS d ON d.rowid = f.rowid ORDER BY f.rowid DESC",
            (expression, low, high, max(limit, 0)),
        )
        result[lookup] = [str(r[0]) for r in rows]
    return result


def documents(db: sqlite3.Connection, ids: Sequence[str]) -> dict[str, IndexedDoc]:
    return {doc_id: doc for doc_id, (_, doc) in _stored(db, list(dict.fromkeys(ids))).items()}
