"""Role x operation, exhaustively, over HTTP against the real app (in process) on both stores:
every cell either succeeds or is denied with a GraphQL error naming the operation and the roles
it needs, with the graph exactly as it was."""

from __future__ import annotations

import asyncio
import itertools
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from httpx import AsyncClient as Client
from pydantic import SecretStr

from api.app import create_app
from graph import keys
from graph.confidence import Policy, current_policy
from graph.model import Label, Rel
from graph.snapshot import canonical
from graph.store import GraphStore
from loaders.records import Record, validate
from newsgraph.settings import Settings
from newsgraph.wiring import app_arguments
from services.corrections import Corrections
from services.editorial import Editorial
from services.event_editing import EventEditing
from services.ingest import Ingestor
from tests.conftest import load_outlets
from tests.support.graphql import asgi_client, bearer

TOKENS = {
    "loader": "loader-token-0123456789abcdefghijklmnop",
    "editor": "editor-token-0123456789abcdefghijklmnop",
    "admin": "admin-token-0123456789abcdefghijklmnopq",
}
ROLES = ["anonymous", "loader", "editor", "admin"]
ANYONE = set(ROLES)
EDITORS = {"editor", "admin"}
counter = itertools.count()


def record(outlets: list[str], entities: list[str], tag: str) -> dict[str, Any]:
    return {
        "schema_version": 1,
        "extracted_at": "2026-11-25T12:00:00.000Z",
        "source_story": {"slug": f"roles-{tag}", "outlet": outlets[0]},
        "event": {
            "id": f"roles-{tag}",
            "category": "political",
            "summary": f"Role test {tag}.",
            "occurred_on": "2026-11-24",
            "entities": [{"name": n, "type": "person", "role": "participant"} for n in entities],
            "reports": [{"outlet": o, "claims": []} for o in outlets],
        },
    }


def load(store: GraphStore, raw: dict[str, Any]) -> str:
    parsed = validate(raw, 1)
    assert isinstance(parsed, Record)
    (done,) = Ingestor(store).ingest([(1, parsed)])
    return done.event_id


def owner(store: GraphStore, key: str) -> str:
    return store.lookup_keys([key])[key]


@dataclass(frozen=True)
class Operation:
    name: str
    allowed: set[str]
    # store -> (document, variables), preparing what the call needs (a fresh submission...)
    prepare: Callable[[GraphStore], tuple[str, dict[str, Any]]]


def _event(store: GraphStore) -> str:
    return load(store, record(["Reuters"], [], f"event-{next(counter)}"))


def _submission(store: GraphStore) -> str:
    given = {"url": f"https://example.org/{next(counter)}", "outletName": "Reuters"}
    return Editorial(store).submit(_event(store), given, "anonymous").id


def submit_source(store: GraphStore) -> tuple[str, dict[str, Any]]:
    query = """mutation($e: ID!, $u: String!) {
      submitSource(eventId: $e, url: $u, outletName: "Reuters") { id } }"""
    return query, {"e": _event(store), "u": f"https://example.org/s/{next(counter)}"}


def approve(store: GraphStore) -> tuple[str, dict[str, Any]]:
    query = "mutation($id: ID!) { approveSubmission(id: $id) { duplicate } }"
    return query, {"id": _submission(store)}


def reject(store: GraphStore) -> tuple[str, dict[str, Any]]:
    query = 'mutation($id: ID!) { rejectSubmission(id: $id, reason: "off topic") { status } }'
    return query, {"id": _submission(store)}


def update_outlet(store: GraphStore) -> tuple[str, dict[str, Any]]:
    outlet = owner(store, keys.outlet_keys(["Kyiv Independent"])[0])
    tier = store.get_nodes([outlet])[outlet].text("tier")
    query = "mutation($id: ID!, $t: Tier!) { updateOutlet(id: $id, tier: $t) { tier } }"
    return query, {"id": outlet, "t": "STANDARD" if tier == "trusted" else "TRUSTED"}


def merge_outlets(store: GraphStore) -> tuple[str, dict[str, Any]]:
    tag = next(counter)
    load(store, record([f"Gazette {tag}", f"Courier {tag}"], [], f"outlets-{tag}"))
    ids = [owner(store, keys.outlet_keys([n])[0]) for n in (f"Gazette {tag}", f"Courier {tag}")]
    query = "mutation($a: ID!, $b: ID!) { mergeOutlets(from: $a, into: $b) { id } }"
    return query, {"a": ids[0], "b": ids[1]}


def _entities(store: GraphStore) -> list[str]:
    tag = next(counter)
    names = [f"Ann Example {tag}", f"A. Example {tag}"]
    load(store, record(["Reuters"], names, f"entities-{tag}"))
    return [owner(store, keys.entity_keys("person", [n])[0]) for n in names]


def merge_entities(store: GraphStore) -> tuple[str, dict[str, Any]]:
    old, into = _entities(store)
    query = "mutation($a: ID!, $b: ID!) { mergeEntities(from: $a, into: $b) { merge { id } } }"
    return query, {"a": old, "b": into}


def split_entity(store: GraphStore) -> tuple[str, dict[str, Any]]:
    old, into = _entities(store)
    entry = Editorial(store).merge_entities(old, into, "alice")
    query = "mutation($m: ID!) { splitEntity(mergeId: $m) { restored { id } } }"
    return query, {"m": entry.id}


def _events(store: GraphStore, count: int) -> list[str]:
    tag = next(counter)
    return [
        load(store, record([f"Herald {tag}-{i}"], [], f"events-{tag}-{i}")) for i in range(count)
    ]


def merge_events(store: GraphStore) -> tuple[str, dict[str, Any]]:
    old, into = _events(store, 2)
    query = "mutation($a: ID!, $b: ID!) { mergeEvents(from: $a, into: $b) { edit { id } } }"
    return query, {"a": old, "b": into}


def split_event(store: GraphStore) -> tuple[str, dict[str, Any]]:
    tag = next(counter)
    first = record([f"Herald {tag}"], [], f"split-{tag}")
    second = {**first, "source_story": {"slug": f"split-{tag}-b", "outlet": f"Tribune {tag}"}}
    event_id = load(store, first)
    load(store, second)
    stories = store.edges([event_id], Rel.DESCRIBES, "in")[event_id]
    query = (
        "mutation($e: ID!, $s: [ID!]!) { splitEvent(eventId: $e, storyIds: $s) { split { id } } }"
    )
    return query, {"e": event_id, "s": [stories[0].src]}


def keep_apart(store: GraphStore) -> tuple[str, dict[str, Any]]:
    a, b = _events(store, 2)
    query = "mutation($a: ID!, $b: ID!) { keepApart(eventA: $a, eventB: $b) { edit { id } } }"
    return query, {"a": a, "b": b}


def undo_edit(store: GraphStore) -> tuple[str, dict[str, Any]]:
    a, b = _events(store, 2)
    entry = EventEditing(store).keep_apart(a, b, "alice")
    query = "mutation($e: ID!) { undoEdit(editId: $e) { edit { id } } }"
    return query, {"e": entry.id}


def retract_report(store: GraphStore) -> tuple[str, dict[str, Any]]:
    (event_id,) = _events(store, 1)
    (edge,) = store.edges([event_id], Rel.REPORTS, "in")[event_id]
    query = (
        'mutation($r: ID!) { retractReport(reportId: $r, reason: "withdrawn", '
        'retractedOn: "2026-11-25") { edit { id } } }'
    )
    return query, {"r": f"REPORTS:{edge.src}:{edge.dst}:{edge.discriminator}"}


def correct_event(store: GraphStore) -> tuple[str, dict[str, Any]]:
    (event_id,) = _events(store, 1)
    query = (
        'mutation($e: ID!) { correctEvent(id: $e, summary: "Fixed.", reason: "typo") '
        "{ edit { id } } }"
    )
    return query, {"e": event_id}


def unpin_event(store: GraphStore) -> tuple[str, dict[str, Any]]:
    (event_id,) = _events(store, 1)
    Corrections(store).correct_event(event_id, {"summary": "Fixed."}, "typo", "alice")
    return "mutation($e: ID!) { unpinEvent(id: $e) { edit { id } } }", {"e": event_id}


def takedown(store: GraphStore) -> tuple[str, dict[str, Any]]:
    query = 'mutation($t: ID!) { takedown(target: $t, reason: "court order") { edit { id } } }'
    return query, {"t": _submission(store)}


def set_policy(store: GraphStore) -> tuple[str, dict[str, Any]]:
    policy = json.loads(current_policy(store).to_json())
    policy["version"] += 1
    query = "mutation($p: JSON!) { setConfidencePolicy(policy: $p) { eventsChanged } }"
    return query, {"p": policy}


def ingest(store: GraphStore) -> tuple[str, dict[str, Any]]:
    query = "mutation($r: [JSON!]!) { ingest(records: $r) { loaded } }"
    return query, {"r": [record(["Reuters"], [], f"ingest-{next(counter)}")]}


def pending(store: GraphStore) -> tuple[str, dict[str, Any]]:
    return "{ pendingSubmissions { edges { node { id } } } }", {}


def log(store: GraphStore) -> tuple[str, dict[str, Any]]:
    return "{ editorialLog { edges { node { action by } } } }", {}


def submission(store: GraphStore) -> tuple[str, dict[str, Any]]:
    return "query($id: ID!) { submission(id: $id) { status } }", {"id": _submission(store)}


OPERATIONS = [
    Operation("submitSource", ANYONE, submit_source),
    Operation("approveSubmission", EDITORS, approve),
    Operation("rejectSubmission", EDITORS, reject),
    Operation("updateOutlet", EDITORS, update_outlet),
    Operation("mergeOutlets", EDITORS, merge_outlets),
    Operation("mergeEntities", EDITORS, merge_entities),
    Operation("splitEntity", EDITORS, split_entity),
    Operation("mergeEvents", EDITORS, merge_events),
    Operation("splitEvent", EDITORS, split_event),
    Operation("keepApart", EDITORS, keep_apart),
    Operation("undoEdit", EDITORS, undo_edit),
    Operation("retractReport", EDITORS, retract_report),
    Operation("correctEvent", EDITORS, correct_event),
    Operation("unpinEvent", EDITORS, unpin_event),
    Operation("setConfidencePolicy", {"admin"}, set_policy),
    Operation("takedown", {"admin"}, takedown),
    Operation("ingest", {"loader", "admin"}, ingest),
    Operation("pendingSubmissions", EDITORS, pending),
    Operation("submission", EDITORS, submission),
    Operation("editorialLog", EDITORS, log),
]
READS = {"pendingSubmissions", "submission", "editorialLog"}


def settings(rate: str = "1000/minute") -> Settings:
    tokens = ",".join(f"{role}:{role}-user:{token}" for role, token in TOKENS.items())
    return Settings(tokens=SecretStr(tokens), submit_rate=rate)


def serve(store: GraphStore, config: Settings, scenario: Callable[[Client], Any]) -> None:
    """The real app (`api.app.create_app`, wired as `newsgraph serve` wires it), called in
    process."""
    tokens, options = app_arguments(config)
    app = create_app(store, tokens, options)

    async def main() -> None:
        async with asgi_client(app) as http:
            await scenario(http)

    asyncio.run(main())


async def call(http: Client, role: str, query: str, variables: dict[str, Any]) -> dict[str, Any]:
    response = await http.post(
        "/graphql",
        json={"query": query, "variables": variables},
        headers=bearer(TOKENS.get(role)),
    )
    assert response.status_code == 200, response.text
    payload: dict[str, Any] = response.json()
    return payload


def test_every_role_and_operation(store: GraphStore) -> None:
    load_outlets(store)
    cells: list[tuple[str, str, str]] = []

    async def scenario(http: Client) -> None:
        for operation, role in itertools.product(OPERATIONS, ROLES):
            query, variables = operation.prepare(store)
            before = canonical(store)
            answer = await call(http, role, query, variables)
            if role in operation.allowed:
                assert "errors" not in answer, (operation.name, role, answer)
                assert answer["data"][operation.name] is not None
                changed = canonical(store) != before
                assert changed is (operation.name not in READS), (operation.name, role)
                cells.append((operation.name, role, "ok"))
            else:
                (error,) = answer["errors"]
                needs = (
                    "admin"
                    if operation.allowed == {"admin"}
                    else " or ".join(r for r in ROLES if r in operation.allowed)
                )
                assert error["message"].startswith(f"{operation.name} needs the {needs} role"), (
                    error
                )
                assert error["extensions"]["code"] == (
                    "UNAUTHENTICATED" if role == "anonymous" else "FORBIDDEN"
                )
                assert canonical(store) == before, (operation.name, role)
                cells.append((operation.name, role, "denied"))

    serve(store, settings(), scenario)
    assert len(cells) == len(OPERATIONS) * len(ROLES)
    assert sum(1 for *_, outcome in cells if outcome == "ok") == sum(
        len(o.allowed) for o in OPERATIONS
    )


def test_submissions_are_rate_limited_per_client(store: GraphStore) -> None:
    load_outlets(store)
    event_id = _event(store)
    query = """mutation($e: ID!, $u: String!) {
      submitSource(eventId: $e, url: $u, outletName: "Reuters") { id } }"""

    async def scenario(http: Client) -> None:
        for n in range(2):
            answer = await call(
                http, "anonymous", query, {"e": event_id, "u": f"https://a.org/{n}"}
            )
            assert "errors" not in answer, answer
        before = canonical(store)
        refused = await call(http, "anonymous", query, {"e": event_id, "u": "https://a.org/3"})
        assert refused["errors"][0]["message"] == (
            "too many submissions from this client (at most 2/minute); try again later"
        )
        assert canonical(store) == before
        # another client (here: a token holder) has its own allowance
        answer = await call(http, "editor", query, {"e": event_id, "u": "https://a.org/4"})
        assert "errors" not in answer, answer

    serve(store, settings("2/minute"), scenario)
    pending = store.find_nodes(Label.SUBMISSION, {"status": "pending"}, "submitted_at", 10)
    assert len(pending) == 3
    assert all(store.edges([p.id], Rel.SUBMITTED_FOR, "out")[p.id] for p in pending)


@pytest.mark.parametrize(
    ("variables", "message"),
    [
        ({"e": "ev_missing", "u": "https://a.org/x"}, "eventId: no event with id 'ev_missing'"),
        ({"e": None, "u": "javascript:alert(1)"}, "url: URL scheme should be 'http' or 'https'"),
    ],
)
def test_a_bad_submission_is_refused_naming_the_argument(
    store: GraphStore, variables: dict[str, Any], message: str
) -> None:
    load_outlets(store)
    variables = {**variables, "e": variables["e"] or _event(store)}
    query = """mutation($e: ID!, $u: String!) {
      submitSource(eventId: $e, url: $u, outletName: "Reuters") { id } }"""

    async def scenario(http: Client) -> None:
        before = canonical(store)
        answer = await call(http, "anonymous", query, variables)
        assert [e["message"] for e in answer["errors"]] == [message]
        assert answer["data"] is None
        assert canonical(store) == before

    serve(store, settings(), scenario)


def test_policy_is_public_to_read(store: GraphStore) -> None:
    async def scenario(http: Client) -> None:
        answer = await call(http, "anonymous", "{ confidencePolicy }", {})
        assert Policy.model_validate(answer["data"]["confidencePolicy"]) == Policy.default()

    serve(store, settings(), scenario)
