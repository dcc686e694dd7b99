"""What a library holds: its video files and their signatures, found by a scan or named by an event.

A signature is (size, mtime_ns, inode): a file whose signature has not changed for `settle_seconds` has
settled (it is no longer being written). Nothing inside `.lazy_transcode_state` (pieces, clips, records)
and no hidden file (a download's or copy's temporary name) is a library file.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

from lazy_transcode.media.discover import is_video_name, video_files
from lazy_transcode.state.layout import STATE_DIR_NAME

Signature = tuple[int, int, int]


class Unreachable(Exception):
    """The library's folder is missing or cannot be read (an unmounted share); one line."""


def in_library(root: Path, path: Path) -> bool:
    """Whether `path` lies under `root` and outside state folders and hidden files or folders."""
    try:
        parts = path.relative_to(root).parts
    except ValueError:
        return False
    return bool(parts) and not any(part == STATE_DIR_NAME or part.startswith(".") for part in parts)


def is_library_file(root: Path, path: Path) -> bool:
    """Whether `path` (under `root`) is a file the library looks after, judged by its name."""
    return in_library(root, path) and is_video_name(path)


def signature(path: Path) -> Signature | None:
    """The file's signature, None when it is not a regular file (any more); links are followed."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    if not stat.S_ISREG(st.st_mode):
        return None
    return st.st_size, st.st_mtime_ns, st.st_ino


def check_root(root: Path) -> None:
    """Raise Unreachable unless the library's folder is there and can be listed."""
    try:
        if not root.is_dir():
            raise Unreachable(f"{root} is missing or not a folder")
        with os.scandir(root) as entries:
            next(entries, None)
    except OSError as exc:
        raise Unreachable(f"{root} cannot be read: {exc.strerror or exc}") from None


def scan(root: Path) -> dict[Path, Signature]:
    """Every library file under `root` with its signature (runs in a thread); Unreachable if it is gone."""
    check_root(root)
    found: dict[Path, Signature] = {}
    for path in video_files(root):
        if is_library_file(root, path):
            sig = signature(path)
            if sig is not None:
                found[path] = sig
    check_root(root)  # unmounted during the walk: what was found is not all there is
    return found


def under(root: Path, folder: Path) -> Iterator[Path]:
    """The library files under a folder that appeared (moved in, created) inside the library."""
    for path in video_files(folder):
        if is_library_file(root, path):
            yield path
