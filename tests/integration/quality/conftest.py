"""Fixtures of the quality-search tests: longer real footage, an ffmpeg that logs its command lines."""

from __future__ import annotations

import os
import shlex
from pathlib import Path

import pytest

from tests.helpers import looped_bbb


@pytest.fixture(scope="session")
def bbb_100s(media_dir: Path) -> Path:
    """Real footage long enough to be sampled in clips (100 s), tiny (160x90) for speed."""
    out = media_dir / "bbb_100s.mp4"
    if not out.exists():
        looped_bbb(out, loops=19, seconds=100, size="160:90", crf=18, audio=["-c:a", "aac", "-b:a", "64k"])
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
