"""`[schedule] windows`: when ltd may encode, as local-time windows like `01:00-07:00` or `sat 00:00-24:00`.

A window is `[DAYS ]HH:MM-HH:MM`; DAYS is a day name (mon..sun) or several joined by commas (`sat,sun`),
none meaning every day. A window whose end is not after its start runs past midnight (`22:00-06:00`), and
its day names are those it starts on. No windows: always open.

The clock is injectable so that a test can open and close a window within seconds: `clock()` reads
`$LAZY_TRANSCODE_CLOCK_FILE` (a number of seconds added to the real time, re-read each time) when set.
It moves only the schedule's clock, nothing else.
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
CLOCK_FILE_ENV = "LAZY_TRANSCODE_CLOCK_FILE"
_WINDOW = re.compile(
    r"^\s*(?:(?P<days>[a-z]{3}(?:,[a-z]{3})*)\s+)?(?P<start>\d{1,2}:\d{2})\s*-\s*(?P<end>\d{1,2}:\d{2})\s*$"
)


class WindowError(ValueError):
    """A window that cannot be read; the message says what is wrong with it."""


@dataclass(frozen=True)
class Window:
    """One window: on `days` (weekday numbers, Monday 0; empty: every day), from `start` to `end` minutes."""

    days: frozenset[int]
    start: int
    end: int
    text: str

    def instances(self, around: datetime) -> list[tuple[datetime, datetime]]:
        """The window's occurrences that start from the day before `around` to a week after it."""
        midnight = around.replace(hour=0, minute=0, second=0, microsecond=0)
        found = []
        for offset in range(-1, 8):
            day = midnight + timedelta(days=offset)
            if self.days and day.weekday() not in self.days:
                continue
            length = self.end - self.start if self.end > self.start else self.end + 24 * 60 - self.start
            begin = day + timedelta(minutes=self.start)
            found.append((begin, begin + timedelta(minutes=length)))
        return found


def _minutes(text: str, what: str, allow_24: bool) -> int:
    hours, minutes = (int(part) for part in text.split(":"))
    if minutes > 59 or hours > 24 or (hours == 24 and (minutes or not allow_24)):
        raise WindowError(f"{what} {text!r} is not a time of day (00:00 to {'24:00' if allow_24 else '23:59'})")
    return hours * 60 + minutes


def parse_window(text: str) -> Window:
    """One window from its text (see the module's docstring); WindowError if it cannot be read."""
    if not isinstance(text, str):
        raise WindowError(f"a window must be a string like '01:00-07:00', not {text!r}")
    match = _WINDOW.match(text.lower())
    if match is None:
        raise WindowError(f"{text!r} is not a window like '01:00-07:00' or 'sat 00:00-24:00'")
    days: set[int] = set()
    for name in (match["days"] or "").split(",") if match["days"] else ():
        if name not in DAYS:
            raise WindowError(f"{text!r}: {name!r} is not a day ({', '.join(DAYS)})")
        days.add(DAYS.index(name))
    start = _minutes(match["start"], "start", allow_24=False)
    end = _minutes(match["end"], "end", allow_24=True)
    if start == end:
        raise WindowError(f"{text!r} is empty (its start is its end)")
    return Window(frozenset(days), start, end, text.strip())


@dataclass(frozen=True)
class Timetable:
    """The schedule's windows; none: always open."""

    windows: tuple[Window, ...] = ()

    @classmethod
    def parse(cls, texts: list[str]) -> Timetable:
        return cls(tuple(parse_window(text) for text in texts))

    def is_open(self, at: datetime) -> bool:
        if not self.windows:
            return True
        return any(begin <= at < end for w in self.windows for begin, end in w.instances(at))

    def next_open(self, at: datetime) -> datetime | None:
        """When the next window opens after `at` (None: no windows, or one is open now)."""
        if self.is_open(at):
            return None
        starts = [begin for w in self.windows for begin, _end in w.instances(at) if begin > at]
        return min(starts) if starts else None

    def next_change(self, at: datetime) -> datetime | None:
        """The next instant a window opens or closes after `at` (None: no windows)."""
        edges = [edge for w in self.windows for pair in w.instances(at) for edge in pair if edge > at]
        return min(edges) if edges else None


def describe_next(at: datetime, opens: datetime | None) -> str:
    """`01:00`, or `sat 01:00` when it is not within a day of `at`."""
    if opens is None:
        return ""
    if opens - at < timedelta(days=1):
        return opens.strftime("%H:%M")
    return f"{DAYS[opens.weekday()]} {opens.strftime('%H:%M')}"


def clock(env: Mapping[str, str] | None = None) -> Callable[[], float]:
    """The schedule's clock (epoch seconds): the real time, shifted by the clock file's number when set."""
    env = os.environ if env is None else env
    path = env.get(CLOCK_FILE_ENV, "")
    if not path:
        return time.time

    def shifted() -> float:
        try:
            with open(path) as handle:
                offset = float(handle.read().strip() or 0)
        except (OSError, ValueError):
            offset = 0.0
        return time.time() + offset

    return shifted
