"""What bounds an analytics answer: the error of a request no function can answer, the
`Bound` a result reports when it was cut short, and the page every list is cut into."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from graph.errors import DomainError

MAX_ITEMS = 100  # the most items an analytics list returns at once


class AnalyticsError(DomainError):
    """A request an analytics function cannot answer; the message says why (shown to users)."""


@dataclass(frozen=True, slots=True)
class Bound:
    """A bound that was hit: its name, its value and what it cut short."""

    name: str
    limit: float
    message: str


def page_of(items: Sequence[Any], first: int, offset: int) -> tuple[list[Any], bool]:
    """Items `offset`.. `offset + first` and whether more follow; `first` is 1..MAX_ITEMS."""
    if not 1 <= first <= MAX_ITEMS:
        raise AnalyticsError(f"first must be between 1 and {MAX_ITEMS}, got {first}")
    if offset < 0:
        raise AnalyticsError("offset must not be negative")
    return list(items[offset : offset + first]), len(items) > offset + first
