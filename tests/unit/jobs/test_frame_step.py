"""Which files send their frames to the encoders as YUV4MPEG (a step and its gaps) and which as NUT."""

from lazy_transcode.jobs.encode import y4m_timing
from lazy_transcode.media.encoders import EncodeSettings, get_profile
from lazy_transcode.media.pieces import MAX_GAPS_PER_PIECE, FrameTiming, PiecePlan

X265 = get_profile("libx265").build(EncodeSettings(quality=28), preset="ultrafast")
X265_10 = get_profile("libx265").build(EncodeSettings(quality=28), preset="ultrafast", ten_bit=True)
EVEN = list(range(0, 512 * 100, 512))
WHOLE = [PiecePlan(0, 0, 100, 0, None, None)]


def _pts_of(timing: FrameTiming, plan: PiecePlan) -> list[int]:
    """The expression evaluated the way ffmpeg's evaluator would (in doubles, rounded)."""
    expr = timing.setpts(plan).replace("sgn", "_sgn")
    return [round(eval(expr, {"_sgn": lambda x: (x > 0) - (x < 0), "N": n})) for n in range(plan.frame_count)]


def test_evenly_spaced_frames_in_a_format_y4m_carries_go_as_y4m() -> None:
    assert y4m_timing(EVEN, WHOLE, "yuv420p", X265) == FrameTiming(512)
    assert y4m_timing([1024 + p for p in EVEN], WHOLE, "yuv420p", X265) == FrameTiming(512)
    assert y4m_timing(EVEN, WHOLE, "yuv420p10le", X265_10) == FrameTiming(512)


def test_a_few_dropped_frames_are_written_down_and_restored_exactly() -> None:
    pts = EVEN[:30] + [p + 512 for p in EVEN[30:60]] + [p + 1536 for p in EVEN[60:]]  # 1 then 2 frames dropped
    plans = [PiecePlan(0, 0, 50, 0, None, None), PiecePlan(1, 50, 50, pts[50], 1.0, None)]
    timing = y4m_timing(pts, plans, "yuv420p", X265)
    assert timing == FrameTiming(512, ((30, 512), (60, 1024)))
    assert _pts_of(timing, plans[0]) == pts[:50] and _pts_of(timing, plans[1]) == pts[50:]
    assert timing.piece_gaps(plans[1]) == [(10, 1024)]


def test_anything_else_goes_as_nut() -> None:
    vfr = [0]
    for n in range(100):
        vfr.append(vfr[-1] + (40 if n % 3 else 20))
    assert y4m_timing(vfr, [PiecePlan(0, 0, 101, 0, None, None)], "yuv420p", X265) is None
    assert MAX_GAPS_PER_PIECE < 33
    assert y4m_timing([0], [PiecePlan(0, 0, 1, 0, None, None)], "yuv420p", X265) is None  # no step to see
    assert y4m_timing(EVEN, WHOLE, "yuvj420p", X265) is None  # full range: Y4M would retag it
    assert y4m_timing(EVEN, WHOLE, "yuv420p10le", X265) is None  # converted by the encoder: as before
    assert y4m_timing(EVEN, WHOLE, "nv12", X265) is None
    assert y4m_timing(EVEN, WHOLE, None, X265) is None
