"""Which files of a folder are videos: shared by `ltctl add`/ltd and the foreground CLI."""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from pathlib import Path

from lazy_transcode.state.layout import STATE_DIR_NAME

VIDEO_EXTENSIONS = frozenset({"mkv", "mp4", "m4v", "mov", "avi", "wmv", "ts", "m2ts", "webm", "mpg", "mpeg", "flv"})


def is_video_name(path: str | os.PathLike[str]) -> bool:
    return Path(path).suffix.lower().lstrip(".") in VIDEO_EXTENSIONS


def video_files(folder: Path) -> Iterator[Path]:
    """Video files under `folder`, recursively, in a stable (sorted) order; state folders are skipped."""
    for root, dirs, files in os.walk(folder):
        dirs[:] = sorted(d for d in dirs if d != STATE_DIR_NAME)
        for name in sorted(files):
            if is_video_name(name):
                yield Path(root) / name


def expand(paths: Iterable[str | os.PathLike[str]]) -> Iterator[Path]:
    """Each path as given when it is a file, or the video files under it when it is a folder."""
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            yield from video_files(path)
        else:
            yield path
