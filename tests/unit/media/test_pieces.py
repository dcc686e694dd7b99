"""Piece planning and progress parsing: pure logic."""

from __future__ import annotations

import itertools
from fractions import Fraction

from hypothesis import given
from hypothesis import strategies as st

from lazy_transcode.media.pieces import PiecePlan, plan_pieces
from lazy_transcode.media.probe import FrameScan
from lazy_transcode.media.process import parse_progress_block


def _scan(pts: list[int], tb: Fraction = Fraction(1, 1000), keys: list[int] | None = None, delay: int = 0) -> FrameScan:
    """Frames at `pts`; keyframes at the frames numbered `keys` (the first only by default), each decoded
    `delay` time-base units before it is presented."""
    pts = sorted(pts)
    keyframes = [pts[i] for i in sorted(keys or [0])]
    return FrameScan(time_base=tb, pts=pts, keyframes=keyframes, keyframe_dts=[k - delay for k in keyframes])


@given(
    st.lists(st.integers(min_value=1, max_value=200), min_size=1, max_size=400),
    st.floats(min_value=0.05, max_value=5.0),
    st.sets(st.integers(min_value=0, max_value=400), max_size=40),
    st.integers(min_value=0, max_value=300),
)
def test_pieces_cover_every_frame_once_and_seek_to_the_keyframe_they_need(
    gaps: list[int], seconds: float, keys: set[int], delay: int
) -> None:
    pts = [0]
    for gap in gaps:
        pts.append(pts[-1] + gap)
    keys = {k for k in keys if k < len(pts)} | {0}
    scan = _scan(pts, keys=sorted(keys), delay=delay)
    plans = plan_pieces(scan, seconds)
    assert sum(p.frame_count for p in plans) == len(pts)
    assert [p.first_frame for p in plans] == sorted({p.first_frame for p in plans})
    for a, b in itertools.pairwise(plans):
        assert a.first_frame + a.frame_count == b.first_frame
        # the end lies strictly between the last frame of a and the first of b
        assert a.stop is not None and pts[b.first_frame - 1] / 1000 < a.stop < pts[b.first_frame] / 1000
        # b's decoder starts at the decode time of the last keyframe presented at or before b's first frame
        key = max(k for k in keys if k <= b.first_frame)
        assert b.seek == (pts[key] - delay) / 1000 and b.start_pts == pts[b.first_frame]
    for p in plans:
        span = (pts[p.first_frame + p.frame_count - 1] - pts[p.first_frame]) / 1000
        assert span < seconds or p.frame_count == 1
    assert plans[0].seek is None and plans[-1].stop is None
    assert [PiecePlan.from_list(p.index, p.to_list()) for p in plans] == plans


def test_pieces_of_a_25fps_film() -> None:
    pts = [i * 512 for i in range(25 * 60)]  # 60 s at 25 fps, time base 1/12800
    plans = plan_pieces(_scan(pts, Fraction(1, 12800), keys=[0, 100], delay=2 * 512), 10.0)
    assert [p.frame_count for p in plans] == [250] * 6  # the keyframe at 100 lies in the first half
    assert plans[0].stop == (249 * 512 + 250 * 512) / 2 / 12800
    assert plans[1].start_pts == 250 * 512
    assert plans[1].seek == (100 - 2) * 512 / 12800  # the keyframe of frame 100, decoded two frames earlier


def test_pieces_end_on_the_sources_keyframes_in_their_second_half() -> None:
    pts = [i * 512 for i in range(25 * 60)]
    keys = [0, 12, 200, 437, 620, 700, 1000, 1200]
    plans = plan_pieces(_scan(pts, Fraction(1, 12800), keys=keys, delay=2 * 512), 10.0)
    assert [p.first_frame for p in plans] == [0, 200, 437, 620, 870, 1000, 1200, 1450]
    for p in plans:  # a piece that starts on a keyframe is decoded from exactly there
        if p.first_frame in keys and p.seek is not None:
            assert p.seek == (p.start_pts - 2 * 512) / 12800


def test_a_piece_before_any_keyframe_is_decoded_from_the_start() -> None:
    plans = plan_pieces(_scan([i * 40 for i in range(100)], keys=[50]), 0.4)
    assert [p.seek for p in plans[1:5]] == [None] * 4 and plans[5].seek == 50 * 40 / 1000


@given(
    st.lists(st.integers(min_value=1, max_value=100), min_size=1, max_size=300),
    st.floats(min_value=0.05, max_value=5.0),
    st.integers(min_value=1, max_value=60),
)
def test_pieces_never_exceed_one_keyframe_interval(gaps: list[int], seconds: float, max_frames: int) -> None:
    pts = [0]
    for gap in gaps:
        pts.append(pts[-1] + gap)
    plans = plan_pieces(_scan(pts), seconds, max_frames)
    assert sum(p.frame_count for p in plans) == len(pts)
    assert all(1 <= p.frame_count <= max_frames for p in plans)
    for p in plans:
        assert (pts[p.first_frame + p.frame_count - 1] - pts[p.first_frame]) / 1000 < seconds or p.frame_count == 1


def test_keyframe_interval_shortens_pieces_of_a_25fps_film() -> None:
    pts = [i * 512 for i in range(25 * 60)]
    plans = plan_pieces(_scan(pts, Fraction(1, 12800)), 10.0, max_frames=240)
    assert [p.frame_count for p in plans] == [240] * 6 + [60]


def test_progress_block() -> None:
    rec = parse_progress_block(
        {"frame": "120", "fps": "59.9", "out_time_us": "4800000", "speed": "2.39x", "total_size": "1000",
         "progress": "continue"},
        duration=9.6,
    )  # fmt: skip
    assert (rec.frame, rec.fps, rec.out_time, rec.speed, rec.total_size, rec.percent) == (
        120,
        59.9,
        4.8,
        2.39,
        1000,
        50.0,
    )
    rec = parse_progress_block({"out_time_us": "N/A", "speed": "N/A", "progress": "end"}, duration=None)
    assert rec.done and rec.out_time == 0.0 and rec.speed is None and rec.percent is None
