"""An event page read in one round trip on a store that reads from a server (docs/neo4j.md,
"How a page becomes Cypher").

The root `event` field looks at what its selection asks for (`page_parts`) and has the store
read that neighbourhood of the event in one statement (`RequestContext.read_event_page`); the
loaders are primed with it, so the fields of the page then resolve as on any store, from what
was read. Anything the neighbourhood does not hold is loaded as before, batched per level.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from graphql import (
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    InlineFragmentNode,
    SelectionNode,
)

from api.context import Info
from graph.store import PagePart

# What each field of `Event` reads around the event (by its GraphQL name). A report's story is
# one of the stories that describe the event, so `reports` reads those too.
FIELD_PARTS: dict[str, frozenset[PagePart]] = {
    "reports": frozenset({"reports", "describes"}),
    "sources": frozenset({"reports"}),
    "entities": frozenset({"involves"}),
    "extraction": frozenset({"describes"}),
    "identity": frozenset({"describes"}),
    "place": frozenset({"occurred_in"}),
    "country": frozenset({"occurred_in"}),
    "locations": frozenset({"occurred_in", "describes"}),
}


def page_parts(
    selections: Iterable[SelectionNode], fragments: Mapping[str, FragmentDefinitionNode]
) -> frozenset[PagePart]:
    """The parts of the neighbourhood that the fields selected on an event read (inline
    fragments and named ones included), from the operation's syntax tree: strawberry's
    `selected_fields` would convert the whole selection first."""
    parts: set[PagePart] = set()
    for selection in selections:
        if isinstance(selection, FieldNode):
            parts |= FIELD_PARTS.get(selection.name.value, frozenset())
        elif isinstance(selection, InlineFragmentNode):
            parts |= page_parts(selection.selection_set.selections, fragments)
        elif isinstance(selection, FragmentSpreadNode):
            fragment = fragments.get(selection.name.value)
            if fragment is not None:
                parts |= page_parts(fragment.selection_set.selections, fragments)
    return frozenset(parts)


async def event_page(info: Info, event_id: str) -> None:
    """Read the neighbourhood the selection of this `event` field asks for at once (a store
    that reads from memory does nothing)."""
    if info.context.immediate:
        return
    raw = info._raw_info
    parts: frozenset[PagePart] = frozenset()
    for node in raw.field_nodes:
        if node.selection_set is not None:
            parts |= page_parts(node.selection_set.selections, raw.fragments)
    await info.context.read_event_page(event_id, parts)
