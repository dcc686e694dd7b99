"""Which files send their frames to the encoders as YUV4MPEG (a fixed step) and which as NUT."""

from lazy_transcode.jobs.encode import y4m_frame_step
from lazy_transcode.media.encoders import EncodeSettings, get_profile

X265 = get_profile("libx265").build(EncodeSettings(quality=28), preset="ultrafast")
X265_10 = get_profile("libx265").build(EncodeSettings(quality=28), preset="ultrafast", ten_bit=True)
EVEN = list(range(0, 512 * 100, 512))


def test_evenly_spaced_frames_in_a_format_y4m_carries_go_as_y4m() -> None:
    assert y4m_frame_step(EVEN, "yuv420p", X265) == 512
    assert y4m_frame_step([1024 + p for p in EVEN], "yuv420p", X265) == 512  # a start after zero is kept
    assert y4m_frame_step(EVEN, "yuv420p10le", X265_10) == 512


def test_anything_else_goes_as_nut() -> None:
    assert y4m_frame_step([0, 40, 80, 100, 120], "yuv420p", X265) is None  # variable frame rate
    assert y4m_frame_step([0, 33, 67, 100], "yuv420p", X265) is None  # 29.97 fps in a 1 ms time base
    assert y4m_frame_step([0], "yuv420p", X265) is None  # one frame: no step to check
    assert y4m_frame_step(EVEN, "yuvj420p", X265) is None  # full range: Y4M would retag it
    assert y4m_frame_step(EVEN, "yuv420p10le", X265) is None  # converted by the encoder: as before
    assert y4m_frame_step(EVEN, "nv12", X265) is None
    assert y4m_frame_step(EVEN, None, X265) is None
