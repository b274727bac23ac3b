"""The audit record: who did what, when, for privileged and refused actions (docs/security.md).

Beyond the editorial log (which says what an edit changed, in the graph), the audit says who
called what: every operation of a token holder that is a mutation or reads a field kept for a
role, and every refusal of who the caller is or of what they may do (a bad or revoked token,
a role refused, a submission over its client's limits), with the client, the outcome and the
reason. Admins read it through `auditLog`.

It is kept beside the graph, not in it: a SQLite file (`NEWSGRAPH_AUDIT_FILE`) that every
process of a server appends to itself (a reader worker, which may not write the store, records
its own refusals), in a thread of its own, so that a flood of refused requests costs appends
to a local file and never a graph write, a change log entry or a moved ETag. Retention: rows
older than `days` go; refusals of callers without a valid token (anyone can make those) are
also held to `max_refusals` rows, and to `refusal_rate` per client and process (the rest are
counted, not kept), so that a flood cannot push out the records of token holders.
"""

from __future__ import annotations

import contextlib
import logging
import queue
import sqlite3
import threading
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import limits

from graph.model import timestamp

log = logging.getLogger(__name__)

# Records waiting for the writing thread; past this, new ones are dropped (and counted).
QUEUE = 10_000
# Records written per transaction.
BATCH = 500
# The longest `action` and `reason` kept (characters).
MAX_TEXT = 500

_SCHEMA = """
CREATE TABLE IF NOT EXISTS audit (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    at TEXT NOT NULL,
    actor TEXT NOT NULL,
    role TEXT NOT NULL,
    client TEXT NOT NULL,
    action TEXT NOT NULL,
    outcome TEXT NOT NULL,
    reason TEXT NOT NULL,
    process TEXT NOT NULL,
    privileged INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS audit_at ON audit (at);
CREATE INDEX IF NOT EXISTS audit_kind ON audit (privileged, id);
"""

OUTCOMES = ("ok", "refused", "failed")


@dataclass(frozen=True, slots=True)
class AuditRecord:
    """One audited action. `actor` is a token's name ("anonymous" without one, "unknown" for a
    token refused), `role` its role; `client` the key rate limits count by (`token:<name>` or
    `address:<address or /64>`); `action` what was asked ("mutation approveSubmission(id:
    ...)", "authenticate"); `outcome` one of `OUTCOMES`, `reason` why, for a refusal or a
    failure; `process` the server's process that answered (reader, writer, analyst)."""

    at: str
    actor: str
    role: str
    client: str
    action: str
    outcome: str
    reason: str = ""
    process: str = ""

    @property
    def privileged(self) -> bool:
        """Whether a token holder did it (kept by age only)."""
        return self.actor not in ("anonymous", "unknown")


def now() -> str:
    return timestamp(datetime.now(UTC))


class AuditLog:
    """The audit file `path`: records appended by a thread of this process, read by admins.
    Thread-safe; `record` never waits for the disk."""

    def __init__(
        self,
        path: str,
        days: int = 90,
        max_refusals: int = 100_000,
        refusal_rate: str = "30/minute",
    ) -> None:
        self.path = path
        self.days = days
        self.max_refusals = max_refusals
        self.dropped = 0  # records not kept: the queue was full, or a client over its rate
        self._queue: queue.Queue[AuditRecord | None] = queue.Queue(QUEUE)
        self._thread: threading.Thread | None = None
        self._start = threading.Lock()
        self._rate = limits.parse(refusal_rate)
        self._limiter = limits.strategies.MovingWindowRateLimiter(limits.storage.MemoryStorage())

    # -- writing -----------------------------------------------------------------------------

    def record(self, entry: AuditRecord) -> None:
        """Keep `entry` (written within moments, by this process's audit thread)."""
        if not entry.privileged and not self._limiter.hit(self._rate, entry.client):
            self._drop()
            return
        entry = _clipped(entry)
        self._ensure_thread()
        try:
            self._queue.put_nowait(entry)
        except queue.Full:
            self._drop()

    def _drop(self) -> None:
        self.dropped += 1
        if self.dropped == 1 or self.dropped % 10_000 == 0:
            log.warning("audit records dropped (a flood of refusals): %d so far", self.dropped)

    def flush(self) -> None:
        """Wait until every record given so far is written."""
        if self._thread is not None:
            self._queue.join()

    def close(self) -> None:
        """Write what is waiting and stop the thread."""
        with self._start:
            thread, self._thread = self._thread, None
        if thread is not None:
            self._queue.put(None)
            thread.join(timeout=30)

    def _ensure_thread(self) -> None:
        if self._thread is not None:
            return
        with self._start:
            if self._thread is None:
                self._thread = threading.Thread(target=self._write, name="audit", daemon=True)
                self._thread.start()

    def _connect(self) -> sqlite3.Connection:
        db = sqlite3.connect(self.path, isolation_level=None, timeout=30.0)
        db.execute("PRAGMA journal_mode = WAL")
        db.executescript(_SCHEMA)
        return db

    def _write(self) -> None:
        db: sqlite3.Connection | None = None
        while True:
            first = self._queue.get()
            batch = [first]
            while len(batch) < BATCH:
                try:
                    batch.append(self._queue.get_nowait())
                except queue.Empty:
                    break
            entries = [e for e in batch if e is not None]
            try:
                if entries:
                    db = db or self._connect()
                    self._append(db, entries)
            except Exception:
                log.exception("writing %d audit records to %s failed", len(entries), self.path)
            finally:
                for _ in batch:
                    self._queue.task_done()
            if None in batch:
                if db is not None:
                    db.close()
                return

    def _append(self, db: sqlite3.Connection, entries: list[AuditRecord]) -> None:
        cutoff = timestamp(datetime.now(UTC) - timedelta(days=self.days))
        db.execute("BEGIN IMMEDIATE")
        try:
            db.executemany(
                "INSERT INTO audit (at, actor, role, client, action, outcome, reason, process,"
                " privileged) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [
                    (
                        e.at,
                        e.actor,
                        e.role,
                        e.client,
                        e.action,
                        e.outcome,
                        e.reason,
                        e.process,
                        int(e.privileged),
                    )
                    for e in entries
                ],
            )
            db.execute("DELETE FROM audit WHERE at < ?", (cutoff,))
            db.execute(
                "DELETE FROM audit WHERE privileged = 0 AND id <= (SELECT id FROM audit "
                "WHERE privileged = 0 ORDER BY id DESC LIMIT 1 OFFSET ?)",
                (self.max_refusals,),
            )
            db.execute("COMMIT")
        except BaseException:
            with contextlib.suppress(sqlite3.Error):
                db.execute("ROLLBACK")
            raise

    # -- reading -----------------------------------------------------------------------------

    def read(
        self,
        first: int,
        before: int | None = None,
        actor: str | None = None,
        outcome: str | None = None,
    ) -> list[tuple[int, AuditRecord]]:
        """Up to `first` records, newest first, with their ids: those before the id `before`,
        of `actor`, with `outcome`, when given. Blocks on the file: call it off the event
        loop."""
        tests: list[str] = ["1 = 1"]
        params: list[object] = []
        if before is not None:
            tests.append("id < ?")
            params.append(before)
        if actor is not None:
            tests.append("actor = ?")
            params.append(actor)
        if outcome is not None:
            tests.append("outcome = ?")
            params.append(outcome)
        db = self._connect()
        try:
            rows = db.execute(
                "SELECT id, at, actor, role, client, action, outcome, reason, process FROM audit "
                f"WHERE {' AND '.join(tests)} ORDER BY id DESC LIMIT ?",
                (*params, first),
            ).fetchall()
        finally:
            db.close()
        return [(row[0], AuditRecord(*row[1:])) for row in rows]


def _clipped(entry: AuditRecord) -> AuditRecord:
    if len(entry.action) <= MAX_TEXT and len(entry.reason) <= MAX_TEXT:
        return entry
    return AuditRecord(
        entry.at,
        entry.actor,
        entry.role,
        entry.client,
        _clip(entry.action),
        entry.outcome,
        _clip(entry.reason),
        entry.process,
    )


def _clip(text: str) -> str:
    return text if len(text) <= MAX_TEXT else text[: MAX_TEXT - 1] + "…"
