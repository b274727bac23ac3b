"""The fast lane: a page's query asked again, answered without strawberry's HTTP view.

A site asks the same few documents (the event page, a timeline, a directory) over and over,
with other variables. For each request strawberry's view and `Schema.execute` build a request
adapter, a sub-response and an execution context, enter every extension's hooks for the
operation, parsing, validation and execution (eight extensions, four hooks each), and look the
document up in the parser and validation caches: about half a worker's CPU for an event page
once the page itself runs by plan (`api.compiled`).

None of that depends on the request but its variables. So when the slow path has answered a
document without an error, as an anonymous query (`Learn`, an extension that looks
at each operation once it ran), the document is known; an anonymous POST of a known document
then runs here: the same JSON parsing and depth check, the variables' limits
(`api.limits.check_variables`), the operation's cost against its budget (`api.cost`), the same
context (`GraphQLApp.get_context`, the response cache's recording included), graphql-core's
execution with the same executor (`PlannedExecutor`), and the same result processing and
response (`GraphQLApp.process_result`, `create_response`). Everything around it (metrics,
compression, CORS, the response cache, media types, the change header) is the same ASGI stack.

What could make the answer differ goes the slow way, with the request as it came:
- anything but an anonymous POST of `application/json`, or GET, with `query`, `variables` and
  `operationName` only (persisted queries, batches, streaming `Accept`s, tokens);
- variables over the limits, an operation over its cost budget, or one whose analytics cost
  its client's budget cannot pay for now (the whole way refuses it, saying how long to wait;
  an answer of the fast lane charges the budget once, as the whole way would);
- a result with an error, or no data: the slow path runs the operation again, so its errors are
  masked, logged and audited as they always are (a query only reads: running it twice changes
  nothing).

`tests/test_fastlane.py` compares the answers, headers included, of both lanes.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol, cast

from cachetools import LRUCache
from graphql import (
    DocumentNode,
    FieldNode,
    GraphQLSchema,
    OperationType,
    Visitor,
    execute,
    get_operation_ast,
    visit,
)
from graphql import ExecutionResult as CoreResult
from starlette.datastructures import Headers, QueryParams
from starlette.requests import Request
from starlette.responses import Response
from strawberry.execution.is_awaitable import optimized_is_awaitable
from strawberry.extensions import SchemaExtension
from strawberry.types import ExecutionResult

from api.compiled import PlannedExecutor
from api.context import RequestContext
from api.cost import cached_cost, client_budget
from api.forward import asks_heavy
from api.limits import check_variables, config_of
from api.response_cache import POSTED
from api.tokens import ANONYMOUS

if TYPE_CHECKING:
    from starlette.types import Send
    from strawberry.http import GraphQLHTTPResponse
    from strawberry.schema.base import BaseSchema

    from api.context import Services
    from api.metrics import Metrics


class View(Protocol):
    """What the fast lane uses of the app (`api.app.GraphQLApp`): its parsing, context and
    result processing, so that both lanes answer alike."""

    schema: BaseSchema
    services: Services
    metrics: Metrics

    def parse_json(self, data: str | bytes) -> object: ...

    async def get_context(self, request: Request, response: Any) -> RequestContext: ...

    async def get_sub_response(self, request: Request) -> Response: ...

    async def process_result(
        self, request: Request, result: ExecutionResult
    ) -> GraphQLHTTPResponse: ...

    def create_response(
        self, response_data: GraphQLHTTPResponse, sub_response: Response
    ) -> Response: ...


# The request's keys the fast lane reads; a body with any other goes the slow way.
_KEYS = frozenset({"query", "variables", "operationName"})
# `Accept`s asking strawberry for a stream (multipart or server-sent events)
_STREAMS = ("multipart/mixed", "text/event-stream")


@dataclass(frozen=True, slots=True)
class Known:
    """A document, and which of its operations the slow path answered as anonymous queries
    (by the operation's identity in the document)."""

    document: DocumentNode
    operations: frozenset[int]


class Counts:
    """How many requests the fast lane answered in this process (what tests look at)."""

    answered = 0


# Known documents by (schema, the longest literal string its validation let through, query
# text), as many as the parser cache keeps (`api.schema`), the most recently used kept. The
# apps of a process share the schema; that limit is the one part of a document's validation
# an app's config decides (`api.limits.string_length_rule`), so an app with another limit
# knows the document only once it validated it itself.
KNOWN: LRUCache[tuple[int, int, str], Known] = LRUCache(256)


def _introspects(document: DocumentNode) -> bool:
    """Whether the document selects an introspection field other than `__typename`: those are
    answered by `api.introspection`'s extension, which the fast lane does not run."""
    found: list[bool] = []

    class Fields(Visitor):
        def enter_field(self, node: FieldNode, *_: Any) -> Any:
            name = node.name.value
            if name.startswith("__") and name != "__typename":
                found.append(True)
                return Visitor.BREAK
            return None

    visit(document, Fields())
    return bool(found)


class Learn(SchemaExtension):
    """Notes, once an operation has run, a document the fast lane may answer next time."""

    def on_execute(self) -> Iterator[None]:
        yield
        context = self.execution_context
        result = context.result
        document = context.graphql_document
        query = context.query
        if (
            document is None
            or query is None
            or result is None
            or result.errors
            or result.data is None
            or context.operation_extensions
        ):
            return
        request = context.context
        if not isinstance(request, RequestContext) or request.actor != ANONYMOUS:
            return
        config = config_of(context)
        if len(query) > config.max_cached_query_length:
            return
        schema = context.schema._schema
        key = (id(schema), config.max_string_length, query)
        known = KNOWN.get(key)
        if known is not None and known.document is not document:
            return  # parsed again (a text too long for the parser cache): not kept
        operation = get_operation_ast(document, context.operation_name)
        if operation is None or operation.operation is not OperationType.QUERY:
            return
        if known is not None and id(operation) in known.operations:
            return
        # heavy fields go to the analyst process (api.forward), which the fast lane would skip
        if not _introspects(document) and not asks_heavy(query, context.operation_name):
            learnt = known.operations if known is not None else frozenset()
            KNOWN[key] = Known(document, learnt | {id(operation)})


def _request(body: object) -> tuple[str, dict[str, Any] | None, str | None] | None:
    """The query, variables and operation name of a body the fast lane can take, or None."""
    if not isinstance(body, dict) or not body.keys() <= _KEYS:
        return None
    query, variables, name = body.get("query"), body.get("variables"), body.get("operationName")
    if not isinstance(query, str):
        return None
    if variables is not None and not isinstance(variables, dict):
        return None
    if name is not None and not isinstance(name, str):
        return None
    return query, variables, name


def takes(scope: Any, headers: Headers) -> bool:
    """Whether a request may be the fast lane's, from its method and headers alone: a POST of
    JSON, or a GET with a query string (a browser asking for GraphiQL sends none)."""
    method = scope["method"]
    if method == "GET":
        if not scope.get("query_string"):
            return False
    else:
        media = headers.get("content-type", "").split(";", 1)[0].strip().lower()
        if method != "POST" or media != "application/json":
            return False
    accept = headers.get("accept", "")
    return not any(stream in accept for stream in _STREAMS)


def _parameters(app: View, scope: Any) -> object:
    """A GET's query string as strawberry reads it (variables parsed as JSON), or None when
    the whole way must read it (a name given twice, empty variables: its errors)."""
    params = QueryParams(scope.get("query_string", b""))
    if len(params.multi_items()) != len(params):
        return None
    fields: dict[str, object] = dict(params)
    text = params.get("variables")
    if text is not None:
        if not text:
            return None
        fields["variables"] = app.parse_json(text)
    return fields


async def answer(app: View, scope: Any, body: bytes | None, send: Send) -> bool:
    """Answer the request (a POST's `body`, or a GET's query string) here, if the fast lane
    can; False when the whole way must (nothing was sent then)."""
    kept = scope.get("state", {}).get(POSTED)  # the response cache parsed it already
    try:
        if body is None:
            parsed = _parameters(app, scope)
        elif kept is not None and kept[0] == body:
            parsed = kept[1]
        else:
            parsed = app.parse_json(body)
    except Exception:  # the whole way answers a bad body with its own error
        return False
    request_data = _request(parsed)
    if request_data is None:
        return False
    query, variables, name = request_data
    schema: GraphQLSchema = cast(
        "Any", app.schema
    )._schema  # strawberry's, as the extensions read it
    config = app.services.config
    known = KNOWN.get((id(schema), config.max_string_length, query))
    if known is None:
        return False
    operation = get_operation_ast(known.document, name)  # as graphql-core picks it
    if operation is None or id(operation) not in known.operations:
        return False
    if check_variables(schema, known.document, variables, config) is not None:
        return False
    cost = cached_cost(schema, query, known.document, variables, name)
    if cost.total > config.max_cost:
        return False
    request = Request(scope)
    context = await app.get_context(request, None)
    budget = None
    if config.client_cost_rate and cost.analytics:
        budget = client_budget(app.services, config.client_cost_rate)
        if not budget.could_take(context.client, cost.analytics):
            return False  # refused by the whole way, which says how long to wait
    executed = execute(
        schema,
        known.document,
        root_value=None,
        middleware=None,
        variable_values=variables,
        operation_name=name,
        context_value=context,
        is_awaitable=cast("Any", optimized_is_awaitable),
        executor_class=PlannedExecutor,
        operation_extensions=None,
    )
    result = executed if isinstance(executed, CoreResult) else await executed
    if result.errors or result.data is None:
        return False
    if budget is not None and budget.take(context.client, cost.analytics) is not None:
        return False  # another request spent the budget meanwhile: refused the whole way
    app.metrics.note(scope.setdefault("state", {}), "query")  # counted as the whole way does
    processed = await app.process_result(request, ExecutionResult(data=result.data, errors=None))
    response = app.create_response(processed, await app.get_sub_response(request))
    await response(scope, _nothing, send)
    Counts.answered += 1
    return True


async def _nothing() -> Any:
    return {"type": "http.disconnect"}
