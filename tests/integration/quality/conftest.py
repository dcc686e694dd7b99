"""Fixtures of the quality-search tests: longer real footage."""

from __future__ import annotations

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
