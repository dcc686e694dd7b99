"""Placing a verified output: atomically, durably, and the source only ever replaced by rename."""

from __future__ import annotations

import contextlib
import errno
import hashlib
import os
import secrets
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


STAGING_SUFFIX = ".lazy-transcode-tmp"


class PlacementError(OSError):
    """The destination changed under us while the output was being placed (one line)."""


def place_file(ready: Path, folder: Path, name: str) -> Path:
    """Move `ready` to `name` in `folder` atomically: a rename on one file system, else copy + fsync + rename.

    The destination is replaced in one step; a crash leaves either the old file or the new one, never
    a mix. `folder` is written to through its fd only, and nothing in it is followed: a rename
    replaces a link of that name instead of writing through it, and the staging file of a copy is a
    new file (O_CREAT | O_EXCL | O_NOFOLLOW, a name of its own), so a link planted at a staging name
    is never written through. Returns the placed path (in `folder`).
    """
    fsync_file(ready)
    dir_fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        try:
            os.replace(ready, name, dst_dir_fd=dir_fd)
        except OSError as exc:
            if exc.errno != errno.EXDEV:
                raise
            _copy_into(ready, dir_fd, name)
            ready.unlink()
        else:
            os.fsync(dir_fd)
        fsync_dir(ready.parent)
    finally:
        os.close(dir_fd)
    return folder / name


def _copy_into(ready: Path, dir_fd: int, name: str) -> None:
    """Copy `ready` to a fresh staging file in `dir_fd`, fsync it and rename it over `name`."""
    src = os.open(ready, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    try:
        while True:
            staging = f".{name}.{secrets.token_hex(4)}{STAGING_SUFFIX}"
            try:
                dst = os.open(
                    staging, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o644, dir_fd=dir_fd
                )
                break
            except FileExistsError:
                continue  # a name someone else holds (or planted): never reused, never removed
        try:
            try:
                while os.sendfile(dst, src, None, 1 << 30) > 0:
                    pass
                os.fsync(dst)
                mine = os.fstat(dst)
                here = os.stat(staging, dir_fd=dir_fd, follow_symlinks=False)
                if not os.path.samestat(mine, here):
                    raise PlacementError(errno.EEXIST, f"the staging file {staging} was replaced meanwhile")
                os.rename(staging, name, src_dir_fd=dir_fd, dst_dir_fd=dir_fd)
            except BaseException:
                with contextlib.suppress(OSError):
                    if os.path.samestat(os.fstat(dst), os.stat(staging, dir_fd=dir_fd, follow_symlinks=False)):
                        os.unlink(staging, dir_fd=dir_fd)  # ours: remove it; anything else stays
                raise
            os.fsync(dir_fd)
            placed = os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
            if not os.path.samestat(mine, placed):
                raise PlacementError(errno.EEXIST, f"{name} was replaced right after it was placed")
        finally:
            os.close(dst)
    finally:
        os.close(src)
