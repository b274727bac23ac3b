"""The wiring of the entry points: the store a spec names, and what `api.create_app` is given,
both built from the settings (`newsgraph.settings`). The only module of `newsgraph` that names a
store adapter."""

from __future__ import annotations

from pathlib import Path
from typing import NamedTuple

from api.config import AppConfig
from api.tokens import Tokens, parse_networks
from graph.embedded import EmbeddedStore, fileformat
from graph.neo4j import Neo4jStore, is_uri
from graph.store import GraphStore, StoreError
from newsgraph.settings import Settings, load_settings


def make_store(spec: str, settings: Settings | None = None) -> GraphStore:
    """The store `spec` names: a Neo4j URI is the Neo4j store (user, password and database from
    `settings`, by default the environment); anything else is the embedded store's directory.
    Nothing is opened until the caller runs `setup()`."""
    if is_uri(spec):
        config = settings if settings is not None else load_settings()
        password = config.neo4j_password
        return Neo4jStore(
            spec,
            user=config.neo4j_user,
            password=password.get_secret_value() if password is not None else None,
            database=config.neo4j_database or None,
            pool_size=config.neo4j_pool_size,
            read_timeout=config.neo4j_read_timeout,
            write_timeout=config.neo4j_write_timeout,
        )
    if "://" in spec:
        scheme = spec.partition("://")[0]
        raise StoreError(
            f"store {scheme}://...: unknown scheme; use a directory path (the embedded store) or "
            "a bolt://, bolt+s://, neo4j:// or neo4j+s:// URI (Neo4j)"
        )
    return EmbeddedStore(Path(spec))


def reads_only(spec: str) -> GraphStore | None:
    """The store `spec` names opened only to read, following what writers commit (the
    embedded store); None for Neo4j, whose readers need nothing of the kind."""
    if is_uri(spec) or "://" in spec:
        return None
    return EmbeddedStore(Path(spec), read_only=True)


def prepare(spec: str) -> None:
    """Make the embedded store `spec` names ready for readers before a writer has read it:
    created, or upgraded to this format (readers refuse an older one). Nothing for Neo4j."""
    if reads_only(spec) is None:
        return
    directory = Path(spec)
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise StoreError(f"cannot create the data directory {directory}: {exc}") from exc
    fileformat.connect(directory).close()


def make_tokens(settings: Settings) -> Tokens:
    """The API tokens of NEWSGRAPH_TOKENS and NEWSGRAPH_TOKENS_FILE; a bad entry raises
    `api.tokens.TokenConfigError` naming the variable or file and the entry."""
    given = settings.tokens
    return Tokens.configured(
        given.get_secret_value() if given is not None else None, settings.tokens_file
    )


class AppArguments(NamedTuple):
    """What `api.app.create_app` takes besides the store."""

    tokens: Tokens
    config: AppConfig


# The audit record's file: in the embedded store's directory, or the working directory.
AUDIT_FILE = "audit.sqlite3"
AUDIT_FILE_NEO4J = "newsgraph-audit.sqlite3"


def audit_file(settings: Settings, spec: str | None) -> str | None:
    """The audit record's file for a server of the store `spec` (None: none is kept; so for
    an app without a store spec, as tests start it, unless the setting names one)."""
    if settings.audit_file is not None:
        return settings.audit_file or None
    if spec is None:
        return None
    if reads_only(spec) is None:
        return AUDIT_FILE_NEO4J
    return str(Path(spec) / AUDIT_FILE)


def app_arguments(settings: Settings, spec: str | None = None) -> AppArguments:
    """The app's tokens and options from `settings`, for `newsgraph serve` (of the store
    `spec`) and for tests that start the app."""
    config = AppConfig(
        submit_rate=settings.submit_rate,
        max_body_bytes=settings.max_body_bytes,
        max_body_bytes_with_token=settings.max_body_bytes_with_token,
        max_string_length=settings.max_string_length,
        max_variables=settings.max_variables,
        max_cached_query_length=settings.max_cached_query_length,
        introspection=settings.introspection,
        graphiql=settings.graphiql,
        max_cost=settings.max_cost,
        client_cost_rate=settings.client_cost_rate,
        heavy_seconds=settings.heavy_seconds,
        heavy_threads=settings.heavy_threads,
        ws_max_sockets_per_client=settings.ws_max_sockets_per_client,
        ws_max_operations=settings.ws_max_operations,
        trusted_proxies=tuple(str(n) for n in parse_networks(settings.trusted_proxies)),
        max_pending_per_event=settings.max_pending_per_event,
        max_pending_per_client=settings.max_pending_per_client,
        submission_ttl_days=settings.submission_ttl_days,
        refusal_rate=settings.refusal_rate,
        introspection_rate=settings.introspection_rate,
        slowdown_max_delay=settings.slowdown_max_delay,
        analytics_time_rate=settings.analytics_time_rate,
        analytics_time_burst=settings.analytics_time_burst,
        body_rate=settings.body_rate,
        body_burst=settings.body_burst,
        cors_origins=tuple(o.strip() for o in settings.cors_origins.split(",") if o.strip()),
        cache_max_age=settings.cache_max_age,
        gzip_minimum_size=settings.gzip_minimum_size,
        persisted_queries=settings.persisted_queries,
        response_cache_bytes=settings.response_cache_bytes,
        kept_fragments=settings.kept_fragments,
        fast_lane=settings.fast_lane,
        audit_file=audit_file(settings, spec),
        audit_days=settings.audit_days,
        audit_max_refusals=settings.audit_max_refusals,
    )
    return AppArguments(make_tokens(settings), config)
