"""One exception hierarchy for the state library, so callers can catch `StateError` and show one line."""

from __future__ import annotations

import errno as _errno
import os
from pathlib import Path


def _shown(path: Path) -> str:
    """A path as the user knows it (a held folder's `/proc/<pid>/fd/<n>` prefix named by its own path)."""
    from lazy_transcode.state.held import shown

    return shown(os.fsdecode(path))


class StateError(Exception):
    """Base of every error of the state library; its message is one line meant for the user."""


class StateWriteError(StateError):
    """A state or lease file could not be written (after retrying transient errors); the last good file is intact."""

    def __init__(self, path: Path | str, error: OSError | str, action: str = "write state file") -> None:
        self.path = Path(path)
        self.errno = error.errno if isinstance(error, OSError) else None
        super().__init__(f"cannot {action} {_shown(self.path)!r}: {describe_os_error(error)}")


class StateReadError(StateError):
    """A state file exists but could not be read (after retrying transient errors)."""

    def __init__(self, path: Path | str, error: OSError | str) -> None:
        self.path = Path(path)
        self.errno = error.errno if isinstance(error, OSError) else None
        super().__init__(f"cannot read state file {_shown(self.path)!r}: {describe_os_error(error)}")


class StateCorruptError(StateError):
    """A state file does not parse or fails validation (it gets quarantined as `*.corrupt`)."""


class FutureSchemaError(StateError):
    """A state file was written by a newer version of lazy-transcode; it is neither used nor overwritten."""


class StateLockedError(StateError):
    """Another live process holds the lease of this operation."""

    def __init__(self, message: str, *, pid: int | None = None, host: str | None = None) -> None:
        self.pid = pid
        self.host = host
        super().__init__(message)


class OperationInterrupted(StateError):
    """Raised at a pause point after the state was saved, because a stop was requested; the work is resumable."""


def describe_os_error(error: OSError | str) -> str:
    """`ENOSPC (No space left on device)`: errno name and text on one line."""
    if not isinstance(error, OSError):
        return str(error).splitlines()[0] if str(error) else "unknown error"
    if error.errno is None:
        return str(error).splitlines()[0] if str(error) else type(error).__name__
    name = _errno.errorcode.get(error.errno, f"errno {error.errno}")
    text = error.strerror or os.strerror(error.errno)
    return f"{name} ({text})"
