"""`UniversalStateManager`: one operation's state, saved atomically, loaded safely, leased, pausable."""

from __future__ import annotations

import logging
import math
import os
import threading
import time
from pathlib import Path
from typing import Any

from lazy_transcode.state import lease as lease_mod
from lazy_transcode.state import store
from lazy_transcode.state.errors import (
    FutureSchemaError,
    OperationInterrupted,
    StateCorruptError,
    StateError,
    StateWriteError,
)
from lazy_transcode.state.held import HeldFolder
from lazy_transcode.state.operation import TranscodeOperation, json_value_problem
from lazy_transcode.state.pause import PauseManager, default_pause_manager
from lazy_transcode.state.schema import INITIAL_STEP, TranscodeState

log = logging.getLogger("lazy_transcode.state")


class UniversalStateManager:
    """Keeps `state` of one operation in `state_file`.

    Nothing is written until the first `save_state()`; a file is never overwritten before it was read
    (a newer schema's file is refused, never replaced). `acquire_lease()` guards against a second process.

    `state_dir` and `state_file` name the files as the user knows them; every read and write goes
    through the state folder held open (`folder`, see `state.held`), so a state folder that is a
    symbolic link, someone else's or writable by others is refused (`UnsafeFolderError`) and nothing
    in a link's target is touched. `parent` is the media folder the state folder is opened in (a held
    path too, when the caller checked it); `close()` lets the folder go.
    """

    def __init__(
        self,
        operation: TranscodeOperation,
        *,
        state_dir: Path | None = None,
        pause_manager: PauseManager | None = None,
        lease_expiry: float = lease_mod.DEFAULT_EXPIRY,
        parent: Path | None = None,
    ) -> None:
        self.operation = operation
        self.state_dir = Path(state_dir) if state_dir is not None else store.default_state_dir(operation.input_file)
        self.state_file = self.state_dir / store.state_file_name(operation.input_file, operation.operation_type)
        self.folder = HeldFolder(self.state_dir, parent=parent)
        self.pause_manager = pause_manager or default_pause_manager()
        self.lease_expiry = lease_expiry
        self.state = TranscodeState(operation=operation)
        self._checked_existing = False  # whether the file on disk (if any) was looked at before writing
        self._lease: lease_mod.LeaseInfo | None = None
        # saves are serialised; a thread changing `state` while another may save should hold this too
        self.lock = threading.RLock()

    def __repr__(self) -> str:
        return f"UniversalStateManager({self.operation.operation_type!r}, {os.fsdecode(self.state_file)!r})"

    # --- the held folder ----------------------------------------------------------------------------------
    def open_folder(self, *, create: bool = True) -> Path | None:
        """The state folder's held path (created when `create`; None when it does not exist), checked
        to be ours and writable by nobody else; raises `UnsafeFolderError` (one line) otherwise."""
        return self.folder.open(create=create, writable=True)

    @property
    def io_state_file(self) -> Path:
        """The state file through the held folder (opened, and created, on first use)."""
        held = self.open_folder()
        assert held is not None
        return held / self.state_file.name

    def close(self) -> None:
        """Let the held state folder go (the next use opens and checks it again)."""
        self.folder.close()

    # --- reading ------------------------------------------------------------------------------------------
    def load_state(self) -> bool:
        """Load the saved state. False when there is none or it was corrupt (then quarantined with a
        warning). Raises `FutureSchemaError` for a newer version's file (left untouched)."""
        self._checked_existing = True
        held = self.open_folder(create=False)
        if held is None:
            return False
        store.clean_stale_temps(held)
        path = held / self.state_file.name
        raw = store.read_bytes(path)
        if raw is None:
            return False
        try:
            state = TranscodeState.from_dict(store.parse_json(raw))
            self.validate_state(state)
        except FutureSchemaError as exc:
            self._checked_existing = False  # keep refusing to write over it
            raise FutureSchemaError(f"{os.fsdecode(self.state_file)!r}: {exc}") from None
        except StateCorruptError as exc:
            store.quarantine(path, str(exc))
            return False
        self.state = state
        return True

    def validate_state(self, state: TranscodeState) -> None:
        """Further checks of a state read from disk (a job types its own keys); raise `StateCorruptError`."""

    def _check_before_first_write(self) -> None:
        """Refuse to overwrite a file of a newer schema that this manager never loaded."""
        path = self.io_state_file
        raw = store.read_bytes(path)
        if raw is not None:
            try:
                self.validate_state(TranscodeState.from_dict(store.parse_json(raw)))
            except FutureSchemaError as exc:
                raise FutureSchemaError(f"{os.fsdecode(self.state_file)!r}: {exc}; not overwriting it") from None
            except StateCorruptError as exc:
                store.quarantine(path, str(exc))  # kept aside for inspection, then replaced
        store.clean_stale_temps(path.parent)
        self._checked_existing = True

    # --- writing ------------------------------------------------------------------------------------------
    def save_state(self) -> None:
        """Write the state: one JSON dump, one temp file, fsync, rename, folder fsync. Raises `StateWriteError`."""
        with self.lock:
            self._save_locked()

    def _save_locked(self) -> None:
        if not self._checked_existing:
            self._check_before_first_write()
        self.state.updated_time = time.time()
        try:
            store.atomic_write_json(self.io_state_file, self.state.to_dict())
        except StateWriteError as exc:
            if not self._folder_removed():
                raise exc
            self.close()  # removed meanwhile (a cleanup): create it again, once
            store.atomic_write_json(self.io_state_file, self.state.to_dict())
        if self._lease is not None and time.time() - self._lease.refreshed > self.lease_expiry / 5:
            self._lease = lease_mod.refresh(self.io_state_file, self._lease)

    def _folder_removed(self) -> bool:
        fd = self.folder.fd
        try:
            return fd is None or os.fstat(fd).st_nlink == 0
        except OSError:
            return True

    def update_step(self, step: str, progress: float | None = None) -> None:
        """Enter `step`: the previous step joins `steps_completed` (once), progress is recorded, state saved."""
        if not isinstance(step, str) or not step:
            raise ValueError("step must be a non-empty string")
        if progress is not None:
            if isinstance(progress, bool) or not isinstance(progress, int | float) or not math.isfinite(progress):
                raise ValueError(f"progress must be a number in [0, 100], not {progress!r}")
            if not 0.0 <= progress <= 100.0:
                raise ValueError(f"progress must be a number in [0, 100], not {progress!r}")
        with self.lock:
            previous = self.state.current_step
            if previous != step and previous != INITIAL_STEP and previous not in self.state.steps_completed:
                self.state.steps_completed.append(previous)
            self.state.current_step = step
            if progress is not None:
                self.state.progress_percent = float(progress)
            self.save_state()

    def mark_completed(
        self, success: bool, result: dict[str, Any] | Any = None, error_message: str | None = None
    ) -> None:
        """Record the outcome. Only success completes an operation: a failure keeps it resumable (with its
        error), so interrupted or failed work is never reported as completed."""
        if success:
            self.state.completed = True
            self.state.success = True
            self.state.error_message = None
            self.state.progress_percent = 100.0
            if result is not None:
                problem = json_value_problem(result, "result")
                if problem:
                    log.warning("result not stored in the state: %s", problem)
                else:
                    self.state.best_result = result
        else:
            self.state.completed = False
            self.state.success = False
            self.state.error_message = _one_line(error_message) if error_message else "failed"
        self.state.paused = False
        self.save_state()

    def record_interruption(self, reason: str) -> None:
        """Emergency save after an interruption: keeps everything, completes nothing. Never raises."""
        self.state.completed = False
        self.state.error_message = _one_line(f"interrupted: {reason}")
        try:
            self.save_state()
        except Exception as exc:  # an emergency save must not hide the interruption itself
            log.error("emergency save of %s failed: %s", self.state_file, exc)

    def check_pause_point(self) -> None:
        """A pause point: blocks while paused; after a stop request saves the state and raises
        `OperationInterrupted`."""
        pm = self.pause_manager
        if pm.stop_requested:
            self._stop_here()
        if not pm.is_paused:
            return
        self.state.paused = True
        self.save_state()
        stop = pm.wait_if_paused()
        self.state.paused = False
        if stop:
            self._stop_here()
        self.save_state()

    def _stop_here(self) -> None:
        self.state.paused = False
        self.state.completed = False
        self.save_state()
        raise OperationInterrupted(f"stopped at step {self.state.current_step!r}; state saved, resumable")

    def finish_completed(self) -> None:
        """What becomes of a completed operation's state: removed (the spec's automatic cleanup)."""
        self.cleanup_state()

    def cleanup_state(self) -> None:
        """Remove the state file (and our lease); removes the state folder when it is left empty."""
        held = self.open_folder(create=False)
        if held is None:
            self._lease = None
            return
        try:
            os.unlink(held / self.state_file.name)
        except FileNotFoundError:
            pass
        except OSError as exc:
            raise StateWriteError(self.state_file, exc, action="remove state file") from exc
        self.release_lease()
        store.clean_stale_temps(held)
        self.folder.remove_if_empty()
        self.close()

    # --- lease --------------------------------------------------------------------------------------------
    def acquire_lease(self) -> None:
        """Take the operation's lease (idempotent); raises `StateLockedError` if a live process holds it."""
        subject = f"{self.operation.operation_type} of {Path(self.operation.input_file).name!r}"
        self._lease = lease_mod.acquire(self.io_state_file, expiry=self.lease_expiry, subject=subject)

    def refresh_lease(self) -> None:
        """Renew the lease now (a long step without saves should call this every minute or so, so that
        other hosts do not see it expire); raises `StateLockedError` if it was taken over meanwhile."""
        with self.lock:
            if self._lease is not None:
                self._lease = lease_mod.refresh(self.io_state_file, self._lease)

    def release_lease(self) -> None:
        """Give the lease back (idempotent); a state folder that is gone or unsafe holds no lease of ours."""
        held = self.folder.held
        if held is None and self._lease is not None:
            try:
                held = self.open_folder(create=False)
            except StateError:
                held = None
        if held is not None and (self._lease is not None or lease_mod.lease_path(held / self.state_file.name).exists()):
            lease_mod.release(held / self.state_file.name)
        self._lease = None

    @property
    def holds_lease(self) -> bool:
        return self._lease is not None


def _one_line(text: str) -> str:
    lines = [line.strip() for line in str(text).splitlines() if line.strip()]
    return lines[0] if lines else str(text)
