"""Analyst queries over any `GraphStore`: timelines, co-occurrence, paths, neighbourhoods,
rankings and communities.

Every function reaches the graph only through the store port, in bounded batches, and hands
the bounded projection it fetched to networkx for the algorithm. Every computation has a size
bound (events scanned, nodes and relationships visited, items returned) and, where a search can
run long, a time bound; a result says which bound it hit (`bounds`), and `complete` is False
then. Results are deterministic: projections are built in sorted order, algorithms that draw
random numbers are seeded, and ties are broken by id, so every store gives the same answer.
(A time bound is the one exception: when it is hit, how far the search got depends on the
machine. It is reported like any other bound.)

One module per concept: `bounds` (the error, `Bound`, pages), `scan` (`window`, the event
filter of a query, and the batched reads of events and entities), `timeline`, `aggregate`
(event counts by period, category, confidence and country), `places`,
`cooccurrence`, `path_search`, `neighbourhoods` and `rankings` (with communities). Each
function takes its own bounds as parameters; the module constants are their defaults, the
ones the API uses.
"""

from graph.analytics.aggregate import (
    AGGREGATE_MAX_EVENTS,
    DIMENSIONS,
    MAX_GROUPS,
    Aggregate,
    Dimension,
    Group,
    aggregate,
    rolled_up,
    summed,
)
from graph.analytics.bounds import MAX_ITEMS, AnalyticsError, Bound, page_of
from graph.analytics.cooccurrence import CoOccurrence, CoOccurring, co_occurring
from graph.analytics.neighbourhoods import (
    NEIGHBOURHOOD_MAX_EDGES_READ,
    NEIGHBOURHOOD_MAX_HOPS,
    Neighbourhood,
    edge_id,
    neighbourhood,
)
from graph.analytics.path_search import (
    PATH_MAX_EDGES,
    PATH_MAX_HOPS,
    PATH_MAX_NODES,
    PATH_SECONDS,
    Clock,
    Path,
    PathResult,
    paths,
)
from graph.analytics.places import PlaceCounts, place_counts
from graph.analytics.rankings import (
    BETWEENNESS_EXACT_MAX,
    BETWEENNESS_PIVOTS,
    SEED,
    CoGraph,
    Metric,
    Ranked,
    communities,
    cooccurrence_graph,
    rank,
)
from graph.analytics.scan import (
    BATCH,
    EVENT_PAGE,
    MAX_EVENTS,
    NO_DEADLINE,
    Deadline,
    chunks,
    entity_node,
    involved,
    scan_events,
    window,
)
from graph.analytics.timeline import (
    MAX_BUCKETS,
    Bucket,
    Interval,
    Timeline,
    bucket_start,
    next_bucket,
    timeline_buckets,
)

__all__ = [
    "AGGREGATE_MAX_EVENTS",
    "DIMENSIONS",
    "MAX_GROUPS",
    "Aggregate",
    "Dimension",
    "Group",
    "aggregate",
    "rolled_up",
    "summed",
    "PlaceCounts",
    "place_counts",
    "BATCH",
    "BETWEENNESS_EXACT_MAX",
    "BETWEENNESS_PIVOTS",
    "EVENT_PAGE",
    "MAX_BUCKETS",
    "MAX_EVENTS",
    "MAX_ITEMS",
    "NO_DEADLINE",
    "NEIGHBOURHOOD_MAX_EDGES_READ",
    "NEIGHBOURHOOD_MAX_HOPS",
    "PATH_MAX_EDGES",
    "PATH_MAX_HOPS",
    "PATH_MAX_NODES",
    "PATH_SECONDS",
    "SEED",
    "AnalyticsError",
    "Bound",
    "Bucket",
    "Clock",
    "CoGraph",
    "CoOccurrence",
    "CoOccurring",
    "Deadline",
    "Interval",
    "Metric",
    "Neighbourhood",
    "Path",
    "PathResult",
    "Ranked",
    "Timeline",
    "window",
    "bucket_start",
    "chunks",
    "co_occurring",
    "communities",
    "cooccurrence_graph",
    "edge_id",
    "entity_node",
    "involved",
    "neighbourhood",
    "next_bucket",
    "page_of",
    "paths",
    "rank",
    "scan_events",
    "timeline_buckets",
]
