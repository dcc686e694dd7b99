"""A lease file beside a state file, so that two processes never work the same operation.

The lease holds host, pid, the pid's start time (/proc/PID/stat), the boot id and times. It is stale
when the pid is dead, the pid was reused (start time differs), the machine rebooted (boot id differs) or,
for another host, when it was not refreshed for `expiry` seconds. Changes happen under a short POSIX
record lock (`lockf`, which NFS forwards to the server) on the lease file itself, so two processes
that both see a stale lease cannot both take it over.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import os
import socket
import stat
import threading
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from lazy_transcode.state import layout
from lazy_transcode.state.errors import StateLockedError, StateWriteError

DEFAULT_EXPIRY = 300.0  # seconds without a refresh after which another host's lease is stale
LEASE_SUFFIX = layout.LEASE_SUFFIX
_process_lock = threading.Lock()  # lockf locks belong to the process: threads need their own mutex


_BOOT_ID: str | None = None


def boot_id() -> str:
    """This boot's id (read once: it cannot change while the process lives)."""
    global _BOOT_ID
    if _BOOT_ID is None:
        try:
            _BOOT_ID = Path("/proc/sys/kernel/random/boot_id").read_text().strip()
        except OSError:
            _BOOT_ID = ""
    return _BOOT_ID


def process_start_time(pid: int) -> int | None:
    """Start time of `pid` in clock ticks since boot (field 22 of /proc/PID/stat), None if it is gone."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_bytes()
    except OSError:
        return None
    # the command name (field 2) may hold spaces and parentheses: split after the last ')'
    fields = raw[raw.rfind(b")") + 2 :].split()
    try:
        return int(fields[19])
    except (IndexError, ValueError):
        return None


@dataclass
class LeaseInfo:
    host: str
    pid: int
    start_time: int | None
    boot_id: str
    acquired: float
    refreshed: float
    expiry: float = DEFAULT_EXPIRY

    @classmethod
    def mine(cls, expiry: float = DEFAULT_EXPIRY) -> LeaseInfo:
        now = time.time()
        pid = os.getpid()
        return cls(socket.gethostname(), pid, process_start_time(pid), boot_id(), now, now, expiry)

    @classmethod
    def parse(cls, raw: bytes) -> LeaseInfo | None:
        try:
            data: Any = json.loads(raw)
            info = cls(**data)
        except (ValueError, TypeError):
            return None
        if not isinstance(info.pid, int) or not isinstance(info.host, str):
            return None
        return info

    def is_mine(self) -> bool:
        me = LeaseInfo.mine()
        return (self.host, self.pid, self.start_time, self.boot_id) == (me.host, me.pid, me.start_time, me.boot_id)

    def stale_reason(self, now: float | None = None) -> str | None:
        """Why this lease no longer protects anything (None while its holder may still be working)."""
        now = time.time() if now is None else now
        if self.host == socket.gethostname():
            if self.boot_id and boot_id() and self.boot_id != boot_id():
                return "the machine rebooted since"
            start = process_start_time(self.pid)
            if start is None:
                return f"pid {self.pid} is dead"
            if self.start_time is not None and start != self.start_time:
                return f"pid {self.pid} now belongs to another process"
            return None
        if now - self.refreshed > self.expiry:
            return f"not refreshed for {now - self.refreshed:.0f} s"
        return None


def lease_path(state_file: Path) -> Path:
    return layout.lease_file(state_file)


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[int]:
    """Open `path` (creating it) and hold an exclusive lockf on it, retrying if it was replaced meanwhile."""
    with _process_lock:
        while True:
            fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC | os.O_NOFOLLOW, 0o644)
            try:
                fcntl.lockf(fd, fcntl.LOCK_EX)
                try:
                    same = os.fstat(fd).st_ino == os.stat(path, follow_symlinks=False).st_ino
                except FileNotFoundError:
                    same = False
                if same:
                    break
            except BaseException:
                os.close(fd)
                raise
            os.close(fd)  # released and unlinked by its holder meanwhile: lock the new file
        try:
            yield fd
        finally:
            os.close(fd)  # closing drops the lock


def _read_fd(fd: int) -> bytes:
    os.lseek(fd, 0, os.SEEK_SET)
    chunks = []
    while chunk := os.read(fd, 65536):
        chunks.append(chunk)
    return b"".join(chunks)


def _write_fd(fd: int, info: LeaseInfo) -> None:
    payload = json.dumps(asdict(info)).encode()
    os.ftruncate(fd, 0)
    os.lseek(fd, 0, os.SEEK_SET)
    view = memoryview(payload)
    while view:
        view = view[os.write(fd, view) :]
    os.fsync(fd)


def _describe(info: LeaseInfo) -> str:
    return f"in progress by pid {info.pid} on {info.host}"


def acquire(state_file: Path, *, expiry: float = DEFAULT_EXPIRY, subject: str = "this operation") -> LeaseInfo:
    """Take the lease (or keep ours); raises `StateLockedError` while another live process holds it."""
    path = lease_path(state_file)
    try:
        with _locked(path) as fd:
            current = LeaseInfo.parse(_read_fd(fd))
            if current is not None and not current.is_mine() and current.stale_reason() is None:
                raise StateLockedError(f"{subject} is {_describe(current)}", pid=current.pid, host=current.host)
            mine = LeaseInfo.mine(expiry)
            if current is not None and current.is_mine():
                mine.acquired = current.acquired
            _write_fd(fd, mine)
            return mine
    except OSError as exc:
        raise StateWriteError(path, exc, action="take lease file") from exc


def refresh(state_file: Path, held: LeaseInfo) -> LeaseInfo:
    """Renew our lease; raises `StateLockedError` if another process took it over meanwhile."""
    path = lease_path(state_file)
    try:
        with _locked(path) as fd:
            current = LeaseInfo.parse(_read_fd(fd))
            if current is not None and not current.is_mine():
                raise StateLockedError(f"lease lost: the operation is now {_describe(current)}", pid=current.pid)
            held.refreshed = time.time()
            _write_fd(fd, held)
            return held
    except OSError as exc:
        raise StateWriteError(path, exc, action="refresh lease file") from exc


def release(state_file: Path) -> bool:
    """Drop our lease (idempotent). Returns whether a lease of ours was removed."""
    path = lease_path(state_file)
    if not path.exists():
        return False
    try:
        with _locked(path) as fd:
            current = LeaseInfo.parse(_read_fd(fd))
            if current is None or current.is_mine():
                os.unlink(path)
                return current is not None
            return False
    except FileNotFoundError:
        return False
    except OSError as exc:
        if exc.errno in (errno.EROFS, errno.EACCES, errno.EPERM):
            return False
        raise StateWriteError(path, exc, action="release lease file") from exc


def read(state_file: Path) -> LeaseInfo | None:
    """The current lease, if any (without locking: for display)."""
    try:
        fd = os.open(lease_path(state_file), os.O_RDONLY | os.O_CLOEXEC | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError:
        return None
    try:
        return LeaseInfo.parse(_read_fd(fd)) if stat.S_ISREG(os.fstat(fd).st_mode) else None
    except OSError:
        return None
    finally:
        os.close(fd)
