"""The dates the graph holds: 1000-01-01 to 9998-12-31, in UTC.

Records with a date or timestamp outside it are rejected (`loaders.records`, naming the field),
and so are query arguments (`api.dates`, naming the argument). The range leaves a year on each
side of Python's own (years 1 to 9999), so that moving a timestamp to UTC, or a day to the start
or end of its week or month, never leaves it: such a step raised OverflowError, a crash, not a
refusal. The extractor's records (2015 to 2025) are far inside it.
"""

from __future__ import annotations

from datetime import date, datetime

EARLIEST = date(1000, 1, 1)
LATEST = date(9998, 12, 31)
RANGE = f"{EARLIEST.isoformat()} to {LATEST.isoformat()}"


def out_of_range(value: date, given: str | None = None) -> str | None:
    """None for a date (or a datetime's date, in its own zone) in the range, else why not, in
    words showing `given` (by default the ISO form of `value`)."""
    day = value.date() if isinstance(value, datetime) else value
    if EARLIEST <= day <= LATEST:
        return None
    return f"{given or value.isoformat()} is outside the supported dates ({RANGE})"
