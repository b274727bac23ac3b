"""Introspection: answered from a cache, or refused when the app's config turns it off.

The schema never changes after start-up, so an introspection operation (one whose root fields
are all `__schema`, `__type` or `__typename`) has one answer per query text, operation name and
variables. Executing GraphiQL's standard introspection query took 17 ms of the event loop each
time; it is executed once and its result served from then on (`IntrospectionCache`).

With `AppConfig.introspection` off, graphql-core's own `NoSchemaIntrospectionCustomRule`
refuses `__schema` and `__type` at validation (`__typename` stays, as clients need it).

An operation selecting `__schema` or `__type` at its root (with other fields too, or through a
fragment) is noted for the app (`asked`), which holds its answer to the client's introspection
rate (`api.slowdown`).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextvars import ContextVar
from typing import Any
from weakref import WeakKeyDictionary

from graphql import (
    ExecutionResult,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    InlineFragmentNode,
    OperationDefinitionNode,
    SelectionSetNode,
)
from graphql.validation import NoSchemaIntrospectionCustomRule
from strawberry.extensions import SchemaExtension
from strawberry.types import ExecutionContext

from api.limits import config_of

_INTROSPECTION_FIELDS = frozenset({"__schema", "__type", "__typename"})
MAX_ANSWERS = 16  # distinct introspection operations kept, per schema

_SCHEMA_FIELDS = frozenset({"__schema", "__type"})

# Whether the operation the current request ran selected `__schema` or `__type` (set by the
# extension, read once by the app in the same task: `asked`).
_ASKED: ContextVar[bool] = ContextVar("newsgraph_introspection_asked", default=False)

_Key = tuple[str, str | None, str]
# Per schema (tests build more than one), the answers by query text, operation and variables.
_answers: WeakKeyDictionary[object, dict[_Key, ExecutionResult]] = WeakKeyDictionary()


def _operation(document: Any, name: str | None) -> OperationDefinitionNode | None:
    found = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
    if name is None:
        return found[0] if len(found) == 1 else None
    return next((d for d in found if d.name is not None and d.name.value == name), None)


def asked() -> bool:
    """Whether the operation this request ran (in this task) selected `__schema` or `__type`;
    forgotten once read."""
    if not _ASKED.get():
        return False
    _ASKED.set(False)
    return True


def _selects_schema(document: Any, selection_set: SelectionSetNode, depth: int = 0) -> bool:
    """Whether a root selection set asks for `__schema` or `__type`, fragments followed."""
    if depth > 10:  # fragments spreading each other are refused by validation already
        return False
    for selection in selection_set.selections:
        if isinstance(selection, FieldNode):
            if selection.name.value in _SCHEMA_FIELDS:
                return True
        elif isinstance(selection, InlineFragmentNode):
            if _selects_schema(document, selection.selection_set, depth + 1):
                return True
        elif isinstance(selection, FragmentSpreadNode):
            name = selection.name.value
            for definition in document.definitions:
                if (
                    isinstance(definition, FragmentDefinitionNode)
                    and definition.name.value == name
                    and _selects_schema(document, definition.selection_set, depth + 1)
                ):
                    return True
    return False


def _key(context: ExecutionContext) -> _Key | None:
    """The cache key of an introspection operation; None for any other operation."""
    if context.query is None or context.graphql_document is None:
        return None
    if len(context.query) > config_of(context).max_cached_query_length:
        return None
    operation = _operation(context.graphql_document, context.operation_name)
    if operation is None or operation.operation.value != "query":
        return None
    selections = operation.selection_set.selections
    if not all(
        isinstance(s, FieldNode) and s.name.value in _INTROSPECTION_FIELDS for s in selections
    ):
        return None  # fragments at the root, or other fields: executed as usual
    if all(s.name.value == "__typename" for s in selections):  # type: ignore[attr-defined]
        return None
    try:
        variables = json.dumps(context.variables or {}, sort_keys=True)
    except (TypeError, ValueError):
        return None
    return context.query, context.operation_name, variables


class IntrospectionCache(SchemaExtension):
    """Serves an introspection operation from the answers already computed for its schema."""

    def on_operation(self) -> Iterator[None]:
        context = self.execution_context
        if not config_of(context).introspection:
            context.validation_rules = (*context.validation_rules, NoSchemaIntrospectionCustomRule)
        yield

    def on_execute(self) -> Iterator[None]:
        context = self.execution_context
        if config_of(context).introspection and context.graphql_document is not None:
            operation = _operation(context.graphql_document, context.operation_name)
            if operation is not None and _selects_schema(
                context.graphql_document, operation.selection_set
            ):
                _ASKED.set(True)
        key = _key(context) if config_of(context).introspection else None
        if key is None:
            yield
            return
        answers = _answers.setdefault(context.schema, {})
        cached = answers.get(key)
        if cached is not None and context.result is None:
            context.result = cached  # the operation is not executed again
        yield
        result = context.result
        if cached is None and isinstance(result, ExecutionResult) and not result.errors:
            if len(answers) >= MAX_ANSWERS:
                del answers[next(iter(answers))]
            answers[key] = result
