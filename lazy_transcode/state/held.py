"""Folders held open by fd, so that no symbolic link in an untrusted library is ever followed.

Anyone who may write a media folder may swap `.lazy_transcode_state`, or a name in it, for a symbolic
link at any instant. A folder is therefore opened once, with O_NOFOLLOW | O_DIRECTORY relative to its
parent's fd, checked on that fd, and every file below it is reached as `/proc/<pid>/fd/<fd>/<name>`:
the kernel resolves that magic link to the very folder that was checked, whatever happens to its name
afterwards, and ffmpeg (a child of ours, same user) can open the same path.

A folder we write into must be a real directory owned by our effective uid and writable by nobody
else, so that no one else can plant a name inside it; its subfolders (`.work`, `pieces`, `.clips`)
are checked the same way (`lstat`) before use. Messages name a held path by the folder's own path.
"""

from __future__ import annotations

import errno
import os
import re
import stat
import threading
from pathlib import Path

from lazy_transcode.state import store
from lazy_transcode.state.errors import StateError, StateWriteError

FOLDER_MODE = 0o755  # readable by all (`ltctl resumable` as another user), writable by us alone
_SHOWN: dict[str, str] = {}  # "/proc/<pid>/fd/<fd>" -> the folder's own path, for messages
_lock = threading.Lock()
_HELD_PREFIX = re.compile(r"/proc/\d+/fd/\d+(?![0-9])")


class UnsafeFolderError(StateError):
    """A folder that is a symbolic link, not a folder, someone else's or writable by others; one line."""


def proc_path(fd: int) -> Path:
    """The path through which this process and its children reach what `fd` refers to."""
    return Path(f"/proc/{os.getpid()}/fd/{fd}")


def remember(fd: int, path: str | os.PathLike[str]) -> None:
    """Name the held path of `fd` by `path` in messages (until `forget(fd)`)."""
    with _lock:
        _SHOWN[str(proc_path(fd))] = os.fspath(path)


def forget(fd: int) -> None:
    with _lock:
        _SHOWN.pop(str(proc_path(fd)), None)


def shown(text: str | os.PathLike[str]) -> str:
    """`text` with every held prefix replaced by the folder's own path (for messages and logs)."""
    out = os.fspath(text)
    if "/proc/" not in out:
        return out
    with _lock:
        return _HELD_PREFIX.sub(lambda m: _SHOWN.get(m.group(0), m.group(0)), out)


def mode_problem(st: os.stat_result, what: str, path: str | os.PathLike[str]) -> str | None:
    """Why a folder we are about to write into is unsafe (None when it is fine)."""
    name = shown(path)
    if stat.S_ISLNK(st.st_mode):
        return f"{what} {name} is a symbolic link: refusing to follow it (remove it)"
    if not stat.S_ISDIR(st.st_mode):
        return f"{what} {name} is not a folder: refusing it"
    mode = stat.S_IMODE(st.st_mode)
    if st.st_uid != os.geteuid():
        return f"{what} {name} belongs to uid {st.st_uid} (mode {mode:04o}), not to uid {os.geteuid()}: refusing it"
    if mode & 0o022:
        return f"{what} {name} is writable by others (owner uid {st.st_uid}, mode {mode:04o}): refusing it"
    return None


def ensure_subfolder(path: Path, what: str = "folder") -> Path:
    """Create `path` (FOLDER_MODE) unless it exists, then refuse it unless it is a safe folder of ours.

    `path` lies in a held folder of ours, which no one else can change, so the check cannot race.
    """
    try:
        os.mkdir(path, FOLDER_MODE)
    except FileExistsError:
        pass
    except OSError as exc:
        raise UnsafeFolderError(f"cannot create {what} {shown(path)}: {exc.strerror}") from None
    problem = mode_problem(os.lstat(path), what, path)
    if problem:
        raise UnsafeFolderError(problem)
    return path


def safe_subfolder(path: Path, what: str = "folder") -> Path | None:
    """`path` when it is a safe folder of ours, None when it does not exist; UnsafeFolderError otherwise."""
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return None
    problem = mode_problem(st, what, path)
    if problem:
        raise UnsafeFolderError(problem)
    return path


class HeldFolder:
    """One folder (by name in `parent`), opened without following a link and held until `close()`."""

    def __init__(self, path: Path, *, parent: Path | None = None, what: str = "state folder") -> None:
        self.path = Path(os.path.abspath(path))
        self.parent = parent if parent is not None else self.path.parent
        self.what = what
        self.fd: int | None = None
        self.checked_writable = False

    @property
    def held(self) -> Path | None:
        return None if self.fd is None else proc_path(self.fd)

    def open(self, *, create: bool, writable: bool) -> Path | None:
        """The held path, opening the folder first (creating it when `create`). None when it does not
        exist and may not be created; UnsafeFolderError when it is unsafe."""
        if self.fd is None and not self._open(create):
            return None
        if writable and not self.checked_writable:
            assert self.fd is not None
            problem = mode_problem(os.fstat(self.fd), self.what, self.path)
            if problem:
                self.close()
                raise UnsafeFolderError(problem)
            self.checked_writable = True
        return self.held

    def _open(self, create: bool) -> bool:
        name = self.path.name
        try:
            parent_fd = store.RETRY.run(
                lambda: os.open(self.parent, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC), f"opening {self.parent}"
            )
        except FileNotFoundError:
            if not create:
                return False
            raise StateWriteError(self.path, "its folder does not exist", action=f"create {self.what}") from None
        except OSError as exc:
            raise StateWriteError(self.path, exc, action=f"open the folder of {self.what}") from None
        try:
            if create:
                try:
                    store.RETRY.run(lambda: os.mkdir(name, FOLDER_MODE, dir_fd=parent_fd), f"creating {self.path}")
                except FileExistsError:
                    pass
                except OSError as exc:
                    raise StateWriteError(self.path, exc, action=f"create {self.what}") from None
            flags = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
            try:
                fd = store.RETRY.run(lambda: os.open(name, flags, dir_fd=parent_fd), f"opening {self.path}")
            except FileNotFoundError:
                return False
            except OSError as exc:
                if exc.errno in (errno.ELOOP, errno.ENOTDIR):
                    st = os.stat(name, dir_fd=parent_fd, follow_symlinks=False)
                    raise UnsafeFolderError(mode_problem(st, self.what, self.path) or str(exc)) from None
                raise StateWriteError(self.path, exc, action=f"open {self.what}") from None
        finally:
            os.close(parent_fd)
        self.fd = fd
        self.checked_writable = False
        remember(fd, self.path)
        return True

    def remove_if_empty(self) -> None:
        """Remove the folder when nothing is left in it, and only if its name still is the held folder."""
        if self.fd is None:
            return
        held = os.fstat(self.fd)
        try:
            parent_fd = os.open(self.parent, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        except OSError:
            return
        try:
            now = os.stat(self.path.name, dir_fd=parent_fd, follow_symlinks=False)
            if (now.st_dev, now.st_ino) == (held.st_dev, held.st_ino):
                os.rmdir(self.path.name, dir_fd=parent_fd)
        except OSError:
            pass
        finally:
            os.close(parent_fd)

    def close(self) -> None:
        if self.fd is not None:
            forget(self.fd)
            os.close(self.fd)
            self.fd = None
            self.checked_writable = False

    def __del__(self) -> None:  # a manager dropped without close() must not leak its fd
        try:
            self.close()
        except Exception:
            pass
