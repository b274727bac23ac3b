"""The audit record (issue 16, api.audit): who did what and when, for token holders'
mutations and reads of role-kept fields and for refused tokens and roles, read by admins,
kept for a bounded time and size."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from api.app import create_app
from api.audit import AuditLog, AuditRecord
from api.config import AppConfig
from api.tokens import Tokens
from graph.store import GraphStore
from services.ingest import Ingestor
from tests.conftest import load_outlets
from tests.support.graphql import GraphQLClient
from tests.test_editorial import seed_record

EDITOR = "audit-editor-token-0123456789abcdefghij"
ADMIN = "audit-admin-token-0123456789abcdefghijk"
SUBMIT = """mutation($event: ID!) {
  submitSource(eventId: $event, url: "https://example.org/a", outletName: "Example") { id } }"""
REJECT = 'mutation($id: ID!) { rejectSubmission(id: $id, reason: "not a source") { id } }'
PENDING = "{ pendingSubmissions { edges { node { id } } } }"
LOG = """query($outcome: AuditOutcome, $actor: String) {
  auditLog(first: 50, outcome: $outcome, actor: $actor) { edges { node {
    at actor role client action outcome reason process } } } }"""


@pytest.fixture
def site(store: GraphStore, tmp_path: Path) -> Iterator[tuple[GraphQLClient, str]]:
    load_outlets(store)
    (result,) = Ingestor(store).ingest([(1, seed_record())])
    tokens = Tokens.configured(f"editor:alice:{EDITOR},admin:root:{ADMIN}")
    config = AppConfig(audit_file=str(tmp_path / "audit.sqlite3"))
    client = GraphQLClient(create_app(store, tokens, config))
    try:
        yield client, result.event_id
    finally:
        client.close()


def _log(client: GraphQLClient, **variables: Any) -> list[dict[str, Any]]:
    answer = client.query(LOG, variables, token=ADMIN).json()
    assert "errors" not in answer, answer
    return [e["node"] for e in answer["data"]["auditLog"]["edges"]]


def test_privileged_and_refused_actions_are_recorded_and_others_not(
    site: tuple[GraphQLClient, str],
) -> None:
    client, event_id = site
    submitted = client.query(SUBMIT, {"event": event_id}).json()  # anonymous: not recorded
    submission = submitted["data"]["submitSource"]["id"]
    client.query("{ events(first: 1) { edges { node { id } } } }")  # a page: not recorded
    assert client.query(PENDING).json()["errors"]  # anonymous, refused: recorded
    assert "errors" not in client.query(PENDING, token=EDITOR).json()  # a role's read
    answer = client.query(REJECT, {"id": submission}, token=EDITOR).json()
    assert "errors" not in answer, answer
    again = client.query(REJECT, {"id": submission}, token=EDITOR).json()  # already rejected
    assert again["errors"]
    bad = client.query("{ __typename }", token="not-a-token-of-this-server-0123456789")
    assert bad.status_code == 401

    entries = _log(client)
    seen = [(e["actor"], e["action"], e["outcome"]) for e in reversed(entries)]
    assert seen == [
        ("anonymous", "query pendingSubmissions", "REFUSED"),
        ("alice", "query pendingSubmissions", "OK"),
        ("alice", f'mutation rejectSubmission(id: "{submission}", reason: "not a source")', "OK"),
        (
            "alice",
            f'mutation rejectSubmission(id: "{submission}", reason: "not a source")',
            "REFUSED",
        ),
        ("unknown", "authenticate", "REFUSED"),
    ]
    newest = entries[0]
    assert newest["reason"] == "the bearer token is not valid"
    assert newest["client"] == "address:127.0.0.1" and newest["process"] == "reader"
    assert "not-a-token" not in str(entries)  # a token is never recorded
    refused = entries[1]
    assert refused["role"] == "editor" and refused["client"] == "token:alice"
    assert refused["reason"].startswith(f"submission {submission} is already rejected")
    assert entries[-1]["reason"].startswith("pendingSubmissions needs the editor or admin role")
    # filters; the admin's own reads are recorded too
    assert [e["action"] for e in _log(client, outcome="REFUSED", actor="unknown")] == [
        "authenticate"
    ]
    assert _log(client, actor="root")[0]["action"].startswith("query auditLog")


def test_only_admins_read_the_audit(site: tuple[GraphQLClient, str]) -> None:
    client, _ = site
    answer = client.query(LOG, token=EDITOR).json()
    assert answer["errors"][0]["message"] == "auditLog needs the admin role; you are alice (editor)"
    assert answer["data"] is None
    assert _log(client, actor="alice")[0]["outcome"] == "REFUSED"


def test_exports_are_recorded(site: tuple[GraphQLClient, str]) -> None:
    client, _ = site
    http = client._http
    fetch = client._runner.run
    assert fetch(http.get("/export/csv")).status_code == 401
    answer = fetch(
        http.get("/export/csv?category=cyber", headers={"Authorization": f"Bearer {EDITOR}"})
    )
    assert answer.status_code == 200
    seen = [(e["actor"], e["action"], e["outcome"]) for e in _log(client)]
    assert seen == [
        ("alice", "GET /export/csv?category=cyber", "OK"),
        ("anonymous", "GET /export/csv", "REFUSED"),
    ]


def _record(at: str, actor: str = "unknown", client: str = "address:192.0.2.1") -> AuditRecord:
    return AuditRecord(at, actor, "none", client, "authenticate", "refused", "bad token")


def test_retention_by_age_and_by_count_of_refusals(tmp_path: Path) -> None:
    audit = AuditLog(str(tmp_path / "audit.sqlite3"), days=30, max_refusals=3)
    audit.record(_record("2000-01-01T00:00:00.000Z", actor="alice"))  # older than 30 days
    audit.record(_record("2999-01-01T00:00:00.000Z", actor="alice"))
    for n in range(6):  # refusals from six clients: only the latest three are kept
        audit.record(_record("2999-01-01T00:00:00.000Z", client=f"address:192.0.2.{n}"))
    audit.flush()
    kept = [r for _, r in audit.read(100)]
    assert [r.actor for r in kept].count("alice") == 1  # the old one went, the other stays
    assert [r.client for r in kept if r.actor == "unknown"] == [
        "address:192.0.2.5",
        "address:192.0.2.4",
        "address:192.0.2.3",
    ]
    audit.close()


def test_one_client_cannot_flood_the_audit_with_refusals(tmp_path: Path) -> None:
    audit = AuditLog(str(tmp_path / "audit.sqlite3"), refusal_rate="5/minute")
    for _ in range(50):
        audit.record(_record("2999-01-01T00:00:00.000Z"))
    audit.record(_record("2999-01-01T00:00:00.000Z", actor="alice"))  # a token holder's: kept
    audit.flush()
    kept = [r for _, r in audit.read(100)]
    assert len(kept) == 6 and audit.dropped == 45
    audit.close()
