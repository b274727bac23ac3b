"""The Neo4j store's search index: the portable path, on any Bolt server.

Neo4j's full-text indexes (Lucene) would answer candidate look-ups, but the ArcadeDB Bolt
server the tests use has none, and their scores are not the embedded store's. So the index is
kept as nodes with ordinary indexes (`graph.neo4j.queries`, "the search index"): a document
per searchable node, a posting per (term, document) carrying the document's order, and a
document count per term. A batch's transaction updates them for every node it changed and both
ends of every relationship it changed (`update`), so a search sees the index of the graph it
reads. The questions `graph.search` asks are equality and prefix look-ups on them; the ranking
is the one `graph.search` gives both stores (docs/search.md says what differs: cost).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import neo4j

from graph.model import Label
from graph.neo4j import codec
from graph.neo4j import queries as q
from graph.search import IndexedDoc, Lookup, document, is_term

_SEP = "\n"
INDEX_VERSION = 1  # the index's layout; a graph whose mark is older (or missing) is indexed again


def _doc(row: dict[str, Any]) -> IndexedDoc:
    names, body = codec.text(row.get("names")), codec.text(row.get("body"))
    return IndexedDoc(
        id=str(row["id"]),
        label=Label(row["label"]),
        names=tuple(names.split(_SEP)) if names else (),
        body=tuple(body.split(_SEP)) if body else (),
        day=codec.text(row.get("day")),
        popularity=int(row.get("popularity") or 0),
        terms_names=codec.text(row.get("terms_names")),
        terms_body=codec.text(row.get("terms_body")),
    )


def stored(tx: neo4j.ManagedTransaction, ids: Sequence[str]) -> dict[str, IndexedDoc]:
    """The index's documents with these ids."""
    if not ids:
        return {}
    return {str(r["id"]): _doc(r.data()) for r in tx.run(q.SEARCH_DOCS, ids=list(ids))}


def sources(tx: neo4j.ManagedTransaction, ids: Sequence[str]) -> dict[str, IndexedDoc | None]:
    """The search documents of these nodes as the transaction sees them; None for a node that
    does not exist (or is not searched)."""
    docs: dict[str, IndexedDoc | None] = dict.fromkeys(ids)
    if not ids:
        return docs
    for record in tx.run(q.SEARCH_SOURCES, ids=list(ids)):
        label = Label(record["label"])
        if label is Label.EVENT:
            claims: list[str] = []
            for texts in record["claims"] or []:
                claims += [t for t in texts or [] if isinstance(t, str)]
            props = {"summary": record["summary"], "occurred_on": record["occurred_on"]}
            docs[record["id"]] = document(record["id"], label, props, claims)
        else:
            props = {"name": record["name"], "aliases": record["aliases"]}
            popularity = int(record["popularity"] or 0)
            docs[record["id"]] = document(record["id"], label, props, popularity=popularity)
    return docs


def _row(doc: IndexedDoc) -> dict[str, object]:
    return {
        "id": doc.id,
        "label": doc.label.value,
        "ord": doc.order(),
        "day": doc.day,
        "popularity": doc.popularity,
        "names": _SEP.join(doc.names),
        "body": _SEP.join(doc.body),
        "terms_names": doc.terms_names,
        "terms_body": doc.terms_body,
    }


def _terms(doc: IndexedDoc | None) -> set[str]:
    if doc is None:
        return set()
    return set(doc.terms_names.split()) | set(doc.terms_body.split())


def update(tx: neo4j.ManagedTransaction, ids: Iterable[str]) -> None:
    """Bring the documents of these nodes up to date in the transaction (`sources`): a
    document that indexes the same is only given its new popularity; another has its postings
    written afresh and the document counts of the terms it gained or lost changed."""
    wanted = list(dict.fromkeys(ids))
    if not wanted:
        return
    new = sources(tx, wanted)
    old = stored(tx, wanted)
    put: list[dict[str, object]] = []
    dropped: list[str] = []
    reposted: list[str] = []
    postings: list[list[object]] = []
    counts: dict[str, int] = {}
    for node_id in wanted:
        before, after = old.get(node_id), new.get(node_id)
        if before is None and after is None:
            continue
        if before is not None and after is not None and before.same_index(after):
            if before != after:
                put.append(_row(after))
            continue
        if after is None:
            dropped.append(node_id)
        else:
            put.append(_row(after))
        if before is not None:
            reposted.append(node_id)
        gained, lost = _terms(after), _terms(before)
        for term in gained - lost:
            counts[term] = counts.get(term, 0) + 1
        for term in lost - gained:
            counts[term] = counts.get(term, 0) - 1
        if after is not None:
            order = after.order()
            postings += [[t, after.label.value, order, node_id] for t in sorted(gained)]
    if reposted:
        tx.run(q.SEARCH_DROP_POSTINGS, ids=reposted).consume()
    if dropped:
        tx.run(q.SEARCH_DROP_DOCS, ids=dropped).consume()
    if put:
        tx.run(q.SEARCH_PUT_DOCS, rows=put).consume()
    if postings:
        tx.run(q.SEARCH_PUT_POSTINGS, rows=postings).consume()
    if counts:
        rows = [[t, n] for t, n in sorted(counts.items()) if n]
        tx.run(q.SEARCH_COUNT_TERMS, rows=rows).consume()
        lost_terms = [t for t, n in rows if n < 0]  # type: ignore[operator]
        if lost_terms:
            tx.run(q.SEARCH_DROP_UNUSED_TERMS, terms=lost_terms).consume()


def vocabulary(
    tx: neo4j.ManagedTransaction, prefixes: Sequence[str], limit: int
) -> dict[str, list[tuple[str, int]]]:
    result: dict[str, list[tuple[str, int]]] = {}
    for prefix in prefixes:
        if not is_term(prefix):  # the empty term is the index's mark, not a term
            result[prefix] = []
            continue
        records = tx.run(q.SEARCH_VOCABULARY, prefix=prefix, limit=max(limit, 0))
        result[prefix] = [(str(r["term"]), int(r["df"])) for r in records]
    return result


def postings(
    tx: neo4j.ManagedTransaction, lookups: Sequence[Lookup], limit: int
) -> dict[Lookup, list[str]]:
    result: dict[Lookup, list[str]] = {}
    for lookup in lookups:
        label, terms, prefix = lookup
        if not terms or not all(is_term(t) for t in terms):
            result[lookup] = []
            continue
        if len(terms) == 1:
            query = q.SEARCH_PREFIX_POSTINGS if prefix else q.SEARCH_TERM_POSTINGS
            records = tx.run(query, term=terms[0], label=label.value, limit=max(limit, 0))
        else:
            # led by the first exact term; every other one checked among the document's terms
            exact = list(terms[:-1] if prefix else terms)
            lead = exact[0]
            records = tx.run(
                q.SEARCH_EVERY_POSTINGS,
                lead=lead,
                label=label.value,
                exact=exact[1:],
                prefix=terms[-1] if prefix else "",
                limit=max(limit, 0),
            )
        result[lookup] = [str(r["doc"]) for r in records]
    return result
