"""The embedded store (see `graph.embedded.store`): networkx in memory, one SQLite file on disk."""

from graph.embedded.store import DB_FILE, FORMAT, FREEZE_AFTER, EmbeddedStore

__all__ = ["DB_FILE", "FORMAT", "FREEZE_AFTER", "EmbeddedStore"]
