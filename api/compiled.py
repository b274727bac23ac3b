"""Planned execution: a query's selection worked out once per document, then run as a plan.

graphql-core executes every request from the document: for each field it collects the
selections again through fragments, looks the field up, wraps its resolver, and for each value
walks the return type's wrappers (`complete_value`, the list, the non-null) before it gets to
the resolver and the value's coercion. For the event page that is about 100 fields and 270
completions a request, half the CPU of a page. Nothing of it depends on the request but the
values: `PlannedExecutor` works it out once per operation (which fields, with which resolver,
which arguments, how each value is completed) and keeps the plan with the parsed document, so
a request runs the plan: the same resolvers, called with the same arguments and the same
`info` (built by strawberry's executor, so `info.context`, `info.path` and the selection are
what graphql-core would give), and the same coercion of every value.

A plan is used only where it answers exactly what graphql-core answers, and graphql-core runs
everything else, unchanged:
- queries only (mutations run serially, subscriptions per event), with no directive anywhere in
  the operation or its fragments (`@skip`, `@include`, `@defer` depend on variables or deliver
  later) and no resolver middleware;
- every type the selection reaches is an object type (an interface or a union is decided per
  value: `node(id:)`, search hits), and below the root no field's resolver is a coroutine
  function (those may really wait: the heavy fields of `api.heavy`);
- the request's reads answer at once: always on the embedded store (`RequestContext.immediate`);
  on Neo4j when the root field read ahead what the page needs (`api.prefetch`: the event page
  in one statement primes the DataLoaders). A read below the root that has to wait (a
  DataLoader's batch, which graphql-core gathers across sibling values level by level) leaves
  the plan, and that plan is not tried again on a store whose reads wait;
- and the request itself goes as planned: a resolver that raises, a value that cannot be
  coerced, a null where the schema says non-null, a resolver that really waits: the plan stops
  and graphql-core executes the whole operation again from the start, so errors, their paths
  and the nulls they leave are graphql-core's own. Query resolvers only read, so running one
  twice changes nothing.

`tests/test_compiled.py` compares every answer with graphql-core's on both stores.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from cachetools import LRUCache
from graphql import (
    DirectiveNode,
    ExecutionResult,
    FieldNode,
    GraphQLEnumType,
    GraphQLField,
    GraphQLList,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLOutputType,
    GraphQLResolveInfoHelpers,
    GraphQLScalarType,
    GraphQLSchema,
    Node,
    OperationDefinitionNode,
    OperationType,
    Undefined,
    get_named_type,
    visit,
)
from graphql.execution.collect_fields import FieldDetails, collect_subfields
from graphql.execution.values import get_argument_values
from graphql.language import Visitor
from graphql.pyutils import Path, is_iterable
from strawberry.schema.schema import StrawberryGraphQLCoreExecutionContext
from strawberry.schema.schema_converter import CustomGraphQLEnumType, GraphQLCoreConverter

from api.direct import IGNORE_INFO, definition_of
from api.memo import Fragment, Read, is_loader_only, is_memoised

# A completion: the executor, the field's info, the value's path, the value; the answer.
Complete = Callable[["PlannedExecutor", Any, Path, Any], Any]


class Unplanned(Exception):
    """The request left its plan: graphql-core runs the operation instead."""


class Waited(Unplanned):
    """A read below the root had to wait (a DataLoader's batch not read yet)."""


class _Planned:
    """One field of a selection: what graphql-core works out for it per request."""

    __slots__ = (
        "args",
        "complete",
        "details",
        "field",
        "informed",
        "key",
        "nodes",
        "plain",
        "resolve",
    )

    def __init__(
        self,
        key: str,
        field: GraphQLField,
        details: Sequence[FieldDetails],
        resolve: Callable[..., Any],
        complete: Complete,
        leaf: bool,
    ) -> None:
        self.key = key
        self.field = field
        self.details = details[0]
        self.nodes: list[FieldNode] = [d.node for d in details]
        self.resolve = resolve
        self.complete = complete
        first = self.details.node
        self.args = bool(field.args or first.arguments)
        # whether the field needs an `info`: its resolver reads one, or its value is an
        # object (whose type check takes one); a leaf read from an attribute needs none
        self.informed = not leaf or resolve not in IGNORE_INFO
        # a leaf read without an `info` or arguments: answered from its source alone, with no
        # path (a leaf's completion reads none) and no `info` built
        self.plain = None if self.informed or self.args else _plain_leaf(resolve, complete)


class _Selection:
    """The fields selected on one object type, in response order; whether it and the
    selections below it take no argument and select only `loader_only` types (`pure`), and
    whether its answers may be kept (`memo`: a pure selection on a memoised type, `api.memo`)."""

    __slots__ = ("fields", "memo", "pure", "type")

    def __init__(self, parent: GraphQLObjectType) -> None:
        self.type = parent
        self.fields: list[_Planned] = []
        self.pure = False
        self.memo = False


class _Plan:
    """An operation's plan: its root selection (None: the operation has none), and whether a
    request that had to wait for a read left it (`waits`: then a store whose reads wait, Neo4j,
    no longer runs it; its reads are DataLoaders, primed for some pages, `api.prefetch`)."""

    __slots__ = ("operation", "root", "schema", "waits")

    def __init__(
        self, schema: GraphQLSchema, operation: OperationDefinitionNode, root: _Selection | None
    ) -> None:
        self.schema = schema  # kept with the operation: the plan is found by their identity
        self.operation = operation
        self.root = root
        self.waits = False


# Plans by schema and operation identity (strawberry's parser cache shares a query's document
# between schemas), the most recently used kept, as many as the parser cache keeps documents
# (`api.schema`) and then some.
_PLANS: LRUCache[tuple[int, int], _Plan] = LRUCache(512)


class Counts:
    """How many operations ran by plan and how many left it for graphql-core, in this process
    (what the tests and benchmarks look at)."""

    planned = 0
    left = 0


def _plannable(operation: OperationDefinitionNode, fragments: Iterable[Node]) -> bool:
    if operation.operation is not OperationType.QUERY:
        return False
    found: list[bool] = []

    class Directives(Visitor):
        def enter_directive(self, node: DirectiveNode, *_: Any) -> Any:
            found.append(True)
            return Visitor.BREAK

    for node in (operation, *fragments):
        visit(node, Directives())
        if found:
            return False
    return True


def _over(*_: Any) -> Any:
    raise RuntimeError("the operation this executor ran is over")


# What an executor's `async_helpers` become once its answer is built (`build_response`).
_DETACHED = GraphQLResolveInfoHelpers(gather=_over, track=_over)


class PlannedExecutor(StrawberryGraphQLCoreExecutionContext):
    """Strawberry's executor, running a query by its plan where it can (module docstring)."""

    # whether the value being completed is in a list of at least KEEP_FROM items (or below
    # one): only there are the answers of memoised types kept (`api.memo`)
    long_list = False

    def execute_collected_root_fields(
        self,
        root_type: GraphQLObjectType,
        root_value: Any,
        grouped_field_set: Any,
        serially: bool,
        new_defer_usages: Sequence[Any],
    ) -> Any:
        plan = None
        if not serially and not new_defer_usages:
            plan = self._plan(root_type, grouped_field_set)
        if plan is None:
            return super().execute_collected_root_fields(
                root_type, root_value, grouped_field_set, serially, new_defer_usages
            )
        return self._run_root(plan, root_value, grouped_field_set, new_defer_usages)

    def build_response(self, data: dict[str, Any] | None) -> Any:
        """graphql-core's answer; then the executor lets go of itself. Its `async_helpers`
        hold its own bound methods, a reference cycle through which everything a request made
        (the context, its loaders' memos, the nodes read, the answer) could only be freed by
        the cyclic collector: 150 objects a request, kept until a collection, promoted to the
        oldest generation when a request was in flight at a young one, so that full
        collections came every second or so. Not for an incremental answer (`@defer`,
        `@stream`), whose later parts still run on the executor."""
        response = super().build_response(data)
        if isinstance(response, ExecutionResult):
            self.async_helpers = _DETACHED
        return response

    def _plan(self, root_type: GraphQLObjectType, grouped_field_set: Any) -> _Plan | None:
        manager = self.middleware_manager
        if manager is not None and manager.middlewares:
            return None
        operation = self.operation
        key = (id(self.schema), id(operation))
        plan = _PLANS.get(key)
        if plan is None or plan.schema is not self.schema or plan.operation is not operation:
            fragments = [f.definition for f in self.fragments.values()]
            selection = None
            if _plannable(operation, fragments):
                selection = self._selection(root_type, grouped_field_set)
            plan = _PLANS[key] = _Plan(self.schema, operation, selection)
        if plan.root is None or (plan.waits and not self._immediate()):
            return None
        return plan

    def _immediate(self) -> bool:
        return bool(getattr(self.context_value, "immediate", False))

    async def _run_root(
        self,
        plan: _Plan,
        root_value: Any,
        grouped_field_set: Any,
        new_defer_usages: Sequence[Any],
    ) -> Any:
        selection = plan.root
        assert selection is not None  # `_plan` gives only plans that have one
        root_type = selection.type
        try:
            results: dict[str, Any] = {}
            for planned in selection.fields:
                path = Path(None, planned.key, root_type.name)
                info = self.build_resolve_info(planned.field, planned.nodes, root_type, path)
                value = self._resolve(planned, root_value, info)
                if self.is_awaitable(value):
                    value = await value
                results[planned.key] = planned.complete(self, info, path, value)
        except Waited:
            # graphql-core batches the reads; its loads find the ones this started
            plan.waits = plan.waits or not self._immediate()
            Counts.left += 1
        except Exception:  # Unplanned, or a resolver's error: graphql-core's to answer
            Counts.left += 1
        else:
            Counts.planned += 1
            return results
        answer = super().execute_collected_root_fields(
            root_type, root_value, grouped_field_set, False, new_defer_usages
        )
        return await answer if self.is_awaitable(answer) else answer

    def _resolve(self, planned: _Planned, source: Any, info: Any) -> Any:
        if planned.args:
            args = get_argument_values(
                planned.field,
                planned.details.node,
                self.variable_values,
                planned.details.fragment_variable_values,
                self.hide_suggestions,
            )
            return planned.resolve(source, info, **args)
        return planned.resolve(source, info)

    def run_fields(self, selection: _Selection, source: Any, path: Path) -> dict[str, Any]:
        results: dict[str, Any] = {}
        parent = selection.type
        name = parent.name
        is_awaitable = self.is_awaitable
        for planned in selection.fields:
            plain = planned.plain
            if plain is not None:
                results[planned.key] = plain(self, source)
                continue
            field_path = Path(path, planned.key, name)
            info = None
            if planned.informed:
                info = self.build_resolve_info(planned.field, planned.nodes, parent, field_path)
            value = self._resolve(planned, source, info)
            if is_awaitable(value):
                value = _at_once(value)
            results[planned.key] = planned.complete(self, info, field_path, value)
        return results

    def run_kept(self, selection: _Selection, source: Any, path: Path) -> dict[str, Any]:
        """`run_fields` of a selection whose answers may be kept (`api.memo`): the kept answer
        when its object and every read it made are as they were, else made and kept."""
        context = self.context_value
        fragments = context.fragments
        if fragments is None:
            return self.run_fields(selection, source, path)
        identity, version = source.memo_key()
        key = (selection, identity)
        kept = fragments.get(key)
        if kept is not None:
            if kept.version == version and _still(context, kept.reads):
                fragments.reused += 1
                return kept.answer  # type: ignore[no-any-return]
            fragments.drop(key)
        elif not fragments.admit(key):
            return self.run_fields(selection, source, path)
        tape = context.tape
        outer, foreign = tape.entries, tape.foreign
        reads: list[Read] = []
        tape.entries, tape.foreign = reads, False
        try:
            answer = self.run_fields(selection, source, path)
        finally:
            went_around = tape.foreign
            tape.entries, tape.foreign = outer, foreign or went_around
            if outer is not None:
                outer.extend(reads)  # what a fragment read, the one around it read too
        if not went_around:
            fragments.keep(key, Fragment(version, answer, tuple(reads)))
            fragments.made += 1
        return answer

    # Building a plan: graphql-core's own collection of fields, once per operation.

    def _selection(self, parent: GraphQLObjectType, grouped_field_set: Any) -> _Selection | None:
        selection = _Selection(parent)
        origin = _origin(parent)
        selection.pure = is_loader_only(origin)
        below: list[_Selection] = []
        for key, details in grouped_field_set.items():
            first = details[0].node
            field = self.schema.get_field(parent, first.name.value)
            if field is None or (parent is not self.schema.query_type and _waits(field)):
                return None
            complete = self._completion(field.type, details, below)
            if complete is None:
                return None
            resolve = field.resolve or self.field_resolver
            leaf = isinstance(get_named_type(field.type), GraphQLScalarType | GraphQLEnumType)
            planned = _Planned(key, field, details, resolve, complete, leaf)
            selection.fields.append(planned)
            selection.pure = selection.pure and not planned.args
        selection.pure = selection.pure and all(s.pure for s in below)
        selection.memo = selection.pure and is_memoised(origin)
        return selection

    def _completion(
        self,
        return_type: GraphQLOutputType,
        details: Sequence[FieldDetails],
        below: list[_Selection],
    ) -> Complete | None:
        """How a value of `return_type` is completed; the selections it makes on object types
        are added to `below`."""
        if isinstance(return_type, GraphQLNonNull):
            coerce = _coercion(return_type.of_type)
            if coerce is not None:  # a non-null leaf: one completion, not two
                return _non_null_leaf(coerce)
            inner = self._completion(return_type.of_type, details, below)
            return None if inner is None else _non_null(inner)
        if isinstance(return_type, GraphQLList):
            item = self._completion(return_type.of_type, details, below)
            return None if item is None else _list(item)
        coerce = _coercion(return_type)
        if coerce is not None:
            return _leaf(coerce)
        if isinstance(return_type, GraphQLObjectType):
            collected = collect_subfields(
                self.schema,
                self.fragments,
                self.variable_values,
                self.operation,
                return_type,
                list(details),
                self.hide_suggestions,
            )
            grouped, defers, _forbidden = collected
            if defers:
                return None
            selection = self._selection(return_type, grouped)
            if selection is None:
                return None
            below.append(selection)
            return _object(return_type, selection)
        return None  # an interface or a union: decided per value


def _coercion(leaf: GraphQLOutputType) -> Callable[[Any], Any] | None:
    """How a value of a leaf type is coerced for the answer; None for any other type."""
    if isinstance(leaf, CustomGraphQLEnumType):
        return _enum_names(leaf)
    if isinstance(leaf, GraphQLScalarType | GraphQLEnumType):
        return leaf.coerce_output_value
    return None


def _enum_names(enum: CustomGraphQLEnumType) -> Callable[[Any], Any]:
    """strawberry's coercion of an enum's member to its name, by a dict: strawberry compares
    the member's value with each of the enum's in turn (the first that matches names it)."""
    members, coerce = enum.wrapped_cls, enum.coerce_output_value
    names: dict[Any, str] = {}
    try:
        for name, value in enum.values.items():
            names.setdefault(value.value, name)
    except TypeError:  # a value that cannot be a key: strawberry's own way
        return coerce

    def coerced(value: Any) -> Any:
        if isinstance(value, members):
            name = names.get(value.value)
            if name is not None:
                return name
        return coerce(value)  # anything else as strawberry has it (and its errors)

    return coerced


def _origin(parent: GraphQLObjectType) -> object:
    """The Python type strawberry made a GraphQL object type from (None: not strawberry's)."""
    definition = (parent.extensions or {}).get(GraphQLCoreConverter.DEFINITION_BACKREF)
    return getattr(definition, "origin", None)


def _still(context: Any, reads: Sequence[Read]) -> bool:
    """Whether each of a kept fragment's reads, made again through this request's loaders,
    finds what it found then (and so notes it where this request's reads are noted)."""
    loader_of = context.loader_of
    return all(loader_of(kind).get(key) == value for kind, key, value in reads)


def _waits(field: GraphQLField) -> bool:
    """Whether a field's resolver is a coroutine function: a root field's is awaited, but below
    the root one may really wait (heavy work in a thread or a process, `api.heavy`), and a
    plan that left there would have started that work for nothing."""
    definition = definition_of(field)
    return definition is not None and definition.is_async


def _at_once(awaitable: Any) -> Any:
    """The value of an awaitable that never waits (the embedded store's loaders); one that
    does wait leaves the plan."""
    if isinstance(awaitable, asyncio.Future):
        if awaitable.done() and not awaitable.cancelled() and awaitable.exception() is None:
            return awaitable.result()
        raise Waited  # (graphql-core awaits the same future again)
    send = getattr(awaitable, "send", None)
    if send is None:
        raise Waited
    try:
        send(None)
    except StopIteration as done:
        return done.value
    awaitable.close()
    raise Waited


# The shortest list whose memoised items' answers are kept (`api.memo`): a page of a few
# reports is made whole in well under a millisecond, and keeping the fragments of every such
# page churned the store of kept fragments (and the collector) for pages asked once.
KEEP_FROM = 20

# Values that are never awaitable: a leaf's attribute is one of these but for enums.
_PLAIN_TYPES = frozenset({str, int, float, bool, type(None)})


def _plain_leaf(
    resolve: Callable[..., Any], complete: Complete
) -> Callable[[PlannedExecutor, Any], Any]:
    def answer(executor: PlannedExecutor, source: Any) -> Any:
        value = resolve(source, None)
        if type(value) not in _PLAIN_TYPES and executor.is_awaitable(value):
            value = _at_once(value)
        return complete(executor, None, None, value)  # type: ignore[arg-type]

    return answer


def _non_null(inner: Complete) -> Complete:
    def complete(executor: PlannedExecutor, info: Any, path: Path, value: Any) -> Any:
        if value is None or isinstance(value, Exception):
            raise Unplanned
        answer = inner(executor, info, path, value)
        if answer is None:
            raise Unplanned
        return answer

    return complete


def _non_null_leaf(coerce: Callable[[Any], Any]) -> Complete:
    """`_non_null(_leaf(coerce))` in one step."""

    def complete(executor: PlannedExecutor, info: Any, path: Path, value: Any) -> Any:
        if value is None or isinstance(value, Exception):
            raise Unplanned
        coerced = coerce(value)
        if coerced is Undefined or coerced is None:
            raise Unplanned
        return coerced

    return complete


def _list(item: Complete) -> Complete:
    def complete(executor: PlannedExecutor, info: Any, path: Path, value: Any) -> Any:
        if value is None:
            return None
        if isinstance(value, Exception) or not is_iterable(value):
            raise Unplanned
        if executor.is_async_iterable(value):
            raise Unplanned
        is_awaitable = executor.is_awaitable
        answers = []
        around = executor.long_list
        executor.long_list = isinstance(value, list) and len(value) >= KEEP_FROM
        try:
            for index, each in enumerate(value):
                if is_awaitable(each):
                    each = _at_once(each)
                answers.append(item(executor, info, Path(path, index, None), each))
        finally:
            executor.long_list = around
        return answers

    return complete


def _leaf(coerce: Callable[[Any], Any]) -> Complete:
    def complete(executor: PlannedExecutor, info: Any, path: Path, value: Any) -> Any:
        if value is None:
            return None
        if isinstance(value, Exception):
            raise Unplanned
        coerced = coerce(value)
        if coerced is Undefined or coerced is None:
            raise Unplanned
        return coerced

    return complete


def _object(parent: GraphQLObjectType, selection: _Selection) -> Complete:
    is_type_of = parent.is_type_of

    def complete(executor: PlannedExecutor, info: Any, path: Path, value: Any) -> Any:
        if value is None:
            return None
        if isinstance(value, Exception):
            raise Unplanned
        if is_type_of is not None:
            matches = is_type_of(value, info)
            if not matches or executor.is_awaitable(matches):
                raise Unplanned
        if selection.memo and executor.long_list:
            return executor.run_kept(selection, value, path)
        return executor.run_fields(selection, value, path)

    return complete
