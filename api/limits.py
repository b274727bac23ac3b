"""Size limits of a GraphQL request, from the app's `AppConfig` (docs/security.md): string
arguments, the number of variables, and the query texts the parser and validation caches keep.
The body's size is limited before GraphQL runs (`api.app`).

The limits are settings, and the schema is built once for every app, so they are read at run
time from the request's context (`RequestContext.services.config`): a validation rule made per
limit (`string_length_rule`, kept by the validation cache like the other rules), and a check of
the variables before execution (`RequestLimits.on_execute`).
"""

from __future__ import annotations

import functools
from collections.abc import Iterator
from typing import Any

from cachetools import LRUCache
from graphql import (
    ArgumentNode,
    ExecutionResult,
    FieldNode,
    GraphQLError,
    GraphQLInputType,
    GraphQLSchema,
    ObjectFieldNode,
    OperationDefinitionNode,
    StringValueNode,
    ValidationRule,
    get_named_type,
    get_nullable_type,
    is_input_object_type,
    is_list_type,
    type_from_ast,
)
from strawberry.extensions import ParserCache, SchemaExtension, ValidationCache
from strawberry.schema.schema import validate_document
from strawberry.types import ExecutionContext

from api.config import AppConfig

_TEXT_SCALARS = frozenset({"String", "ID"})
_DEFAULT = AppConfig()


def config_of(execution_context: ExecutionContext) -> AppConfig:
    """The app's config, from the request's context (the defaults without one: a test that
    runs the schema by itself)."""
    services = getattr(execution_context.context, "services", None)
    config = getattr(services, "config", None)
    return config if isinstance(config, AppConfig) else _DEFAULT


def argument_named(parent: Any, ancestors: Any) -> str:
    """How a validation rule names the argument a literal value belongs to, from the visitor's
    `parent` and `ancestors`: "argument 'filter.from' of events"."""
    above = [*ancestors, parent]  # the argument or input field holding the value is the parent
    names = [a.name.value for a in above if isinstance(a, ArgumentNode | ObjectFieldNode)]
    fields = [a.name.value for a in above if isinstance(a, FieldNode)]
    where = f" of {fields[-1]}" if fields else ""
    return f"argument '{'.'.join(names)}'{where}"


@functools.cache
def string_length_rule(limit: int) -> type[ValidationRule]:
    """The rule refusing a literal String or ID argument longer than `limit` characters; one
    class per limit, so that the validation cache, which keys on the rules, keeps hitting."""

    class StringLengthRule(ValidationRule):
        def enter_string_value(
            self, node: StringValueNode, _key: Any, parent: Any, _path: Any, ancestors: Any
        ) -> None:
            if len(node.value) <= limit:
                return
            expected = self.context.get_input_type()
            if expected is None or get_named_type(expected).name not in _TEXT_SCALARS:
                return  # a JSON value (ingest's records) is validated as a record
            message = f"{argument_named(parent, ancestors)} is longer than {limit:,} characters"
            self.report_error(GraphQLError(f"{message} ({len(node.value):,})", node))

    return StringLengthRule


def _long_string(value: object, type_: GraphQLInputType, limit: int) -> tuple[str, int] | None:
    """Where in a variable's `value` a String or ID longer than `limit` is, and its length."""
    type_ = get_nullable_type(type_)  # type: ignore[assignment]
    if is_list_type(type_) and isinstance(value, list):
        for index, item in enumerate(value):
            found = _long_string(item, type_.of_type, limit)
            if found is not None:
                return f"[{index}]{found[0]}", found[1]
    elif is_input_object_type(type_) and isinstance(value, dict):
        for name, field in type_.fields.items():
            if name in value:
                found = _long_string(value[name], field.type, limit)
                if found is not None:
                    return f".{name}{found[0]}", found[1]
    elif (
        isinstance(value, str)
        and len(value) > limit
        and get_named_type(type_).name in _TEXT_SCALARS
    ):
        return "", len(value)
    return None


def check_variables(
    schema: GraphQLSchema, document: Any, variables: dict[str, Any] | None, config: AppConfig
) -> str | None:
    """Why the request's variables are refused (too many, or a String or ID too long), or
    None."""
    if not variables:
        return None
    if len(variables) > config.max_variables:
        return f"{len(variables):,} variables: at most {config.max_variables:,} per request"
    limit = config.max_string_length
    for definition in document.definitions:
        if not isinstance(definition, OperationDefinitionNode):
            continue
        for declared in definition.variable_definitions or ():
            name = declared.variable.name.value
            type_ = type_from_ast(schema, declared.type)
            if name not in variables or type_ is None:
                continue
            found = _long_string(variables[name], type_, limit)  # type: ignore[arg-type]
            if found is not None:
                where, length = found
                return f"variable '${name}{where}' is longer than {limit:,} characters ({length:,})"
    return None


class RequestLimits(SchemaExtension):
    """The limits of `AppConfig` on strings and variables, applied to each operation."""

    def on_operation(self) -> Iterator[None]:
        context = self.execution_context
        rule = string_length_rule(config_of(context).max_string_length)
        context.validation_rules = (*context.validation_rules, rule)
        yield

    def on_execute(self) -> Iterator[None]:
        context = self.execution_context
        problem = check_variables(
            context.schema._schema,
            context.graphql_document,
            context.variables,
            config_of(context),
        )
        if problem is not None:
            # A result set before execution is the answer: the operation never runs.
            context.result = ExecutionResult(data=None, errors=[GraphQLError(problem)])
        yield


class BoundedParserCache(ParserCache):
    """strawberry's parser cache, but for query texts over `max_cached_query_length`: those are
    parsed each time (by strawberry itself), so the cache's entries are bounded in size too."""

    def on_parse(self) -> Iterator[None]:
        context = self.execution_context
        if len(context.query or "") > config_of(context).max_cached_query_length:
            yield
            return
        yield from super().on_parse()


# Validation answers by (schema, query text, rules), most recently used kept.
VALIDATED: LRUCache[tuple[int, str, tuple[Any, ...]], list[GraphQLError]] = LRUCache(256)


class BoundedValidationCache(ValidationCache):
    """strawberry's validation cache, skipped as `BoundedParserCache` is, and keyed by the
    query's text: strawberry's keys by the parsed document, whose hash graphql-core computes
    over the whole tree on every request (about 2% of an event page)."""

    def __init__(self, maxsize: int | None = None) -> None:
        super().__init__(maxsize)
        if maxsize is not None and maxsize != VALIDATED.maxsize:
            raise ValueError(f"one validation cache size per process ({VALIDATED.maxsize})")

    def on_validate(self) -> Iterator[None]:
        context = self.execution_context
        query = context.query or ""
        if len(query) > config_of(context).max_cached_query_length:
            yield
            return
        schema = context.schema._schema
        rules = tuple(context.validation_rules)
        key = (id(schema), query, rules)
        errors = VALIDATED.get(key)
        if errors is None:
            assert context.graphql_document is not None  # parsed before validation
            errors = VALIDATED[key] = validate_document(schema, context.graphql_document, rules)
        context.pre_execution_errors = errors
        yield
