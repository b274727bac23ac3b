"""Pagination: page sizes, opaque cursors and `PageInfo` (Relay cursor connections)."""

from __future__ import annotations

import base64
import binascii

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


def decode_cursor(cursor: str, size: int) -> tuple[str, ...]:
    try:
        parts = tuple(base64.urlsafe_b64decode(cursor.encode()).decode().split("\x1f"))
    except (binascii.Error, UnicodeDecodeError, ValueError):
        parts = ()
    if len(parts) != size:
        raise UserError(f"after: {cursor!r} is not a cursor this API gave out")
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
