"""Direct resolvers (`api.direct`) answer exactly what strawberry's own resolver chain answers.

The served schema resolves argument-free fields straight from graphql-core; a schema built
without them (`build_schema(direct=False, planned=False)`) is strawberry's untouched. Both run
the same queries on the same loaded store, on each store kind (the Neo4j store's loaders are
DataLoaders, so its resolvers hand graphql-core coroutines to await), and their answers and
errors must be equal.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from graphql import GraphQLObjectType

from api.context import RequestContext
from api.schema import Schema, build_schema, schema
from graph.confidence import current_policy
from graph.model import Label, Node
from graph.store import GraphStore
from tests.conftest import EXTRACTOR, load_file, load_outlets

EVERYTHING = """
query All($id: ID!) {
  event(id: $id) {
    id category summary occurredOn latitude longitude
    place { id name kind aliases } country { name kind }
    locations { place { name } country { name } stories { slug url publishedOn } }
    confidence {
      level label independentSources trustedSources explanation nextLevel hint
      needs { independentSources trustedSources }
    }
    confidenceHistory { eventId at previous level cause detail by }
    sources { id name aliases tier group country kind }
    reports {
      outlet { name tier } claims { text tone } url reportedOn extractedAt
      story { id slug url publishedOn outlet { name } }
    }
    entities { roles entity { id name type aliases } }
    extraction {
      firstExtractedAt lastExtractedAt ingestedAt stories { slug outlet { name group } }
    }
  }
}
"""

NODE = """
query Node($id: ID!) {
  node(id: $id) {
    __typename id
    ... on Entity { name type aliases }
    ... on Outlet { name aliases tier group country kind }
    ... on Place { name placeKind: kind aliases }
    ... on Story { slug url publishedOn outlet { name } }
    ... on Event { summary confidence { level } }
  }
}
"""


def _run(built: Schema, store: GraphStore, query: str, node_id: str) -> dict[str, Any]:
    async def run() -> dict[str, Any]:
        context = RequestContext(store, current_policy(store))
        result = await built.execute(query, variable_values={"id": node_id}, context_value=context)
        return {
            "data": result.data,
            "errors": [(e.message, e.path) for e in result.errors or []],
        }

    return asyncio.run(run())


def test_the_served_schema_resolves_plain_fields_directly() -> None:
    """The served schema's argument-free fields no longer go through strawberry's wrapper,
    while fields with arguments or permissions keep it."""
    event = schema._schema.type_map["Event"]
    assert isinstance(event, GraphQLObjectType)
    plain = build_schema(direct=False)._schema.type_map["Event"]
    assert isinstance(plain, GraphQLObjectType)
    assert event.fields["summary"].resolve is not plain.fields["summary"].resolve
    assert event.fields["summary"].resolve.__module__ == "api.direct"
    assert event.fields["neighbours"].resolve.__module__ != "api.direct"
    query = schema._schema.type_map["Query"]
    assert isinstance(query, GraphQLObjectType)
    assert query.fields["pendingSubmissions"].resolve.__module__ != "api.direct"


@pytest.mark.parametrize("query", [EVERYTHING, NODE], ids=["event", "node"])
def test_direct_resolvers_answer_as_strawberry_does(store: GraphStore, query: str) -> None:
    load_outlets(store)
    load_file(store, EXTRACTOR / "samples.jsonl")
    plain = build_schema(direct=False, planned=False)
    # the graph's nodes (the editorial records, such as a possible duplicate queued by the
    # load, are not `node`s)
    labels = {Label.EVENT} if query is EVERYTHING else set(Label) - {Label.EDIT, Label.SUBMISSION}
    ids = sorted(n.id for n in store.dump() if isinstance(n, Node) and n.label in labels)
    assert len(ids) >= 3
    ids.append("ev_missing")  # an error: answered the same way too
    for node_id in ids:
        direct = _run(schema, store, query, node_id)
        assert direct == _run(plain, store, query, node_id), node_id
        if node_id == "ev_missing":
            assert direct["errors"], direct
        else:
            assert direct["data"] is not None and not direct["errors"], direct
