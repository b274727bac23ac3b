"""The app's options, built by the entry point (`newsgraph.wiring`) and handed to
`api.app.create_app`; `api` reads no environment and no settings of its own.

Each is a `NEWSGRAPH_*` setting (`newsgraph.settings`); docs/security.md says what each guards.
"""

from __future__ import annotations

from dataclasses import dataclass

DEFAULT_SUBMIT_RATE = "10/minute"
# An event page's request is 1.5 kB; 2,000 tokens of query with long strings fit in 64 KiB.
DEFAULT_MAX_BODY_BYTES = 64 * 1024
# An `ingest` of 1,000 records (api.editorial.MAX_INGEST) of up to 8 kB each.
DEFAULT_MAX_BODY_BYTES_WITH_TOKEN = 8 * 1024 * 1024
# The longest string argument any field needs: a claim, a URL or a note (2,000, as records).
DEFAULT_MAX_STRING_LENGTH = 2000
DEFAULT_MAX_VARIABLES = 50
# Longer query texts are parsed and validated every time instead of being kept in the caches
# (256 entries each): the caches hold at most 256 x 10,000 characters of query text.
DEFAULT_MAX_CACHED_QUERY_LENGTH = 10_000

# -- Cost and time budgets (api.cost, api.heavy; issue 16) --------------------------------------
# One operation's budget (api.cost): an event page costs 35, a rankings 500 and more.
DEFAULT_MAX_COST = 5000
# A client's budget of analytics cost over time (a `limits` rate; empty: none).
DEFAULT_CLIENT_COST_RATE = "20000/minute"
# How long a request's analytics may run (from its start) before they answer `complete: false`
# or a timeout error.
DEFAULT_HEAVY_SECONDS = 5.0
# The threads analytics read in, off the event loop (and the processes their algorithms run in):
# at most this many at once. One: a reading thread shares the GIL with the event loop, and each
# more takes a larger share of it from pages.
DEFAULT_HEAVY_THREADS = 1

# -- WebSocket and submissions (issue 16: docs/security.md, docs/auth.md, docs/live.md) --------
# Open WebSockets one client (its address, or its token's name) may hold at once.
DEFAULT_WS_MAX_SOCKETS_PER_CLIENT = 8
# Operations (subscriptions, or queries sent over the socket) one WebSocket may run at once.
DEFAULT_WS_MAX_OPERATIONS = 20
# Pending submissions one event, and one client, may have at once.
DEFAULT_MAX_PENDING_PER_EVENT = 50
DEFAULT_MAX_PENDING_PER_CLIENT = 10
# Days after which a pending submission expires (no longer listed, reviewed or counted).
DEFAULT_SUBMISSION_TTL_DAYS = 30

# -- The slow-down of what an abusive client repeats (issue 16: api.slowdown) -------------------
# Refused requests (a 4xx, or a GraphQL request error) one client may have answered at once; past
# it each further refusal waits (asleep) until the client's window allows it. Empty: no pace.
DEFAULT_REFUSAL_RATE = "20/second"
# Introspection answers one client may have at once (a tool introspects once when it loads).
DEFAULT_INTROSPECTION_RATE = "5/second"
# The longest such a wait; an answer still not allowed then is a 429 with Retry-After.
DEFAULT_SLOWDOWN_MAX_DELAY = 5.0
# An anonymous client's analytics time (operations selecting `api.forward.ANALYTICS_FIELDS`,
# charged the CPU seconds their reads take, 10 ms at least): seconds a second, sustained (a
# quarter of a core), and the seconds it may take at once beyond that (a rankings over 20,000
# events reads for 0.5 s, a timeline for 30 ms); past them its next analytics operation waits
# (asleep) before it runs. 0: no pace.
DEFAULT_ANALYTICS_TIME_RATE = 0.25
DEFAULT_ANALYTICS_TIME_BURST = 1.0
# An anonymous client's bytes of request bodies over `api.slowdown.PACED_BODY` (a page's body is
# about 1 KiB): a second's worth and a burst.
DEFAULT_BODY_RATE = 256 * 1024
DEFAULT_BODY_BURST = 2 * 1024 * 1024

# -- The audit record (issue 16: api.audit, docs/security.md) ----------------------------------
DEFAULT_AUDIT_DAYS = 90
DEFAULT_AUDIT_MAX_REFUSALS = 100_000

# -- Delivery (issue 17: api.delivery) ---------------------------------------------------------
# A cache may serve an anonymous GET page this long before asking again (304 when unchanged).
DEFAULT_CACHE_MAX_AGE = 5
DEFAULT_GZIP_MINIMUM_SIZE = 1000
DEFAULT_PERSISTED_QUERIES = 1000
# The bytes of answers the response cache keeps per process (api.response_cache); 0: none.
DEFAULT_RESPONSE_CACHE_BYTES = 64 * 1024 * 1024
DEFAULT_KEPT_FRAGMENTS = 10_000


# How deep the arrays and objects of a request's JSON may nest (an `ingest` of records needs 9):
# deeper, Python's parser would recurse until RecursionError, a crash. Not a setting.
MAX_JSON_DEPTH = 64


@dataclass(frozen=True, slots=True)
class AppConfig:
    """What the app is configured with, besides the store and the tokens."""

    # How often one client may call `submitSource` (a `limits` rate: 10/minute, 100/hour).
    submit_rate: str = DEFAULT_SUBMIT_RATE
    # The largest body of a request to /graphql, without a token and with one (413 over it).
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES
    max_body_bytes_with_token: int = DEFAULT_MAX_BODY_BYTES_WITH_TOKEN
    # The longest String or ID argument, literal or variable, in characters.
    max_string_length: int = DEFAULT_MAX_STRING_LENGTH
    # The most variables one request may send.
    max_variables: int = DEFAULT_MAX_VARIABLES
    # The longest query text the parser and validation caches keep.
    max_cached_query_length: int = DEFAULT_MAX_CACHED_QUERY_LENGTH
    # Whether `__schema` and `__type` are answered (from a cache: api.introspection), and
    # whether GraphiQL is served to a browser at /graphql; on for the quick start.
    introspection: bool = True
    graphiql: bool = True
    # -- Cost and time budgets (api.cost, api.heavy; docs/security.md) --
    # The most an operation may cost; over it, it is refused before it runs.
    max_cost: int = DEFAULT_MAX_COST
    # A client's budget of analytics cost over time ("" for none).
    client_cost_rate: str = DEFAULT_CLIENT_COST_RATE
    # How long a request's analytics may run, in seconds, from its start (api.heavy).
    heavy_seconds: float = DEFAULT_HEAVY_SECONDS
    # How many analytics fields read at once in threads, and compute in processes (the rest
    # wait, within their time).
    heavy_threads: int = DEFAULT_HEAVY_THREADS
    # -- WebSocket and submissions (issue 16) --
    # Open WebSockets per client, and operations running at once on one WebSocket.
    ws_max_sockets_per_client: int = DEFAULT_WS_MAX_SOCKETS_PER_CLIENT
    ws_max_operations: int = DEFAULT_WS_MAX_OPERATIONS
    # Proxies whose X-Forwarded-For names the client (addresses or networks, already
    # parsed by `api.auth.parse_networks`); none: the connection's address is the client.
    trusted_proxies: tuple[str, ...] = ()
    # Pending submissions per event and per client, and the days a pending one lives.
    max_pending_per_event: int = DEFAULT_MAX_PENDING_PER_EVENT
    max_pending_per_client: int = DEFAULT_MAX_PENDING_PER_CLIENT
    submission_ttl_days: int = DEFAULT_SUBMISSION_TTL_DAYS
    # -- The slow-down (issue 16: api.slowdown, docs/security.md) --
    # A client's refusals, and its introspection answers, beyond these `limits` rates wait
    # (asleep) until its window allows them, at most `slowdown_max_delay` seconds (then 429);
    # "" for none.
    refusal_rate: str = DEFAULT_REFUSAL_RATE
    introspection_rate: str = DEFAULT_INTROSPECTION_RATE
    slowdown_max_delay: float = DEFAULT_SLOWDOWN_MAX_DELAY
    # An anonymous client's analytics time: seconds a second (0: no pace), and its burst.
    analytics_time_rate: float = DEFAULT_ANALYTICS_TIME_RATE
    analytics_time_burst: float = DEFAULT_ANALYTICS_TIME_BURST
    body_rate: float = DEFAULT_BODY_RATE
    body_burst: float = DEFAULT_BODY_BURST
    # -- The audit record (issue 16: api.audit) --
    # Its SQLite file, which every process of the server appends to (None: no record kept);
    # the days a record is kept, and the most refusals of callers without a token kept.
    audit_file: str | None = None
    audit_days: int = DEFAULT_AUDIT_DAYS
    audit_max_refusals: int = DEFAULT_AUDIT_MAX_REFUSALS
    # -- Delivery (issue 17: api.delivery, docs/site.md) --
    # Origins a browser may call the API from (CORS); none: same origin only.
    cors_origins: tuple[str, ...] = ()
    # Seconds a cache may serve an anonymous GET answer before revalidating it (its ETag).
    cache_max_age: int = DEFAULT_CACHE_MAX_AGE
    # Answers at least this large are gzipped for clients that accept it.
    gzip_minimum_size: int = DEFAULT_GZIP_MINIMUM_SIZE
    # Automatic persisted queries kept per process (least recently used forgotten first).
    persisted_queries: int = DEFAULT_PERSISTED_QUERIES
    # The bytes of anonymous answers kept in memory, per process (0: no response cache).
    response_cache_bytes: int = DEFAULT_RESPONSE_CACHE_BYTES
    # Answers to selections on single objects (a report on the event page) kept per process
    # and reused while what they read is unchanged (api.memo; 0: none kept).
    kept_fragments: int = DEFAULT_KEPT_FRAGMENTS
    # Whether a query document answered before is run without strawberry's HTTP view
    # (api.fastlane), and an answer the response cache holds is sent as the app's layers
    # made it before (api.hit_lane): the same answer, less CPU; off: every request takes the
    # whole way.
    fast_lane: bool = True
