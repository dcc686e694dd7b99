"""Fixtures of the state library's unit tests."""

from __future__ import annotations

from pathlib import Path

import pytest

from lazy_transcode.state import TranscodeOperation, UniversalStateManager


@pytest.fixture
def video(tmp_path: Path) -> Path:
    path = tmp_path / "video.mkv"
    path.write_bytes(b"not really a video")
    return path


@pytest.fixture
def op(video: Path) -> TranscodeOperation:
    return TranscodeOperation(operation_type="vbr", input_file=str(video), encoder="libx265", target_vmaf=95.0)


@pytest.fixture
def manager(op: TranscodeOperation) -> UniversalStateManager:
    return UniversalStateManager(op)
