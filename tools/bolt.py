"""Emptying the database of a Bolt server (a test's or a benchmark's: it deletes everything)."""

from __future__ import annotations

import neo4j

# Nodes with their relationships, a bounded number per transaction (a large graph deleted in
# one transaction would hold all of it in the server's memory).
DELETE_SOME = "MATCH (n) WITH n LIMIT $limit DETACH DELETE n RETURN count(*) AS deleted"
DELETE_PAGE = 5000


def empty_database(session: neo4j.Session) -> None:
    """Delete every node and relationship of the session's database."""

    def delete_some(tx: neo4j.ManagedTransaction) -> int:
        deleted: int = tx.run(DELETE_SOME, limit=DELETE_PAGE).single(strict=True)["deleted"]
        return deleted

    while session.execute_write(delete_some):
        pass
