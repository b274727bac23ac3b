"""Direct resolvers: fields with nothing for strawberry's resolver wrapper to do call their
resolver straight from graphql-core.

Strawberry wraps every field's resolver in a generic chain: argument conversion, an `Info`
object, field extensions (permissions among them), exception handlers, then the resolver. For
a field with no arguments, no extensions and no handlers, all that chain does is call the
resolver with the parent object (and `Info` when asked for). The public event page executes
about a hundred such fields, where the chain was a sixth of the instructions a page costs
(`docs/benchmarks.md`). `use_direct_resolvers` replaces, once, after the schema is built, the
graphql-core resolver of exactly those fields with a direct call; every other field keeps
strawberry's. What a field returns is the same object either way, and the schema, its
validation, errors and masking are untouched: `tests/test_direct.py` checks answers and errors
against a schema left as strawberry built it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import strawberry
from graphql import GraphQLField, GraphQLObjectType, GraphQLResolveInfo
from strawberry.schema.schema_converter import GraphQLCoreConverter
from strawberry.types.field import StrawberryField

RawInfo = GraphQLResolveInfo[Any]
Resolver = Callable[[Any, RawInfo], Any]
ROOT_TYPES = frozenset({"Query", "Mutation", "Subscription"})


def use_direct_resolvers(schema: strawberry.Schema) -> int:
    """Give the fields that need nothing of strawberry's wrapper a direct resolver; how many.
    Nothing changes when the schema has exception handlers (they wrap every field)."""
    if getattr(schema.schema_converter, "_exception_handler_specs", None):
        return 0
    changed = 0
    for graphql_type in schema._schema.type_map.values():
        if not isinstance(graphql_type, GraphQLObjectType) or graphql_type.name in ROOT_TYPES:
            continue
        if graphql_type.name.startswith("__"):
            continue
        for graphql_field in graphql_type.fields.values():
            direct = _direct(schema, graphql_field)
            if direct is not None:
                graphql_field.resolve = direct
                changed += 1
    return changed


def definition_of(graphql_field: GraphQLField) -> StrawberryField | None:
    """The strawberry field a graphql-core field was built from, if any."""
    definition = (graphql_field.extensions or {}).get(GraphQLCoreConverter.DEFINITION_BACKREF)
    return definition if isinstance(definition, StrawberryField) else None


def _direct(schema: strawberry.Schema, graphql_field: GraphQLField) -> Resolver | None:
    definition = definition_of(graphql_field)
    if definition is None:
        return None
    if graphql_field.args or definition.extensions or definition.permission_classes:
        return None
    resolver = definition.base_resolver
    if resolver is None:
        return _attribute(schema.config.default_resolver, definition.python_name)
    if resolver.is_async or resolver.root_parameter or resolver.parent_parameter:
        return None
    named = {p.name for p in resolver.signature.parameters.values()}
    self_parameter, info_parameter = resolver.self_parameter, resolver.info_parameter
    if self_parameter is None or named != {self_parameter.name} | (
        {info_parameter.name} if info_parameter is not None else set()
    ):
        return None
    function = resolver.wrapped_func
    if isinstance(function, staticmethod | classmethod):
        return None
    if info_parameter is None:
        return _plain(function)
    return _with_info(function, info_parameter.name, schema.config.info_class, definition)


# The direct resolvers that never read their `info`: a plan (`api.compiled`) calls them
# without building one.
IGNORE_INFO: set[Resolver] = set()


def _attribute(default: Callable[[Any, str], Any], name: str) -> Resolver:
    def resolve(source: Any, info: RawInfo) -> Any:
        return default(source, name)

    IGNORE_INFO.add(resolve)
    return resolve


def _plain(function: Callable[[Any], Any]) -> Resolver:
    def resolve(source: Any, info: RawInfo) -> Any:
        return function(source)

    IGNORE_INFO.add(resolve)
    return resolve


def _with_info(
    function: Callable[..., Any], name: str, info_class: Any, definition: StrawberryField
) -> Resolver:
    if name == "info":

        def resolve_info(source: Any, info: RawInfo) -> Any:
            return function(source, info=info_class(_raw_info=info, _field=definition))

        return resolve_info

    def resolve(source: Any, info: RawInfo) -> Any:
        return function(source, **{name: info_class(_raw_info=info, _field=definition)})

    return resolve
