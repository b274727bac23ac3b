"""The cost budget (api/cost.py): an operation over its budget is refused before it runs, with a
message naming its cost and the budget; a client's analytics over time are held to a rate; the
event page and the README's queries stay well within budget, on both stores."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from graphql import parse

from api.app import create_app
from api.config import DEFAULT_MAX_COST, AppConfig
from api.cost import operation_cost
from api.schema import schema
from graph.model import Label
from graph.search import find
from graph.store import GraphStore
from newsgraph.cli import load_bundled_samples
from newsgraph.settings import Settings, SettingsError, load_settings
from newsgraph.wiring import app_arguments
from tests.support.graphql import PAGE_QUERY, ROOT, GraphQLClient

README_SEARCH = """{ search(text: "Lukashenko", first: 1) { ... on Event { id summary
  place { name } country { name } confidence { label independentSources explanation hint }
  sources { name tier } reports { outlet { name } claims { text tone } }
  entities { roles entity { name aliases } }
  extraction { firstExtractedAt stories { slug } } } } }"""

NESTED = """query($n: Int!, $id: ID!) { node(id: $id) { ... on Event {
  neighbours(first: $n) { edges { node { ... on Entity {
    neighbours(first: $n) { edges { node { id } } } } } } } } } }"""

RANKINGS = "{ rankings(metric: DEGREE) { complete entities { rank entity { name } } } }"


def cost_of(query: str, variables: dict[str, Any] | None = None) -> int:
    return operation_cost(schema._schema, parse(query), variables).total


@pytest.fixture
def samples(store: GraphStore) -> GraphStore:
    load_bundled_samples(store)
    return store


def client(store: GraphStore, **config: Any) -> GraphQLClient:
    return GraphQLClient(create_app(store, config=AppConfig(**config)))


@pytest.fixture
def app(samples: GraphStore) -> Iterator[GraphQLClient]:
    served = client(samples)
    try:
        yield served
    finally:
        served.close()


def some_event(store: GraphStore) -> str:
    found = find(store, "Lukashenko", [Label.EVENT], 1)
    return found[0].id


def refusal(answer: dict[str, Any]) -> str:
    assert answer["data"] is None, answer
    (error,) = answer["errors"]
    assert error["extensions"]["code"] == "COST_LIMIT"
    message: str = error["message"]
    return message


def test_the_event_page_and_the_readme_queries_are_well_within_budget(
    app: GraphQLClient, samples: GraphStore
) -> None:
    readme = (ROOT / "README.md").read_text("utf-8")
    assert 'search(text: \\"Lukashenko\\", first: 1)' in readme  # the query tried below
    for query in (PAGE_QUERY, README_SEARCH, RANKINGS):
        assert cost_of(query, {"id": "x"}) * 5 <= DEFAULT_MAX_COST
    event_id = some_event(samples)
    assert app.data(PAGE_QUERY, {"id": event_id})["event"]["id"] == event_id
    assert app.data(README_SEARCH)["search"][0]["id"] == event_id


def test_an_operation_over_budget_is_refused_naming_its_cost_and_the_budget(
    app: GraphQLClient, samples: GraphStore
) -> None:
    event_id = some_event(samples)
    small = app.data(NESTED, {"n": 5, "id": event_id})["node"]["neighbours"]["edges"]
    assert small  # five at each level: answered
    answer = app.query(NESTED, {"n": 100, "id": event_id}).json()
    message = refusal(answer)
    cost = cost_of(NESTED, {"n": 100})
    assert cost > DEFAULT_MAX_COST
    assert message.startswith(
        f"this operation costs {cost:,}, over the budget of {DEFAULT_MAX_COST:,} per operation"
    )


def test_page_sizes_multiply_nested_lists_and_analytics_carry_their_own_cost() -> None:
    flat = cost_of("{ events(first: 10) { edges { node { id place { name } } } } }")
    wider = cost_of("{ events(first: 100) { edges { node { id place { name } } } } }")
    assert wider - flat == (100 - 10) * 2  # each edge's node and its place
    # a page size from a variable, from the variable's default, and the argument's default (20)
    assert cost_of(NESTED, {"n": 10}) < cost_of(NESTED, {"n": 20}) < cost_of(NESTED, {"n": 40})
    defaulted = NESTED.replace("$n: Int!", "$n: Int = 20")
    assert cost_of(defaulted, {}) == cost_of(NESTED, {"n": 20})
    # thirty path searches cost more than one operation may
    many = " ".join(f'p{i}: paths(from: "a", to: "b") {{ complete }}' for i in range(30))
    assert cost_of("{ " + many + " }") > DEFAULT_MAX_COST
    assert cost_of('{ paths(from: "a", to: "b") { complete } }') < DEFAULT_MAX_COST
    # introspection is answered from a cache: free
    assert cost_of("{ __schema { types { name fields { name } } } }") == 0


def test_nothing_of_a_refused_operation_runs(samples: GraphStore) -> None:
    event_id = some_event(samples)
    before = samples.counts()
    served = client(samples, max_cost=1)
    try:
        answer = served.query(
            """mutation($e: ID!) { submitSource(eventId: $e, url: "https://example.org/a",
                outletName: "Example") { id event { summary } } }""",
            {"e": event_id},
        ).json()
    finally:
        served.close()
    assert "over the budget of 1 per operation" in refusal(answer)
    assert samples.counts() == before  # no submission stored


def test_a_clients_analytics_are_held_to_a_budget_over_time(samples: GraphStore) -> None:
    served = client(samples, client_cost_rate="1200/minute")
    try:
        for _ in range(2):  # 500 each: within 1,200 a minute
            assert served.data(RANKINGS)["rankings"]["complete"] is True
        message = refusal(served.query(RANKINGS).json())
        assert re.fullmatch(
            r"this operation's analytics cost 500, over what is left of this client's budget "
            r"of 1200/minute of analytics cost: try again in \d+ s",
            message,
        ), message
        # pages cost no analytics: still answered
        event_id = some_event(samples)
        assert served.data(PAGE_QUERY, {"id": event_id})["event"]["id"] == event_id
    finally:
        served.close()


def test_the_budgets_are_settings(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("NEWSGRAPH_MAX_COST", "900")
    monkeypatch.setenv("NEWSGRAPH_CLIENT_COST_RATE", "100/second")
    monkeypatch.setenv("NEWSGRAPH_HEAVY_SECONDS", "2.5")
    monkeypatch.setenv("NEWSGRAPH_HEAVY_THREADS", "3")
    config = app_arguments(Settings()).config
    assert (config.max_cost, config.client_cost_rate) == (900, "100/second")
    assert (config.heavy_seconds, config.heavy_threads) == (2.5, 3)
    monkeypatch.setenv("NEWSGRAPH_CLIENT_COST_RATE", "")
    assert app_arguments(Settings()).config.client_cost_rate == ""
    monkeypatch.setenv("NEWSGRAPH_CLIENT_COST_RATE", "lots")
    with pytest.raises(SettingsError, match="NEWSGRAPH_CLIENT_COST_RATE: 'lots' is not a rate"):
        load_settings()
