"""Schedule windows: parsing, whether one is open, when the next opens, and the injectable clock."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pytest

from lazy_transcode.daemon.timetable import CLOCK_FILE_ENV, Timetable, WindowError, clock, describe_next, parse_window

# 2026-12-02 is a Wednesday.
WED = datetime(2026, 12, 2)


def at(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 12, day, hour, minute)


def test_parse() -> None:
    w = parse_window("01:00-07:00")
    assert (w.days, w.start, w.end) == (frozenset(), 60, 420)
    w = parse_window(" Sat,sun 00:00 - 24:00 ")
    assert (w.days, w.start, w.end) == (frozenset({5, 6}), 0, 1440)
    assert parse_window("22:30-06:00").end == 360


@pytest.mark.parametrize(
    "text", ["", "01:00", "1-7", "01:00-07:60", "24:00-01:00", "25:00-26:00", "fun 01:00-02:00", "03:00-03:00", "x"]
)
def test_bad_windows(text: str) -> None:
    with pytest.raises(WindowError):
        parse_window(text)


def test_no_windows_is_always_open() -> None:
    table = Timetable.parse([])
    assert table.is_open(WED) and table.next_open(WED) is None and table.next_change(WED) is None


def test_open_and_next() -> None:
    table = Timetable.parse(["01:00-07:00", "sat 00:00-24:00"])
    assert table.is_open(at(2, 1)) and table.is_open(at(2, 6, 59)) and not table.is_open(at(2, 7))
    assert not table.is_open(at(2, 0, 59))
    assert table.next_open(at(2, 3)) is None
    assert table.next_open(at(2, 8)) == at(3, 1)  # tomorrow 01:00
    assert table.next_open(at(2, 0, 30)) == at(2, 1)
    assert table.is_open(at(5, 12)) and table.is_open(at(5, 23, 59))  # Saturday all day
    assert table.next_open(at(4, 8)) == at(5, 0)  # Friday after 07:00: Saturday 00:00
    assert table.next_change(at(2, 3)) == at(2, 7)
    assert table.next_change(at(2, 8)) == at(3, 1)


def test_past_midnight_and_day_names() -> None:
    table = Timetable.parse(["fri 22:00-06:00"])
    assert table.is_open(at(4, 23)) and table.is_open(at(5, 5, 59))  # Friday night into Saturday
    assert not table.is_open(at(5, 22)) and not table.is_open(at(3, 23))
    assert table.next_open(at(5, 7)) == at(11, 22)  # a week on
    assert table.next_open(at(2, 12)) == at(4, 22)


def test_describe_next() -> None:
    assert describe_next(at(2, 8), at(3, 1)) == "01:00"
    assert describe_next(at(2, 8), at(4, 22)) == "fri 22:00"
    assert describe_next(at(2, 8), None) == ""


def test_clock_file_shifts_only_when_set(tmp_path: Path) -> None:
    import time

    assert clock({}) is time.time
    offset = tmp_path / "offset"
    shifted = clock({CLOCK_FILE_ENV: str(offset)})
    assert abs(shifted() - time.time()) < 5  # no file yet: no shift
    offset.write_text("7200\n")
    assert 7195 < shifted() - time.time() < 7205
    offset.write_text("nonsense")
    assert abs(shifted() - time.time()) < 5
