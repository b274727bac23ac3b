"""`graph.model.timestamp`: the stored text of a moment, whichever way it is made."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from graph.model import timestamp


@pytest.mark.parametrize(
    ("moment", "text"),
    [
        (datetime(2026, 5, 30, 4, 15, 39, 113999, tzinfo=UTC), "2026-05-30T04:15:39.113Z"),
        (datetime(2026, 5, 30, 4, 15, 39, tzinfo=UTC), "2026-05-30T04:15:39.000Z"),
        (
            datetime(2026, 1, 1, 1, 0, 0, 999, tzinfo=timezone(timedelta(hours=2))),
            "2025-12-31T23:00:00.000Z",
        ),
        (
            datetime(2023, 3, 1, 0, 30, tzinfo=timezone(-timedelta(hours=5, minutes=30))),
            "2023-03-01T06:00:00.000Z",
        ),
        (datetime(1000, 1, 1, tzinfo=UTC), "1000-01-01T00:00:00.000Z"),
    ],
)
def test_timestamps_are_utc_with_milliseconds(moment: datetime, text: str) -> None:
    assert timestamp(moment) == text


def test_years_before_1000_are_written_as_strftime_writes_them() -> None:
    moment = datetime(999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC)
    expected = moment.strftime("%Y-%m-%dT%H:%M:%S.") + "999Z"
    assert timestamp(moment) == expected
