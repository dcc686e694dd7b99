"""Placing a verified output: atomically, durably, and the source only ever replaced by rename."""

from __future__ import annotations

import errno
import hashlib
import os
import shutil
from pathlib import Path


def fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def fsync_file(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def sha256_file(path: Path, chunk: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def output_name(source: Path, label: str, container: str) -> str:
    return f"{source.stem}_{label}.{container}"


def place_file(ready: Path, dest: Path) -> None:
    """Move `ready` to `dest` atomically: a rename on one file system, else copy + fsync + rename.

    `dest` is replaced in one step; a crash leaves either the old `dest` or the new one, never a mix.
    """
    dest.parent.mkdir(parents=True, exist_ok=True)
    fsync_file(ready)
    try:
        os.replace(ready, dest)
    except OSError as exc:
        if exc.errno != errno.EXDEV:
            raise
        staging = dest.with_name(f".{dest.name}.lazy-transcode-tmp")
        shutil.copyfile(ready, staging)
        fsync_file(staging)
        os.replace(staging, dest)
        fsync_dir(dest.parent)
        ready.unlink()
        fsync_dir(ready.parent)
        return
    fsync_dir(dest.parent)
    if ready.parent != dest.parent:
        fsync_dir(ready.parent)
