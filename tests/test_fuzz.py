"""A fuzz of the API on a real `newsgraph serve`: schema-valid queries and mutations generated
by hypothesis-graphql from api/schema.graphql, each sent once, half asking for
`application/graphql-response+json`. None may answer 5xx, an answer that is not a GraphQL
response, or an error that shows the server's insides (a traceback, a file, a path).

2,000 operations by default (generating them takes most of the time, answering them overlaps);
NEWSGRAPH_FUZZ_EXAMPLES asks for more, NEWSGRAPH_FUZZ_SEED for a given seed (the seed of a run
is printed when it fails)."""

from __future__ import annotations

import datetime as dt
import os
import random
import re
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, Phase, given, seed, settings
from hypothesis import strategies as st
from hypothesis_graphql import from_schema, nodes

from api.media import GRAPHQL_RESPONSE, JSON
from tests.support.serve import graphql_url

SDL = (Path(__file__).parent.parent / "api" / "schema.graphql").read_text("utf-8")
EXAMPLES = int(os.environ.get("NEWSGRAPH_FUZZ_EXAMPLES", "2000"))
SEED = int(os.environ.get("NEWSGRAPH_FUZZ_SEED", random.randrange(2**32)))

# What an error must never show: the server's code or files.
LEAKS = re.compile(
    r"Traceback \(most recent call last\)|File \"[^\"]+\", line \d+|site-packages|"
    r"\b[\w/.-]+\.py\b|(?<![\w.:/-])/(?:usr|home|root|tmp|work|opt|var|srv|etc)/[^\s'\"]+"
)
_UTC = dt.UTC
SCALARS = {
    "Date": st.dates().map(lambda d: nodes.String(d.isoformat())),
    "Timestamp": st.datetimes(timezones=st.just(_UTC)).map(lambda t: nodes.String(t.isoformat())),
    "DateOrTimestamp": st.one_of(
        st.dates().map(lambda d: nodes.String(d.isoformat())),
        st.datetimes(timezones=st.just(_UTC)).map(lambda t: nodes.String(t.isoformat())),
    ),
    "JSON": st.one_of(
        st.integers(-1000, 1000).map(nodes.Int),
        st.text(max_size=20).map(nodes.String),
        st.booleans().map(nodes.Boolean),
    ),
}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """`newsgraph serve` on a throwaway store with the bundled samples (mutations change it)."""
    with graphql_url(tmp_path_factory.mktemp("store")) as url:
        yield url


def _problems(response: httpx.Response, query: str, media: str) -> list[str]:
    """What is wrong with `response` to `query`, asked for as `media`."""
    if response.status_code >= 500:
        return [f"HTTP {response.status_code}"]
    try:
        payload: Any = response.json()
    except ValueError:
        return [f"not JSON: {response.text[:80]!r}"]
    if not isinstance(payload, dict) or not set(payload) <= {"data", "errors", "extensions"}:
        return [f"not a GraphQL response: {str(payload)[:80]}"]
    problems = []
    if not response.headers.get("content-type", "").startswith(media):
        problems.append(f"content-type {response.headers.get('content-type')}")
    if response.status_code == 400 and (media != GRAPHQL_RESPONSE or "data" in payload):
        problems.append("400 for a result that has data, or for application/json")
    for error in payload.get("errors") or []:
        if not isinstance(error, dict) or not isinstance(error.get("message"), str):
            problems.append(f"malformed error {error!r}")
            continue
        leak = LEAKS.search(str(error))
        if leak and leak.group(0) not in query:
            problems.append(f"leak: {leak.group(0)}")
    return problems


def test_generated_operations_never_get_a_5xx_or_a_leak(server: str) -> None:
    statuses: Counter[int] = Counter()
    failures: list[str] = []

    def post(client: httpx.Client, query: str) -> None:
        media = GRAPHQL_RESPONSE if len(query) % 2 else JSON
        response = client.post(server, json={"query": query}, headers={"accept": media})
        statuses[response.status_code] += 1
        problems = _problems(response, query, media)
        if problems:
            failures.append(f"{query[:300]!r}: {'; '.join(problems)}")

    # Generating an operation takes as long as answering it: both at once, four in flight.
    with httpx.Client(timeout=30) as client, ThreadPoolExecutor(4) as pool:
        sending: list[Future[None]] = []

        @seed(SEED)
        @settings(
            max_examples=EXAMPLES,
            database=None,
            deadline=None,
            phases=[Phase.generate],
            suppress_health_check=list(HealthCheck),
        )
        @given(from_schema(SDL, custom_scalars=SCALARS))
        def send(query: str) -> None:
            sending.append(pool.submit(post, client, query))

        send()
        for future in sending:
            future.result()

    sent = sum(statuses.values())
    assert sent >= min(EXAMPLES, 1000), f"only {sent} operations generated"
    assert not failures, f"seed {SEED}, {len(failures)} of {sent} failed:\n" + "\n".join(
        failures[:20]
    )
    print(f"fuzz: {sent} operations, statuses {dict(statuses)}, seed {SEED}")
