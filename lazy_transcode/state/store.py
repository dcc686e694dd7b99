"""Durable JSON files: atomic writes (temp + fsync + rename + folder fsync), retried reads, quarantine.

Every system call goes through `OS` (calls looked up on the `os` module at call time) and every pause
through `RETRY.sleep`, so fault-injection tests can monkeypatch `os.fsync`, `os.write`, `os.open` or the
`OS`/`RETRY` objects. A failed write leaves the previous file untouched: only the temp file is lost.
"""

from __future__ import annotations

import errno
import hashlib
import json
import logging
import os
import secrets
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from lazy_transcode.state.errors import StateCorruptError, StateReadError, StateWriteError
from lazy_transcode.state.layout import STATE_DIR_NAME as STATE_DIR_NAME
from lazy_transcode.state.layout import STATE_SUFFIX as STATE_SUFFIX
from lazy_transcode.state.layout import TEMP_PREFIX as TEMP_PREFIX
from lazy_transcode.state.layout import TEMP_SUFFIX as TEMP_SUFFIX
from lazy_transcode.state.layout import default_state_dir as default_state_dir
from lazy_transcode.state.layout import state_file_name as state_file_name

log = logging.getLogger("lazy_transcode.state")

# errors of network file systems that go away by themselves (a fresh attempt rewrites a new temp file,
# so even EIO from fsync is safe to retry: the failed temp file is discarded, never renamed into place)
TRANSIENT_ERRNOS = frozenset({errno.EIO, errno.ESTALE, errno.EAGAIN, errno.EBUSY, errno.ETIMEDOUT, errno.EINTR})
STALE_TEMP_SECONDS = 600.0  # a temp file of another host (or of a live pid) this old is abandoned

T = TypeVar("T")


class _OsCalls:
    """The system calls of the store, resolved on `os` at call time (monkeypatch-friendly)."""

    def open(self, path: str | Path, flags: int, mode: int = 0o666) -> int:
        return os.open(path, flags, mode)

    def write(self, fd: int, data: bytes | memoryview) -> int:
        return os.write(fd, data)

    def read(self, fd: int, size: int) -> bytes:
        return os.read(fd, size)

    def fsync(self, fd: int) -> None:
        os.fsync(fd)

    def replace(self, src: str | Path, dst: str | Path) -> None:
        os.replace(src, dst)

    def close(self, fd: int) -> None:
        os.close(fd)


OS = _OsCalls()


@dataclass
class RetryPolicy:
    """Bounded exponential backoff for transient errors (total wait about 1.5 s with the defaults)."""

    attempts: int = 6
    base_delay: float = 0.05
    max_delay: float = 0.8
    sleep: Callable[[float], None] = time.sleep

    def run(self, action: Callable[[], T], what: str) -> T:
        delay = self.base_delay
        for attempt in range(1, self.attempts + 1):
            try:
                return action()
            except OSError as exc:
                if exc.errno not in TRANSIENT_ERRNOS or attempt == self.attempts:
                    raise
                log.debug("transient %s while %s (attempt %d), retrying", errno.errorcode.get(exc.errno), what, attempt)
                self.sleep(delay)
                delay = min(delay * 2, self.max_delay)
        raise AssertionError("unreachable")


RETRY = RetryPolicy()


# --- writing ---------------------------------------------------------------------------------------------


def _host_tag() -> str:
    return hashlib.sha256(socket.gethostname().encode("utf-8", "surrogateescape")).hexdigest()[:8]


def temp_name() -> str:
    """`.ltstate.{host hash}.{pid}.{random}.tmp`: lets the next writer tell whether the writer is dead."""
    return f"{TEMP_PREFIX}{_host_tag()}.{os.getpid()}.{secrets.token_hex(4)}{TEMP_SUFFIX}"


def fsync_dir(folder: Path) -> None:
    """Make a rename durable. File systems that cannot fsync a folder (EINVAL) are accepted."""
    fd = OS.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    try:
        OS.fsync(fd)
    except OSError as exc:
        if exc.errno not in (errno.EINVAL, errno.ENOTSUP, errno.EBADF):
            raise
    finally:
        OS.close(fd)


def encode_json(data: Any) -> bytes:
    """Strict JSON (no NaN), ASCII-only (names with undecodable bytes survive), compact and fast."""
    return json.dumps(data, ensure_ascii=True, allow_nan=False).encode("ascii")


def _write_once(path: Path, payload: bytes) -> None:
    folder = path.parent
    tmp = folder / temp_name()
    fd = OS.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o666)
    renamed = False
    try:
        try:
            view = memoryview(payload)
            while view:
                written = OS.write(fd, view)
                view = view[written:]
            OS.fsync(fd)
        finally:
            OS.close(fd)
        OS.replace(tmp, path)
        renamed = True
        fsync_dir(folder)
    finally:
        if not renamed:
            try:
                os.unlink(tmp)
            except OSError:
                pass


def atomic_write_bytes(path: Path, payload: bytes, *, retry: RetryPolicy | None = None) -> None:
    """Replace `path` with `payload` atomically and durably; raises `StateWriteError` (one line)."""
    policy = retry or RETRY
    try:
        policy.run(lambda: _write_once(path, payload), f"writing {path}")
    except OSError as exc:
        raise StateWriteError(path, exc) from exc


def atomic_write_json(path: Path, data: Any, *, retry: RetryPolicy | None = None) -> None:
    try:
        payload = encode_json(data)
    except (TypeError, ValueError) as exc:
        raise StateWriteError(path, f"the state holds a value JSON cannot store ({exc})") from exc
    atomic_write_bytes(path, payload, retry=retry)


def ensure_dir(folder: Path) -> None:
    """Create the state folder; a read-only or unwritable parent becomes one clear `StateWriteError`."""
    try:
        RETRY.run(lambda: folder.mkdir(parents=True, exist_ok=True), f"creating {folder}")
    except OSError as exc:
        raise StateWriteError(folder, exc, action="create state folder") from exc


# --- reading ---------------------------------------------------------------------------------------------


def _read_once(path: Path) -> bytes:
    # never through a link, never blocking on a FIFO someone named like a state file
    fd = OS.open(path, os.O_RDONLY | os.O_CLOEXEC | os.O_NOFOLLOW | os.O_NONBLOCK)
    try:
        chunks = []
        while True:
            chunk = OS.read(fd, 1 << 20)
            if not chunk:
                return b"".join(chunks)
            chunks.append(chunk)
    finally:
        OS.close(fd)


def read_bytes(path: Path, *, retry: RetryPolicy | None = None) -> bytes | None:
    """The file's bytes, or None when it does not exist. Raises `StateReadError` for other errors."""
    policy = retry or RETRY
    try:
        return policy.run(lambda: _read_once(path), f"reading {path}")
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise StateReadError(path, exc) from exc


def parse_json(raw: bytes) -> Any:
    """Parse a state file's bytes; raises `StateCorruptError` with a one-line reason."""
    if not raw.strip():
        raise StateCorruptError("the file is empty")
    try:
        return json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise StateCorruptError(f"not valid JSON ({reason})") from None


def quarantine(path: Path, reason: str) -> Path | None:
    """Move a bad file aside as `*.corrupt` (never overwriting an earlier one) and warn."""
    from lazy_transcode.state.held import shown  # held imports this module

    for n in range(1000):
        target = path.with_name(path.name + (".corrupt" if n == 0 else f".corrupt.{n}"))
        if os.path.lexists(target):
            continue
        try:
            os.rename(path, target)
        except FileNotFoundError:
            return None
        except OSError as exc:
            log.warning("state file %s is unusable (%s) and cannot be moved aside: %s", shown(path), reason, exc)
            return None
        log.warning("state file %s is unusable (%s); moved aside to %s", shown(path), reason, target.name)
        return target
    log.warning("state file %s is unusable (%s); too many quarantined copies to move it aside", shown(path), reason)
    return None


# --- leftovers of killed writers -------------------------------------------------------------------------


def pid_alive(pid: int) -> bool:
    """Whether a process of this pid exists (one of another user counts)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def clean_stale_temps(folder: Path, *, now: float | None = None) -> list[Path]:
    """Remove temp files of writers that died (same host, dead pid) or were abandoned (old); return them."""
    removed: list[Path] = []
    try:
        names = os.listdir(folder)
    except OSError:
        return removed
    host = _host_tag()
    now = time.time() if now is None else now
    for name in names:
        if not (name.startswith(TEMP_PREFIX) and name.endswith(TEMP_SUFFIX)):
            continue
        parts = name[len(TEMP_PREFIX) : -len(TEMP_SUFFIX)].split(".")
        path = folder / name
        stale = False
        if len(parts) == 3 and parts[0] == host and parts[1].isdigit():
            pid = int(parts[1])
            stale = pid != os.getpid() and not pid_alive(pid)
        if not stale:
            try:
                stale = now - path.stat().st_mtime > STALE_TEMP_SECONDS
            except OSError:
                continue
        if stale:
            try:
                os.unlink(path)
                removed.append(path)
            except OSError:
                pass
    return removed
