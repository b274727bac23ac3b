"""The event page while one client attacks: issue 16's abuse cases against `newsgraph serve`.

    python -m bench.abuse [--events 20000] [--duration 5] [--attackers 4]

Serves a store of N generated events with `newsgraph serve` (one worker, the writer and, unless
`--no-analyst`, the analyst process that takes the heavy queries; the per-client
budget of analytics cost off, so that every attack's heavy work really runs; the per-client
analytics time, the per-operation budget and every other limit as shipped). Each attack comes
from an address of its own (`X-Forwarded-For` from a trusted proxy, the bench), so each is a
client new to the server, whatever the attack before it used. For each attack: the idle
figure, the seed page of sampled events from 8 concurrent clients (wrk) for `--duration`
seconds, its p99; then the same while `--attackers` connections send the attack in a closed
loop. The ratio of the two p99s of the same run (target: at most 2x), and what the attack got
back (answers, refusals).
"""

from __future__ import annotations

import json
import os
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a file: python bench/abuse.py
    sys.path.insert(0, str(Path(__file__).absolute().parents[1]))

import httpx
from graphql import parse

from bench.common import (
    Row,
    arguments,
    built_store,
    dataset,
    free_port,
    log,
    page_body,
    print_table,
    running,
    save_results,
    serve_command,
    wrk,
)

GRAPHQL = "/graphql"
CLIENTS = 8  # the page's concurrent clients, as bench/event_page.py


@dataclass(frozen=True)
class Attack:
    name: str
    body: Callable[[dict[str, Any]], bytes]  # from the store's facts
    headers: dict[str, str] | None = None


def _json(query: str, variables: dict[str, Any] | None = None) -> bytes:
    return json.dumps({"query": query, "variables": variables or {}}).encode()


def _introspection(_: dict[str, Any]) -> bytes:
    from graphql import get_introspection_query

    return _json(get_introspection_query())


def _rankings(facts: dict[str, Any]) -> bytes:
    return _json(
        """{ rankings(metric: BETWEENNESS, first: 100) { complete eventsScanned
        entities { rank score entity { name } } communities(first: 10) { size } } }"""
    )


def _paths(facts: dict[str, Any]) -> bytes:
    # ten path searches from the most frequent entity (a hub), in one operation
    searches = " ".join(
        f'p{i}: paths(from: "{facts["top"]}", to: "{other}", maxHops: 6) {{ complete }}'
        for i, other in enumerate(facts["others"][:10])
    )
    return _json("{ " + searches + " }")


def _neighbours(size: int) -> str:
    level = "neighbours(first: %d) { edges { node { %s } } }"
    inner = level % (size, "id")
    middle = level % (size, "... on Entity { " + inner + " }")
    outer = level % (size, "... on Event { " + middle + " }")
    return "query($id: ID!) { node(id: $id) { ... on Entity { " + outer + " } } }"


def _nested_neighbours(facts: dict[str, Any]) -> bytes:
    # three levels of neighbours, as wide as the operation's budget lets through
    return _json(_neighbours(12), {"id": facts["top"]})


def _nested_over_budget(facts: dict[str, Any]) -> bytes:
    return _json(_neighbours(100), {"id": facts["top"]})


def _search(_: dict[str, Any]) -> bytes:
    return _json('{ search(text: "a", first: 100) { ... on Event { id summary } } }')


def _timeline(facts: dict[str, Any]) -> bytes:
    return _json(
        """query($id: ID!) { entity(id: $id) {
        timelineBuckets(interval: DAY, from: "1000-01-01", to: "9998-12-31") { total complete }
        coOccurring(first: 100) { totalCount complete } } }""",
        {"id": facts["top"]},
    )


def _big_body(_: dict[str, Any]) -> bytes:
    return _json("{ __typename }", {"pad": "x" * 60_000})  # under 64 KiB: read and parsed


def _too_big_body(_: dict[str, Any]) -> bytes:
    return _json("{ __typename }", {"pad": "x" * 2_000_000})  # refused with 413


def _many_variables(_: dict[str, Any]) -> bytes:
    # 51 variables of 1,000 characters, one more than a request may send: each is used (in
    # one list argument), so validation passes and the variables' limit is what refuses it
    names = [f"v{i}" for i in range(51)]
    used = ", ".join(f"${n}" for n in names)
    query = (
        "query(" + ", ".join(f"${n}: ID!" for n in names) + ") "
        f"{{ events(filter: {{entities: [{used}]}}) {{ edges {{ node {{ id }} }} }} }}"
    )
    return _json(query, {n: "y" * 1000 for n in names})


ATTACKS = [
    Attack("introspection flood", _introspection),
    Attack("rankings (betweenness, communities, every event)", _rankings),
    Attack("10 path searches from a hub, 6 hops", _paths),
    Attack("nested neighbours, 3 levels (within budget)", _nested_neighbours),
    Attack("nested neighbours, 3 levels of 100 (over budget)", _nested_over_budget),
    Attack("wide search (every node, 100 hits)", _search),
    Attack("daily timeline over 9,000 years + coOccurring", _timeline),
    Attack("big bodies (60 KiB)", _big_body),
    Attack("too big bodies (2 MB: 413)", _too_big_body),
    Attack("51 variables of 1,000 characters (refused)", _many_variables),
]


class Attacker:
    """`connections` threads sending `body` to the server in a closed loop until stopped."""

    def __init__(self, url: str, body: bytes, connections: int, address: str) -> None:
        self.url, self.body, self.address = url, body, address
        self.outcomes: Counter[str] = Counter()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._run) for _ in range(connections)]

    def __enter__(self) -> Attacker:
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=60)

    def _run(self) -> None:
        # an attacker of its own (the server trusts the bench's proxy address, 127.0.0.1):
        # what one attack used of its client's budgets never paces the next one
        headers = {"content-type": "application/json", "x-forwarded-for": self.address}
        with httpx.Client(timeout=60) as client:
            while not self._stop.is_set():
                try:
                    response = client.post(self.url, content=self.body, headers=headers)
                    outcome = _outcome(response)
                except httpx.HTTPError as exc:
                    outcome = type(exc).__name__
                with self._lock:
                    self.outcomes[outcome] += 1


def _outcome(response: httpx.Response) -> str:
    if response.status_code != 200:
        return str(response.status_code)
    try:
        answer = response.json()
    except ValueError:
        return "200 not JSON"
    errors = answer.get("errors") or []
    if not errors:
        return "answered"
    code = (errors[0].get("extensions") or {}).get("code")
    if code:
        return f"refused ({code})"
    message = str(errors[0].get("message", ""))
    return "time budget" if "time budget" in message else "error: " + message[:60]


def facts_of(url: str, store_meta: dict[str, Any]) -> dict[str, Any]:
    """The hub (most frequent entity) and ten entities it shares events with."""
    top = store_meta["top_entity"]["id"]
    query = """query($id: ID!) { entity(id: $id) { coOccurring(first: 10) {
        edges { node { entity { id } } } } } }"""
    with httpx.Client(timeout=120) as client:
        answer = client.post(url, json={"query": query, "variables": {"id": top}}).json()
    edges = answer["data"]["entity"]["coOccurring"]["edges"]
    return {"top": top, "others": [e["node"]["entity"]["id"] for e in edges]}


def main(argv: Sequence[str] | None = None) -> None:
    parser = arguments(__doc__.split("\n\n")[0], events=20_000)
    parser.add_argument("--duration", type=float, default=5, help="seconds per figure [5]")
    parser.add_argument("--attackers", type=int, default=4, help="attack connections [4]")
    parser.add_argument(
        "--no-analyst",
        action="store_true",
        help="serve without the analyst process (heavy queries answered in the worker's threads)",
    )
    args = parser.parse_args(argv)

    data = dataset(args.workdir, args.events, args.seed)
    store = built_store(args.workdir, data)
    ids: list[str] = store.meta["sample_events"]
    bodies = [json.dumps(page_body(i)) for i in ids]
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    os.environ["NEWSGRAPH_CLIENT_COST_RATE"] = ""  # the server's: every attack's work runs
    os.environ["NEWSGRAPH_ANALYST"] = "false" if args.no_analyst else "true"
    # each attack comes from an address of its own (`Attacker`), as a proxy in front says
    os.environ["NEWSGRAPH_TRUSTED_PROXIES"] = "127.0.0.1"
    rows: list[Row] = []
    results: dict[str, Any] = {"events": store.events, "attacks": {}}
    with running(serve_command(store.directory, port), port, (GRAPHQL, page_body(ids[0]))):
        facts = facts_of(url + GRAPHQL, store.meta)
        for attack in ATTACKS:
            parse(json.loads(attack.body(facts))["query"])  # each attack is valid GraphQL
        wrk(url, GRAPHQL, bodies, CLIENTS, 2)  # warm-up
        for number, attack in enumerate(ATTACKS, start=1):
            # idle right before each attack: the machine's other load drifts during a run
            idle = wrk(url, GRAPHQL, bodies, CLIENTS, args.duration)
            address = f"198.51.100.{number}"  # TEST-NET-2: an attacker new to the server
            with Attacker(url + GRAPHQL, attack.body(facts), args.attackers, address) as attacker:
                time.sleep(1)  # the attack under way
                under = wrk(url, GRAPHQL, bodies, CLIENTS, args.duration)
            outcomes = dict(attacker.outcomes)
            log(
                f"{attack.name}: page p99 {under.p99_ms:.2f} ms, idle {idle.p99_ms:.2f} ms "
                f"({under.p99_ms / idle.p99_ms:.2f}x), errors {under.errors}; "
                f"attack got {outcomes}"
            )
            results["attacks"][attack.name] = {
                "idle": idle.__dict__,
                "page": under.__dict__,
                "attack": outcomes,
            }
            got = ", ".join(f"{k} {v:,}" for k, v in sorted(outcomes.items()))
            rows.append(
                Row(
                    f"page p99 under: {attack.name} (attack got: {got})",
                    under.p99_ms,
                    "ms",
                    idle.p99_ms,
                    "idle, just before",
                    "≤ 2x idle",
                    under.p99_ms <= 2 * idle.p99_ms and under.errors == 0,
                )
            )
            time.sleep(args.duration)  # what the attack left running ends (time budgets)
    print_table(
        f"Event page p99 under attack: {store.events:,} events, {CLIENTS} page clients (wrk), "
        f"{args.attackers} attack connections, {args.duration:g} s each",
        rows,
    )
    analyst = "-no-analyst" if args.no_analyst else ""
    save_results(args.workdir, f"abuse-{args.events}{analyst}", results)


if __name__ == "__main__":
    main()
