"""The Neo4j store (see `graph.neo4j.store`); all of its Cypher is in `graph.neo4j.queries`."""

from graph.neo4j.store import Capabilities, Neo4jStore, is_uri

__all__ = ["Capabilities", "Neo4jStore", "is_uri"]
