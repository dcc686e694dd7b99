"""How pieces are shared among lanes: pure logic (the encodes are tested with real ffmpeg elsewhere)."""

from __future__ import annotations

import itertools
from fractions import Fraction

from hypothesis import given
from hypothesis import strategies as st

from lazy_transcode.jobs.lanes import Lanes
from lazy_transcode.media.pieces import PiecePlan


def _plans(counts: list[int], skip: frozenset[int] = frozenset()) -> list[PiecePlan]:
    plans, first = [], 0
    for n, count in enumerate(counts):
        if n not in skip:
            plans.append(PiecePlan(n, first, count, first, None, None))
        first += count
    return plans


def test_two_lanes_split_a_film_by_frames_and_the_short_last_piece_goes_with_the_second() -> None:
    lanes = Lanes(_plans([240] * 6 + [60]), 2)
    a, b = lanes.claim(0), lanes.claim(1)
    assert [p.index for p in a or []] == [0, 1, 2]
    assert [p.index for p in b or []] == [3, 4, 5, 6]
    assert lanes.busy() == 2


def test_an_idle_lane_steals_the_back_half_of_the_unstarted_pieces() -> None:
    lanes = Lanes(_plans([100] * 8), 2)
    a = lanes.claim(0) or []
    b = lanes.claim(1) or []
    for plan in b:  # lane 1 starts all of its pieces, finishes, and comes back for more
        assert lanes.start(1, plan)
    assert lanes.start(0, a[0]) and lanes.start(0, a[1])  # lane 0 is on its second piece
    stolen = lanes.claim(1)
    assert [p.index for p in stolen or []] == [3]
    assert lanes.start(1, (stolen or [])[0])
    assert lanes.start(0, a[2])
    assert not lanes.start(0, a[3])  # taken: lane 0's run ends after piece 2
    lanes.release(0)
    assert lanes.claim(0) is None  # nothing unstarted is left anywhere


@given(
    st.lists(st.integers(min_value=1, max_value=300), min_size=1, max_size=40),
    st.sets(st.integers(min_value=0, max_value=39)),
    st.integers(min_value=1, max_value=6),
    st.randoms(use_true_random=False),
)
def test_every_piece_is_started_exactly_once_whatever_the_order(
    counts: list[int], done: set[int], lanes_n: int, rnd
) -> None:
    plans = _plans(counts, frozenset(done))
    lanes = Lanes(plans, lanes_n)
    runs: dict[int, list[PiecePlan]] = {}
    started: list[int] = []
    idle = set(range(lanes_n))
    while True:
        for lane in sorted(idle):
            run = lanes.claim(lane)
            if run is not None:
                assert all(b.index == a.index + 1 for a, b in itertools.pairwise(run))  # one decoder
                runs[lane] = run
                idle.discard(lane)
        if not runs:
            break
        lane = rnd.choice(sorted(runs))
        run = runs[lane]
        plan = run.pop(0)
        if lanes.start(lane, plan):
            started.append(plan.index)
        else:
            run.clear()
        if not run:
            del runs[lane]
            lanes.release(lane)
            idle.add(lane)
    assert sorted(started) == [p.index for p in plans]


def _keyed(counts: list[int], keyframe_at: set[int]) -> list[PiecePlan]:
    """Pieces at 1 frame a second; those in `keyframe_at` start on a source keyframe, the others 5 s after one."""
    plans, first = [], 0
    for n, count in enumerate(counts):
        seek = None if n == 0 else float(first) if n in keyframe_at else float(first - 5)
        plans.append(PiecePlan(n, first, count, first, seek, None))
        first += count
    return plans


def test_a_run_ends_before_a_piece_that_starts_on_a_keyframe_when_one_is_near_the_share() -> None:
    lanes = Lanes(_keyed([100] * 20, {11}), 2, Fraction(1))
    a, b = lanes.claim(0) or [], lanes.claim(1) or []
    assert [p.index for p in a] == list(range(11))  # 1100 frames: within 15 % of the share of 1000
    assert b[0].index == 11 and lanes.lead_in(b[0]) == 0.0
    far = Lanes(_keyed([100] * 20, {13}), 2, Fraction(1))
    assert [p.index for p in far.claim(0) or []] == list(range(10))  # 1300 frames is too far from the share


def test_a_steal_starts_on_a_keyframe_next_to_the_half() -> None:
    lanes = Lanes(_keyed([100] * 8, {3}), 2, Fraction(1))
    a = lanes.claim(0) or []
    b = lanes.claim(1) or []
    for plan in b:
        assert lanes.start(1, plan)
    assert lanes.start(0, a[0])
    stolen = lanes.claim(1) or []  # lane 0 has 1, 2, 3 unstarted: the half is piece 2, the keyframe is at 3
    assert [p.index for p in stolen] == [3]
