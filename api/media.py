"""GraphQL over HTTP: the media type of an answer, and its status, from the client's Accept.

strawberry (0.341) answers every GraphQL result as `application/json` with 200; the
GraphQL-over-HTTP spec adds `application/graphql-response+json`, under which a request error
(the document does not parse or validate, its variables do not coerce, a limit refuses it:
execution never starts) is a 4xx answer without `data`. So:

- `preferred(accept)` picks the media type: `application/graphql-response+json` when the
  client lists it at least as high as `application/json`; `application/json` when the client
  asks for that, for `*/*`, sends no Accept, or accepts neither (legacy clients);
- `GraphQLApp.process_result` calls `answer`, which drops `data` from a request error's answer
  under the new type, and notes on the request's scope what the answer is;
- `Negotiated` (the /graphql route) then sets the answer's Content-Type and, for a request
  error under the new type, status 400.

Answers made before GraphQL runs (401, 413, a body that is not JSON: `api.app.Refused`) keep
`application/json`: they are HTTP refusals, not GraphQL responses.
"""

from __future__ import annotations

from typing import Any

from starlette.datastructures import Headers
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from strawberry.http import GraphQLHTTPResponse
from strawberry.types import ExecutionResult

GRAPHQL_RESPONSE = "application/graphql-response+json"
JSON = "application/json"
# The scope's state key under which `answer` notes a GraphQL answer for `Negotiated`.
ANSWER = "newsgraph.graphql_answer"


def preferred(accept: str | None) -> str:
    """The media type to answer a client whose Accept header is `accept`."""
    if not accept:
        return JSON
    best = (0.0, -1, -1, JSON)
    for item in accept.split(","):
        kind, _, params = item.strip().partition(";")
        kind = kind.strip().lower()
        q = _quality(params)
        for candidate in (GRAPHQL_RESPONSE, JSON):
            specificity = _matches(kind, candidate)
            if specificity < 0 or q <= 0:
                continue
            # Listed by name, the newer type wins a tie; through a wildcard, the legacy one.
            preference = int(candidate == GRAPHQL_RESPONSE) if specificity == 2 else 0
            if candidate == JSON and specificity < 2:
                preference = 1
            rank = (q, specificity, preference, candidate)
            if rank[:3] > best[:3]:
                best = rank
    return best[3]


def _quality(params: str) -> float:
    for param in params.split(";"):
        name, _, value = param.strip().partition("=")
        if name.strip().lower() == "q":
            try:
                return min(max(float(value), 0.0), 1.0)
            except ValueError:
                return 0.0
    return 1.0


def _matches(kind: str, candidate: str) -> int:
    """How specifically the media range `kind` names `candidate`: 2 exactly, 1 as `type/*`,
    0 as `*/*`, -1 not at all."""
    if kind == candidate:
        return 2
    if kind == "application/*":
        return 1
    if kind == "*/*":
        return 0
    return -1


def is_request_error(result: ExecutionResult) -> bool:
    """Whether execution never started: no data and no error of a field (errors with a path
    come from resolvers; a non-null root field failing also leaves `data` null)."""
    return (
        result.data is None
        and bool(result.errors)
        and all(error.path is None for error in result.errors or ())
    )


def answer(
    request: Request, response: GraphQLHTTPResponse, result: ExecutionResult
) -> GraphQLHTTPResponse:
    """`response` as the client's media type has it; notes the answer for `Negotiated`."""
    media = preferred(request.headers.get("accept"))
    request_error = is_request_error(result)
    if media == GRAPHQL_RESPONSE and request_error:
        response.pop("data", None)
    request.scope.setdefault("state", {})[ANSWER] = (media, request_error)
    return response


class Negotiated:
    """The GraphQL app, its GraphQL answers given the media type and status `answer` noted."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def negotiated(message: Message) -> None:
            noted: Any = scope.get("state", {}).get(ANSWER)
            if message["type"] == "http.response.start" and noted is not None:
                media, request_error = noted
                headers = Headers(raw=message.get("headers", []))
                if media == GRAPHQL_RESPONSE and headers.get("content-type") == JSON:
                    raw = [(k, v) for k, v in message["headers"] if k.lower() != b"content-type"]
                    raw.append((b"content-type", f"{GRAPHQL_RESPONSE}; charset=utf-8".encode()))
                    status = 400 if request_error and message["status"] == 200 else None
                    message = {
                        **message,
                        "headers": raw,
                        "status": status or message["status"],
                    }
            await send(message)

        await self.app(scope, receive, negotiated)
