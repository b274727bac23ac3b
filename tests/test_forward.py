"""Which requests a reader worker sends elsewhere (`api.forward`): mutations to the writer,
queries selecting a heavy field, at any depth and through fragments, to the analyst."""

from __future__ import annotations

import json

import pytest

from api.forward import asks_heavy, asks_mutation, is_heavy, is_mutation

PAGE = '{ event(id: "ev_1") { summary reports { edges { node { outlet { name } } } } } }'


@pytest.mark.parametrize(
    ("query", "name", "heavy"),
    [
        (PAGE, None, False),
        ("{ rankings(metric: DEGREE) { complete } }", None, True),
        ('{ search(text: "Putin") { __typename } }', None, False),  # the index: cheap
        ('{ find(text: "Putin") { __typename } }', None, False),
        # nested under an ordinary field
        ('{ entity(name: "X") { coOccurring { edges { node { shared } } } } }', None, True),
        ('{ event(id: "e") { neighbours(first: 3) { edges { cursor } } } }', None, True),
        # through a named fragment, and a fragment of a fragment
        ("{ ...A } fragment A on Query { ...B } fragment B on Query { paths { n } }", None, True),
        ("{ ... on Query { timelineBuckets { interval } } }", None, True),
        # the operation asked for, of several
        ("query P { events { edges { cursor } } } query R { rankings { complete } }", "P", False),
        ("query P { events { edges { cursor } } } query R { rankings { complete } }", "R", True),
        # several operations and no name: answered (and refused) where it is
        ("query P { events { edges { cursor } } } query R { rankings { complete } }", None, False),
        # a mutation goes to the writer, whatever it selects
        ('mutation { submitSource(eventId: "e", url: "u") { rankings } }', None, False),
        # not GraphQL, or not a string: answered (and refused) where it is
        ("{ rankings(", None, False),
        (42, None, False),
        ("{ ...A } fragment A on Query { ...A }", None, False),  # a cycle ends
    ],
)
def test_heavy_operations_are_told_from_the_document(
    query: object, name: str | None, heavy: bool
) -> None:
    assert asks_heavy(query, name) is heavy
    body = json.dumps({"query": query, "operationName": name}).encode()
    assert is_heavy(body) is heavy


def test_mutations_are_told_apart_from_heavy_queries() -> None:
    assert asks_mutation('mutation { submitSource(eventId: "e", url: "u") { id } }', None)
    assert not asks_mutation("{ rankings { complete } }", None)
    assert not is_mutation(b"not json")
    assert not is_heavy(b"[1, 2]")
