"""`piece_workers = auto`: lanes from the cores, bounded by what each lane's ffmpeg holds in memory."""

from __future__ import annotations

from fractions import Fraction

import pytest

from lazy_transcode.jobs import encode
from lazy_transcode.jobs.encode import ENCODER_BYTES_PER_PIXEL, SCORING_BYTES_PER_PIXEL, auto_piece_workers
from lazy_transcode.media.probe import MediaInfo, VideoInfo

UHD = 3840 * 2160


def info(width: int, height: int) -> MediaInfo:
    video = VideoInfo(0, "h264", width, height, "yuv420p", 8, Fraction(1, 25), 25.0, False, 250)
    return MediaInfo("/m/film.mkv", "matroska", 10.0, 1, None, 0.0, video)


def test_the_cores_decide_when_memory_is_plenty(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(encode, "available_memory", lambda: 1 << 40)
    assert auto_piece_workers("libx265", info(640, 360), 8) == 8
    assert auto_piece_workers("libx265", info(3840, 2160), 9) == 3  # one 4K encoder fills about 3 cores
    assert auto_piece_workers("libx265", info(640, 360), 8, scored=True) == 8


def test_scoring_lanes_are_fewer_where_memory_binds(monkeypatch: pytest.MonkeyPatch) -> None:
    # Room for 4 plain 4K encoders in half of what is available, but for fewer that also score.
    available = 2 * 4 * ENCODER_BYTES_PER_PIXEL * UHD
    monkeypatch.setattr(encode, "available_memory", lambda: available)
    plain = auto_piece_workers("libx265", info(3840, 2160), 64)
    scored = auto_piece_workers("libx265", info(3840, 2160), 64, scored=True)
    assert plain == 4
    assert scored == available // 2 // ((ENCODER_BYTES_PER_PIXEL + SCORING_BYTES_PER_PIXEL) * UHD) < plain


def test_at_least_one_lane_and_the_cores_alone_when_memory_is_unknown(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(encode, "available_memory", lambda: 1 << 20)
    assert auto_piece_workers("libx265", info(3840, 2160), 64, scored=True) == 1
    monkeypatch.setattr(encode, "available_memory", lambda: None)
    assert auto_piece_workers("libx265", info(640, 360), 4) == 4  # not known: the cores decide


def test_the_machine_says_how_much_memory_is_available() -> None:
    available = encode.available_memory()
    assert available is not None and available > 0


@pytest.mark.parametrize(
    ("encoder", "cores", "lanes", "threads"),
    [
        ("libx265", 8, 1, None),  # one lane: ffmpeg's own choice
        ("libx265", 8, 2, 4),  # side by side: each decoder its share
        ("libx265", 2, 3, 1),  # never below one thread
        ("libsvtav1", 8, 4, 2),
        ("hevc_nvenc", 8, 2, None),  # its lanes wait on their decoders: never capped
    ],
)
def test_a_lanes_decoder_gets_its_share_of_the_cores_beside_a_software_encoder(
    encoder: str, cores: int, lanes: int, threads: int | None
) -> None:
    from types import SimpleNamespace

    from lazy_transcode.jobs.lanes import Lanes
    from lazy_transcode.media.encoders import get_profile

    job = SimpleNamespace(cores=cores)
    piece_encoder = SimpleNamespace(job=job, profile=get_profile(encoder))
    assert encode.PieceEncoder._decode_threads(piece_encoder, Lanes([], lanes)) == threads  # type: ignore[arg-type]
