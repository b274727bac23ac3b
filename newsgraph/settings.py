"""Settings from the environment (`NEWSGRAPH_*`), overridable by command-line flags."""

from __future__ import annotations

from pathlib import Path

from pydantic_settings import BaseSettings, SettingsConfigDict

from graph.embedded import EmbeddedStore
from graph.store import GraphStore, StoreError

DEFAULT_STORE = "./newsgraph-data"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="NEWSGRAPH_", extra="ignore")

    store: str = DEFAULT_STORE


def make_store(spec: str) -> GraphStore:
    """The store `spec` names: a directory path is the embedded store there. Nothing is opened
    until the caller runs `setup()`."""
    if "://" in spec:
        raise StoreError(
            f"store {spec!r}: only the embedded store (a directory path) is available so far; "
            "the Neo4j store (bolt:// and neo4j:// URIs) is not part of this version"
        )
    return EmbeddedStore(Path(spec))
