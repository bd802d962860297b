"""ISO weeks: ``2026-W47`` names the Monday-to-Monday UTC window a weekly run trains on."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta

_WEEK = re.compile(r"^(\d{4})-W(\d{2})$")


def parse_week(week: str) -> tuple[datetime, datetime]:
    """``[start, end)`` of an ISO week in UTC; a clear error for anything but ``YYYY-Www``."""
    match = _WEEK.match(week)
    if match is None:
        raise ValueError(f"week: expected an ISO week like 2026-W47, got {week!r}")
    try:
        monday = date.fromisocalendar(int(match[1]), int(match[2]), 1)
    except ValueError as error:
        raise ValueError(f"week: {week!r} is not a week of that year ({error})") from None
    start = datetime(monday.year, monday.month, monday.day, tzinfo=UTC)
    return start, start + timedelta(days=7)


def week_of(moment: datetime | date) -> str:
    """The ISO week a moment falls in."""
    year, number, _ = moment.isocalendar()
    return f"{year}-W{number:02d}"


def last_complete_week(now: datetime) -> str:
    """The latest ISO week that has fully ended before ``now``."""
    return week_of(now - timedelta(days=7))


def weeks_between(first: str, last: str) -> list[str]:
    """Every ISO week from ``first`` to ``last``, both included, in order."""
    start, _ = parse_week(first)
    end, _ = parse_week(last)
    out = []
    while start <= end:
        out.append(week_of(start))
        start += timedelta(days=7)
    return out
