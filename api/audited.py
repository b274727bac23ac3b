"""What of GraphQL goes into the audit record (`api.audit`), and admins' `auditLog` field.

`Audited`, a schema extension, records each operation, once it has run, that is
- a mutation or a read of a field kept for a role (`auditLog`, `pendingSubmissions`, ...) by a
  token holder, whatever its outcome;
- any operation refused for who the caller is or what it may do (a role refused: the errors'
  code `UNAUTHENTICATED` or `FORBIDDEN`), and any mutation refused (an anonymous
  `submitSource` over its client's limits).
The app itself records the tokens it refuses (HTTP 401, a WebSocket closed with 4401) and the
sockets it closes because their token was revoked.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from enum import Enum
from typing import Any

import strawberry
from graphql import (
    FieldNode,
    GraphQLError,
    GraphQLObjectType,
    OperationDefinitionNode,
    OperationType,
)
from graphql.execution.values import VariableValues, get_argument_values, get_variable_values
from strawberry.extensions import SchemaExtension

from api.audit import AuditLog, AuditRecord, now
from api.auth import requires
from api.context import Info, RequestContext
from api.errors import UserError
from api.paging import PageInfo, page_info
from api.tokens import ANONYMOUS, Role
from graph.errors import DomainError
from graph.store import StoreUnavailable

# The longest an argument's value is shown in `action` (characters, as JSON).
MAX_ARGUMENT = 100
# The error codes of a refusal of who the caller is or of what it may do.
REFUSED_CODES = frozenset({"UNAUTHENTICATED", "FORBIDDEN"})


def _root_fields(context: Any) -> tuple[OperationDefinitionNode, list[FieldNode]] | None:
    """The operation that ran and its root fields (fragments at the root are not followed:
    the root fields of a mutation or of a role's read are written out in practice)."""
    document = context.graphql_document
    if document is None:
        return None
    operations = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
    name = context.operation_name
    chosen = [o for o in operations if name is None or (o.name and o.name.value == name)]
    if len(chosen) != 1:
        return None
    operation = chosen[0]
    fields = [s for s in operation.selection_set.selections if isinstance(s, FieldNode)]
    return operation, fields


def _guarded(parent: GraphQLObjectType, name: str) -> bool:
    """Whether the root field `name` is kept for a role (its resolver checks a permission)."""
    field = parent.fields.get(name)
    extensions = getattr(field, "extensions", None) or {}
    definition = extensions.get("strawberry-definition")
    return bool(getattr(definition, "permission_classes", None))


def _action(
    kind: str, parent: GraphQLObjectType, fields: list[FieldNode], variables: VariableValues | None
) -> str:
    """What was asked: "mutation approveSubmission(id: "su_1")", each argument's value as JSON,
    clipped."""
    shown = []
    for node in fields:
        name = node.name.value
        arguments = ""
        definition = parent.fields.get(name)
        if definition is not None and node.arguments:
            try:
                values = get_argument_values(definition, node, variables)
            except GraphQLError:
                values = {}
            parts = []
            for key, value in values.items():
                text = json.dumps(value, default=str, ensure_ascii=False)
                if len(text) > MAX_ARGUMENT:
                    text = text[: MAX_ARGUMENT - 1] + "…"
                parts.append(f"{key}: {text}")
            arguments = f"({', '.join(parts)})" if parts else ""
        shown.append(name + arguments)
    return f"{kind} {', '.join(shown)}"


def _outcome(errors: list[GraphQLError]) -> tuple[str, str, bool]:
    """The outcome, the first error's message and whether a refusal was of the caller's
    identity or role."""
    if not errors:
        return "ok", "", False
    first = errors[0]
    codes = {(e.extensions or {}).get("code") for e in errors}
    refused = bool(codes & REFUSED_CODES)
    original = first.original_error
    if original is not None and not isinstance(
        original, UserError | DomainError | GraphQLError | StoreUnavailable
    ):  # an internal failure: its details are in the server's log
        return "failed", f"internal error ({type(original).__name__}); see the log", refused
    return "refused", first.message, refused


class Audited(SchemaExtension):
    """Records the operations the module says into the context's audit log."""

    def on_operation(self) -> Iterator[None]:
        yield
        context = self.execution_context.context
        if not isinstance(context, RequestContext):
            return
        audit = context.services.audit
        result = self.execution_context.result
        errors = list(result.errors or []) if result is not None else []
        if audit is None or (context.actor == ANONYMOUS and not errors):
            return  # a page: nothing to record, and nothing more to look at
        found = _root_fields(self.execution_context)
        if found is None:
            return
        operation, fields = found
        schema = self.execution_context.schema._schema
        kind = operation.operation
        parent = (
            schema.mutation_type
            if kind is OperationType.MUTATION
            else schema.subscription_type
            if kind is OperationType.SUBSCRIPTION
            else schema.query_type
        )
        if parent is None:
            return
        outcome, reason, refused = _outcome(errors)
        actor = context.actor
        mutation = kind is OperationType.MUTATION
        privileged = actor != ANONYMOUS and (
            mutation or any(_guarded(parent, f.name.value) for f in fields)
        )
        if not (privileged or refused or (mutation and outcome != "ok")):
            return
        coerced = get_variable_values(
            schema, operation.variable_definitions or (), self.execution_context.variables or {}
        )
        variables = coerced if isinstance(coerced, VariableValues) else None
        audit.record(
            AuditRecord(
                at=now(),
                actor=actor.name,
                role=str(actor.role),
                client=context.client,
                action=_action(kind.value, parent, fields, variables),
                outcome=outcome,
                reason=reason,
                process=context.services.process,
            )
        )


# -- admins' reading ---------------------------------------------------------------------------


@strawberry.enum(description="How an audited action ended.")
class AuditOutcome(Enum):
    OK = "ok"
    REFUSED = "refused"
    FAILED = "failed"


@strawberry.type(description="One audited action: who did what, when, and how it ended.")
class AuditEntry:
    at: str = strawberry.field(description="When (RFC 3339, UTC).")
    actor: str = strawberry.field(
        description="The token's name; `anonymous` without one, `unknown` for a token refused."
    )
    role: str
    client: str = strawberry.field(
        description="The client as rate limits count it: `token:<name>` or `address:<address>`"
        " (IPv6 by its /64)."
    )
    action: str = strawberry.field(
        description="What was asked: the operation's kind and root fields with their "
        "arguments (clipped), or `authenticate`, `websocket`."
    )
    outcome: AuditOutcome
    reason: str = strawberry.field(description="Why it was refused or failed; empty if not.")
    process: str = strawberry.field(description="The server's process: reader, writer, analyst.")


@strawberry.type
class AuditEdge:
    cursor: str
    node: AuditEntry


@strawberry.type(description="A page of the audit record, newest first.")
class AuditConnection:
    edges: list[AuditEdge]
    page_info: PageInfo


MAX_AUDIT_PAGE = 500


@strawberry.type
class AuditQuery:
    @strawberry.field(
        description="The audit record (docs/security.md), newest first: who did what and when, "
        "for token holders' mutations and reads of role-kept fields, and for refusals of "
        f"tokens and roles; `first` at most {MAX_AUDIT_PAGE}. Admins.",
        permission_classes=[requires(Role.ADMIN)],
    )
    async def audit_log(
        self,
        info: Info,
        first: int = 50,
        after: str | None = None,
        actor: str | None = None,
        outcome: AuditOutcome | None = None,
    ) -> AuditConnection:
        audit: AuditLog | None = info.context.services.audit
        if audit is None:
            raise UserError("this server keeps no audit record (NEWSGRAPH_AUDIT_FILE is off)")
        if not 1 <= first <= MAX_AUDIT_PAGE:
            raise UserError(f"first must be between 1 and {MAX_AUDIT_PAGE}, got {first}")
        if after is not None and not after.isdigit():
            raise UserError(f"after: not a cursor of auditLog: {after!r}")
        before = int(after) if after is not None else None
        wanted = outcome.value if outcome is not None else None

        def read() -> list[tuple[int, AuditRecord]]:
            audit.flush()  # this process's own records, the latest among them, are in
            return audit.read(first + 1, before, actor, wanted)

        found = await asyncio.to_thread(read)
        edges = [
            AuditEdge(
                cursor=str(i),
                node=AuditEntry(
                    at=r.at,
                    actor=r.actor,
                    role=r.role,
                    client=r.client,
                    action=r.action,
                    outcome=AuditOutcome(r.outcome),
                    reason=r.reason,
                    process=r.process,
                ),
            )
            for i, r in found[:first]
        ]
        cursors = [e.cursor for e in edges]
        return AuditConnection(edges=edges, page_info=page_info(after, cursors, len(found) > first))
