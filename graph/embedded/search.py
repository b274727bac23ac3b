"""The embedded store's search index: SQLite FTS5 beside the graph's tables (format 5).

`search_docs` holds one row per search document (`graph.search.IndexedDoc`), its rowid being
the document's `order` (a collision, one in 2^39 documents of a day, takes the next free
rowid); `search_fts` is an FTS5 index over its terms (external content: the rows of
`search_docs`), with prefix indexes of 2 and 3 letters for type-ahead; `search_terms` lists its
terms with their document counts (format 5; kept by `update` and `rebuild`, where format 4 read
the fts5vocab table `search_vocab`, which counts a term's documents by reading its doclist). A
write updates them in its own transaction (`update`), so a reader of the file, any process,
sees the index of the graph it reads.

A term's postings are read by rowid, greatest first, at most a page: FTS5 walks its doclist in
rowid order and stops there, so a term in 100,000 events costs what one in 40 does. A prefix
FTS5 has no prefix index for (4 letters or more) would make it merge the whole doclists of
every term it starts before giving the first row; so such a prefix is asked as the OR of the
terms it starts (`search_terms`), which FTS5 merges lazily, up to `_EXPANSION` terms.
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
CREATE TABLE IF NOT EXISTS search_terms (
    term TEXT PRIMARY KEY, docs INTEGER NOT NULL
) WITHOUT ROWID;
"""
# Format 4 to 5 (after SCHEMA made `search_terms`): the terms' counts, once, from fts5vocab.
FILL_TERMS = """
DELETE FROM search_terms;
INSERT INTO search_terms SELECT term, doc FROM search_vocab;
"""

_SEP = "\n"  # between the names (and the body's parts) in one column
_COLUMNS = "rowid, doc, label, day, popularity, names, body, terms_names, terms_body"
_CHUNK = 500  # ids per IN (...) list
_PREFIX_INDEXED = (2, 3)  # prefix lengths FTS5 keeps an index for (`prefix='2 3'`)
# A longer prefix is asked as the OR of the terms it starts when they are at most this many (a
# term costs FTS5 a seek, ~15 us); past it, as a prefix (FTS5 reads every one's doclist).
_EXPANSION = 64


def _chunks(items: Sequence[str]) -> Iterator[Sequence[str]]:
    for start in range(0, len(items), _CHUNK):
        yield items[start : start + _CHUNK]


_LABELS = {label.value: label for label in Label}  # faster than calling the enum


def _doc(row: tuple[int, str, str, str, int, str, str, str, str]) -> IndexedDoc:
    _, doc, label, day, popularity, names, body, terms_names, terms_body = row
    return IndexedDoc(
        id=doc,
        label=_LABELS[label],
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


def _distinct_terms(doc: IndexedDoc) -> set[str]:
    return set(doc.terms_names.split()) | set(doc.terms_body.split())


def _count(db: sqlite3.Connection, deltas: Mapping[str, int]) -> None:
    """Change the document counts of terms by `deltas`; a term in no document is dropped."""
    rows = [(term, n) for term, n in sorted(deltas.items()) if n]
    db.executemany(
        "INSERT INTO search_terms (term, docs) VALUES (?, ?) "
        "ON CONFLICT (term) DO UPDATE SET docs = docs + excluded.docs",
        rows,
    )
    db.executemany(
        "DELETE FROM search_terms WHERE term = ? AND docs <= 0", [(t,) for t, n in rows if n < 0]
    )


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


def tidy(db: sqlite3.Connection) -> None:
    """Merge the index's segments into one (FTS5 'optimize'), inside the open transaction:
    after a bulk load, each term's postings are one b-tree to read instead of several."""
    db.execute("INSERT INTO search_fts (search_fts) VALUES ('optimize')")


def update(db: sqlite3.Connection, docs: Mapping[str, IndexedDoc | None]) -> None:
    """Bring the index's documents with these ids to `docs` (None: removed), inside the open
    transaction; a document that indexes the same is only given its new popularity."""
    stored = _stored(db, list(docs))
    deltas: dict[str, int] = {}
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
            for term in _distinct_terms(old[1]):
                deltas[term] = deltas.get(term, 0) - 1
        if doc is not None:
            _insert(db, doc)
            for term in _distinct_terms(doc):
                deltas[term] = deltas.get(term, 0) + 1
    _count(db, deltas)


def rebuild(db: sqlite3.Connection, docs: Iterator[IndexedDoc]) -> None:
    """Replace the whole index by `docs`, inside the open transaction."""
    db.execute("DELETE FROM search_docs")
    db.execute("INSERT INTO search_fts (search_fts) VALUES ('delete-all')")
    db.execute("DELETE FROM search_terms")
    counts: dict[str, int] = {}
    for doc in docs:
        _insert(db, doc)
        for term in _distinct_terms(doc):
            counts[term] = counts.get(term, 0) + 1
    _count(db, counts)


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
            "SELECT term, docs FROM search_terms WHERE term >= ? AND term < ? ORDER BY term "
            "LIMIT ?",
            (prefix, prefix + "{", max(limit, 0)),
        )
        result[prefix] = [(str(t), int(n)) for t, n in rows]
    return result


def postings(
    db: sqlite3.Connection, lookups: Sequence[Lookup], limit: int
) -> dict[Lookup, list[str]]:
    result: dict[Lookup, list[str]] = {}
    expanded: dict[str, str | None] = {}  # prefix -> its FTS5 expression (None: no term)
    for lookup in lookups:
        label, terms, prefix = lookup
        if not terms or not all(is_term(t) for t in terms):
            result[lookup] = []  # not terms the index could hold
            continue
        low, high = label_range(label)
        # terms are [a-z0-9]: quoted, they are plain FTS5 strings (and a parameter anyway)
        parts = [f'"{t}"' for t in terms]
        if prefix:
            last = terms[-1]
            if last not in expanded:
                expanded[last] = _prefix_expression(db, last)
            if expanded[last] is None:
                result[lookup] = []  # no indexed term starts with it
                continue
            parts[-1] = str(expanded[last])
        expression = " AND ".join(parts)
        rows = db.execute(
            "SELECT d.doc FROM (SELECT rowid FROM search_fts WHERE search_fts MATCH ? "
            "AND rowid BETWEEN ? AND ? ORDER BY rowid DESC LIMIT ?) AS f "
            "JOIN search_docs AS d ON d.rowid = f.rowid ORDER BY f.rowid DESC",
            (expression, low, high, max(limit, 0)),
        )
        result[lookup] = [str(r[0]) for r in rows]
    return result


def _prefix_expression(db: sqlite3.Connection, prefix: str) -> str | None:
    """The FTS5 expression of the terms starting with `prefix`: a prefix query where FTS5 has
    its prefix index, else the OR of the terms (up to `_EXPANSION`); None when there is none."""
    if len(prefix) in _PREFIX_INDEXED:
        return f'"{prefix}"*'
    rows = db.execute(
        "SELECT term FROM search_terms WHERE term >= ? AND term < ? ORDER BY term LIMIT ?",
        (prefix, prefix + "{", _EXPANSION + 1),
    ).fetchall()
    if not rows:
        return None
    if len(rows) > _EXPANSION:
        return f'"{prefix}"*'
    return "(" + " OR ".join(f'"{term}"' for (term,) in rows) + ")"


def documents(db: sqlite3.Connection, ids: Sequence[str]) -> dict[str, IndexedDoc]:
    return {doc_id: doc for doc_id, (_, doc) in _stored(db, list(dict.fromkeys(ids))).items()}
