"""Sample planning rules: count, coverage, window, opening chapter, short files whole."""

from __future__ import annotations

import itertools
import math
from fractions import Fraction

import msgspec
import pytest

from lazy_transcode.media.probe import Chapter, FrameScan
from lazy_transcode.media.samples import (
    CLIP_SECONDS,
    MAX_AUTO_CLIPS,
    MAX_SAMPLES,
    ExtractedClip,
    Stretch,
    auto_count,
    is_opening,
    legacy_sample_starts,
    plan_samples,
    slices,
    stretches,
)


@pytest.mark.parametrize("duration", [1.0, 10.0, 42.0, 60.0])
def test_short_file_is_measured_whole(duration: float) -> None:
    assert [(c.start, c.duration, c.whole) for c in plan_samples(duration)] == [(0.0, duration, True)]


def test_samples_override_cannot_split_a_short_file() -> None:
    assert plan_samples(42.0, count=5)[0].whole


def test_many_samples_that_cover_half_the_file_measure_it_whole() -> None:
    assert plan_samples(200.0, count=10)[0].whole


def test_count_gives_about_ten_percent_coverage() -> None:
    assert auto_count(600) == round(0.1 * 600 / CLIP_SECONDS) == 6
    assert auto_count(120) == auto_count(240) == 3  # a stratum each of hard, middle and easy stretches
    assert auto_count(240, least=2) == 2  # as records made before sample times were recorded
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


def _stretches(rates: dict[float, float], seconds: float = 10.0) -> list[Stretch]:
    return [Stretch(start, seconds, round(rate * seconds)) for start, rate in rates.items()]


def test_ranked_samples_are_the_median_stretch_of_each_stratum() -> None:
    """A 240 s file cut in 10 s stretches whose bytes per second grow with time: of the 18 inside its
    edges (a tenth of it at each end), two samples are the medians of the easier and the harder nine, and
    three (the default) those of each six."""
    candidates = _stretches({float(t): 1000.0 + t for t in range(0, 240, 10)})
    clips = plan_samples(240.0, count=2, candidates=candidates)
    assert [(c.start, c.duration) for c in clips] == [(70.0, 10.0), (160.0, 10.0)]
    assert [c.start for c in plan_samples(240.0, candidates=candidates)] == [50.0, 110.0, 170.0]


def test_ranked_samples_follow_the_rate_not_the_time() -> None:
    """The hard scenes lie together at the start: one sample is among them, the other among the rest."""
    rates = {float(t): (9000.0 if t < 100 else 3000.0) + t for t in range(0, 240, 10)}
    starts = [c.start for c in plan_samples(240.0, count=2, candidates=_stretches(rates))]
    assert len(starts) == 2 and starts[0] < 100 <= starts[1]


def test_a_flat_rate_or_too_few_stretches_spread_the_samples_in_time() -> None:
    flat = _stretches({float(t): 5000.0 + (t % 20) for t in range(0, 240, 10)})
    assert plan_samples(240.0, candidates=flat) == plan_samples(240.0)
    few = _stretches({100.0: 1000.0})
    assert plan_samples(240.0, candidates=few) == plan_samples(240.0)


def test_ranked_samples_keep_the_opening_and_stay_clear_of_it() -> None:
    chapters = [Chapter(0, 90, "Prologue"), Chapter(90, 180, "Opening"), Chapter(180, 1440, "Part A")]
    candidates = _stretches({float(t): 1000.0 + (t * 7919) % 1000 for t in range(0, 1440, 10)})
    clips = plan_samples(1440.0, chapters, count=3, candidates=candidates)
    assert len(clips) == 3 and [c.start for c in clips if c.opening] == [90.0]
    for c in clips:
        assert c.start >= 60.0 and c.start + c.duration <= 1320.0
        assert c.opening or c.start >= 100.0 or c.start + c.duration <= 90.0


def test_a_short_film_is_sampled_inside_a_tenth_of_it_at_each_end() -> None:
    for c in plan_samples(240.0):
        assert c.start >= 24.0 and c.start + c.duration <= 216.0
    assert [c.start for c in plan_samples(240.0)] == [51.0, 115.0, 179.0]


def test_legacy_sample_starts_are_those_of_the_version_before_sample_times_were_recorded() -> None:
    assert legacy_sample_starts(240.0) == [70.0, 100.0]
    assert legacy_sample_starts(100.0) == [20.0, 70.0]
    assert legacy_sample_starts(300.0, count=3) == [75.0, 115.0, 155.0]
    assert legacy_sample_starts(1440.0, [Chapter(90, 180, "Opening")], count=3) == [90, 370.0, 1000.0]
    assert legacy_sample_starts(42.0) == []


def test_stretches_sum_the_packets_of_each_from_its_first_frame() -> None:
    scan = FrameScan(Fraction(1, 25), pts=list(range(100, 150)), keyframes=[100], keyframe_dts=[100],
                     sizes=[10] * 20 + [30] * 30)  # fmt: skip
    got = stretches(scan, [0, 20, 40])
    assert [s.bytes for s in got] == [200, 600, 300]
    assert [s.start for s in got] == pytest.approx([0.0, 0.8, 1.6])
    assert [s.duration for s in got] == pytest.approx([0.8, 0.8, 0.4])
    assert got[1].rate == pytest.approx(750.0)
    assert [s.start for s in slices(scan, 0.4)] == pytest.approx([0.0, 0.4, 0.8, 1.2, 1.6])
    assert stretches(FrameScan(Fraction(1, 25), pts=[0, 1], keyframes=[0], keyframe_dts=[0]), [0]) == []


def test_recorded_sample_times_are_validated_and_absent_from_an_older_records_dict() -> None:
    old = {"path": "/m/a.mkv", "start": 0.0, "frames": 2500, "duration": 100.0, "whole": True}
    clip = msgspec.convert(old, ExtractedClip, strict=True)
    assert clip.samples is None and clip.to_dict() == old  # the search's key of such a record is unchanged
    new = msgspec.convert({**old, "samples": [24.8, 71.2]}, ExtractedClip, strict=True)
    assert new.samples == (24.8, 71.2) and ExtractedClip.from_dict(new.to_dict()) == new
    most = plan_samples(7200.0, count=MAX_SAMPLES)  # the most `--samples` asks for: recordable
    assert len(most) == MAX_SAMPLES
    ExtractedClip(**{**old, "samples": tuple(c.start for c in most)})
    for bad in ([math.nan], [-1.0], ["20"], [1.0] * (MAX_SAMPLES + 1), [], 3.0):
        with pytest.raises(msgspec.ValidationError):
            msgspec.convert({**old, "samples": bad}, ExtractedClip, strict=True)
