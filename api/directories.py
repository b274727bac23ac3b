"""The directories a site lists: entities, outlets, places and stories, filtered, in a chosen
order, a page at a time either way, with their totals; and one story by its outlet and slug.

Each reads through the port's `list_nodes` and `count_nodes` (graph.store.NodeQuery): a page
costs the page, a total a count the store keeps (embedded) or reads from its indexes (Neo4j).
"""

from __future__ import annotations

from dataclasses import replace
from enum import Enum
from typing import Generic, TypeVar

import strawberry

from api.context import Info
from api.dataloaders import at_once
from api.errors import UserError
from api.nodes import Entity, Outlet, Place, Story
from api.paging import PageInfo, Window, decode_cursor, encode_cursor, page_info_of, window
from api.scalars import EntityType, Tier
from graph import keys
from graph.model import Label, Node
from graph.store import NodeQuery

MAX_FILTER_TEXT = 100

T = TypeVar("T", Entity, Outlet, Place, Story)


@strawberry.enum(
    description="The order of a directory of named things (entities, outlets, places)."
)
class NameOrder(Enum):
    NAME = "name"
    NAME_DESCENDING = "name_descending"


@strawberry.enum(description="The order of a directory of stories.")
class StoryOrder(Enum):
    NEWEST_FIRST = "newest_first"  # by publication date; stories without one are not listed
    OLDEST_FIRST = "oldest_first"
    SLUG = "slug"


@strawberry.type(description="One item of a directory page and its cursor.")
class DirectoryEdge(Generic[T]):
    cursor: str
    node: T


@strawberry.type(
    description="A page of a directory (Relay cursor connection): forward with first/after, "
    "backward with last/before."
)
class DirectoryConnection(Generic[T]):
    edges: list[DirectoryEdge[T]]
    page_info: PageInfo
    query: strawberry.Private[NodeQuery]

    @strawberry.field(
        description="How many the whole listing holds (every page, this filter): exact. A "
        "count the store keeps as it writes (embedded; with two filters, the nodes of the "
        "narrower one are checked), or counted through its indexes (Neo4j); never a scan."
    )
    @at_once
    async def total_count(self, info: Info) -> int:
        return await info.context.read(info.context.store.count_nodes, self.query)


async def _page(
    info: Info,
    base: NodeQuery,
    asked: Window,
    descending: bool,
    kind: type[T],
) -> DirectoryConnection[T]:
    """The page `asked` of the listing `base` (its label, filter and order), in `descending`
    order or not, shown as `kind`."""
    after: tuple[str, str] | None = None
    if asked.cursor is not None:
        argument = "before" if asked.backward else "after"
        order_by, on, node_id = decode_cursor(asked.cursor, 3, argument)
        if order_by != base.order_by:
            raise UserError(f"{argument}: the cursor is from another order of the listing")
        after = (on, node_id)
    query = replace(
        base, first=asked.size + 1, after=after, descending=descending != asked.backward
    )
    found = await info.context.read(info.context.store.list_nodes, query)
    more = len(found) > asked.size
    nodes: list[Node] = found[: asked.size]
    if asked.backward:
        nodes.reverse()
    edges = [
        DirectoryEdge(
            cursor=encode_cursor(base.order_by, _position(n, base), n.id), node=kind.of(n)
        )
        for n in nodes
    ]
    info_ = page_info_of(asked, [e.cursor for e in edges], more)
    return DirectoryConnection(edges=edges, page_info=info_, query=base)


def _position(node: Node, query: NodeQuery) -> str:
    value = node.props.get(query.order_by)  # a string: the listing holds no other
    return value if isinstance(value, str) else ""


def _text(argument: str, value: str | None) -> str | None:
    if value is not None and len(value) > MAX_FILTER_TEXT:
        raise UserError(f"{argument} is longer than {MAX_FILTER_TEXT} characters")
    return value


async def _known(info: Info, node_id: str, label: Label, what: str, kind: str = "") -> None:
    node = await info.context.nodes.load(node_id)
    if node is None or node.label is not label or (kind and node.text("kind") != kind):
        raise UserError(f"no {what} with id '{node_id}'")


def _where(**values: str | None) -> tuple[tuple[str, str], ...]:
    return tuple((name, value) for name, value in sorted(values.items()) if value is not None)


@strawberry.type
class DirectoryQuery:
    """The directories' fields of `Query`."""

    @strawberry.field(description="Every entity, by name, optionally of one type.")
    @at_once
    async def entities(
        self,
        info: Info,
        type: EntityType | None = None,
        order: NameOrder = NameOrder.NAME,
        first: int | None = None,
        after: str | None = None,
        last: int | None = None,
        before: str | None = None,
    ) -> DirectoryConnection[Entity]:
        where = _where(type=type.value if type is not None else None)
        base = NodeQuery(Label.ENTITY, "name", 0, where=where)
        descending = order is NameOrder.NAME_DESCENDING
        return await _page(info, base, window(first, after, last, before), descending, Entity)

    @strawberry.field(
        description="Every outlet, by name, optionally of one tier, country (as the registry "
        "gives it) or kind."
    )
    @at_once
    async def outlets(
        self,
        info: Info,
        tier: Tier | None = None,
        country: str | None = None,
        kind: str | None = None,
        order: NameOrder = NameOrder.NAME,
        first: int | None = None,
        after: str | None = None,
        last: int | None = None,
        before: str | None = None,
    ) -> DirectoryConnection[Outlet]:
        where = _where(
            tier=tier.value if tier is not None else None,
            country=_text("country", country),
            kind=_text("kind", kind),
        )
        base = NodeQuery(Label.OUTLET, "name", 0, where=where)
        descending = order is NameOrder.NAME_DESCENDING
        return await _page(info, base, window(first, after, last, before), descending, Outlet)

    @strawberry.field(
        description="Every place and country, by name: of one kind ('country' or 'place'), "
        "or the places in one country (`country`: the country's id)."
    )
    async def places(
        self,
        info: Info,
        kind: str | None = None,
        country: strawberry.ID | None = None,
        order: NameOrder = NameOrder.NAME,
        first: int | None = None,
        after: str | None = None,
        last: int | None = None,
        before: str | None = None,
    ) -> DirectoryConnection[Place]:
        asked = window(first, after, last, before)
        if country is not None:
            await _known(info, country, Label.PLACE, "country", kind="country")
        where = _where(kind=_text("kind", kind))
        base = NodeQuery(Label.PLACE, "name", 0, where=where, near=country)
        return await _page(info, base, asked, order is NameOrder.NAME_DESCENDING, Place)

    @strawberry.field(
        description="Stories, newest first by default, optionally those of one outlet (its id)."
    )
    async def stories(
        self,
        info: Info,
        outlet: strawberry.ID | None = None,
        order: StoryOrder = StoryOrder.NEWEST_FIRST,
        first: int | None = None,
        after: str | None = None,
        last: int | None = None,
        before: str | None = None,
    ) -> DirectoryConnection[Story]:
        asked = window(first, after, last, before)
        if outlet is not None:
            await _known(info, outlet, Label.OUTLET, "outlet")
        order_by = "slug" if order is StoryOrder.SLUG else "published_on"
        base = NodeQuery(Label.STORY, order_by, 0, near=outlet)
        return await _page(info, base, asked, order is StoryOrder.NEWEST_FIRST, Story)

    @strawberry.field(description="One story by its outlet's id and its slug.")
    async def story(self, info: Info, outlet: strawberry.ID, slug: str) -> Story | None:
        if len(slug) > 1000:
            raise UserError("slug is longer than 1000 characters")
        node = await info.context.nodes.load(keys.story_id(outlet, slug))
        if node is None or node.label is not Label.STORY:
            raise UserError(f"no story '{slug}' of the outlet '{outlet}'")
        return Story.of(node)
