"""Sample planning rules: count, coverage, window, opening chapter, short files whole."""

from __future__ import annotations

import itertools

import pytest

from lazy_transcode.media.probe import Chapter
from lazy_transcode.media.samples import CLIP_SECONDS, MAX_AUTO_CLIPS, auto_count, is_opening, plan_samples


@pytest.mark.parametrize("duration", [1.0, 10.0, 42.0, 60.0])
def test_short_file_is_measured_whole(duration: float) -> None:
    assert [(c.start, c.duration, c.whole) for c in plan_samples(duration)] == [(0.0, duration, True)]


def test_samples_override_cannot_split_a_short_file() -> None:
    assert plan_samples(42.0, count=5)[0].whole


def test_many_samples_that_cover_half_the_file_measure_it_whole() -> None:
    assert plan_samples(200.0, count=10)[0].whole


def test_count_gives_about_ten_percent_coverage() -> None:
    assert auto_count(600) == round(0.1 * 600 / CLIP_SECONDS) == 6
    assert auto_count(120) == 2
    assert auto_count(7200) == MAX_AUTO_CLIPS


def test_clips_avoid_first_minute_and_last_two_minutes() -> None:
    clips = plan_samples(1440.0)
    assert len(clips) == auto_count(1440.0)
    for c in clips:
        assert not c.whole
        assert c.start >= 60.0
        assert c.start + c.duration <= 1440.0 - 120.0
    starts = [c.start for c in clips]
    assert starts == sorted(starts)
    assert all(b - (a + CLIP_SECONDS) >= 10.0 for a, b in itertools.pairwise(starts))


def test_samples_option_overrides_count() -> None:
    assert len(plan_samples(1440.0, count=3)) == 3
    assert len(plan_samples(1440.0, count=1)) == 1


def test_narrow_window_spreads_over_whole_file() -> None:
    clips = plan_samples(150.0, count=2)
    assert len(clips) == 2
    for c in clips:
        assert c.start >= 0.0 and c.start + c.duration <= 150.0


def test_opening_chapter_is_always_sampled() -> None:
    chapters = [Chapter(0, 90, "Prologue"), Chapter(90, 180, "Opening"), Chapter(180, 1440, "Part A")]
    clips = plan_samples(1440.0, chapters, count=3)
    assert len(clips) == 3
    opening = [c for c in clips if c.opening]
    assert len(opening) == 1 and opening[0].start == 90.0
    others = [c for c in clips if not c.opening]
    for c in others:  # no overlap with the opening clip
        assert c.start >= 100.0 or c.start + c.duration <= 90.0


@pytest.mark.parametrize(
    ("title", "expected"),
    [("OP", True), ("Opening", True), ("op1", True), ("Theme Song", True), ("Intro", True),
     ("Operation Z", False), ("Chapter 2", False), (None, False), ("Ending", False)],
)  # fmt: skip
def test_opening_titles(title: str | None, expected: bool) -> None:
    assert is_opening(title) is expected
