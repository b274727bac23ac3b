"""The site's other pages against the event page, in the same run: directories, a story page,
feeds with totals, an outlet's track record, a revalidated GET (304), and the event page answered
from the response cache.

    python -m bench.site [--events 100000] [--calls 300]

Builds (once, cached) a store of N generated events, opens it and calls the app in process
(httpx's ASGI transport: no server, no socket, one request at a time), so the figures are the
app's and the store's work per page, not the network's. Each page is asked `--calls` times over
a rotating sample (events, outlets, countries); p50 and p99 per page, and each p50's ratio to
the event page's (the seed page's query over sampled events), measured in the same run. The
pages are asked of an app without the response cache (each page's own work); the last figure
asks the event page of one with it, once every sampled page was made. The issue's target:
every directory page and the track record within 2x of the event page.
"""

from __future__ import annotations

import asyncio
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a file: python bench/site.py
    sys.path.insert(0, str(Path(__file__).absolute().parents[1]))

from bench.common import (
    PAGE_QUERY,
    Row,
    arguments,
    built_store,
    dataset,
    log,
    print_table,
    save_results,
)

CACHED = "event page from the response cache"
DIRECTORY = "edges {{ cursor node {{ id {fields} }} }} pageInfo {{ hasNextPage endCursor }}"


def _directory(opening: str, fields: str) -> str:
    """A directory page: `opening` (up to the field and its arguments), its total and edges."""
    return opening + " { totalCount " + DIRECTORY.format(fields=fields) + " } }"


PAGES: dict[str, str] = {
    "entities (A-Z)": _directory("{ entities(first: 20)", "name type"),
    "entities of a type": _directory("{ entities(type: PERSON, first: 20)", "name"),
    "entities, last page": _directory("{ entities(last: 20)", "name"),
    "outlets of a tier": _directory("{ outlets(tier: STANDARD, first: 20)", "name tier country"),
    "places of a country": _directory("query($c: ID) { places(country: $c, first: 20)", "name"),
    "an outlet's stories": _directory(
        "query($o: ID) { stories(outlet: $o, first: 20)", "slug publishedOn"
    ),
    "a story page": "query($o: ID!, $s: String!) { story(outlet: $o, slug: $s) { slug url "
    "publishedOn outlet { name } events { id summary occurredOn confidence { level } } } }",
    "outlet track record": "query($o: ID!) { outlet(id: $o) { name tier trackRecord { "
    "reports corroborated soleSource disputed firstToReport corroborationRate } } }",
    "outlet track record, a year": "query($o: ID!) { outlet(id: $o) { name trackRecord("
    'fromMonth: "2024-01", toMonth: "2024-12") { reports corroborated soleSource disputed '
    "firstToReport corroborationRate } } }",
    "related events": "query($id: ID!) { event(id: $id) { related(first: 5) { score daysApart "
    "reasons event { id summary } sharedEntities { name } sharedPlaces { name } } } }",
    "recently verified feed": "{ events(order: RECENTLY_VERIFIED, first: 20) { totalCount "
    "edges { node { id summary levelChangedAt } } } }",
    "event feed with total": "{ events(first: 20) { totalCount edges { node { id summary } } } }",
    "category feed with total": "{ events(first: 20, filter: {categories: [MILITARY]}) { "
    "totalCount totalCountIsExact edges { node { id summary } } } }",
}


@dataclass
class Sample:
    events: list[str]
    outlets: list[str]
    countries: list[str]
    stories: list[tuple[str, str]]  # (outlet id, slug)


def _sample(client: Any, runner: asyncio.Runner, events: list[str]) -> Sample:
    def data(query: str) -> Any:
        answer = runner.run(client.post("/graphql", json={"query": query})).json()
        if "errors" in answer:
            raise SystemExit(f"{query}: {answer['errors']}")
        return answer["data"]

    outlets = [
        e["node"]["id"]
        for e in data("{ outlets(first: 50) { edges { node { id } } } }")["outlets"]["edges"]
    ]
    countries = [
        e["node"]["id"]
        for e in data('{ places(kind: "country", first: 50) { edges { node { id } } } }')["places"][
            "edges"
        ]
    ]
    stories: list[tuple[str, str]] = []
    for outlet in outlets[:20]:
        found = runner.run(
            client.post(
                "/graphql",
                json={
                    "query": "query($o: ID) { stories(outlet: $o, first: 1) "
                    "{ edges { node { slug } } } }",
                    "variables": {"o": outlet},
                },
            )
        ).json()["data"]["stories"]["edges"]
        stories += [(outlet, e["node"]["slug"]) for e in found]
    return Sample(events, outlets, countries, stories)


def _variables(name: str, sample: Sample, i: int) -> dict[str, Any]:
    if name in ("event page", "related events"):
        return {"id": sample.events[i % len(sample.events)]}
    if name == "places of a country":
        return {"c": sample.countries[i % len(sample.countries)]}
    if name in ("an outlet's stories", "outlet track record", "outlet track record, a year"):
        return {"o": sample.outlets[i % len(sample.outlets)]}
    if name == "a story page":
        outlet, slug = sample.stories[i % len(sample.stories)]
        return {"o": outlet, "s": slug}
    return {}


def _timed(calls: int, call: Callable[[int], None]) -> tuple[float, float]:
    times: list[float] = []
    for i in range(calls):
        started = time.perf_counter()
        call(i)
        times.append((time.perf_counter() - started) * 1000)
    times.sort()
    return statistics.median(times), times[min(len(times) - 1, int(len(times) * 0.99))]


def measure(directory: Path, events: list[str], calls: int) -> dict[str, tuple[float, float]]:
    import httpx

    from api.app import create_app
    from api.config import AppConfig
    from graph.embedded import EmbeddedStore

    store = EmbeddedStore(directory, read_only=True)
    store.setup()
    runner = asyncio.Runner()
    # each page's own work: without the response cache (asked again, it would answer from it)
    uncached = create_app(store, config=AppConfig(response_cache_bytes=0))
    client = httpx.AsyncClient(transport=httpx.ASGITransport(app=uncached), base_url="http://bench")
    try:
        sample = _sample(client, runner, events)
        queries = {"event page": PAGE_QUERY, **PAGES}
        figures: dict[str, tuple[float, float]] = {}
        for name, query in queries.items():

            def call(i: int, name: str = name, query: str = query) -> None:
                body = {"query": query, "variables": _variables(name, sample, i)}
                answer = runner.run(client.post("/graphql", json=body))
                if answer.status_code != 200 or "errors" in answer.json():
                    raise SystemExit(f"{name}: {answer.text[:500]}")

            _timed(min(calls, 50), call)  # warm-up
            figures[name] = _timed(calls, call)
            log(f"  {name}: p50 {figures[name][0]:.2f} ms, p99 {figures[name][1]:.2f} ms")
        tagged = runner.run(client.get("/graphql", params={"query": PAGES["entities (A-Z)"]}))
        etag = tagged.headers["etag"]

        def revalidate(i: int) -> None:
            answer = runner.run(
                client.get(
                    "/graphql",
                    params={"query": PAGES["entities (A-Z)"]},
                    headers={"If-None-Match": etag},
                )
            )
            if answer.status_code != 304:
                raise SystemExit(f"revalidation answered {answer.status_code}")

        figures["GET revalidated (304)"] = _timed(calls, revalidate)
        log(f"  304: p50 {figures['GET revalidated (304)'][0]:.2f} ms")
        return figures
    finally:
        runner.run(client.aclose())
        runner.close()  # its app's follower of the change log stops with it
        store.close()


def measure_cached(directory: Path, events: list[str], calls: int) -> tuple[float, float]:
    """The event page answered from the response cache, once every sampled page was made:
    an app of its own (on an event loop of its own, so one follower reads the log)."""
    import httpx

    from api.app import create_app
    from graph.embedded import EmbeddedStore

    store = EmbeddedStore(directory, read_only=True)
    store.setup()
    runner = asyncio.Runner()
    client = httpx.AsyncClient(
        transport=httpx.ASGITransport(app=create_app(store)), base_url="http://bench"
    )
    sample = Sample(events, [], [], [])
    try:

        def hit(i: int) -> None:
            body = {"query": PAGE_QUERY, "variables": _variables("event page", sample, i)}
            answer = runner.run(client.post("/graphql", json=body))
            if answer.status_code != 200 or "errors" in answer.json():
                raise SystemExit(f"cached event page: {answer.text[:500]}")

        _timed(len(events), hit)  # every sampled page made once, then kept
        figures = _timed(calls, hit)
        log(f"  {CACHED}: p50 {figures[0]:.2f} ms")
        return figures
    finally:
        runner.run(client.aclose())
        runner.close()
        store.close()


def main(argv: Sequence[str] | None = None) -> int:
    parser = arguments(__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=300, help="requests per page [300]")
    args = parser.parse_args(argv)
    data = dataset(args.workdir, args.events, args.seed)
    store = built_store(args.workdir, data)
    log(f"store of {store.events:,} events: measuring {args.calls} calls per page")
    figures = measure(store.directory, list(store.meta["sample_events"]), args.calls)
    figures[CACHED] = measure_cached(store.directory, list(store.meta["sample_events"]), args.calls)
    base = figures["event page"][0]
    rows = [Row("event page p50", base, "ms", None, "the baseline", "-", None)]
    for name, (p50, _) in figures.items():
        if name == "event page":
            continue
        quick = name in ("GET revalidated (304)", CACHED)
        target = "< 1x" if quick else "<= 2x"
        limit = 1.0 if quick else 2.0
        rows.append(Row(f"{name} p50", p50, "ms", base, "event page", target, p50 <= base * limit))
    print_table(f"Site pages, {store.events:,} events, in process", rows)
    save_results(
        args.workdir,
        f"site-{args.events}",
        {"events": store.events, "calls": args.calls, "figures": figures},
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
