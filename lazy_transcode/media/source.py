"""A job's source, opened once and held: `library_roots` and "a regular file" hold when it is used.

A folder inside the roots can be swapped for a symbolic link at any instant, and a FIFO named
`film.mkv` blocks whoever opens it for reading. So the media folder is opened once (its fd's real
path must lie inside the roots), the source is opened once relative to it with O_NONBLOCK (which
never blocks, whatever the file is), and its fd must be a regular file whose real path lies inside
the roots too. Everything that reads the source afterwards, PyAV in this process or ffmpeg in a
child, reads `/proc/<pid>/fd/<fd>`: that very file, not whatever the name points to by then.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from lazy_transcode.state.held import forget, proc_path, remember

_KINDS = {
    stat.S_IFIFO: "a FIFO",
    stat.S_IFCHR: "a character device",
    stat.S_IFBLK: "a block device",
    stat.S_IFSOCK: "a socket",
    stat.S_IFDIR: "a folder",
}


class SourceRefused(Exception):
    """The source is not a regular file, or not inside `library_roots` once opened; one line."""


def kind_of(mode: int) -> str:
    return _KINDS.get(stat.S_IFMT(mode), "not a regular file")


def inside(real: str | Path, roots: Sequence[Path]) -> bool:
    """Whether a real (resolved) path lies in one of `roots` (no roots: anywhere)."""
    path = Path(real)
    return not roots or any(path == root or path.is_relative_to(root) for root in roots)


def real_path(fd: int) -> str:
    """The path the kernel knows for an open fd (what it refers to now, links resolved)."""
    return os.readlink(f"/proc/self/fd/{fd}")


def check_regular(path: Path) -> os.stat_result:
    """Open `path` without blocking (O_NONBLOCK: a FIFO or device answers at once) and refuse
    anything but a regular file; the fstat of the opened file."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC)
    except OSError as exc:
        raise SourceRefused(f"cannot open {path}: {exc.strerror}") from None
    try:
        st = os.fstat(fd)
    finally:
        os.close(fd)
    if not stat.S_ISREG(st.st_mode):
        raise SourceRefused(f"{path} is {kind_of(st.st_mode)}, not a regular file: refusing it")
    return st


@dataclass
class HeldSource:
    """The source as named (`path`, for names and messages) and as opened (`reads`, for reading)."""

    path: Path
    fd: int | None  # None: the source is gone (a finished `--replace` job still answers from its record)
    folder_fd: int

    @property
    def reads(self) -> Path:
        """What readers open: this very file, whatever its name points to meanwhile."""
        if self.fd is None:
            raise SourceRefused(f"cannot open {self.path}: No such file or directory")
        return proc_path(self.fd)

    @property
    def folder(self) -> Path:
        """The media folder as opened (its state folder and default outputs are reached through it)."""
        return proc_path(self.folder_fd)

    def stat(self) -> os.stat_result:
        self.reads  # noqa: B018 - refuses a source that is gone
        assert self.fd is not None
        return os.fstat(self.fd)

    def close(self) -> None:
        for fd in (self.fd, self.folder_fd):
            if fd is not None:
                forget(fd)
                try:
                    os.close(fd)
                except OSError:
                    pass
        self.fd = None

    def __enter__(self) -> HeldSource:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def open_source(path: Path, roots: Sequence[Path] = (), *, missing_ok: bool = False) -> HeldSource:
    """Open the media folder and the source once; SourceRefused (one line) unless both lie inside
    `roots` (by their opened fds' real paths) and the source is a regular file. With `missing_ok` a
    source that does not exist is held as None (`reads` then refuses it)."""
    path = Path(os.path.abspath(path))
    try:
        folder_fd = os.open(path.parent, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    except OSError as exc:
        raise SourceRefused(f"cannot open the folder of {path}: {exc.strerror}") from None
    try:
        folder_real = real_path(folder_fd)
        if not inside(folder_real, roots):
            raise SourceRefused(f"{path.parent} is outside library_roots (it is {folder_real}): refusing it")
        try:
            fd: int | None = os.open(
                path.name, os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC, dir_fd=folder_fd
            )
        except FileNotFoundError:
            if not missing_ok:
                raise SourceRefused(f"cannot open {path}: No such file or directory") from None
            fd = None
        except OSError as exc:
            raise SourceRefused(f"cannot open {path}: {exc.strerror}") from None
    except BaseException:
        os.close(folder_fd)
        raise
    held = HeldSource(path, fd, folder_fd)
    remember(folder_fd, path.parent)
    if fd is not None:
        remember(fd, path)
    if fd is None:
        return held
    try:
        st = held.stat()
        if not stat.S_ISREG(st.st_mode):
            raise SourceRefused(f"{path} is {kind_of(st.st_mode)}, not a regular file: refusing it")
        real = real_path(fd)
        if not inside(real, roots):
            raise SourceRefused(f"{path} is outside library_roots (it is {real}): refusing it")
    except BaseException:
        held.close()
        raise
    return held
