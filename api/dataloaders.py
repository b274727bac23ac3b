"""Per-request loaders over the store port: every field of a page batches into a few calls.

Built fresh for each request's context (`api.context.RequestContext`; a module-level loader
would cache forever). Named `dataloaders` so nobody confuses them with the top-level `loaders/`.

A store that answers reads from memory (`reads_from_memory`, the embedded store) gets
immediate loaders instead of DataLoaders: a read costs microseconds there, less than the task
and future a batched load costs, so `load` answers at once (memoised for the request) and an
`await` of it never suspends. Resolvers written as coroutines then run to completion without
the event loop (`at_once`, below), and the page executes synchronously.

A store that reads from a server gets DataLoaders, batched per level, that read in worker
threads; `Primed` in front of each answers at once what was read ahead (an event page's
neighbourhood, `api.prefetch`), so the fields of such a page run to completion at once too, and
only a field whose data was not read ahead waits for its batch.
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
from itertools import repeat
from typing import Any, Generic, ParamSpec, Protocol, TypeVar

from api.memo import Tape

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
    """A loader answering at once from a store that reads from memory, memoised per request.
    With a `tape`, each value it gives is noted there under the loader's `kind` while a kept
    fragment is being made (`api.memo`)."""

    __slots__ = ("_fetch", "_memo", "_missing", "_tape", "kind")

    def __init__(
        self,
        fetch: Callable[[list[K]], Mapping[K, V]],
        missing: Callable[[], V],
        tape: Tape | None = None,
        kind: Hashable = None,
    ) -> None:
        self._fetch = fetch
        self._memo: dict[K, V] = {}
        self._missing = missing
        self._tape = tape
        self.kind = kind

    def get(self, key: K) -> V:
        memo = self._memo
        if key in memo:
            value = memo[key]
        else:
            value = memo[key] = self._fetch([key]).get(key, self._missing())
        tape = self._tape
        if tape is not None and tape.entries is not None:
            tape.entries.append((self.kind, key, value))
        return value

    def get_many(self, keys: Sequence[K]) -> list[V]:
        memo = self._memo
        wanted = [k for k in keys if k not in memo]
        if wanted:
            found = self._fetch(wanted)
            for key in wanted:
                memo[key] = found.get(key, self._missing())
        values = [memo[k] for k in keys]
        tape = self._tape
        if tape is not None and tape.entries is not None:
            tape.entries.extend(zip(repeat(self.kind), keys, values))
        return values

    def load(self, key: K) -> Ready[V]:
        return Ready(self.get(key))

    def load_many(self, keys: Sequence[K]) -> Ready[list[V]]:
        return Ready(self.get_many(keys))


class Primed(Generic[K, V]):
    """A DataLoader with values read ahead: `load` of a key given to `prime` answers at once
    (an awaitable that never suspends); any other key goes to the DataLoader's batch."""

    __slots__ = ("_known", "_loader")

    def __init__(self, loader: Loader[K, V]) -> None:
        self._loader = loader
        self._known: dict[K, V] = {}

    def prime(self, key: K, value: V) -> None:
        self._known.setdefault(key, value)

    def prime_many(self, values: Mapping[K, V]) -> None:
        for key, value in values.items():
            self._known.setdefault(key, value)

    def load(self, key: K) -> Awaitable[V]:
        known = self._known
        if key in known:
            return Ready(known[key])
        return self._loader.load(key)

    def load_many(self, keys: Sequence[K]) -> Awaitable[list[V]]:
        known = self._known
        if all(k in known for k in keys):
            return Ready([known[k] for k in keys])
        return self._loader.load_many(keys)


class _Continued(Generic[T]):
    """The rest of a coroutine that `at_once` began and that suspended on `pending` (a batch
    not read yet): awaiting it waits for that and runs the coroutine on."""

    __slots__ = ("_pending", "_work")

    def __init__(self, work: Coroutine[Any, Any, T], pending: Any) -> None:
        self._work = work
        self._pending = pending

    def __await__(self) -> Generator[Any, Any, T]:
        work, pending = self._work, self._pending
        while True:
            if hasattr(pending, "_asyncio_future_blocking"):
                # an asyncio future: handed to the awaiting task, as `await` hands it
                pending._asyncio_future_blocking = True
            try:
                value = yield pending
            except BaseException as exc:  # thrown in by the awaiting task: cancelled
                try:
                    pending = work.throw(exc)
                except StopIteration as done:
                    return done.value  # type: ignore[no-any-return]
                continue
            try:
                pending = work.send(value)
            except StopIteration as done:
                return done.value  # type: ignore[no-any-return]


def at_once(resolver: Callable[P, Coroutine[Any, Any, T]]) -> Callable[P, T]:
    """A resolver written as a coroutine, begun at once: when what it loads is at hand
    (immediate loaders, or values `Primed` ahead) it runs to completion and GraphQL sees a plain
    value; when it waits for a batch, GraphQL gets an awaitable of the rest. With immediate
    loaders it never waits (a store that reads from memory). Strawberry takes the wrapper for a
    synchronous resolver with the coroutine's signature and annotations."""

    @functools.wraps(resolver)
    def resolve(*args: P.args, **kwargs: P.kwargs) -> T:
        work = resolver(*args, **kwargs)
        try:
            pending = work.send(None)
        except StopIteration as done:
            return done.value  # type: ignore[no-any-return]
        if hasattr(pending, "_asyncio_future_blocking"):
            # No task took the future it waits for (as a task would, it is released here), so
            # that another resolver may await the same one (a DataLoader's cached load).
            pending._asyncio_future_blocking = False
        info = kwargs.get("info")
        if info is None or not getattr(info.context, "immediate", False):  # type: ignore[attr-defined]
            return _Continued(work, pending)  # type: ignore[return-value]  # awaited by GraphQL
        work.close()
        raise RuntimeError(f"{resolver.__qualname__} suspended while reading from memory")

    return resolve
