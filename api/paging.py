"""Pagination: page sizes, opaque cursors, `PageInfo` and the window a page is asked for,
forward (`first`/`after`) or backward (`last`/`before`) (Relay cursor connections)."""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass

import strawberry

from api.errors import UserError

MAX_PAGE = 100
DEFAULT_PAGE = 20


def page_size(first: int) -> int:
    if not 1 <= first <= MAX_PAGE:
        raise UserError(f"first must be between 1 and {MAX_PAGE}, got {first}")
    return first


def encode_cursor(*parts: str) -> str:
    return base64.urlsafe_b64encode("\x1f".join(parts).encode()).decode()


def decode_cursor(cursor: str, size: int, argument: str = "after") -> tuple[str, ...]:
    try:
        parts = tuple(base64.urlsafe_b64decode(cursor.encode()).decode().split("\x1f"))
    except (binascii.Error, UnicodeDecodeError, ValueError):
        parts = ()
    if len(parts) != size:
        raise UserError(f"{argument}: {cursor!r} is not a cursor this API gave out")
    return parts


def decode_offset(after: str | None) -> int:
    """The position a numbered cursor (`encode_cursor(str(n))`) stands for; 0 for none."""
    if after is None:
        return 0
    (text,) = decode_cursor(after, 1)
    if not text.isdigit():
        raise UserError(f"after: {after!r} is not a cursor this API gave out")
    return int(text)


@strawberry.type
class PageInfo:
    has_next_page: bool
    has_previous_page: bool
    start_cursor: str | None
    end_cursor: str | None


def page_info(after: str | None, cursors: list[str], has_next: bool) -> PageInfo:
    """The `PageInfo` of a page whose edges have `cursors`, asked for `after` a cursor."""
    return PageInfo(
        has_next_page=has_next,
        has_previous_page=after is not None,
        start_cursor=cursors[0] if cursors else None,
        end_cursor=cursors[-1] if cursors else None,
    )


@dataclass(frozen=True, slots=True)
class Window:
    """Which page a connection is asked for (Relay's `first`/`after` or `last`/`before`):
    `size` items read walking forward from `cursor`, or, when `backward`, walking back from it
    (the page is then turned round before it is shown)."""

    size: int
    cursor: str | None
    backward: bool


def window(first: int | None, after: str | None, last: int | None, before: str | None) -> Window:
    """The page asked for; forward by `DEFAULT_PAGE` when neither `first` nor `last` is given.
    A forward page takes `after`, a backward one `before`: mixing them is refused."""
    if first is not None and last is not None:
        raise UserError("give first (with after) or last (with before), not both")
    if last is not None or (first is None and before is not None):
        if after is not None:
            raise UserError("after pages forward: use it with first, and before with last")
        size = DEFAULT_PAGE if last is None else last
        if not 1 <= size <= MAX_PAGE:
            raise UserError(f"last must be between 1 and {MAX_PAGE}, got {size}")
        return Window(size, before, backward=True)
    if before is not None:
        raise UserError("before pages backward: use it with last, and after with first")
    return Window(page_size(DEFAULT_PAGE if first is None else first), after, backward=False)


def page_info_of(asked: Window, cursors: list[str], more: bool) -> PageInfo:
    """The `PageInfo` of a page shown with `cursors` (in order), read as `asked`; `more`:
    whether the walk found an item past the page."""
    given = asked.cursor is not None
    return PageInfo(
        has_next_page=given if asked.backward else more,
        has_previous_page=more if asked.backward else given,
        start_cursor=cursors[0] if cursors else None,
        end_cursor=cursors[-1] if cursors else None,
    )
