"""A doorkeeper for the caches that keep from the second asking (TinyLFU's doorkeeper; a CDN's
"cache on second hit"): whether a key was offered before. Used by the response cache
(`api.response_cache`), the kept fragments (`api.memo`) and the embedded store's decoded
relationship properties: what is asked once (a crawl, the tail) is never kept."""

from __future__ import annotations

from collections.abc import Hashable


class SeenBefore:
    """The keys offered so far, up to `limit` of them; past that all are forgotten at once."""

    __slots__ = ("_keys", "_limit")

    def __init__(self, limit: int) -> None:
        self._keys: set[Hashable] = set()
        self._limit = limit

    def again(self, key: Hashable) -> bool:
        """Whether `key` was offered before; it is remembered from now on."""
        keys = self._keys
        if key in keys:
            return True
        if len(keys) >= self._limit:
            keys.clear()
        keys.add(key)
        return False
