"""Search: the documents both stores index at write time, and the ranking both share.

A store keeps one *search document* (`IndexedDoc`) per event, entity, place and outlet,
written in the same transaction as the batch that changed it: an event's summary and the
claims its reports quote, a named node's name and aliases, and what the ranking boosts by (an
event's date, a named node's popularity: the order of magnitude of how many nodes it is linked
to). Its text is indexed
as *terms*: transliterated to ASCII (anyascii: "Путин" is "putin"), case-folded, split on
anything but letters and digits.

The store answers three small questions (`SearchIndex`): which terms start with a prefix (and
in how many documents each is), which documents hold a term (or a prefix of one), newest or
most popular first and at most a few dozen per term, and what those documents hold. Everything
else happens here, in the same code on both stores, so a result never depends on the store:
fuzzy variants of each word (rapidfuzz, among the indexed terms sharing its first letters:
"lukashenka" finds "lukashenko"), the last word as a prefix (type-ahead), BM25 over the
candidates with a field weight for names, and the boosts (docs/search.md). A query costs the
terms and documents it reads, bounded by `POSTINGS` per term: never a scan of the graph.
"""

from __future__ import annotations

import hashlib
import math
import re
import string
import threading
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from functools import lru_cache
from typing import Final, Protocol, TypeAlias

from anyascii import anyascii
from rapidfuzz import fuzz, process
from snowballstemmer import stemmer  # type: ignore[import-untyped]  # no type hints

from graph.errors import DomainError
from graph.model import Label

SEARCHABLE: Final = (Label.EVENT, Label.ENTITY, Label.PLACE, Label.OUTLET)
MAX_TEXT = 200  # characters of a query
MAX_WORDS = 8  # words of a query that are searched (the rest are ignored)
MAX_BODY = 4000  # characters of a document's body (summary and claims) that are indexed
POSTINGS = 40  # documents read per (type, term) looked up: the bound on a query's cost
VOCABULARY = 300  # terms listed per prefix, for fuzzy variants and prefix expansions
FUZZY_SCORE = 80.0  # rapidfuzz ratio (0-100) a term needs to count as a variant of a word
FUZZY_VARIANTS = 3  # variants kept per word
PREFIX_MIN = 2  # the last word is a prefix from this many letters on
STEM_VARIANTS = 3  # other forms of a word's stem kept ("talks": "talk", "talked", ...)
RESPELL_MIN = 5  # letters of a word found by nothing that is looked for with its start respelt
# Function words: a query's word among them is not required, looked up or scored (only the
# phrase and exact-name bonuses see it), unless every word is one or it is the word being typed.
# From the Snowball English stop list, less words that are also names or acronyms (who, us, it,
# may, will, ...).
_STOP_LIST = (
    "a an and are as at be been but by can could did do does for from had has have he her his "
    "if in into is its of on or our she should so than that the their them then there these "
    "they this those to was we were what when where which with would"
)
STOP_WORDS: Final = frozenset(_STOP_LIST.split())

_WORD = re.compile(r"[a-z0-9]+")
_ORIGINAL_WORD = re.compile(r"\w+")
# BM25 (k1, b) and the average field lengths it normalises by (constants, not statistics of
# the index: both stores then rank alike without reading global counts).
_K1, _B = 1.2, 0.75
_AVG_NAMES, _AVG_BODY = 4.0, 60.0
_NAMES_WEIGHT = 3.0  # a word in a name or alias counts three times one in a summary or claim
_DOCS = 1_000_000  # the document count in idf: a constant, so idf only ranks rarer terms higher
_PREFIX_WEIGHT = 0.8  # a word completed by prefix ("put" -> "putin")
_STEM_WEIGHT = 0.9  # another form of the word's stem ("talks" -> "talk")
_FUZZY_WEIGHT = 0.7  # times the similarity (0.8 to 1) of a fuzzy variant
_STEMMERS = threading.local()  # a Snowball stemmer keeps the word it stems: one per thread
# Cyrillic soft and hard signs, and an apostrophe between Cyrillic letters: anyascii writes
# them as an apostrophe ("Зеленський" is "Zelens'kiy"), which would split the word in two.
_SIGNS = re.compile(r"[ьЬъЪ]|(?<=[\u0400-\u04ff])['\u2019\u02bc](?=[\u0400-\u04ff])")
_LABEL_CODE: Final = {Label.EVENT: 1, Label.ENTITY: 2, Label.PLACE: 3, Label.OUTLET: 4}
_HASH_BITS = 39

# (type, terms, whether the last term is a prefix): the documents of that type holding every
# one of the terms (the last one, or a term it starts, when a prefix). One term mostly; all the
# query's words at once for the documents that hold them all, however many hold each.
Lookup: TypeAlias = tuple[Label, tuple[str, ...], bool]


class SearchError(DomainError):
    """A search the user can fix: empty or too long a text, a type that is not searchable."""


@dataclass(frozen=True, slots=True)
class IndexedDoc:
    """What a store's search index holds of one node. `names`: a named node's name, then its
    aliases; `body`: an event's summary, then the claims its reports quote (sorted). `day`: an
    event's date (`YYYY-MM-DD`, or ''); `popularity`: the bit length of a named node's count of
    distinct neighbours (0 for none, 1 for one, 2 for 2-3, ... 13 for 4,096-8,191): it changes
    seldom, so a write linking a popular entity once more rewrites nothing of the index.
    `terms_names` and `terms_body` are their terms, space-separated (`terms`)."""

    id: str
    label: Label
    names: tuple[str, ...]
    body: tuple[str, ...]
    day: str
    popularity: int
    terms_names: str
    terms_body: str

    def order(self) -> int:
        """Where the document sorts in its type's postings, greatest first (`label_range`):
        an event by its date, newest first; a named node by its popularity's order of
        magnitude, most popular first; then by a hash of its id (ties are left to the id)."""
        if self.label is Label.EVENT:
            try:
                within = date.fromisoformat(self.day[:10]).toordinal()
            except ValueError:
                within = 0
        else:
            within = min(self.popularity, 255)
        digest = hashlib.blake2b(self.id.encode(), digest_size=8).digest()
        low = int.from_bytes(digest, "big") >> (64 - _HASH_BITS)
        return (_LABEL_CODE[self.label] << 59) | (within << _HASH_BITS) | low

    def same_index(self, other: IndexedDoc) -> bool:
        """Whether `other` indexes the same terms at the same place (only the spelling of its
        names, or an event's date within a day, may differ)."""
        return (
            self.terms_names == other.terms_names
            and self.terms_body == other.terms_body
            and self.order() == other.order()
        )


def label_range(label: Label) -> tuple[int, int]:
    """The smallest and largest `IndexedDoc.order` of a document of `label`."""
    code = _LABEL_CODE[label]
    return code << 59, ((code + 1) << 59) - 1


def normalise(text: str) -> str:
    """`text` transliterated to ASCII and case-folded."""
    return anyascii(text).casefold()


def is_term(text: str) -> bool:
    """Whether `text` can be a term of the index, or begin one: the stores answer a prefix or
    a lookup that cannot with nothing, without asking their index (the empty prefix would
    otherwise list every term on one store and none on another)."""
    return _WORD.fullmatch(text) is not None


def terms(text: str) -> list[str]:
    """The terms of `text`, in order: its words, transliterated and case-folded."""
    return list(_terms(text))


@lru_cache(maxsize=16384)
def _terms(text: str) -> tuple[str, ...]:
    # a write recomputes the documents of the events it touches: their texts mostly the same
    return tuple(_WORD.findall(normalise(text)))


def document(
    node_id: str,
    label: Label,
    props: Mapping[str, object],
    claims: Iterable[str] = (),
    popularity: int = 0,
) -> IndexedDoc | None:
    """The search document of a node (None for a label that is not searched). `claims`: an
    event's claim texts from all its reports."""
    if label not in _LABEL_CODE:
        return None
    popularity = popularity.bit_length()
    names: tuple[str, ...] = ()
    body: tuple[str, ...] = ()
    day = ""
    if label is Label.EVENT:
        summary = props.get("summary")
        parts = [summary] if isinstance(summary, str) and summary else []
        size = sum(len(p) for p in parts)
        for claim in sorted({" ".join(c.split()) for c in claims if c.strip()}):
            if size + len(claim) > MAX_BODY:
                break
            parts.append(claim)
            size += len(claim)
        body = tuple(" ".join(p.split()) for p in parts)
        occurred = props.get("occurred_on")
        day = occurred[:10] if isinstance(occurred, str) else ""
        popularity = 0
    else:
        name = props.get("name")
        first = " ".join(name.split()) if isinstance(name, str) else ""
        aliases = props.get("aliases")
        others = sorted(
            {" ".join(a.split()) for a in aliases if isinstance(a, str)}
            if isinstance(aliases, list)
            else set()
        )
        names = tuple(n for n in [first, *(a for a in others if a != first)] if n)
    return IndexedDoc(
        id=node_id,
        label=label,
        names=names,
        body=body,
        day=day,
        popularity=popularity,
        terms_names=" ".join(terms(" ".join(names))),
        terms_body=" ".join(terms(" ".join(body))),
    )


class SearchIndex(Protocol):
    """What a store answers for a search (`graph.store.GraphStore` has these three)."""

    def search_vocabulary(
        self, prefixes: Sequence[str], limit: int
    ) -> dict[str, list[tuple[str, int]]]:
        """For each prefix, the indexed terms starting with it in term order, at most `limit`,
        each with the number of documents holding it."""
        ...

    def search_postings(self, lookups: Sequence[Lookup], limit: int) -> dict[Lookup, list[str]]:
        """For each (type, terms, prefix) the ids of at most `limit` documents of that type
        holding every term (the last, when a prefix: a term starting with it), by
        `IndexedDoc.order` greatest first, then id."""
        ...

    def search_documents(self, ids: Sequence[str]) -> dict[str, IndexedDoc]:
        """The indexed documents with these ids."""
        ...


@dataclass(frozen=True, slots=True)
class SearchQuery:
    """A search: `text` (its last word a prefix unless it ends with a space), the types of
    results, and the page: `first` results after the first `offset`."""

    text: str
    types: tuple[Label, ...] = SEARCHABLE
    first: int = 20
    offset: int = 0


@dataclass(frozen=True, slots=True)
class Highlight:
    """Where a result matched: the field (`name`, `alias`, `summary` or `claim`), its text (a
    fragment of it when long), and the matching words' [start, end) offsets in that text."""

    field: str
    text: str
    spans: tuple[tuple[int, int], ...]


@dataclass(frozen=True, slots=True)
class Hit:
    doc: IndexedDoc
    score: float
    highlights: tuple[Highlight, ...]


@dataclass(frozen=True, slots=True)
class SearchPage:
    hits: list[Hit]
    has_next: bool


def check(query: SearchQuery) -> None:
    """Refuse a query the user must change, saying which part and why."""
    if not query.text.strip():
        raise SearchError("text must not be empty")
    if len(query.text) > MAX_TEXT:
        raise SearchError(
            f"text is longer than {MAX_TEXT} characters ({len(query.text):,}): search for a "
            "few words"
        )
    if not query.types:
        raise SearchError("types must name at least one type")
    for label in query.types:
        if label not in _LABEL_CODE:
            known = ", ".join(lb.value for lb in SEARCHABLE)
            raise SearchError(f"types: {label.value!r} is not searchable (one of {known})")
    if query.first < 0 or query.offset < 0:
        raise SearchError("first and the offset must not be negative")


@dataclass(slots=True)
class _Word:
    """One word of the query and the terms that count as it, each with a weight."""

    text: str
    prefix: bool
    variants: dict[str, float]
    # a prefix whose every indexed term is among `variants` (its listing was not cut short)
    listed: bool = False
    stop: bool = False  # a function word (`STOP_WORDS`): neither required nor scored


def search(index: SearchIndex, query: SearchQuery) -> SearchPage:
    """The page of results of `query`, best first (docs/search.md has the ranking)."""
    check(query)
    words, dfs = _words(index, query.text)
    if not words or query.first == 0:
        return SearchPage([], False)
    types = tuple(dict.fromkeys(query.types))
    lookups: list[Lookup] = []
    # the documents holding every word (each as spelt, or its closest variant), then those
    # holding each word or variant: the newest events and most popular names of each
    required = [w for w in words if not w.stop]
    spelt = [_spelling(w) for w in required]
    last = [spelt.pop()] if required[-1].prefix else []
    # rarest first: a store may read the documents of the first term and check the others
    every = tuple(sorted(spelt, key=lambda t: (dfs.get(t, 0), t)) + last)
    for label in types:
        if len(required) > 1 and all(every):
            lookups.append((label, every, required[-1].prefix))
        for word in required:
            if word.prefix:  # its lookup finds the terms it starts
                lookups.append((label, (word.text,), True))
            lookups += [
                (label, (t,), False)
                for t in word.variants
                if not (word.prefix and t.startswith(word.text))
            ]
    lookups = list(dict.fromkeys(lookups))
    found = index.search_postings(lookups, POSTINGS)
    ids = list(dict.fromkeys(i for lookup in lookups for i in found.get(lookup, [])))
    docs = index.search_documents(ids)
    ranked = _rank([docs[i] for i in ids if i in docs], words, query.text, dfs)
    end = query.offset + query.first
    page = ranked[query.offset : end]
    hits = [Hit(doc, score, _highlights(doc, words)) for score, doc in page]
    return SearchPage(hits, len(ranked) > end)


def _spelling(word: _Word) -> str:
    """The form of `word` a lookup of every word uses: as typed when indexed (or a prefix),
    else its closest variant ('' when it has none)."""
    if word.prefix or word.text in word.variants:
        return word.text
    return max(word.variants.items(), key=lambda v: (v[1], v[0]), default=("", 0.0))[0]


def find(index: SearchIndex, text: str, types: Sequence[Label], first: int) -> list[IndexedDoc]:
    """The first `first` documents `text` finds among `types`, best first (a shorthand)."""
    return [hit.doc for hit in search(index, SearchQuery(text, tuple(types), first)).hits]


def _words(index: SearchIndex, text: str) -> tuple[list[_Word], dict[str, int]]:
    """The query's words with their variants: the word itself when indexed, fuzzy variants
    among indexed terms, and for the last word (unless the text ends with a space) every
    indexed term it starts; and the document frequencies of the terms listed."""
    found = list(dict.fromkeys(terms(_joined(text))))[:MAX_WORDS]
    if not found:
        return [], {}
    typing = not text[-1:].isspace()
    # fuzzy variants are looked for among the terms sharing a word's first three letters and
    # its first two (a listing each, in term order); other forms of its stem among the terms
    # starting with the stem (less a last e, i or y: "strik" lists "strike" and "striking")
    pools = {w: [w[:3], w[:2]] if len(w) >= 4 else [] for w in found}
    stems = {w: _stem(w) for w in found if len(w) >= 4}
    roots = {w: _root(s) for w, s in stems.items()}
    listed_prefixes = {p for ps in pools.values() for p in ps} | set(found) | set(roots.values())
    vocabulary = index.search_vocabulary(sorted(listed_prefixes), VOCABULARY)
    words: list[_Word] = []
    dfs: dict[str, int] = {}
    all_stop = all(w in STOP_WORDS for w in found)
    for position, word in enumerate(found):
        prefix = typing and position == len(found) - 1 and len(word) >= PREFIX_MIN
        listed = dict(vocabulary.get(word, []))
        for pool in pools[word]:
            listed.update(vocabulary.get(pool, []))
        dfs.update(listed)
        variants: dict[str, float] = {}
        if word in listed:
            variants[word] = 1.0
        if prefix:
            for term, _ in vocabulary.get(word, []):
                variants.setdefault(term, _PREFIX_WEIGHT)
        if word in stems:
            forms = vocabulary.get(roots[word], [])
            dfs.update(forms)
            _add(variants, _stem_forms(word, stems[word], forms), _STEM_WEIGHT)
        if len(word) >= 4 and word not in listed:  # an indexed word is taken as spelt
            _add(variants, _fuzzy(word, prefix and not vocabulary.get(word), listed), 1.0)
        listed_all = prefix and len(vocabulary.get(word, [])) < VOCABULARY
        stop = word in STOP_WORDS and not prefix and not all_stop
        words.append(_Word(word, prefix, variants, listed_all, stop))
    _respell(index, [w for w in words if not w.variants and len(w.text) >= RESPELL_MIN], dfs)
    return words, dfs


def _joined(text: str) -> str:
    """`text` without the Cyrillic signs anyascii would turn into a word break."""
    return _SIGNS.sub("", text)


@lru_cache(maxsize=65536)
def _stem(term: str) -> str:
    english = getattr(_STEMMERS, "english", None)
    if english is None:
        english = _STEMMERS.english = stemmer("english")
    return str(english.stemWord(term))


def _root(stem: str) -> str:
    """The prefix the other forms of a stem start with: the stem less a last e, i or y (Snowball
    stems "strike" and "striking" to "strike", "study" and "studies" to "studi")."""
    return stem[:-1] if len(stem) > 3 and stem[-1] in "eiy" else stem


def _stem_forms(word: str, stem: str, listed: Sequence[tuple[str, int]]) -> list[tuple[str, float]]:
    """The listed terms (term, documents) other than `word` with its stem, most used first."""
    forms = [
        (t, n) for t, n in listed if t != word and len(t) <= len(word) + 4 and _stem(t) == stem
    ]
    forms.sort(key=lambda f: (-f[1], f[0]))
    return [(t, 1.0) for t, _ in forms[:STEM_VARIANTS]]


def _fuzzy(word: str, prefix: bool, listed: Iterable[str]) -> list[tuple[str, float]]:
    """The terms of `listed` closest to `word` (rapidfuzz ratio at least `FUZZY_SCORE`), each
    with its weight; for a prefix being typed that no term starts, also the terms whose start
    is close to it ("lukashan" is like the start of "lukashenko")."""
    candidates = [t for t in listed if t != word]
    whole = process.extract(
        word,
        [t for t in candidates if abs(len(t) - len(word)) <= 2],
        scorer=fuzz.ratio,
        score_cutoff=FUZZY_SCORE,
        limit=FUZZY_VARIANTS,
    )
    found = [(term, _FUZZY_WEIGHT * score / 100) for term, score, _ in whole]
    if prefix:
        starts = {t: t[: len(word)] for t in candidates if len(t) > len(word)}
        close = process.extract(
            word, starts, scorer=fuzz.ratio, score_cutoff=FUZZY_SCORE, limit=FUZZY_VARIANTS
        )
        weight = _PREFIX_WEIGHT * _FUZZY_WEIGHT
        found += [(term, weight * score / 100) for _, score, term in close]
    found.sort(key=lambda c: (-c[1], c[0]))
    return found


def _add(variants: dict[str, float], found: Iterable[tuple[str, float]], weight: float) -> None:
    for term, score in found:
        variants.setdefault(term, weight * score)


def _respell(index: SearchIndex, words: list[_Word], dfs: dict[str, int]) -> None:
    """Fuzzy variants of `words` (found by nothing: no term, completion or variant) among the
    terms whose first four letters differ from theirs in the first or second letter, or by those
    two swapped ("vitkoff" is "witkoff", "rideov" "rydeov"): a second, rarer listing."""
    starts: dict[str, list[str]] = {}
    for word in words:
        head = word.text[:4]
        options = {head[1] + head[0] + head[2:]}
        for at in (0, 1):
            options |= {head[:at] + c + head[at + 1 :] for c in string.ascii_lowercase}
        options.discard(head)
        starts[word.text] = sorted(options)
    if not starts:
        return
    vocabulary = index.search_vocabulary(sorted({p for ps in starts.values() for p in ps}), 50)
    for word in words:
        listed = dict(item for p in starts[word.text] for item in vocabulary.get(p, []))
        found = _fuzzy(word.text, word.prefix, listed)
        dfs.update((term, listed[term]) for term, _ in found)
        _add(word.variants, found, 1.0)


def _idf(term: str, dfs: Mapping[str, int]) -> float:
    df = dfs.get(term) or 1
    return math.log(1 + (_DOCS - df + 0.5) / (df + 0.5))


def _field(tf: float, length: int, avg: float) -> float:
    if tf <= 0:
        return 0.0
    return tf * (_K1 + 1) / (tf + _K1 * (1 - _B + _B * length / avg))


def _word_score(
    word: _Word, names: list[str], body: list[str], held: set[str], dfs: Mapping[str, int]
) -> float:
    """The best score of the terms `held` by a document (`names` and `body`) that count as
    `word`: its variants, and, for a prefix, every term it starts. A document's terms are
    checked against the variants (a prefix of three letters may have hundreds)."""
    best = 0.0
    variants = word.variants
    found: list[tuple[str, float]] = []
    if not word.prefix or word.listed:
        # the terms that count as it are its variants: those the document holds (a set
        # intersection; a prefix's variants may be hundreds, a document's terms dozens)
        found = [(term, variants[term]) for term in variants.keys() & held]
    else:  # a prefix whose listing was cut short: the document's terms it starts
        for term in held:
            weight = variants.get(term)
            if weight is None and term.startswith(word.text):
                weight = 1.0 if term == word.text else _PREFIX_WEIGHT
            if weight is not None:
                found.append((term, weight))
    for term, weight in found:
        tf_names, tf_body = names.count(term), body.count(term)
        score = (
            weight
            * _idf(term, dfs)
            * (
                _NAMES_WEIGHT * _field(tf_names, len(names), _AVG_NAMES)
                + _field(tf_body, len(body), _AVG_BODY)
            )
        )
        best = max(best, score)
    return best


def _rank(
    docs: list[IndexedDoc], words: list[_Word], text: str, dfs: Mapping[str, int]
) -> list[tuple[float, IndexedDoc]]:
    """The documents that match every word (or, when none does, any word), scored and sorted:
    BM25 of each word's best variant, the share of words matched, a phrase and an exact-name
    bonus, then a named node's popularity and an event's recency (docs/search.md)."""
    newest = max((d.day for d in docs if d.label is Label.EVENT and d.day), default="")
    newest_day = _ordinal(newest)
    phrase = " ".join(w.text for w in words)
    required = [w for w in words if not w.stop]
    scored: list[tuple[float, IndexedDoc]] = []
    for doc in docs:
        names, body = doc.terms_names.split(), doc.terms_body.split()
        held = {*names, *body}
        parts = [_word_score(w, names, body, held, dfs) for w in required]
        matched = sum(1 for p in parts if p > 0)
        if not matched:
            continue
        score = sum(parts) * (matched / len(required)) ** 2
        if len(words) > 1 and (
            (phrase in doc.terms_names and f" {phrase} " in f" {doc.terms_names} ")
            or (phrase in doc.terms_body and f" {phrase} " in f" {doc.terms_body} ")
        ):
            score *= 1.5
        if any(" ".join(terms(_joined(n))) == phrase for n in doc.names):
            score *= 2.0
        if doc.label is Label.EVENT:
            if newest_day and doc.day:
                age = max(newest_day - _ordinal(doc.day), 0)
                score *= 1 + 0.5 * 0.5 ** (age / 180)
        else:
            score *= 1 + 0.3 * doc.popularity  # about log2 of its neighbours
        scored.append((round(score, 9), doc))
    scored.sort(key=lambda s: (-s[0], _LABEL_CODE[s[1].label], s[1].id))
    return scored


def _ordinal(day: str) -> int:
    try:
        return date.fromisoformat(day[:10]).toordinal()
    except ValueError:
        return 0


class _Matcher:
    """Whether a term of a document's text is one the query matched."""

    def __init__(self, words: list[_Word]) -> None:
        self.exact = frozenset(t for w in words for t in w.variants)
        self.prefixes = tuple(w.text for w in words if w.prefix)

    def __call__(self, token: str) -> bool:
        return token in self.exact or token.startswith(self.prefixes)


_FRAGMENT = 160  # characters of a long field shown around its first match
_HIGHLIGHTS = 3  # fields highlighted per result


def _highlight(field: str, text: str, matches: _Matcher) -> Highlight | None:
    spans: list[tuple[int, int]] = []
    for found in _ORIGINAL_WORD.finditer(text):
        word = found.group()
        parts = _WORD.findall(word.casefold()) if word.isascii() else terms(word)
        if any(matches(t) for t in parts):
            spans.append(found.span())
    if not spans:
        return None
    if len(text) <= _FRAGMENT:
        return Highlight(field, text, tuple(spans))
    start = max(spans[0][0] - _FRAGMENT // 4, 0)
    if start:
        start = text.rfind(" ", 0, start) + 1  # at the start of a word
    end = min(start + _FRAGMENT, len(text))
    inside = tuple((a - start, b - start) for a, b in spans if a >= start and b <= end)
    return Highlight(field, text[start:end], inside)


def _highlights(doc: IndexedDoc, words: list[_Word]) -> tuple[Highlight, ...]:
    if doc.label is Label.EVENT:
        fields = [("summary" if i == 0 else "claim", t) for i, t in enumerate(doc.body)]
    else:
        fields = [("name" if i == 0 else "alias", t) for i, t in enumerate(doc.names)]
    matches = _Matcher([w for w in words if not w.stop])
    found: list[Highlight] = []
    for field, text in fields:
        highlight = _highlight(field, text, matches)
        if highlight is not None:
            found.append(highlight)
            if len(found) == _HIGHLIGHTS:
                break
    return tuple(found)
