"""Fixtures of the system tests: real `ltd` daemons with temp sockets, state and config; always killed."""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.helpers import run_ffmpeg
from tests.system.support import FAST_DEFAULTS, Ltd


@pytest.fixture(scope="session")
def clip_60s(media_dir: Path) -> Path:
    """60 s of 320x180 test pattern with audio: long enough (1500 frames) to pause and kill mid-encode."""
    out = media_dir / "testsrc_60s.mp4"
    if not out.exists():
        run_ffmpeg(
            "-f", "lavfi", "-i", "testsrc2=size=320x180:rate=25", "-f", "lavfi", "-i", "sine=frequency=440",
            "-t", "60", "-c:v", "libx264", "-preset", "ultrafast", "-g", "50", "-c:a", "aac", "-b:a", "64k",
            str(out),
        )  # fmt: skip
    return out


@pytest.fixture
def ltd_factory(tmp_path: Path) -> Iterator[Callable[..., Ltd]]:
    """Make daemons with their own folders; every process they started is killed at the end."""
    made: list[Ltd] = []

    def make(config: str = FAST_DEFAULTS, name: str = "d") -> Ltd:
        root = tmp_path / name
        root.mkdir()
        cfg = root / "config.toml"
        cfg.write_text(config)
        env = {k: v for k, v in os.environ.items() if not k.startswith(("NOTIFY_", "WATCHDOG_", "LAZY_TRANSCODE"))}
        env.update(HOME=str(root / "home"), XDG_RUNTIME_DIR=str(root / "xdg"), PYTHONUNBUFFERED="1")
        daemon = Ltd(root=root, config=cfg, env=env)
        made.append(daemon)
        return daemon

    yield make
    for daemon in made:
        daemon.cleanup()


@pytest.fixture
def library(tmp_path: Path, clip_60s: Path) -> Path:
    lib = tmp_path / "library"
    lib.mkdir()
    shutil.copy(clip_60s, lib / "film.mp4")
    return lib
