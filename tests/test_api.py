"""The GraphQL API over HTTP, against a real `newsgraph serve` process on each store."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, get_args

import httpx
import pytest

from api.confidence import ChangeCause
from api.schema import schema
from graph.history import Cause
from graph.store import EventFilter, EventQuery, GraphStore
from tests.conftest import EXTRACTOR, STORE_KINDS, load_file, load_outlets, make_store, shared_file

ROOT = Path(__file__).resolve().parents[1]
NEWSGRAPH = Path(sys.executable).parent / "newsgraph"

PAGE_QUERY = (ROOT / "api" / "event_page.graphql").read_text("utf-8")

# The page's fixed wording around the data (the UI's chrome, not facts from the graph).
CHROME = [
    "How we assess confidence →",
    "Entities",
    "Source Reports",
    'What each source reports. "Source tone" reflects the language used by the outlet — it is '
    "not an independent verification.",
    "Share This Event",
    "Know another source?",
    "If you've seen this event covered by another news outlet, submit it for editorial review. "
    "Approved sources improve our confidence ratings.",
    "Submissions are reviewed by an editor before integration.",
    "Extraction metadata",
]
ICONS = {"diplomatic": "🤝"}


@dataclass(frozen=True)
class Server:
    url: str
    seed_id: str

    def query(self, query: str, variables: dict[str, Any] | None = None) -> httpx.Response:
        body: dict[str, Any] = {"query": query}
        if variables is not None:
            body["variables"] = variables
        return httpx.post(f"{self.url}/graphql", json=body, timeout=10)

    def data(self, query: str, variables: dict[str, Any] | None = None) -> dict[str, Any]:
        response = self.query(query, variables)
        assert response.status_code == 200, response.text
        payload = response.json()
        assert "errors" not in payload, payload
        result: dict[str, Any] = payload["data"]
        return result


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _seed_jsonl(tmp: Path) -> Path:
    record = json.loads(shared_file(EXTRACTOR / "seed-event.json").read_text("utf-8"))
    path = tmp / "seed.jsonl"
    path.write_text(json.dumps(record, ensure_ascii=False) + "\n", encoding="utf-8")
    return path


def start_server(
    directory: Path, port: int, samples: bool = False, env: dict[str, str] | None = None
) -> subprocess.Popen[bytes]:
    """`newsgraph serve` on `directory`, once it answers; `samples` lets it load the bundled
    samples into an empty store, as it does for a newcomer; `env` adds to the environment
    (tokens, say)."""
    command = [str(NEWSGRAPH), "serve", "--store", str(directory), "--port", str(port)]
    process = subprocess.Popen(
        command + ([] if samples else ["--no-samples"]),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        env={**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})},
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            output = process.stdout.read().decode() if process.stdout else ""
            raise AssertionError(f"newsgraph serve exited: {output}")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/health", timeout=1).status_code == 200:
                return process
        except httpx.TransportError:
            time.sleep(0.1)
    process.kill()
    raise AssertionError("newsgraph serve did not answer within 30 s")


def stop_server(process: subprocess.Popen[bytes]) -> str:
    """Stop the server; what it printed."""
    process.terminate()
    try:
        output, _ = process.communicate(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        output, _ = process.communicate()
    return output.decode("utf-8", "replace") if output else ""


def seed_event_id(store: GraphStore) -> str:
    page = store.query_events(EventQuery(EventFilter(), first=10))
    (event,) = [e for e in page.events if e.text("summary").startswith("Russian President")]
    return event.id


@pytest.fixture(scope="module", params=STORE_KINDS)
def server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Server]:
    """A running `newsgraph serve` over a store holding the registry, the seed and samples."""
    tmp = tmp_path_factory.mktemp(f"api-{request.param}")
    store = make_store(request.param, tmp)
    store.setup()
    try:
        load_outlets(store)
        load_file(store, _seed_jsonl(tmp))
        seed = seed_event_id(store)
    finally:
        store.close()
    # The samples other than the seed's merges live in a second store-independent step:
    # only the seed is loaded, so the page shows exactly what seed-page.txt shows.
    from typing import cast

    from tests.conftest import serve_target

    port = _free_port()
    spec, env = serve_target(request.param, tmp)  # a directory, or a Bolt URI and credentials
    with pytest.MonkeyPatch.context() as patch:
        for name, value in env.items():
            patch.setenv(name, value)
        process = start_server(cast(Path, spec), port)  # it only passes on str(spec)
    try:
        yield Server(f"http://127.0.0.1:{port}", seed)
    finally:
        stop_server(process)


def render_page(event: dict[str, Any]) -> str:
    """The public event page as plain text, rendered from one `event` response like the UI."""
    confidence = event["confidence"]
    category = event["category"].lower()
    lines = [
        f"{ICONS.get(category, '')} {category.capitalize()}".strip(),
        event["summary"],
        f"{event['place']['name']}, {event['country']['name']}",
        f"{confidence['label']} Reported by {confidence['independentSources']} independent sources",
        " ".join(s["name"] for s in event["sources"]),
        confidence["explanation"],
    ]
    lines += CHROME[:4]
    for report in event["reports"]:
        for claim in report["claims"]:
            lines.append(claim["text"])
            lines.append(f"{report['outlet']['name']} → Source tone: {claim['tone'].lower()}")
    lines += CHROME[4:7]
    lines.append(f"This event is rated {confidence['level'].lower()}. {confidence['hint']}")
    lines += CHROME[7:]
    lines.append(f"Extracted: {event['extraction']['firstExtractedAt']}")
    lines.append(f"Source story: {event['extraction']['stories'][0]['slug']}")
    return "\n".join(lines)


def test_seed_page_renders_from_one_query(server: Server) -> None:
    data = server.data(PAGE_QUERY, {"id": server.seed_id})
    event = data["event"]
    page = render_page(event)
    for line in shared_file(EXTRACTOR / "seed-page.txt").read_text("utf-8").splitlines():
        if line.strip():
            assert line.strip() in page, f"seed page line not rendered: {line!r}"
    # the facts the page shows, straight from the response
    assert event["category"] == "DIPLOMATIC"
    assert (event["place"]["name"], event["country"]["name"]) == ("Moscow", "Ukraine")
    assert event["confidence"]["level"] == "LIKELY"
    assert event["confidence"]["independentSources"] == 3
    assert event["confidence"]["nextLevel"] == "VERIFIED"
    assert event["confidence"]["needs"] == {"independentSources": 0, "trustedSources": 1}
    assert event["confidence"]["hint"] == "One more trusted source could elevate it to verified."
    assert sorted(s["name"] for s in event["sources"]) == [
        "Censor.NET",
        "Institute for the Study of War",
        "Kyiv Independent",
    ]
    assert event["extraction"]["firstExtractedAt"] == "2026-05-30T04:15:39.113Z"
    claims = [(r["outlet"]["name"], c["tone"]) for r in event["reports"] for c in r["claims"]]
    assert claims.count(("Censor.NET", "CERTAIN")) == 5
    assert claims.count(("Kyiv Independent", "CERTAIN")) == 1
    names = {i["entity"]["name"]: i["roles"] for i in event["entities"]}
    assert names["Vladimir Putin"] == ["participant"]
    assert names["Steve Witkoff"] == ["mentioned"]


def test_event_ids_are_stable_across_reloads(server: Server, tmp_path: Path) -> None:
    store = make_store("embedded", tmp_path)
    store.setup()
    try:
        load_outlets(store)
        load_file(store, _seed_jsonl(tmp_path))
        assert seed_event_id(store) == server.seed_id
    finally:
        store.close()


def test_unknown_id_is_null_with_a_message(server: Server) -> None:
    response = server.query('{ event(id: "ev_nope") { id } }')
    assert response.status_code == 200
    payload = response.json()
    assert payload["data"] == {"event": None}
    assert payload["errors"][0]["message"] == "no event with id 'ev_nope'"


def test_page_size_is_capped(server: Server) -> None:
    payload = server.query("{ events(first: 101) { edges { cursor } } }").json()
    assert payload["errors"][0]["message"] == "first must be between 1 and 100, got 101"


def test_deep_queries_are_refused(server: Server) -> None:
    nested = "neighbours { edges { node { " * 6 + "id" + " } } }" * 6
    response = server.query(f'{{ node(id: "{server.seed_id}") {{ {nested} }} }}')
    assert response.status_code == 200
    assert "exceeds maximum operation depth" in response.json()["errors"][0]["message"]


def test_syntax_errors_and_bad_arguments_are_not_server_errors(server: Server) -> None:
    broken = server.query("{ event(id: ")
    assert broken.status_code < 500
    assert "Syntax Error" in broken.json()["errors"][0]["message"]
    bad_date = server.query('{ events(filter: {from: "2025-02-30"}) { edges { cursor } } }')
    assert bad_date.status_code < 500 and "errors" in bad_date.json()
    bad_cursor = server.query('{ events(after: "garbage") { edges { cursor } } }').json()
    assert (
        bad_cursor["errors"][0]["message"] == "after: 'garbage' is not a cursor this API gave out"
    )


def test_entity_by_alias_and_its_timeline(server: Server) -> None:
    query = """query($name: String!) { entity(name: $name) {
        id name aliases timeline(first: 5) { edges { node { id } } pageInfo { hasNextPage } } } }"""
    by_alias = server.data(query, {"name": "russian president vladimir putin"})["entity"]
    by_name = server.data(query, {"name": "Putin"})["entity"]
    assert by_alias["id"] == by_name["id"]
    assert by_alias["name"] == "Vladimir Putin"
    assert [e["node"]["id"] for e in by_alias["timeline"]["edges"]] == [server.seed_id]
    missing = server.query('{ entity(name: "Nobody Atall") { id } }').json()
    assert missing["errors"][0]["message"] == "no entity is known by the name 'Nobody Atall'"


def test_outlet_by_alias_lists_its_events(server: Server) -> None:
    query = '{ outlet(name: "ISW") { name tier events { edges { node { id } } } } }'
    outlet = server.data(query)["outlet"]
    assert outlet["name"] == "Institute for the Study of War"
    assert outlet["tier"] == "STANDARD"
    assert [e["node"]["id"] for e in outlet["events"]["edges"]] == [server.seed_id]


def test_events_filters(server: Server) -> None:
    def ids(filter_text: str) -> list[str]:
        query = f"{{ events(filter: {filter_text}) {{ edges {{ node {{ id }} }} }} }}"
        return [e["node"]["id"] for e in server.data(query)["events"]["edges"]]

    assert ids("{categories: [DIPLOMATIC]}") == [server.seed_id]
    assert ids("{categories: [MILITARY]}") == []
    assert ids('{from: "2025-03-13", to: "2025-03-13"}') == [server.seed_id]
    assert ids('{from: "2025-03-14"}') == []
    assert ids("{minConfidence: LIKELY}") == [server.seed_id]
    assert ids("{minConfidence: VERIFIED}") == []


def test_search_finds_events_and_entities(server: Server) -> None:
    query = """{ search(text: "lukashenko") {
        __typename ... on Event { id } ... on Entity { name } } }"""
    found = server.data(query)["search"]
    assert {"__typename": "Event", "id": server.seed_id} in found
    assert {"__typename": "Entity", "name": "Alexander Lukashenko"} in found


def test_neighbours_page_through_every_link(server: Server) -> None:
    query = """query($id: ID!, $after: String) { node(id: $id) {
        neighbours(first: 4, after: $after) {
        edges { cursor relationship direction node { id __typename } }
        pageInfo { hasNextPage endCursor } } } }"""
    seen: list[tuple[str, str]] = []
    after = None
    while True:
        page = server.data(query, {"id": server.seed_id, "after": after})["node"]["neighbours"]
        seen += [(e["relationship"], e["node"]["id"]) for e in page["edges"]]
        if not page["pageInfo"]["hasNextPage"]:
            break
        after = page["pageInfo"]["endCursor"]
    kinds = [kind for kind, _ in seen]
    # 3 outlets report it, 7 entities, 1 place, 1 story describes it
    assert kinds.count("REPORTS") == 3
    assert kinds.count("INVOLVES") == 7
    assert kinds.count("OCCURRED_IN") == 1
    assert kinds.count("DESCRIBES") == 1
    assert len(set(seen)) == len(seen)


def test_exported_sdl_is_current() -> None:
    exported = (ROOT / "api" / "schema.graphql").read_text("utf-8")
    assert exported.strip() == schema.as_str().strip(), (
        "api/schema.graphql is stale: run `newsgraph schema --output api/schema.graphql`"
    )


def test_every_cause_of_a_level_change_has_its_graphql_value() -> None:
    assert [c.value for c in ChangeCause] == list(get_args(Cause))
