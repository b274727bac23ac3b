"""The whole editorial loop over HTTP and a WebSocket, against the real app (served in the
test's event loop: the subscriber needs a socket), as the site, a reader, an editor and the
extractor see it, with the seed event."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette

from api.app import create_app
from api.tokens import Tokens
from tests.conftest import EXTRACTOR, STORE_KINDS, fresh_store, load_outlets, shared_file
from tests.support.graphql import PAGE_QUERY, asgi_client, bearer, serving
from tests.support.websocket import CONFIDENCE_CHANGED, websocket

LOADER = "loader-token-0123456789abcdefghijklmnop"
EDITOR = "editor-token-0123456789abcdefghijklmnop"
TOKENS = f"loader:extractor:{LOADER},editor:alice:{EDITOR}"
REUTERS = "https://www.reuters.com/world/europe/putin-lukashenko-sign-security-treaty-2025-03-13/"

INGEST = """mutation($records: [JSON!]!) {
  ingest(records: $records) { loaded merged rejected results { index status eventId reason } }
}"""
SUBMIT = """mutation($event: ID!, $url: String!, $outlet: String!, $claim: String, $tone: Tone) {
  submitSource(eventId: $event, url: $url, outletName: $outlet, claim: $claim, tone: $tone) {
    id status url outletName
  }
}"""
PENDING = """query($event: ID) {
  pendingSubmissions(eventId: $event) { edges { node { id url outletName status } } }
}"""
APPROVE = """mutation($id: ID!) {
  approveSubmission(id: $id, note: "Reuters article checked") {
    duplicate message submission { status reviewedBy reviewNote }
  }
}"""
HISTORY = """query($id: ID!) {
  event(id: $id) {
    confidence { level hint }
    confidenceHistory { previous level cause detail by }
    sources { name tier }
  }
}"""


@pytest.fixture(scope="module", params=STORE_KINDS)
def app(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Starlette]:
    """The app over a store of each kind holding the outlet registry only, with two tokens."""
    tmp = tmp_path_factory.mktemp(f"loop-{request.param}")
    store = fresh_store(request.param, tmp)
    store.setup()
    try:
        load_outlets(store)
        yield create_app(store, Tokens.configured(TOKENS))
    finally:
        store.close()


async def post(
    served: str, query: str, variables: dict[str, Any], token: str | None = None
) -> dict[str, Any]:
    async with httpx.AsyncClient(timeout=30) as http:
        response = await http.post(
            f"http://{served}/graphql",
            json={"query": query, "variables": variables},
            headers=bearer(token),
        )
    assert response.status_code == 200, response.text
    payload: dict[str, Any] = response.json()
    assert "errors" not in payload, payload
    data: dict[str, Any] = payload["data"]
    return data


def test_a_reader_submits_an_editor_approves_and_the_seed_is_verified(app: Starlette) -> None:
    seed = json.loads(shared_file(EXTRACTOR / "seed-event.json").read_text("utf-8"))

    async def scenario(served: str) -> None:
        # The extractor loads the seed over HTTP: likely, one trusted source short.
        loaded = (await post(served, INGEST, {"records": [seed]}, LOADER))["ingest"]
        assert (loaded["loaded"], loaded["merged"], loaded["rejected"]) == (1, 0, 0)
        event_id = loaded["results"][0]["eventId"]
        page = await post(served, PAGE_QUERY, {"id": event_id})
        confidence = page["event"]["confidence"]
        assert confidence["level"] == "LIKELY"
        assert confidence["hint"] == "One more trusted source could elevate it to verified."

        async with websocket(f"ws://{served}/graphql") as subscriber:
            watching = await subscriber.subscribe(CONFIDENCE_CHANGED, {"eventId": event_id})

            # An anonymous reader submits a Reuters article: the page does not change.
            submitted = await post(
                served,
                SUBMIT,
                {
                    "event": event_id,
                    "url": REUTERS,
                    "outlet": "Reuters",
                    "claim": "Putin and Lukashenko signed the security treaty.",
                    "tone": "CERTAIN",
                },
            )
            submission = submitted["submitSource"]
            assert submission["status"] == "PENDING"
            assert await post(served, PAGE_QUERY, {"id": event_id}) == page

            # An editor finds it waiting and approves it.
            pending = await post(served, PENDING, {"event": event_id}, EDITOR)
            waiting = [e["node"] for e in pending["pendingSubmissions"]["edges"]]
            assert waiting == [{**submission, "status": "PENDING"}]
            approved = (await post(served, APPROVE, {"id": submission["id"]}, EDITOR))[
                "approveSubmission"
            ]
            assert approved == {
                "duplicate": False,
                "message": "approved: now a report by Reuters",
                "submission": {
                    "status": "APPROVED",
                    "reviewedBy": "alice",
                    "reviewNote": "Reuters article checked",
                },
            }

            # The subscriber saw the change, with the approver (and nothing of the submission
            # before it).
            change = (await subscriber.next(watching))["confidenceChanged"]
            assert (change["eventId"], change["previous"], change["level"]) == (
                event_id,
                "LIKELY",
                "VERIFIED",
            )
            # an anonymous subscriber sees the approver's role, not the token's name
            assert (change["cause"], change["by"]) == ("APPROVAL", "editor")
            assert submission["id"] in change["detail"]

        # The page is verified; its history says when, why and by whom.
        after = (await post(served, HISTORY, {"id": event_id}))["event"]
        assert after["confidence"]["level"] == "VERIFIED"
        assert {"name": "Reuters", "tier": "TRUSTED"} in after["sources"]
        history = after["confidenceHistory"]
        # the public sees roles; editors see the tokens' names
        assert [(h["previous"], h["level"], h["cause"], h["by"]) for h in history] == [
            (None, "LIKELY", "REPORT", "loader"),
            ("LIKELY", "VERIFIED", "APPROVAL", "editor"),
        ]
        named = (await post(served, HISTORY, {"id": event_id}, EDITOR))["event"]
        assert [h["by"] for h in named["confidenceHistory"]] == ["extractor", "alice"]
        assert REUTERS in history[-1]["detail"]
        assert await post(served, PENDING, {"event": event_id}, EDITOR) == {
            "pendingSubmissions": {"edges": []}
        }

        # The same article again is recognised as a duplicate.
        again = await post(
            served, SUBMIT, {"event": event_id, "url": REUTERS, "outlet": "Reuters Agency"}
        )
        duplicate = (await post(served, APPROVE, {"id": again["submitSource"]["id"]}, EDITOR))[
            "approveSubmission"
        ]
        assert duplicate["duplicate"] is True
        assert duplicate["submission"]["status"] == "DUPLICATE"
        assert duplicate["message"].startswith("duplicate of the report by Reuters")

    async def main() -> None:
        async with serving(app) as served:
            await scenario(served)

    asyncio.run(main())


def test_a_bad_token_is_refused_before_anything_runs(app: Starlette) -> None:
    async def call() -> httpx.Response:
        async with asgi_client(app) as http:
            return await http.post(
                "/graphql",
                json={"query": "{ events(first: 1) { edges { cursor } } }"},
                headers=bearer("not-a-token-anyone-was-given-0123456789"),
            )

    response = asyncio.run(call())
    assert response.status_code == 401
    assert response.json() == {
        "data": None,
        "errors": [{"message": "the bearer token is not valid"}],
    }
    assert response.headers["www-authenticate"] == "Bearer"
