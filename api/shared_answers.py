"""Answers the workers of one `newsgraph serve --workers` share: the response cache's second
level (api.response_cache).

Each worker keeps its answers in its own memory, and the connections move between the workers
(newsgraph.balance): without a shared level every page was made once per worker, and a
Zipf-drawn site's traffic missed twice as often as one cache would (docs/benchmarks.md, issue
17). Here a worker puts each answer it made and kept, with what it read and the change log
entry its reads include, and looks here before it makes a page its own memory lacks. What it
finds is checked exactly as its own kept answers are (`ResponseCache._current`: no entry after
the answer's own touched anything it read, by this worker's reading of the change log), so
an answer another worker made is served only if it is the answer this worker would make now:
the workers need not tell each other what to drop.

The store is LMDB (py-lmdb) in the server's private runtime directory, in shared memory where
the system has it (`newsgraph.serving`): memory-mapped, so a look-up copies one answer and
takes no lock; one writer at a time, a put holding the lock for microseconds; no sync to disk
(the answers are made again after a restart). Bounded: past its size (looked at every
sixteenth of it written), everything in it is dropped at once and it fills again. Nothing
here fails a request: an error is logged once and the answer made or not shared. An answer
is kept as `marshal` bytes of the plain tuple the local LRU keeps: only this server's own
workers write the directory (0700).
"""

from __future__ import annotations

import logging
import marshal
from typing import Any

import lmdb

log = logging.getLogger(__name__)

# The answers the workers share take up to this many times the bytes each worker's own response
# cache keeps: the workers' answers together, and room for the stale ones a write leaves here
# until they are asked again or it fills.
SIZE = 2

# (status, headers, body, what it read or None for wide, the change log entry its reads include)
Kept = tuple[int, tuple[tuple[bytes, bytes], ...], bytes, tuple[str, ...] | None, int]


class SharedAnswers:
    """The answers kept in the directory `path`, about `max_bytes` of them at most. Nothing
    here ever fails a request: an answer it cannot keep or read is made again."""

    def __init__(self, path: str, max_bytes: int) -> None:
        self.path = path
        self.max_bytes = max(max_bytes, 1 << 20)
        # The map is four times the bytes kept: LMDB reuses the pages an emptying freed only
        # from a later write on, and a map that fills cannot commit even the emptying. A
        # sparse file: only the pages written take memory. Written with write(), not through
        # the map: a full /dev/shm is then an error here, not a SIGBUS. No sync: nothing here
        # outlives the server. No readahead: look-ups are random.
        self._env = lmdb.open(
            path,
            map_size=4 * self.max_bytes,
            sync=False,
            metasync=False,
            writemap=False,
            readahead=False,
            meminit=False,
            max_readers=512,
        )
        self._db = self._env.open_db()
        self.fulls = 0  # how many times it was emptied
        self._largest = self.max_bytes // 8  # an answer larger is not kept here
        self._put_since = 0  # bytes put since the size was last looked at
        self._failed = False  # an error was logged (once: it would repeat for every answer)

    @classmethod
    def beside(cls, path: str, cache_bytes: int) -> SharedAnswers:
        """The level shared by workers whose own caches keep `cache_bytes` each."""
        return cls(path, SIZE * cache_bytes)

    def get(self, key: str) -> Kept | None:
        try:
            with self._env.begin(buffers=True) as txn:
                raw: Any = txn.get(key.encode())
                if raw is None:
                    return None
                kept: Kept = marshal.loads(raw)
            return kept
        except (lmdb.Error, ValueError, EOFError, TypeError):
            self._log("reading")
            return None

    def put(self, key: str, kept: Kept) -> None:
        data = marshal.dumps(kept)
        if len(data) > self._largest:
            return
        # Past its size, everything goes at once (the workers' own memories keep their
        # answers; this level fills again from their next pages). The size is looked at
        # every sixteenth of it put.
        self._put_since += len(data)
        if self._put_since >= self.max_bytes // 16:
            self._put_since = 0
            if self._used() > self.max_bytes:
                self._empty()
        try:
            with self._env.begin(write=True) as txn:
                txn.put(key.encode(), data)
        except lmdb.MapFullError:
            self._empty()
        except lmdb.Error:
            self._log("writing")

    def _used(self) -> int:
        try:
            with self._env.begin() as txn:
                stat = txn.stat(self._db)
        except lmdb.Error:
            return 0
        pages = stat["branch_pages"] + stat["leaf_pages"] + stat["overflow_pages"]
        return int(pages * stat["psize"])

    def _empty(self) -> None:
        self.fulls += 1
        try:
            self._env.reader_check()  # readers of workers that died hold nothing any more
            with self._env.begin(write=True) as txn:
                txn.drop(self._db, delete=False)
        except lmdb.Error:
            self._log("emptying")

    def _log(self, doing: str) -> None:
        if not self._failed:
            self._failed = True
            log.exception("the shared answers in %s failed %s (logged once)", self.path, doing)

    def close(self) -> None:
        self._env.close()
