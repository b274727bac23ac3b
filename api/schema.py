"""The GraphQL schema: queries, limits and error masking."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

import strawberry
from graphql import GraphQLError
from strawberry.extensions import (
    AddValidationRules,
    MaskErrors,
    MaxAliasesLimiter,
    MaxTokensLimiter,
    QueryDepthLimiter,
)
from strawberry.schema.config import StrawberryConfig
from strawberry.types import ExecutionContext

from api import analytics, prefetch
from api.audited import Audited, AuditQuery
from api.compiled import PlannedExecutor
from api.context import Info
from api.corrections import CorrectionsMutation, CorrectionsQuery
from api.cost import CostLimiter
from api.dataloaders import at_once
from api.dates import DATE, DateRangeRule
from api.direct import use_direct_resolvers
from api.directories import DirectoryQuery
from api.editorial import EditorialMutation, EditorialQuery
from api.errors import UserError
from api.fastlane import Learn
from api.filters import EventFilterInput, to_filter
from api.introspection import IntrospectionCache
from api.labels import LabelsQuery
from api.limits import BoundedParserCache, BoundedValidationCache, RequestLimits
from api.live import Subscription
from api.nodes import (
    Entity,
    Event,
    EventConnection,
    GraphNode,
    Outlet,
    Place,
    SearchResult,
    as_graph_node,
    event_page,
)
from api.paging import DEFAULT_PAGE
from api.places import CountBy, EventCounts, PlacesMutation, PlacesQuery, event_counts
from api.scalars import SCALARS, Category, ConfidenceLevel, EntityType, Order
from api.search import SearchConnection, SearchType, find_results, search_list
from api.timeline import Interval
from graph import keys
from graph.analytics import AGGREGATE_MAX_EVENTS
from graph.errors import DomainError
from graph.model import ENTITY_TYPES, Label, Node, is_public
from graph.store import StoreUnavailable
from loaders.records import MAX_NAME_LENGTH
from services.redirects import survivor

MAX_DEPTH = 10
MAX_TOKENS = 2000
MAX_ALIASES = 30


async def _found(info: Info, node_id: str) -> tuple[Node | None, str | None]:
    """The node with id `node_id`, or the survivor it was merged into (docs/identity.md), with
    `node_id` as the id it was reached from."""
    node = await info.context.nodes.load(node_id)
    if node is not None:
        return node, None
    owner = survivor(info.context.store, node_id)
    if owner is None:
        return None, None
    return await info.context.nodes.load(owner), node_id


async def _node(info: Info, node_id: str, label: Label, what: str) -> tuple[Node, str | None]:
    node, redirected = await _found(info, node_id)
    if node is None or node.label is not label:
        raise UserError(f"no {what} with id '{node_id}'")
    return node, redirected


def _check_name(name: str) -> None:
    # No record may give a longer name, so none could match; refused before it is normalised.
    if len(name) > MAX_NAME_LENGTH:
        raise UserError(f"name is longer than {MAX_NAME_LENGTH} characters ({len(name):,})")


async def _by_name(info: Info, found_keys: list[str], what: str, name: str) -> str:
    owners = await info.context.read(info.context.store.lookup_keys, found_keys)
    ids = list(dict.fromkeys(owners[k] for k in found_keys if k in owners))
    if not ids:
        raise UserError(f"no {what} is known by the name '{name}'")
    if len(ids) > 1:
        many = "entities" if what == "entity" else f"{what}s"
        raise UserError(f"'{name}' names {len(ids)} {many} ({', '.join(ids)}): ask by id")
    return ids[0]


def _one_of(id: strawberry.ID | None, name: str | None) -> None:
    if (id is None) == (name is None):
        raise UserError("give exactly one of id and name")


@strawberry.type
class Query(EditorialQuery, CorrectionsQuery, PlacesQuery, DirectoryQuery, LabelsQuery, AuditQuery):
    @strawberry.field(description="One event by id: everything its public page shows.")
    async def event(self, info: Info, id: strawberry.ID) -> Event | None:
        await prefetch.event_page(info, id)  # one round trip on Neo4j (api.prefetch)
        return Event.of(*await _node(info, id, Label.EVENT, "event"))

    @strawberry.field(description="Events, newest first by default, filtered.")
    @at_once
    async def events(
        self,
        info: Info,
        first: int = DEFAULT_PAGE,
        after: str | None = None,
        filter: EventFilterInput | None = None,
        order: Order = Order.NEWEST_FIRST,
    ) -> EventConnection:
        return await event_page(info, await to_filter(info, filter), first, after, order)

    @strawberry.field(description="An entity by id, or by its name or any alias.")
    async def entity(
        self, info: Info, id: strawberry.ID | None = None, name: str | None = None
    ) -> Entity | None:
        _one_of(id, name)
        if name is not None:
            _check_name(name)
            found = [k for t in ENTITY_TYPES for k in keys.entity_keys(t, [name])]
            id = strawberry.ID(await _by_name(info, found, "entity", name))
        assert id is not None
        return Entity.of(*await _node(info, id, Label.ENTITY, "entity"))

    @strawberry.field(description="An outlet by id, or by its name or any alias.")
    async def outlet(
        self, info: Info, id: strawberry.ID | None = None, name: str | None = None
    ) -> Outlet | None:
        _one_of(id, name)
        if name is not None:
            _check_name(name)
            id = strawberry.ID(await _by_name(info, keys.outlet_keys([name]), "outlet", name))
        assert id is not None
        return Outlet.of(*await _node(info, id, Label.OUTLET, "outlet"))

    @strawberry.field(description="A place or country by id.")
    async def place(self, info: Info, id: strawberry.ID) -> Place | None:
        return Place.of(*await _node(info, id, Label.PLACE, "place"))

    @strawberry.field(description="Any node by id, for linked exploration.")
    async def node(self, info: Info, id: strawberry.ID) -> GraphNode | None:
        node, redirected = await _found(info, id)
        if node is None or not is_public(node):  # an editorial id answers as an unknown one
            raise UserError(f"no node with id '{id}'")
        return as_graph_node(node, redirected)

    @strawberry.field(
        description="Events (by summary and claims) and entities, outlets and places (by name "
        "or alias) matching `text`, best first (as `find`, without scores or paging)."
    )
    async def search(self, info: Info, text: str, first: int = DEFAULT_PAGE) -> list[SearchResult]:
        return await search_list(info, text, first)

    @strawberry.field(
        description="Ranked search (docs/search.md): events by summary and claims, entities, "
        "places and outlets by name and alias; words match transliterated (Путин finds Putin), "
        "misspelt (Lukashenka finds Lukashenko) and, the last one, as a prefix (type-ahead). "
        "`types` narrows the kinds; a page at a time (`after` a cursor), with highlights."
    )
    async def find(
        self,
        info: Info,
        text: str,
        types: list[SearchType] | None = None,
        first: int = DEFAULT_PAGE,
        after: str | None = None,
    ) -> SearchConnection:
        return await find_results(info, text, types, first, after)

    @strawberry.field(
        description="The shortest connections between two entities through shared events "
        "(entity, event, entity, ...), at most `maxHops` events long (1 to 6), through events of "
        "at least `minConfidence`; shortest first, at most `first` (100). The search is bounded "
        "in nodes, relationships and time, and says when it stopped early (`complete`)."
    )
    async def paths(
        self,
        info: Info,
        source: Annotated[strawberry.ID, strawberry.argument(name="from")],
        target: Annotated[strawberry.ID, strawberry.argument(name="to")],
        max_hops: int = 3,
        min_confidence: ConfidenceLevel | None = None,
        first: int = 10,
    ) -> analytics.Paths:
        return await analytics.paths(info, source, target, max_hops, min_confidence, first)

    @strawberry.field(
        description="The subgraph around any node, for a graph view: typed nodes within `hops` "
        "(1 to 3) relationships, nearest first, at most `limit` (100), and labelled "
        "relationships with stable ids."
    )
    async def neighbourhood(
        self,
        info: Info,
        id: strawberry.ID,
        hops: int = 1,
        limit: int = 50,
        filter: analytics.NeighbourhoodFilter | None = None,
    ) -> analytics.Neighbourhood:
        return await analytics.neighbourhood(info, id, hops, limit, filter)

    @strawberry.field(
        description="The events of a filter counted by the country they are filed under (one "
        "per event: the country of its chosen place), by first-level region and, with "
        "`groupBy`, by any combination of period (`interval`: DAY, WEEK or MONTH, the "
        "default), category, confidence level and country (`groups`). `from`, `to`, "
        "`minConfidence` and `categories` are shorthands for the same in `filter`. Counts "
        f"the oldest {AGGREGATE_MAX_EVENTS:,} events at most (`complete: false` past it)."
    )
    async def event_counts(
        self,
        info: Info,
        date_from: Annotated[dt.date | None, strawberry.argument(name="from")] = None,
        date_to: Annotated[dt.date | None, strawberry.argument(name="to")] = None,
        min_confidence: ConfidenceLevel | None = None,
        categories: list[Category] | None = None,
        filter: EventFilterInput | None = None,
        group_by: list[CountBy] | None = None,
        interval: Interval = Interval.MONTH,
    ) -> EventCounts:
        return await event_counts(
            info, date_from, date_to, min_confidence, categories, filter, group_by, interval
        )

    @strawberry.field(
        description="The most central entities of a date window in the co-occurrence graph "
        "(entities linked by the events they share), a page at a time, and its communities."
    )
    async def rankings(
        self,
        info: Info,
        date_from: Annotated[dt.date | None, strawberry.argument(name="from")] = None,
        date_to: Annotated[dt.date | None, strawberry.argument(name="to")] = None,
        metric: analytics.Metric = analytics.Metric.PAGERANK,
        first: int = DEFAULT_PAGE,
        after: str | None = None,
        min_confidence: ConfidenceLevel | None = None,
        categories: list[Category] | None = None,
        types: list[EntityType] | None = None,
    ) -> analytics.Rankings:
        return await analytics.rankings(
            info, date_from, date_to, metric, first, after, min_confidence, categories, types
        )


@strawberry.type
class Mutation(EditorialMutation, CorrectionsMutation, PlacesMutation):
    """Every mutation: the editorial ones and the corrections."""


def _is_internal(error: GraphQLError) -> bool:
    """Whether an error is ours rather than the client's (a bad id, page size or variable, or
    a request the domain refuses: a `DomainError`, whose message is meant for the client). A
    store that cannot be reached now (`StoreUnavailable`) is answered as it says, naming no
    host: the client may try again (the store logs the cause)."""
    original = error.original_error
    return original is not None and not isinstance(
        original, UserError | DomainError | GraphQLError | StoreUnavailable
    )


class Schema(strawberry.Schema):
    def process_errors(
        self, errors: list[GraphQLError], execution_context: ExecutionContext | None = None
    ) -> None:
        # The client's mistakes are answered, not logged; internal failures are logged in full.
        super().process_errors([e for e in errors if _is_internal(e)], execution_context)


# The limiters' validation rules, built once: strawberry's limiter extensions build a new rule
# class per request, and the validation cache keys on the rules, so it would never hit.
_LIMIT_RULES = [
    QueryDepthLimiter(max_depth=MAX_DEPTH).validation_rules[0],
    MaxAliasesLimiter(max_alias_count=MAX_ALIASES).validation_rules[0],
    DateRangeRule,
]


def build_schema(direct: bool = True, planned: bool = True) -> Schema:
    """The API's schema; `direct` gives the fields that need nothing of strawberry's per-field
    wrapper a direct resolver (`api.direct`), `planned` runs queries by a plan made once per
    document (`api.compiled`); the served schema does both."""
    built = Schema(
        query=Query,
        mutation=Mutation,
        subscription=Subscription,
        types=[Event, Entity, Outlet, Place],
        config=StrawberryConfig(scalar_map={**SCALARS, dt.date: DATE}),
        extensions=[
            # Factories: strawberry builds fresh extensions per request; the caches are shared.
            lambda: AddValidationRules(_LIMIT_RULES),
            lambda: MaxTokensLimiter(max_token_count=MAX_TOKENS),
            # String arguments, variables (AppConfig's limits, read from the request's context).
            RequestLimits,
            # The operation's cost against its budget and its client's (api.cost), before it
            # runs; after the checks above, so a refused request is not charged.
            CostLimiter,
            # Introspection answered from a cache, or refused (AppConfig.introspection).
            IntrospectionCache,
            # Bounded in entries, and in size: longer query texts are not kept (api.limits).
            lambda: BoundedParserCache(maxsize=256),
            lambda: BoundedValidationCache(maxsize=256),
            # Internal failures reach the client as "Unexpected error." (and the log, in full);
            # the client's mistakes and domain refusals as they are.
            lambda: MaskErrors(should_mask_error=_is_internal),
            # Who did what: privileged and refused operations, once they have run (api.audit).
            Audited,
            # The documents the fast lane may answer (api.fastlane), once one has run.
            Learn,
        ],
        execution_context_class=PlannedExecutor if planned else None,
    )
    if direct:
        use_direct_resolvers(built)
    return built


schema = build_schema()
