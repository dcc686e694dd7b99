"""Which pieces a cold probe is estimated from, and how far outside the band an estimate must lie."""

from __future__ import annotations

import pytest

from lazy_transcode.jobs.candidates import ESTIMATE_MARGIN, estimate_margin, estimate_pieces
from lazy_transcode.media.pieces import PiecePlan


def plans(*frames: int) -> list[PiecePlan]:
    out: list[PiecePlan] = []
    first = 0
    for index, count in enumerate(frames):
        out.append(PiecePlan(index=index, first_frame=first, frame_count=count, start_pts=first, seek=None, stop=None))
        first += count
    return out


def test_every_other_piece_from_the_second_of_three_or_more() -> None:
    assert estimate_pieces(plans(100, 100, 100)) == {1}
    assert estimate_pieces(plans(100, 100, 100, 100, 20)) == {1, 3}


def test_the_second_of_two_pieces_unless_it_is_a_small_tail() -> None:
    assert estimate_pieces(plans(187, 63)) == {1}
    assert estimate_pieces(plans(120, 120)) == {1}
    assert estimate_pieces(plans(240, 40)) is None  # 14 % of the file says too little about it
    assert estimate_pieces(plans(250)) is None


def test_a_smaller_sample_must_lie_further_outside_the_band() -> None:
    assert estimate_margin(0.5) == pytest.approx(ESTIMATE_MARGIN)
    assert estimate_margin(0.25) > estimate_margin(0.4) > estimate_margin(0.5)
    assert estimate_margin(0.25) == pytest.approx(ESTIMATE_MARGIN * 2**0.5)


def test_a_longer_files_sample_pieces_are_never_estimated_from_some_of_them() -> None:
    pieces = plans(*[100] * 30)
    for numbers in ((6, 22), (6, 14, 22), (3, 9, 15, 21, 27)):
        assert estimate_pieces([pieces[n] for n in numbers], samples=True) is None
    assert estimate_pieces([pieces[n] for n in (6, 14, 22)]) == {14}  # three pieces of a whole file
    assert estimate_pieces(pieces[:2]) == {1}  # a whole file in two pieces
