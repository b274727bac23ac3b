"""Search over GraphQL: `find` (ranked, typed, paged, highlighted) and the older `search` list,
both answered by `graph.search` from the store's search index (docs/search.md)."""

from __future__ import annotations

from enum import Enum

import strawberry

from api import heavy
from api.context import Info
from api.errors import UserError
from api.nodes import SearchResult, as_graph_node
from api.paging import PageInfo, decode_offset, encode_cursor, page_info, page_size
from graph.errors import DomainError
from graph.model import Label
from graph.search import MAX_TEXT, SEARCHABLE, Hit, SearchPage, SearchQuery, search

# Results a client may page through: the ranked candidates are bounded anyway
# (`graph.search.POSTINGS` per term), and a cursor past them finds nothing.
MAX_OFFSET = 1000


@strawberry.enum(description="What a search result is.")
class SearchType(Enum):
    EVENT = "Event"
    ENTITY = "Entity"
    PLACE = "Place"
    OUTLET = "Outlet"


@strawberry.type(description="A matching word's place in a highlighted text: [start, end).")
class Span:
    start: int
    end: int


@strawberry.type(description="Where a result matched the search.")
class SearchHighlight:
    field: str = strawberry.field(description="`name`, `alias`, `summary` or `claim`.")
    text: str = strawberry.field(description="The field's text, or a fragment of a long one.")
    spans: list[Span] = strawberry.field(description="The matching words in `text`.")


@strawberry.type
class SearchEdge:
    cursor: str
    node: SearchResult
    score: float = strawberry.field(description="The ranking's score: higher is better.")
    highlights: list[SearchHighlight]


@strawberry.type(description="A page of search results, best first.")
class SearchConnection:
    edges: list[SearchEdge]
    page_info: PageInfo


def _query(text: str, types: list[SearchType] | None, first: int, offset: int) -> SearchQuery:
    if not text.strip():
        raise UserError("text must not be empty")
    if len(text) > MAX_TEXT:
        raise UserError(f"text is longer than {MAX_TEXT} characters ({len(text):,})")
    if types is not None and not types:
        raise UserError("types must name at least one type (or be left out for all)")
    if offset > MAX_OFFSET:
        raise UserError(f"after: results past the first {MAX_OFFSET} are not served")
    labels = tuple(Label(t.value) for t in types) if types else SEARCHABLE
    return SearchQuery(text, labels, first, offset)


async def _run(info: Info, query: SearchQuery) -> SearchPage:
    store = info.context.store
    try:
        # the index's reads are I/O (the file, the server): off the event loop (api.heavy)
        return await heavy.read(info, lambda: search(store, query))
    except DomainError as exc:
        raise UserError(str(exc)) from exc


async def _nodes(info: Info, hits: list[Hit]) -> list[tuple[int, Hit, SearchResult]]:
    """The hits whose nodes this process can read, with their place in `hits` (a follower may
    not have applied a write the index already shows: that hit is left out until it has)."""
    nodes = await info.context.nodes.load_many([h.doc.id for h in hits])
    return [
        (position, hit, as_graph_node(node))  # type: ignore[misc]
        for position, (hit, node) in enumerate(zip(hits, nodes, strict=True))
        if node is not None and node.label is hit.doc.label
    ]


async def find_results(
    info: Info, text: str, types: list[SearchType] | None, first: int, after: str | None
) -> SearchConnection:
    offset = decode_offset(after)
    query = _query(text, types, page_size(first), offset)
    page = await _run(info, query)
    edges = [
        SearchEdge(
            cursor=encode_cursor(str(offset + position + 1)),
            node=node,
            score=hit.score,
            highlights=[
                SearchHighlight(
                    field=h.field, text=h.text, spans=[Span(start=a, end=b) for a, b in h.spans]
                )
                for h in hit.highlights
            ],
        )
        for position, hit, node in await _nodes(info, page.hits)
    ]
    return SearchConnection(
        edges=edges, page_info=page_info(after, [e.cursor for e in edges], page.has_next)
    )


async def search_list(info: Info, text: str, first: int) -> list[SearchResult]:
    """The older `search` field, kept for its clients: events first (as it always listed them),
    then entities, places and outlets, each part ranked as `find` ranks it."""
    size = page_size(first)
    events = await _run(info, _query(text, [SearchType.EVENT], size, 0))
    hits = events.hits
    if len(hits) < size:
        others = [SearchType.ENTITY, SearchType.PLACE, SearchType.OUTLET]
        hits += (await _run(info, _query(text, others, size - len(hits), 0))).hits
    return [node for _, _, node in await _nodes(info, hits)]
