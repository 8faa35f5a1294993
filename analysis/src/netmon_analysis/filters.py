"""Which tests to load: schedule, time range of the test start, src, dst, test."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Iterable, Union

import pandas as pd

TimeLike = Union[str, datetime, date, pd.Timestamp, None]
Names = Union[str, Iterable[str], None]


def to_utc(value: TimeLike, name: str = "time") -> datetime | None:
    """A time from an ISO 8601 string, a datetime or a pandas Timestamp; naive means UTC."""
    if value is None:
        return None
    try:
        stamp = pd.Timestamp(value)
    except (ValueError, TypeError) as err:
        raise ValueError(f"{name}: {value!r} is not a time (ISO 8601, e.g. 2026-11-26T08:00:00Z)") from err
    if stamp is pd.NaT:
        raise ValueError(f"{name}: {value!r} is not a time")
    if stamp.tzinfo is None:
        stamp = stamp.tz_localize("UTC")
    return stamp.tz_convert("UTC").to_pydatetime()


def _names(value: Names) -> frozenset[str] | None:
    if value is None:
        return None
    if isinstance(value, str):
        return frozenset([value])
    names = frozenset(value)
    return names or None


@dataclass(frozen=True)
class Filter:
    """Selects tests. Each of src, dst, test and schedule is a name or a collection of names.

    ``since`` is inclusive and ``until`` exclusive, both on the test's start time.
    """

    schedule: frozenset[str] | None = None
    since: datetime | None = None
    until: datetime | None = None
    src: frozenset[str] | None = None
    dst: frozenset[str] | None = None
    test: frozenset[str] | None = None

    @classmethod
    def of(
        cls,
        schedule: Names = None,
        since: TimeLike = None,
        until: TimeLike = None,
        src: Names = None,
        dst: Names = None,
        test: Names = None,
    ) -> "Filter":
        since_t = to_utc(since, "since")
        until_t = to_utc(until, "until")
        if since_t is not None and until_t is not None and since_t >= until_t:
            raise ValueError(f"since ({since_t.isoformat()}) must be before until ({until_t.isoformat()})")
        return cls(_names(schedule), since_t, until_t, _names(src), _names(dst), _names(test))

    def wants_schedule(self, schedule: str) -> bool:
        return self.schedule is None or schedule in self.schedule

    def wants_pair(self, src: str, dst: str) -> bool:
        return (self.src is None or src in self.src) and (self.dst is None or dst in self.dst)

    def wants_test(self, test: str) -> bool:
        return self.test is None or test in self.test

    def wants_time(self, when: datetime | None) -> bool:
        if when is None:
            return self.since is None and self.until is None
        if self.since is not None and when < self.since:
            return False
        if self.until is not None and when >= self.until:
            return False
        return True

    def describe(self) -> str:
        """The filter in words, for messages."""
        parts = []
        for name in ("schedule", "src", "dst", "test"):
            values = getattr(self, name)
            if values:
                parts.append(f"{name} {', '.join(sorted(values))}")
        if self.since is not None:
            parts.append(f"since {self.since.isoformat()}")
        if self.until is not None:
            parts.append(f"until {self.until.isoformat()}")
        return "; ".join(parts) if parts else "no filter"
