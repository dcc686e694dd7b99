"""Finding state files under a folder: resumable operations, resuming one, removing old completed ones."""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from lazy_transcode.state import lease as lease_mod
from lazy_transcode.state import store
from lazy_transcode.state.errors import FutureSchemaError, StateCorruptError, StateReadError
from lazy_transcode.state.held import HeldFolder, UnsafeFolderError
from lazy_transcode.state.manager import UniversalStateManager
from lazy_transcode.state.schema import TranscodeState

log = logging.getLogger("lazy_transcode.state")


def _candidates(root: Path) -> Iterator[Path]:
    root = Path(root)
    if root.name == store.STATE_DIR_NAME and root.is_dir():
        yield root
        return
    if not root.is_dir():
        candidate = root.parent / store.STATE_DIR_NAME  # a file: the folder beside it
        if candidate.is_dir():
            yield candidate
        return
    for folder, subdirs, _files in os.walk(root, onerror=lambda _e: None):
        if store.STATE_DIR_NAME in subdirs:
            yield Path(folder) / store.STATE_DIR_NAME
        subdirs[:] = sorted(d for d in subdirs if d != store.STATE_DIR_NAME)


def _state_dirs(root: Path) -> Iterator[tuple[Path, Path]]:
    """Every `.lazy_transcode_state` folder under `root` as (its path, its held path), each held open
    while the caller works in it. A state folder that is a symbolic link is skipped with one warning
    (nothing in its target is read, renamed or removed); unreadable folders are skipped quietly."""
    for path in _candidates(root):
        folder = HeldFolder(path)
        try:
            held = folder.open(create=False, writable=False)
        except UnsafeFolderError as exc:
            log.warning("skipping %s", exc)
            continue
        if held is None:
            continue
        try:
            yield path, held
        finally:
            folder.close()


def _state_files(folder: Path) -> list[Path]:
    try:
        names = sorted(os.listdir(folder))
    except OSError:
        return []
    return [folder / n for n in names if n.endswith(store.STATE_SUFFIX) and not n.startswith(store.TEMP_PREFIX)]


def read_state_file(path: Path) -> TranscodeState | None:
    """The state in `path`; None when absent, unreadable, of a newer schema (warned) or corrupt (quarantined)."""
    try:
        raw = store.read_bytes(path)
    except StateReadError as exc:
        log.warning("%s", exc)
        return None
    if raw is None:
        return None
    try:
        return TranscodeState.from_dict(store.parse_json(raw))
    except FutureSchemaError as exc:
        log.warning("skipping %s: %s", path, exc)
        return None
    except StateCorruptError as exc:
        store.quarantine(path, str(exc))
        return None


def find_resumable_operations(root: Path | str, operation_type: str | None = None) -> list[dict[str, Any]]:
    """Incomplete operations under `root` (a folder, walked recursively, or a file), newest first."""
    root_path = Path(root)
    only_file = None if root_path.is_dir() else os.path.abspath(root_path)
    found: list[dict[str, Any]] = []
    for folder, held in _state_dirs(root_path):
        for io_path in _state_files(held):
            path = folder / io_path.name
            state = read_state_file(io_path)
            if state is None or state.completed:
                continue
            op = state.operation
            if operation_type is not None and op.operation_type != operation_type:
                continue
            if only_file is not None and os.path.abspath(op.input_file) != only_file:
                continue
            if not os.path.lexists(op.input_file) and not state.checkpoint.get("output"):
                continue  # can never resume: its source is gone and no finished output waits for placement
            holder = lease_mod.read(io_path)
            found.append(
                {
                    "operation_type": op.operation_type,
                    "input_file": op.input_file,
                    "current_step": state.current_step,
                    "progress_percent": state.progress_percent,
                    "state_file": path,
                    "updated_time": state.updated_time,
                    "steps_completed": list(state.steps_completed),
                    "paused": state.paused,
                    "error_message": state.error_message,
                    "in_progress_by": (
                        f"pid {holder.pid} on {holder.host}" if holder and holder.stale_reason() is None else None
                    ),
                }
            )
    found.sort(key=lambda op: (-op["updated_time"], os.fsencode(op["state_file"])))
    return found


def resume_operation_from_state(state_file: Path | str) -> UniversalStateManager | None:
    """A manager loaded from `state_file`, or None when it is missing or corrupt (quarantined).
    Raises `FutureSchemaError` for a newer version's file."""
    path = Path(os.path.abspath(state_file))
    folder = HeldFolder(path.parent)
    held = folder.open(create=False, writable=False)  # a state folder that is a link: UnsafeFolderError
    if held is None:
        return None
    try:
        raw = store.read_bytes(held / path.name)
        if raw is None:
            return None
        try:
            state = TranscodeState.from_dict(store.parse_json(raw))
        except FutureSchemaError as exc:
            raise FutureSchemaError(f"{os.fsdecode(path)!r}: {exc}") from None
        except StateCorruptError as exc:
            store.quarantine(held / path.name, str(exc))
            return None
    finally:
        folder.close()
    manager = UniversalStateManager(state.operation, state_dir=path.parent)
    manager.state_file = path  # the file we were given, whatever its name
    manager.state = state
    manager._checked_existing = True
    return manager


def cleanup_completed_states(root: Path | str, days: float) -> list[Path]:
    """Remove states of operations completed successfully more than `days` days ago; return them.

    Failed, interrupted and other incomplete states are kept (they are resumable work), as are files of
    a newer schema. Corrupt files are quarantined as everywhere else; leftover temp files of dead writers
    are removed too.
    """
    if isinstance(days, bool) or not isinstance(days, int | float) or days < 0:
        raise ValueError(f"days must be a non-negative number, not {days!r}")
    cutoff = time.time() - days * 86400.0
    removed: list[Path] = []
    for folder, held in _state_dirs(Path(root)):
        store.clean_stale_temps(held)
        for io_path in _state_files(held):
            path = folder / io_path.name
            state = read_state_file(io_path)
            if state is None or not state.completed or state.updated_time > cutoff:
                continue
            try:
                os.unlink(io_path)
            except OSError as exc:
                log.warning("cannot remove completed state %s: %s", path, exc)
                continue
            removed.append(path)
            holder = lease_mod.read(io_path)
            if holder is None or holder.stale_reason() is not None:
                try:
                    os.unlink(lease_mod.lease_path(io_path))
                except OSError:
                    pass
        _remove_if_empty(folder, held)
    return removed


def _remove_if_empty(folder: Path, held: Path) -> None:
    """rmdir the state folder (only succeeds when nothing is left) if its name is still the held one."""
    try:
        if os.path.samestat(os.stat(held), os.lstat(folder)):
            os.rmdir(folder)
    except OSError:
        pass
