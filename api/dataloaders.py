"""Per-request loaders over the store port: every field of a page batches into a few calls.

Built fresh for each request's context (`api.context.RequestContext`; a module-level loader
would cache forever). Named `dataloaders` so nobody confuses them with the top-level `loaders/`.

A store that answers reads from memory (`reads_from_memory`, the embedded store) gets
immediate loaders instead of DataLoaders: a read costs microseconds there, less than the task
and future a batched load costs, so `load` answers at once (memoised for the request) and an
`await` of it never suspends. Resolvers written as coroutines then run to completion without
the event loop (`at_once`, below), and the page executes synchronously.
"""

from __future__ import annotations

import functools
from collections.abc import (
    Awaitable,
    Callable,
    Coroutine,
    Generator,
    Hashable,
    Mapping,
    Sequence,
)
from typing import Any, Generic, ParamSpec, Protocol, TypeVar

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")
T = TypeVar("T")
P = ParamSpec("P")
K_in = TypeVar("K_in", contravariant=True)


class Loader(Protocol[K_in, V]):
    """What resolvers use of a DataLoader."""

    def load(self, key: K_in) -> Awaitable[V]: ...

    def load_many(self, keys: Sequence[K_in]) -> Awaitable[list[V]]: ...


class Ready(Generic[V]):
    """An awaitable already holding its value: awaiting it never suspends."""

    __slots__ = ("value",)

    def __init__(self, value: V) -> None:
        self.value = value

    def __await__(self) -> Generator[Any, None, V]:
        return self.value
        yield  # a generator that returns at once


class Immediate(Generic[K, V]):
    """A loader answering at once from a store that reads from memory, memoised per request."""

    __slots__ = ("_fetch", "_memo", "_missing")

    def __init__(self, fetch: Callable[[list[K]], Mapping[K, V]], missing: Callable[[], V]) -> None:
        self._fetch = fetch
        self._memo: dict[K, V] = {}
        self._missing = missing

    def get(self, key: K) -> V:
        memo = self._memo
        if key in memo:
            return memo[key]
        value = memo[key] = self._fetch([key]).get(key, self._missing())
        return value

    def get_many(self, keys: Sequence[K]) -> list[V]:
        memo = self._memo
        wanted = [k for k in keys if k not in memo]
        if wanted:
            found = self._fetch(wanted)
            for key in wanted:
                memo[key] = found.get(key, self._missing())
        return [memo[k] for k in keys]

    def load(self, key: K) -> Ready[V]:
        return Ready(self.get(key))

    def load_many(self, keys: Sequence[K]) -> Ready[list[V]]:
        return Ready(self.get_many(keys))


def at_once(resolver: Callable[P, Coroutine[Any, Any, T]]) -> Callable[P, T]:
    """A resolver written as a coroutine, run to completion at once when the request's loaders
    are immediate (it cannot suspend then), so GraphQL sees a plain value; otherwise the
    coroutine, which GraphQL awaits. Strawberry takes the wrapper for a synchronous resolver
    with the coroutine's signature and annotations."""

    @functools.wraps(resolver)
    def resolve(*args: P.args, **kwargs: P.kwargs) -> T:
        work = resolver(*args, **kwargs)
        info = kwargs.get("info")
        if info is None or not getattr(info.context, "immediate", False):  # type: ignore[attr-defined]
            return work  # type: ignore[return-value]  # awaited by GraphQL
        try:
            work.send(None)
        except StopIteration as done:
            return done.value  # type: ignore[no-any-return]
        work.close()
        raise RuntimeError(f"{resolver.__qualname__} suspended while reading from memory")

    return resolve
