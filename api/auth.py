"""What each role may do: the permission check of each mutation, and the `limits` rate that
anonymous submissions are held to (docs/auth.md; counted in the store, `services.editorial`).
Who the caller is comes from `api.tokens`."""

from __future__ import annotations

import functools
import time
from datetime import timedelta
from typing import Any

import limits
import strawberry
from strawberry.exceptions import StrawberryGraphQLError
from strawberry.permission import BasePermission

from api.tokens import ANONYMOUS, Actor, Role


def requires(*roles: Role) -> type[BasePermission]:
    """A strawberry permission class: allowed when info.context.actor.can(*roles); its message
    names the operation's field and the roles allowed, e.g. "approveSubmission needs the editor
    or admin role; you are anonymous (reader)"."""
    return _permission(frozenset(roles) | {Role.ADMIN})


@functools.cache
def _permission(roles: frozenset[Role]) -> type[BasePermission]:
    # One class per set of roles: strawberry names a permission's schema directive after its
    # class, and two classes of one name would clash in the schema.
    allowed = [role for role in Role if role in roles]
    names = [str(role) for role in allowed]
    text = names[0] if len(names) == 1 else f"{', '.join(names[:-1])} or {names[-1]}"

    def has_permission(
        self: BasePermission, source: Any, info: strawberry.Info, **kwargs: Any
    ) -> bool:
        actor: Actor = info.context.actor
        if actor.can(*allowed):
            return True
        # Raised here rather than through `message`: one permission instance serves every
        # request of its field, and the message names this request's actor.
        raise StrawberryGraphQLError(
            f"{info.field_name} needs the {text} role; you are {actor}",
            extensions={"code": "UNAUTHENTICATED" if actor == ANONYMOUS else "FORBIDDEN"},
        )

    name = "Requires" + "Or".join(role.value.title() for role in allowed)
    return type(
        name,
        (BasePermission,),
        {
            "has_permission": has_permission,
            "__doc__": f"Allowed to the {text} role.",
            "__module__": __name__,
            "__qualname__": name,
        },
    )


class RateLimiter:
    """At most `rate` hits per client in any moving window (`limits`' moving window, kept in
    this process's memory; the library expires idle clients)."""

    def __init__(self, rate: str) -> None:
        try:
            items = limits.parse_many(rate)
        except ValueError:
            items = []
        if len(items) != 1:
            raise ValueError(
                f"rate limit {rate!r}: write one rate like 10/minute, 100/hour or 5 per second"
            )
        self.rate = rate
        self._item = items[0]
        self._limiter = limits.strategies.MovingWindowRateLimiter(limits.storage.MemoryStorage())

    @property
    def amount(self) -> int:
        """The hits allowed in each window."""
        return int(self._item.amount)

    @property
    def window(self) -> timedelta:
        """The window's length."""
        return timedelta(seconds=self._item.get_expiry())

    def hit(self, client: str) -> bool:
        """True if `client` may go ahead (the hit is counted); False once it is over the rate."""
        return self._limiter.hit(self._item, client)

    def free_in(self, client: str) -> float:
        """Seconds until `client`'s window allows one more hit (0: it does now): when the
        oldest hit of a full window leaves it."""
        stats = self._limiter.get_window_stats(self._item, client)
        if stats.remaining > 0:
            return 0.0
        return max(0.0, stats.reset_time - time.time())
