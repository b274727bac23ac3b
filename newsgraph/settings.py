"""Settings from the environment (`NEWSGRAPH_*`), overridable by command-line flags.

| variable | meaning | default |
|---|---|---|
| `NEWSGRAPH_STORE` | a directory (the embedded store) or a `bolt://`, `bolt+s://`, `neo4j://`, `neo4j+s://` URI (Neo4j) | `./newsgraph-data` |
| `NEWSGRAPH_NEO4J_USER` | the Neo4j user | `neo4j` |
| `NEWSGRAPH_NEO4J_PASSWORD` | its password | none |
| `NEWSGRAPH_NEO4J_DATABASE` | the database | the server's default |
| `NEWSGRAPH_NEO4J_POOL_SIZE` | the most Bolt connections one process keeps to Neo4j | 100 |
| `NEWSGRAPH_NEO4J_READ_TIMEOUT` | seconds a read transaction (a page) may run on the server before it is stopped | 10 |
| `NEWSGRAPH_NEO4J_WRITE_TIMEOUT` | seconds a write transaction (a loader's batch) may run on the server | 120 |
| `NEWSGRAPH_TOKENS` | API bearer tokens, comma-separated `role:name:token` entries (docs/auth.md) | none |
| `NEWSGRAPH_TOKENS_FILE` | a JSON file of token hashes outside the checkout (`newsgraph token create`) | none |
| `NEWSGRAPH_SUBMIT_RATE` | how often one client may call `submitSource`, e.g. `10/minute`, `100/hour` | `10/minute` |
| `NEWSGRAPH_MAX_BODY_BYTES` | the largest request body to /graphql without a token (413 over it) | 65536 |
| `NEWSGRAPH_MAX_BODY_BYTES_WITH_TOKEN` | the same with a token (an `ingest` of 1,000 records) | 8388608 |
| `NEWSGRAPH_MAX_STRING_LENGTH` | the longest String or ID argument, literal or variable, in characters | 2000 |
| `NEWSGRAPH_MAX_VARIABLES` | the most variables one request may send | 50 |
| `NEWSGRAPH_MAX_CACHED_QUERY_LENGTH` | the longest query text the parser and validation caches keep | 10000 |
| `NEWSGRAPH_INTROSPECTION` | whether `__schema` and `__type` queries are answered (off for production) | `true` |
| `NEWSGRAPH_GRAPHIQL` | whether GraphiQL is served to a browser at /graphql (off for production) | `true` |
| `NEWSGRAPH_MAX_COST` | the most one operation may cost (api/cost.py); over it, refused before it runs | 5000 |
| `NEWSGRAPH_CLIENT_COST_RATE` | a client's budget of analytics cost over time, e.g. `20000/minute`; empty for none | `20000/minute` |
| `NEWSGRAPH_HEAVY_SECONDS` | how long a request's analytics and search may run (off the event loop), from its start | 5 |
| `NEWSGRAPH_HEAVY_THREADS` | how many analytics fields run at once (threads reading, processes computing) | 1 |
| `NEWSGRAPH_WS_MAX_SOCKETS_PER_CLIENT` | open WebSockets one client may hold at once | 8 |
| `NEWSGRAPH_WS_MAX_OPERATIONS` | operations one WebSocket may run at once | 20 |
| `NEWSGRAPH_TRUSTED_PROXIES` | comma-separated proxy addresses or networks whose `X-Forwarded-For` names the client | none |
| `NEWSGRAPH_MAX_PENDING_PER_EVENT` | pending submissions one event may have | 50 |
| `NEWSGRAPH_MAX_PENDING_PER_CLIENT` | pending submissions one client may have | 10 |
| `NEWSGRAPH_SUBMISSION_TTL_DAYS` | days after which a pending submission expires | 30 |
| `NEWSGRAPH_REFUSAL_RATE` | refused requests (4xx, GraphQL request errors) one client is answered at once, e.g. `20/second`; past it each waits for its window (docs/security.md); empty for none | `20/second` |
| `NEWSGRAPH_INTROSPECTION_RATE` | introspection answers one client is given at once; past it each waits the same way; empty for none | `5/second` |
| `NEWSGRAPH_SLOWDOWN_MAX_DELAY` | the longest such a wait, in seconds; an answer still not allowed then is a 429 with `Retry-After` | 5 |
| `NEWSGRAPH_ANALYTICS_TIME_RATE` | seconds of analytics (operations selecting `rankings`, `paths`, `neighbourhood`, `neighbours`, `coOccurring`, `timelineBuckets`, `search`, `find`, `eventCounts`) an anonymous client may take per second, sustained, each charged the CPU seconds its reads of the store took (0.01 at least); past it and its burst, its next one waits before it runs, up to the delay above, then 429 (docs/security.md); 0 for none | 0.25 |
| `NEWSGRAPH_ANALYTICS_TIME_BURST` | the seconds of analytics such a client may take at once beyond that rate | 1 |
| `NEWSGRAPH_BODY_RATE` | bytes a second of an anonymous client's request bodies over 16 KiB (a page's is about 1 KiB), sustained; past it and its burst, its next such request waits before it is read further, up to the delay above, then 429; 0 for none | 262144 |
| `NEWSGRAPH_BODY_BURST` | the bytes of such bodies a client may send at once beyond that rate | 2097152 |
| `NEWSGRAPH_CORS_ORIGINS` | comma-separated origins a browser may call the API from (CORS), e.g. `https://site.example` | none |
| `NEWSGRAPH_CACHE_MAX_AGE` | seconds a cache may serve an anonymous GET answer before revalidating its `ETag` (docs/site.md) | 5 |
| `NEWSGRAPH_GZIP_MINIMUM_SIZE` | answers at least this many bytes are gzipped for clients that accept it | 1000 |
| `NEWSGRAPH_PERSISTED_QUERIES` | automatic persisted queries kept per process (least recently used forgotten) | 1000 |
| `NEWSGRAPH_LOAD_NICENESS` | the niceness `newsgraph load` runs at (0-19, as `nice -n`): a bulk load yields the CPU to the pages a server beside it answers, and takes it all when nothing else wants it (docs/operations.md) | 5 |
| `NEWSGRAPH_RESPONSE_CACHE_BYTES` | bytes of anonymous answers each process keeps in memory, dropped by the writes that change them (docs/site.md); 0 turns the cache off | 67108864 |

docs/security.md says what each limit guards.
"""  # noqa: E501

from __future__ import annotations

from pathlib import Path

import limits
from pydantic import (
    Field,
    NonNegativeFloat,
    NonNegativeInt,
    PositiveFloat,
    PositiveInt,
    SecretStr,
    ValidationError,
    field_validator,
)
from pydantic_settings import BaseSettings, SettingsConfigDict

from api.config import (
    DEFAULT_ANALYTICS_TIME_BURST,
    DEFAULT_ANALYTICS_TIME_RATE,
    DEFAULT_AUDIT_DAYS,
    DEFAULT_AUDIT_MAX_REFUSALS,
    DEFAULT_BODY_BURST,
    DEFAULT_BODY_RATE,
    DEFAULT_CACHE_MAX_AGE,
    DEFAULT_CLIENT_COST_RATE,
    DEFAULT_GZIP_MINIMUM_SIZE,
    DEFAULT_HEAVY_SECONDS,
    DEFAULT_HEAVY_THREADS,
    DEFAULT_INTROSPECTION_RATE,
    DEFAULT_KEPT_FRAGMENTS,
    DEFAULT_MAX_BODY_BYTES,
    DEFAULT_MAX_BODY_BYTES_WITH_TOKEN,
    DEFAULT_MAX_CACHED_QUERY_LENGTH,
    DEFAULT_MAX_COST,
    DEFAULT_MAX_PENDING_PER_CLIENT,
    DEFAULT_MAX_PENDING_PER_EVENT,
    DEFAULT_MAX_STRING_LENGTH,
    DEFAULT_MAX_VARIABLES,
    DEFAULT_PERSISTED_QUERIES,
    DEFAULT_REFUSAL_RATE,
    DEFAULT_RESPONSE_CACHE_BYTES,
    DEFAULT_SLOWDOWN_MAX_DELAY,
    DEFAULT_SUBMISSION_TTL_DAYS,
    DEFAULT_SUBMIT_RATE,
    DEFAULT_WS_MAX_OPERATIONS,
    DEFAULT_WS_MAX_SOCKETS_PER_CLIENT,
)
from api.tokens import parse_networks

DEFAULT_STORE = "./newsgraph-data"
# `newsgraph load`'s niceness (docs/operations.md, "Loading while serving")
DEFAULT_LOAD_NICENESS = 5
DEFAULT_NEO4J_USER = "neo4j"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="NEWSGRAPH_", extra="ignore")

    store: str = DEFAULT_STORE
    neo4j_user: str = DEFAULT_NEO4J_USER
    neo4j_password: SecretStr | None = None  # a SecretStr: never printed, logged or repr'd
    neo4j_database: str | None = None
    # The Neo4j store's pool and transaction timeouts; unset: its defaults (graph.neo4j.store)
    neo4j_pool_size: PositiveInt | None = None
    neo4j_read_timeout: PositiveFloat | None = None
    neo4j_write_timeout: PositiveFloat | None = None
    # `newsgraph load` runs at this niceness: pages come first for the CPU
    load_niceness: int = Field(DEFAULT_LOAD_NICENESS, ge=0, le=19)
    # Plain tokens, for containers: hashed as soon as read (api.tokens.Tokens), never logged.
    tokens: SecretStr | None = None
    tokens_file: Path | None = None
    submit_rate: str = DEFAULT_SUBMIT_RATE
    max_body_bytes: PositiveInt = DEFAULT_MAX_BODY_BYTES
    max_body_bytes_with_token: PositiveInt = DEFAULT_MAX_BODY_BYTES_WITH_TOKEN
    max_string_length: PositiveInt = DEFAULT_MAX_STRING_LENGTH
    max_variables: PositiveInt = DEFAULT_MAX_VARIABLES
    max_cached_query_length: PositiveInt = DEFAULT_MAX_CACHED_QUERY_LENGTH
    introspection: bool = True
    graphiql: bool = True
    # -- Cost and time budgets (api.cost, api.heavy) --
    max_cost: PositiveInt = DEFAULT_MAX_COST
    client_cost_rate: str = DEFAULT_CLIENT_COST_RATE
    heavy_seconds: PositiveFloat = DEFAULT_HEAVY_SECONDS
    heavy_threads: PositiveInt = DEFAULT_HEAVY_THREADS
    # `serve --workers`: the mutations one worker keeps waiting on the writer (429 past it)
    write_queue: PositiveInt = 16
    # `serve`: queries selecting heavy fields go to an analyst process (docs/security.md), and
    # one worker keeps at most this many of them waiting on it (429 past it)
    analyst: bool = True
    analyst_queue: PositiveInt = 16
    # -- WebSocket and submissions (issue 16) --
    ws_max_sockets_per_client: PositiveInt = DEFAULT_WS_MAX_SOCKETS_PER_CLIENT
    ws_max_operations: PositiveInt = DEFAULT_WS_MAX_OPERATIONS
    trusted_proxies: str = ""
    max_pending_per_event: PositiveInt = DEFAULT_MAX_PENDING_PER_EVENT
    max_pending_per_client: PositiveInt = DEFAULT_MAX_PENDING_PER_CLIENT
    submission_ttl_days: PositiveInt = DEFAULT_SUBMISSION_TTL_DAYS
    # -- The slow-down of a client's refusals and introspection (api.slowdown); "" for none --
    refusal_rate: str = DEFAULT_REFUSAL_RATE
    introspection_rate: str = DEFAULT_INTROSPECTION_RATE
    slowdown_max_delay: PositiveFloat = DEFAULT_SLOWDOWN_MAX_DELAY
    # -- An anonymous client's analytics time (api.slowdown): seconds a second (0: no pace),
    # and the seconds it may take at once beyond that --
    analytics_time_rate: NonNegativeFloat = DEFAULT_ANALYTICS_TIME_RATE
    analytics_time_burst: PositiveFloat = DEFAULT_ANALYTICS_TIME_BURST
    body_rate: NonNegativeFloat = DEFAULT_BODY_RATE
    body_burst: PositiveFloat = DEFAULT_BODY_BURST
    # -- The audit record (issue 16: api.audit) --
    # Its SQLite file; unset: `audit.sqlite3` in the embedded store's directory, or
    # `newsgraph-audit.sqlite3` in the working directory beside a Neo4j store; "" keeps none.
    audit_file: str | None = None
    audit_days: PositiveInt = DEFAULT_AUDIT_DAYS
    audit_max_refusals: PositiveInt = DEFAULT_AUDIT_MAX_REFUSALS
    # -- Delivery (issue 17) --
    # Comma-separated origins a browser may call from (CORS), e.g. https://site.example
    cors_origins: str = ""
    cache_max_age: NonNegativeInt = DEFAULT_CACHE_MAX_AGE
    gzip_minimum_size: NonNegativeInt = DEFAULT_GZIP_MINIMUM_SIZE
    persisted_queries: PositiveInt = DEFAULT_PERSISTED_QUERIES
    # bytes of anonymous answers each process keeps (api.response_cache); 0 turns it off
    response_cache_bytes: NonNegativeInt = DEFAULT_RESPONSE_CACHE_BYTES
    # answers to selections on single objects each process keeps and reuses while what they
    # read is unchanged (api.memo); 0 keeps none
    kept_fragments: NonNegativeInt = DEFAULT_KEPT_FRAGMENTS
    # a query document answered before runs without strawberry's HTTP view (api.fastlane),
    # a cached answer is sent as the app's layers made it before (api.hit_lane)
    fast_lane: bool = True

    @field_validator("trusted_proxies")
    @classmethod
    def _proxies(cls, value: str) -> str:
        parse_networks(value)  # a bad address stops `newsgraph serve` at start
        return value

    @field_validator("client_cost_rate", "refusal_rate", "introspection_rate")
    @classmethod
    def _cost_rate(cls, value: str) -> str:
        return _check_rate(value) if value.strip() else ""

    @field_validator("submit_rate")
    @classmethod
    def _rate(cls, value: str) -> str:
        return _check_rate(value)


def _check_rate(value: str) -> str:
    """A `limits` rate, checked at start so a typo stops `newsgraph serve` there rather than at
    the first request it applies to."""
    try:
        one = len(limits.parse_many(value)) == 1
    except ValueError:
        one = False
    if not one:
        raise ValueError(
            f"{value!r} is not a rate; write one like 10/minute, 100/hour or 5 per second"
        )
    return value


class SettingsError(ValueError):
    """A `NEWSGRAPH_*` variable is not valid; the message names it."""


def load_settings() -> Settings:
    """The settings from the environment; a bad variable raises SettingsError naming it."""
    try:
        return Settings()
    except ValidationError as exc:
        problems = []
        for error in exc.errors():
            name = "NEWSGRAPH_" + "_".join(str(part) for part in error["loc"]).upper()
            message = str(error["msg"]).removeprefix("Value error, ")
            problems.append(f"{name}: {message}")
        raise SettingsError("; ".join(problems)) from None
