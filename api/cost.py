"""The cost of an operation, computed before it runs from its document and variables, and the
budgets it is held to (docs/security.md): one operation's (`AppConfig.max_cost`) and a
client's over time (`AppConfig.client_cost_rate`, of the analytics part of the cost).

How an operation is costed (`operation_cost`):
- every field that returns an object or a list costs 1 (a scalar or enum costs nothing);
- a field with a page size (`first`, `last`, or `limit` of `neighbourhood`) multiplies what is under
  it by that size, from the literal, the variable or the schema's default; the lists directly
  under it are that page and count once;
- any other list of objects (an event's `reports`, a path's `entities`) is counted as
  `UNPAGED_LIST` items;
- the fields that scan or run a graph algorithm carry their own cost on top (`SCAN_COST`):
  `rankings`, `communities`, `paths`, `neighbourhood`, `search`, `find`, `coOccurring`,
  `timelineBuckets`, `neighbours`, the event lists; that part is also the operation's
  "analytics cost", what the per-client budget counts;
- introspection (`__schema`, `__type`, answered from a cache) costs nothing.

graphql-complexity (PyPI) was considered: its estimators cost a field from its own arguments,
but not a page size that multiplies a whole subtree, a page's lists counted once, or a second
total for the per-client budget, which are what this API needs; the walk is small.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import limits
from cachetools import LRUCache
from graphql import (
    DocumentNode,
    ExecutionResult,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    GraphQLField,
    GraphQLSchema,
    InlineFragmentNode,
    IntValueNode,
    OperationDefinitionNode,
    OperationType,
    SelectionSetNode,
    VariableNode,
    get_named_type,
    get_nullable_type,
    is_leaf_type,
    is_list_type,
)
from strawberry.extensions import SchemaExtension

from api.limits import config_of

# A list of objects without a page size is counted as this many items.
UNPAGED_LIST = 5
# The page size of a paged field when no value can be read (the schema's defaults are 20).
DEFAULT_PAGE_SIZE = 20
# Arguments that set a page size.
PAGE_ARGUMENTS = ("first", "last", "limit")
# What the fields that scan or run a graph algorithm cost on top of their place in the tree
# (by field name, on any type); an event page costs 35. A `rankings` over a wide window reads
# up to 20,000 events and runs networkx on their co-occurrence graph, `paths` reads up to
# 100,000 relationships, `search` and `find` read up to a few hundred indexed documents
# (docs/search.md).
SCAN_COST: Mapping[str, int] = {
    "rankings": 500,
    "communities": 500,
    "paths": 300,
    "neighbourhood": 50,
    "coOccurring": 50,
    "timelineBuckets": 20,
    "eventCounts": 20,  # one read of the store's tallies (up to 200,000 events), like buckets
    "search": 20,
    "find": 20,
    "events": 5,
    "timeline": 5,
    "neighbours": 2,
}


@dataclass(frozen=True, slots=True)
class Cost:
    """An operation's cost: `total` (held to the operation's budget) and its analytics part
    (`analytics`, held to the client's budget over time)."""

    total: int
    analytics: int


def operation_cost(
    schema: GraphQLSchema,
    document: DocumentNode,
    variables: Mapping[str, Any] | None,
    operation_name: str | None = None,
) -> Cost:
    """The cost of the operation of `document` that would run (named, or the only one)."""
    fragments = {
        d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)
    }
    operations = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
    if operation_name is not None:
        operations = [o for o in operations if o.name and o.name.value == operation_name]
    if len(operations) != 1:
        return Cost(0, 0)  # graphql-core refuses it without running anything
    operation = operations[0]
    root = {
        OperationType.QUERY: schema.query_type,
        OperationType.MUTATION: schema.mutation_type,
        OperationType.SUBSCRIPTION: schema.subscription_type,
    }[operation.operation]
    if root is None:
        return Cost(0, 0)
    given = dict(variables or {})
    for declared in operation.variable_definitions or ():
        default = declared.default_value
        if declared.variable.name.value not in given and isinstance(default, IntValueNode):
            given[declared.variable.name.value] = int(default.value)
    walk = _Walk(schema, fragments, given)
    total, scans = walk.selections(operation.selection_set, root, None, frozenset())
    return Cost(_clip(total), _clip(scans))


# Costs by (query text, operation, the variables' page sizes): a cost depends on the variables
# only through the ones that are whole numbers (any other value of a page-size variable counts
# as `DEFAULT_PAGE_SIZE`, as an absent one does unless it has a default), so an event page
# asked for by each of its ids is costed once.
_COSTS: LRUCache[tuple[str, str | None, tuple[tuple[str, int | None], ...]], Cost] = LRUCache(512)


def cached_cost(
    schema: GraphQLSchema,
    query: str,
    document: DocumentNode,
    variables: Mapping[str, Any] | None,
    operation_name: str | None,
) -> Cost:
    """`operation_cost`, kept for the query text and what of its variables can change it."""
    sizes = tuple(
        sorted(
            (name, value if isinstance(value, int) and not isinstance(value, bool) else None)
            for name, value in (variables or {}).items()
        )
    )
    key = (query, operation_name, sizes)
    cost = _COSTS.get(key)
    if cost is None:
        cost = _COSTS[key] = operation_cost(schema, document, variables, operation_name)
    return cost


def _clip(value: float) -> int:
    return int(min(value, 10**12))


class _Walk:
    def __init__(
        self,
        schema: GraphQLSchema,
        fragments: Mapping[str, FragmentDefinitionNode],
        variables: dict[str, Any],
    ) -> None:
        self.schema = schema
        self.fragments = fragments
        self.variables = variables

    def fields(
        self, selection_set: SelectionSetNode, parent: Any, seen: frozenset[str]
    ) -> Iterator[tuple[FieldNode, Any]]:
        """The fields selected on `parent`, through fragments, each with the type it is
        selected on (a fragment on an interface or union member narrows it)."""
        for selection in selection_set.selections:
            if isinstance(selection, FieldNode):
                yield selection, parent
            elif isinstance(selection, InlineFragmentNode):
                on = parent
                if selection.type_condition is not None:
                    on = self.schema.get_type(selection.type_condition.name.value) or parent
                yield from self.fields(selection.selection_set, on, seen)
            elif isinstance(selection, FragmentSpreadNode):
                name = selection.name.value
                fragment = self.fragments.get(name)
                if fragment is None or name in seen:  # validation refuses both
                    continue
                on = self.schema.get_type(fragment.type_condition.name.value) or parent
                yield from self.fields(fragment.selection_set, on, seen | {name})

    def selections(
        self,
        selection_set: SelectionSetNode,
        parent: Any,
        page: int | None,
        seen: frozenset[str],
    ) -> tuple[float, float]:
        """The cost of what is selected on `parent`; `page`: the page size of the field that
        returned it (a connection's, `Rankings`'), which its lists are."""
        total = scans = 0.0
        for node, on in self.fields(selection_set, parent, seen):
            name = node.name.value
            if name.startswith("__"):
                continue  # introspection and __typename: answered without reading the graph
            field = _field_of(on, name)
            if field is None:
                continue  # validation refuses it
            cost, scan = self.field(node, field, page, seen)
            total += cost
            scans += scan
        return total, scans

    def field(
        self, node: FieldNode, field: GraphQLField, page: int | None, seen: frozenset[str]
    ) -> tuple[float, float]:
        own_scan = SCAN_COST.get(node.name.value, 0)
        returned = get_nullable_type(field.type)
        if is_leaf_type(get_named_type(returned)) or node.selection_set is None:
            return own_scan, own_scan
        size = self.page_size(node, field)
        inner: int | None = None
        if is_list_type(returned):
            # its own page size, or the page of the object it is on, or a guess
            times = size if size is not None else page if page is not None else UNPAGED_LIST
        else:
            times, inner = 1, size  # a connection or a result holding the page's lists
        below, below_scans = self.selections(
            node.selection_set, get_named_type(returned), inner, seen
        )
        return own_scan + 1 + times * below, own_scan + times * below_scans

    def page_size(self, node: FieldNode, field: GraphQLField) -> int | None:
        """The page size a field is asked for: its `first` or `limit`, from the literal, the
        variable (or the variable's default) or the argument's default; None if it has none."""
        names = [a for a in PAGE_ARGUMENTS if a in field.args]
        if not names:
            return None
        given = {a.name.value for a in node.arguments or ()}
        # the argument given (`last` on a backward page), else the first one's default
        name = next((a for a in names if a in given), names[0])
        size: Any = field.args[name].default_value
        for argument in node.arguments or ():
            if argument.name.value != name:
                continue
            value = argument.value
            if isinstance(value, IntValueNode):
                size = int(value.value)
            elif isinstance(value, VariableNode):
                size = self.variables.get(value.name.value)
        if not isinstance(size, int) or isinstance(size, bool):
            return DEFAULT_PAGE_SIZE  # a bad value: execution refuses it
        return max(size, 0)


def _field_of(on: Any, name: str) -> GraphQLField | None:
    """The field `name` of an object or interface type (None on a union: only fragments
    select fields there)."""
    fields = getattr(on, "fields", None)
    if isinstance(fields, Mapping):
        found = fields.get(name)
        return found if isinstance(found, GraphQLField) else None
    return None


class ClientBudget:
    """A client's budget of analytics cost over time: at most `rate` (a `limits` rate, "20000
    per minute") in any window of that length, counted as `limits`' sliding window counter
    (two counters per client, whatever the cost)."""

    def __init__(self, rate: str) -> None:
        items = limits.parse_many(rate)
        if len(items) != 1:
            raise ValueError(f"cost rate {rate!r}: write one rate like 20000/minute")
        self.rate = rate
        self._item = items[0]
        self._limiter = limits.strategies.SlidingWindowCounterRateLimiter(
            limits.storage.MemoryStorage()
        )

    @property
    def amount(self) -> int:
        return int(self._item.amount)

    def could_take(self, client: str, cost: int) -> bool:
        """Whether `take` would let `cost` go ahead now (nothing is charged)."""
        if cost <= 0:
            return True
        return cost <= self.amount and self._limiter.test(self._item, client, cost=cost)

    def take(self, client: str, cost: int) -> float | None:
        """Charge `cost` to `client`; None if it may go ahead, or else the seconds to wait
        before it may (nothing is charged then)."""
        if cost <= 0:
            return None
        if cost > self.amount:
            return math.inf
        if self._limiter.hit(self._item, client, cost=cost):
            return None
        stats = self._limiter.get_window_stats(self._item, client)
        return max(stats.reset_time - time.time(), 1.0)


def client_budget(services: Any, rate: str) -> ClientBudget:
    """The app's budget of `rate` (`Services.cost_budget`, made by its first request; its
    clients' counts live as long as the app). Without an app (a schema run by itself), a new
    one each time."""
    budget = getattr(services, "cost_budget", None)
    if isinstance(budget, ClientBudget) and budget.rate == rate:
        return budget
    budget = ClientBudget(rate)
    if services is not None:
        services.cost_budget = budget
    return budget


class CostLimiter(SchemaExtension):
    """Refuses an operation over its budget before it runs, and one that its client's budget
    over time cannot pay for; the message names the cost and the budget."""

    def on_execute(self) -> Iterator[None]:
        context = self.execution_context
        if context.result is not None or context.graphql_document is None:
            yield
            return
        config = config_of(context)
        schema, query = context.schema._schema, context.query or ""
        document, variables, name = (
            context.graphql_document,
            context.variables,
            context.operation_name,
        )
        if len(query) <= config.max_cached_query_length:
            cost = cached_cost(schema, query, document, variables, name)
        else:  # a text too long to keep (api.limits): costed each time
            cost = operation_cost(schema, document, variables, name)
        problem = None
        if cost.total > config.max_cost:
            problem = (
                f"this operation costs {cost.total:,}, over the budget of {config.max_cost:,} "
                "per operation: ask for smaller pages (`first`), fewer nested lists or fewer "
                "analytics fields"
            )
        elif config.client_cost_rate:
            client = str(getattr(context.context, "client", "unknown"))
            services = getattr(context.context, "services", None)
            budget = client_budget(services, config.client_cost_rate)
            wait = budget.take(client, cost.analytics)
            if wait is not None:
                problem = (
                    f"this operation's analytics cost {cost.analytics:,}, over what is left of "
                    f"this client's budget of {config.client_cost_rate} of analytics cost"
                    + ("" if math.isinf(wait) else f": try again in {math.ceil(wait)} s")
                )
        if problem is not None:
            # A result set before execution is the answer: the operation never runs.
            context.result = ExecutionResult(
                data=None,
                errors=[
                    GraphQLError(problem, extensions={"code": "COST_LIMIT", "cost": cost.total})
                ],
            )
        yield
