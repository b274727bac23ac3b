"""The embedded store (see `graph.embedded.store`): the graph in memory on networkx, made
durable in one SQLite file (`graph.embedded.fileformat`)."""

from graph.embedded.store import EmbeddedStore

__all__ = ["EmbeddedStore"]
