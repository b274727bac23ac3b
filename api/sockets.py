"""The count of open WebSockets per client, held to `NEWSGRAPH_WS_MAX_SOCKETS_PER_CLIENT`.

A server of one process counts in its memory (`LocalSockets`). The reader workers of
`newsgraph serve --workers N` share one count (`SharedSockets`), so a client holds at most the
cap in all, not N times it: a small SQLite file in the server's private directory, each row
the sockets one process holds for one client. SQLite's lock makes each check-and-take atomic
across the processes, on both stores (on Neo4j there is no writer process to count through);
a row of a process that is gone (a worker killed and started again) is dropped at the next
take, so its sockets, closed with it, stop counting. docs/security.md.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import threading
from typing import Protocol

# How long a take waits for another process's (milliseconds): each holds the lock for
# microseconds.
BUSY_TIMEOUT_MS = 5000


class SocketCount(Protocol):
    """Open WebSockets by client key (`api.tokens.client_key`)."""

    # True when a call answers from this process's memory; False when it may wait for a lock
    # another process holds (then the app calls it off the event loop).
    in_memory: bool

    def take(self, client: str, cap: int) -> bool:
        """Count one more socket for `client` and return True, unless it holds `cap` already
        (then count nothing and return False)."""

    def give_back(self, client: str) -> None:
        """One socket of `client` (taken) closed."""


class LocalSockets:
    """The count of one process, in its memory."""

    in_memory = True

    def __init__(self) -> None:
        self._held: dict[str, int] = {}

    def take(self, client: str, cap: int) -> bool:
        held = self._held.get(client, 0)
        if held >= cap:
            return False
        self._held[client] = held + 1
        return True

    def give_back(self, client: str) -> None:
        left = self._held.get(client, 0) - 1
        if left > 0:
            self._held[client] = left
        else:
            self._held.pop(client, None)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class SharedSockets:
    """The count shared by the processes of one server, in the SQLite file `path` (made by
    the first to use it; it holds no data worth keeping: a server starts with a new one).
    Calls block for a lock held microseconds by another process: call them off the event
    loop. Thread-safe."""

    in_memory = False

    def __init__(self, path: str) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._db: sqlite3.Connection | None = None

    def _open(self) -> sqlite3.Connection:
        if self._db is None:
            db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
            db.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
            db.execute("PRAGMA journal_mode = WAL")
            db.execute("PRAGMA synchronous = OFF")  # counts of live sockets: nothing to keep
            db.execute(
                "CREATE TABLE IF NOT EXISTS sockets (pid INTEGER NOT NULL, client TEXT NOT NULL,"
                " held INTEGER NOT NULL, PRIMARY KEY (pid, client)) WITHOUT ROWID"
            )
            # a row left by an earlier process of this pid counts nothing of ours
            db.execute("DELETE FROM sockets WHERE pid = ?", (os.getpid(),))
            self._db = db
        return self._db

    def take(self, client: str, cap: int) -> bool:
        me = os.getpid()
        with self._lock:
            db = self._open()
            db.execute("BEGIN IMMEDIATE")
            try:
                pids = [p for (p,) in db.execute("SELECT DISTINCT pid FROM sockets")]
                for gone in [p for p in pids if p != me and not _alive(p)]:
                    db.execute("DELETE FROM sockets WHERE pid = ?", (gone,))
                (held,) = db.execute(
                    "SELECT COALESCE(SUM(held), 0) FROM sockets WHERE client = ?", (client,)
                ).fetchone()
                if held >= cap:
                    db.execute("COMMIT")
                    return False
                db.execute(
                    "INSERT INTO sockets (pid, client, held) VALUES (?, ?, 1) "
                    "ON CONFLICT (pid, client) DO UPDATE SET held = held + 1",
                    (me, client),
                )
                db.execute("COMMIT")
                return True
            except BaseException:
                with contextlib.suppress(sqlite3.Error):
                    db.execute("ROLLBACK")
                raise

    def give_back(self, client: str) -> None:
        me = os.getpid()
        with self._lock:
            db = self._open()
            db.execute("BEGIN IMMEDIATE")
            try:
                db.execute(
                    "UPDATE sockets SET held = held - 1 WHERE pid = ? AND client = ?", (me, client)
                )
                db.execute("DELETE FROM sockets WHERE pid = ? AND held <= 0", (me,))
                db.execute("COMMIT")
            except BaseException:
                with contextlib.suppress(sqlite3.Error):
                    db.execute("ROLLBACK")
                raise

    def held(self, client: str) -> int:
        """The sockets `client` holds in all the processes (for tests and metrics)."""
        with self._lock:
            (count,) = (
                self._open()
                .execute("SELECT COALESCE(SUM(held), 0) FROM sockets WHERE client = ?", (client,))
                .fetchone()
            )
            return int(count)

    def close(self) -> None:
        with self._lock:
            if self._db is not None:
                self._db.close()
                self._db = None
