"""Planning the checkpointed pieces of an encode.

A piece is a run of consecutive source frames (by presentation time), at most `piece_seconds` long
and at most one keyframe interval (`max_frames`), so the IDR frame every piece starts with falls where
the encoder would have put a keyframe anyway and costs (almost) nothing in size. Where the source has
a keyframe in the second half of that span, the piece ends there instead: the next piece then starts
on a source keyframe (usually a scene cut, where the encoder puts an I-frame anyway), and its decoder
starts exactly at its first frame, with nothing decoded in vain. A piece references
nothing outside itself, so a finished piece is final and a crash costs at most the piece being encoded.
The decoder of a run that starts mid-file seeks to the source keyframe its first frame needs (by that
keyframe's decode timestamp, which is what a seek in a file without an index can find) and keeps the
frames from the piece's exact first timestamp on; a run is capped by its frame count, and its end is
placed half-way between two source frames so that no rounding can move a frame across it.
"""

from __future__ import annotations

import bisect
import itertools
from collections import Counter
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

from lazy_transcode.media.probe import FrameScan


@dataclass(frozen=True)
class PiecePlan:
    index: int
    first_frame: int
    frame_count: int
    start_pts: int  # pts of the piece's first frame (source time base)
    seek: float | None  # where its decoder starts reading (seconds, source timeline); None: at the start
    stop: float | None  # half-way past its last frame (seconds, source timeline); None for the last piece

    def to_list(self) -> list[Any]:
        return [self.first_frame, self.frame_count, self.start_pts, self.seek, self.stop]

    @classmethod
    def from_list(cls, index: int, row: list[Any]) -> PiecePlan:
        first, count, start_pts, seek, stop = row
        if not (isinstance(first, int) and isinstance(count, int) and count > 0 and isinstance(start_pts, int)):
            raise ValueError(f"bad piece plan row {row!r}")
        return cls(
            index, first, count, start_pts, None if seek is None else float(seek), None if stop is None else float(stop)
        )


MAX_GAPS_PER_PIECE = 16  # irregular frame intervals one piece's timestamp expression may correct


@dataclass(frozen=True)
class FrameTiming:
    """The frames' timestamps as one step and its exceptions: frame `k` follows frame `k - 1` by `step`
    plus `extra` for each (k, extra) in `gaps` (a dropped frame, a loop's join), by `step` otherwise.

    Frames sent as YUV4MPEG (which carries no timestamps) get theirs back from it in their encoder."""

    step: int
    gaps: tuple[tuple[int, int], ...] = ()

    @classmethod
    def of(cls, pts: list[int], plans: list[PiecePlan]) -> FrameTiming | None:
        """The timing of a scan's `pts` (None: too irregular to write down for some piece)."""
        deltas = [b - a for a, b in itertools.pairwise(pts)]
        if not deltas:
            return None
        step = Counter(deltas).most_common(1)[0][0]
        if step <= 0:
            return None
        gaps = tuple((k + 1, d - step) for k, d in enumerate(deltas) if d != step)
        if len(gaps) > MAX_GAPS_PER_PIECE * len(plans):
            return None
        timing = cls(step, gaps)
        if any(len(timing.piece_gaps(p)) > MAX_GAPS_PER_PIECE for p in plans):
            return None
        return timing

    def piece_gaps(self, plan: PiecePlan) -> list[tuple[int, int]]:
        """The gaps inside `plan`, by frame number within the piece."""
        lo = bisect.bisect_right(self.gaps, (plan.first_frame, float("inf")))
        hi = bisect.bisect_left(self.gaps, (plan.first_frame + plan.frame_count, -float("inf")))
        return [(k - plan.first_frame, extra) for k, extra in self.gaps[lo:hi]]

    def setpts(self, plan: PiecePlan) -> str:
        """A `setpts` expression giving the piece's N-th frame its source pts, exactly (integer sums).

        A gap counts from its frame on: (1 + sgn(N - n + 0.5)) / 2 is 0 before frame n and 1 from it,
        written without a comma, which would end the filter in a filter graph."""
        terms = [f"{plan.start_pts}+N*{self.step}"]
        terms += [f"({extra})*(1+sgn(N-{n}+0.5))/2" for n, extra in self.piece_gaps(plan)]
        return "+".join(terms)


def plan_pieces(scan: FrameScan, piece_seconds: float, max_frames: int | None = None) -> list[PiecePlan]:
    """Cut the source's frames into pieces of at most `piece_seconds` and `max_frames` (at least one frame)."""
    if piece_seconds <= 0:
        raise ValueError("piece_seconds must be positive")
    if max_frames is not None and max_frames < 1:
        raise ValueError("max_frames must be at least 1")
    pts = scan.pts
    tb = scan.time_base
    limit = Fraction(piece_seconds).limit_denominator(1_000_000)
    key_frames = sorted({i for i in (bisect.bisect_left(pts, k) for k in scan.keyframes) if i < len(pts)})
    starts = [0]
    i = 1
    while i < len(pts):
        start = starts[-1]
        if (pts[i] - pts[start]) * tb >= limit or (max_frames is not None and i - start >= max_frames):
            # Frame i would overrun the piece: end it at the source's last keyframe before, if that is
            # past half the piece, else here.
            k = bisect.bisect_right(key_frames, i) - 1
            cut = key_frames[k] if k >= 0 and key_frames[k] >= start + max(1, (i - start) // 2) else i
            starts.append(cut)
            i = cut + 1
        else:
            i += 1
    plans = []
    for n, first in enumerate(starts):
        end = starts[n + 1] if n + 1 < len(starts) else len(pts)
        seek = _seek_point(scan, pts[first]) if first > 0 else None
        stop = _midpoint(pts, end, tb) if end < len(pts) else None
        plans.append(PiecePlan(n, first, end - first, pts[first], seek, stop))
    return plans


def _seek_point(scan: FrameScan, pts: int) -> float | None:
    """Seconds of the decode timestamp of the last keyframe presented at or before `pts` (None: none is).

    Decoding must start at a keyframe; with B-frames a keyframe is decoded before it is presented,
    and a seek in a file without an index (MPEG-TS, MPEG-PS) goes by decode timestamps.
    """
    k = bisect.bisect_right(scan.keyframes, pts) - 1
    return float(scan.keyframe_dts[k] * scan.time_base) if k >= 0 else None


def _midpoint(pts: list[int], i: int, tb: Fraction) -> float:
    """Seconds half-way between frame i-1 and frame i."""
    return float((pts[i - 1] + pts[i]) * tb / 2)
