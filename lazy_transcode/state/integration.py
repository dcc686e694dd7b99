"""Integration helpers of the spec: the decorator, the context manager and the CLI functions."""

from __future__ import annotations

import argparse
import asyncio
import functools
import inspect
import logging
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from types import TracebackType
from typing import Any, TextIO, TypeVar

from lazy_transcode.control import JobStopped
from lazy_transcode.failpoints import failpoint
from lazy_transcode.state.discovery import cleanup_completed_states, find_resumable_operations
from lazy_transcode.state.errors import OperationInterrupted, StateError
from lazy_transcode.state.manager import UniversalStateManager
from lazy_transcode.state.operation import TranscodeOperation
from lazy_transcode.state.pause import PauseManager

log = logging.getLogger("lazy_transcode.state")
F = TypeVar("F", bound=Callable[..., Any])

_INPUT_NAMES = ("input_file", "input_path", "path", "file", "source")
_ARG_FIELDS = {  # TranscodeOperation field -> attribute names looked up on an argparse namespace
    "target_vmaf": ("vmaf_target", "target_vmaf"),
    "target_qp": ("qp", "target_qp"),
    "vmaf_tolerance": ("vmaf_tol", "vmaf_tolerance"),
    "preset": ("preset",),
    "samples": ("samples",),
    "output_dir": ("output_dir",),
    "replace_original": ("replace", "replace_original"),
}
_TYPES = {"target_vmaf": (int, float), "target_qp": (int,), "vmaf_tolerance": (int, float), "samples": (int,)}


def _input_of(bound: inspect.BoundArguments) -> str:
    values = bound.arguments
    for name in _INPUT_NAMES:
        if values.get(name):
            return os.fspath(values[name])
    files = values.get("files")
    if files:
        paths = [os.path.abspath(os.fspath(f)) for f in files]
        if len(paths) == 1:
            return paths[0]
        return os.path.commonpath(paths)  # a batch: named after the folder holding all its files
    args = values.get("args")
    for name in ("input", "input_file", "path"):
        value = getattr(args, name, None)
        if isinstance(value, str | os.PathLike) and os.fspath(value):
            return os.fspath(value)
    raise TypeError("with_state_management cannot tell the input: give the function input_file=, files= or args.input")


def _operation_from_call(operation_type: str, bound: inspect.BoundArguments) -> TranscodeOperation:
    values = bound.arguments
    fields: dict[str, Any] = {}
    for name in ("encoder", "encoder_type"):
        if isinstance(values.get(name), str):
            fields[name] = values[name]
    args = values.get("args")
    if args is not None:
        for field_name, attrs in _ARG_FIELDS.items():
            for attr in attrs:
                value = getattr(args, attr, None)
                if value is None:
                    continue
                if field_name == "replace_original":
                    if isinstance(value, bool):
                        fields[field_name] = value
                elif field_name in _TYPES:
                    if isinstance(value, _TYPES[field_name]) and not isinstance(value, bool):
                        fields[field_name] = value
                elif isinstance(value, str | os.PathLike):
                    fields[field_name] = os.fspath(value)
                break
    files = values.get("files")
    extra: dict[str, Any] = {}
    if files and len(files) > 1:
        extra["files"] = [os.path.abspath(os.fspath(f)) for f in files]
    return TranscodeOperation(operation_type=operation_type, input_file=_input_of(bound), extra=extra, **fields)


def with_state_management(operation_type: str, resume_check: bool = True) -> Callable[[F], F]:
    """Run the function under a `UniversalStateManager` passed as `state_manager=` (unless the caller gives
    one). With `resume_check` an existing state is resumed; the lease is held during the call; success
    completes and removes the state; an exception records the error, an interruption saves and keeps it."""

    def decorate(func: F) -> F:
        signature = inspect.signature(func)
        accepts = "state_manager" in signature.parameters or any(
            p.kind is inspect.Parameter.VAR_KEYWORD for p in signature.parameters.values()
        )

        @functools.wraps(func)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            if kwargs.get("state_manager") is not None:
                return func(*args, **kwargs)
            bound = signature.bind_partial(*args, **kwargs)
            operation = _operation_from_call(operation_type, bound)
            with StateAwareOperation(operation, resume=resume_check) as manager:
                if accepts:
                    kwargs["state_manager"] = manager
                return func(*args, **kwargs)

        return wrapper  # type: ignore[return-value]

    return decorate


class StateAwareOperation:
    """Context manager: yields a leased `UniversalStateManager` (resumed when `resume` and a state exists).

    Normal exit marks the operation completed and removes its state. An exception records the error and
    keeps the state; KeyboardInterrupt, SystemExit, `OperationInterrupted`, a stop request of the
    owner's control (`JobStopped`) and a cancelled task save it (emergency save) and mark nothing
    completed. The lease is released in every case.

    `manager` runs the operation under a given (e.g. a job's typed) state manager; `keep_finished`
    resumes even a completed state (a job's record then answers with its recorded result instead of
    starting over); `describe_error` words the error recorded for an exception.
    """

    def __init__(
        self,
        operation: TranscodeOperation,
        resume: bool = True,
        *,
        state_dir: Path | None = None,
        pause_manager: PauseManager | None = None,
        keep_completed: bool = False,
        manager: UniversalStateManager | None = None,
        keep_finished: bool = False,
        describe_error: Callable[[BaseException], str] | None = None,
    ) -> None:
        self.operation = operation
        self.resume = resume
        self.keep_completed = keep_completed
        self.keep_finished = keep_finished
        self.describe_error = describe_error or (lambda exc: f"{type(exc).__name__}: {exc}")
        self.manager = manager or UniversalStateManager(operation, state_dir=state_dir, pause_manager=pause_manager)
        self.resumed = False

    def __enter__(self) -> UniversalStateManager:
        manager = self.manager
        manager.acquire_lease()
        try:
            loaded = manager.load_state()
            if loaded and self.resume and (self.keep_finished or not manager.state.completed):
                self.resumed = True
                if not manager.state.completed:
                    manager.state.error_message = None
                    manager.state.success = None
            else:
                # a new run (resume not wanted, or the saved run had finished): start from a fresh state
                manager.state = type(manager.state)(operation=self.operation)
            manager.save_state()
        except BaseException:
            manager.release_lease()
            manager.close()
            raise
        return manager

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> bool:
        manager = self.manager
        try:
            if exc is None:
                manager.mark_completed(success=True)
                failpoint("completed-unremoved")
                if not self.keep_completed:
                    manager.finish_completed()
            elif isinstance(exc, _INTERRUPTIONS):
                manager.record_interruption(type(exc).__name__)
            else:
                try:
                    manager.mark_completed(success=False, error_message=self.describe_error(exc))
                except StateError as save_error:
                    log.error("could not record the failure in %s: %s", manager.state_file, save_error)
        finally:
            manager.release_lease()
            manager.close()
        return False


# Interruptions, not failures: the work stopped (or was stopped) and is resumable from its state.
_INTERRUPTIONS = (
    KeyboardInterrupt,
    SystemExit,
    OperationInterrupted,
    GeneratorExit,
    JobStopped,
    asyncio.CancelledError,
)


# --- command line ---------------------------------------------------------------------------------------


def add_state_management_args(parser: argparse.ArgumentParser) -> argparse._ArgumentGroup:
    """The spec's flags: --resume, --list-resumable, --cleanup-old-states DAYS."""
    state_group = parser.add_argument_group("State Management")
    state_group.add_argument("--resume", action="store_true", help="resume interrupted operations")
    state_group.add_argument(
        "--list-resumable", action="store_true", help="list interrupted operations under the input path"
    )
    state_group.add_argument(
        "--cleanup-old-states",
        type=int,
        metavar="DAYS",
        help="remove states of operations completed more than DAYS days ago",
    )
    return state_group


def handle_state_cli(args: argparse.Namespace, input_path: Path | str, out: TextIO | None = None) -> bool:
    """Handle --list-resumable / --cleanup-old-states; True when one was handled (the program is done)."""
    out = out or sys.stdout
    if getattr(args, "list_resumable", False):
        list_resumable_cli(input_path, out=out)
        return True
    days = getattr(args, "cleanup_old_states", None)
    if days is not None:
        removed = cleanup_completed_states(Path(input_path), days)
        out.write(f"Removed {len(removed)} completed state file(s) older than {days} day(s)\n")
        for path in removed:
            out.write(f"  {_display(path)}\n")
        return True
    return False


def _display(value: Any) -> str:
    """One line per entry even for names with newlines or undecodable bytes."""
    text = os.fspath(value) if isinstance(value, os.PathLike) else str(value)
    return "".join(c if c.isprintable() else c.encode("unicode_escape", "backslashreplace").decode() for c in text)


def _age(seconds: float) -> str:
    seconds = max(0.0, seconds)
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if seconds >= size:
            return f"{seconds / size:.0f} {unit} ago"
    return f"{seconds:.0f} s ago"


def list_resumable_cli(path: Path | str, operation_type: str | None = None, out: TextIO | None = None) -> int:
    """Print the resumable operations under `path`; returns how many were found."""
    out = out or sys.stdout
    ops = find_resumable_operations(Path(path), operation_type=operation_type)
    if not ops:
        out.write(f"No resumable operations under {_display(path)}\n")
        return 0
    out.write(f"{len(ops)} resumable operation(s) under {_display(path)}:\n")
    now = time.time()
    for op in ops:
        flags = []
        if op.get("paused"):
            flags.append("paused")
        if op.get("in_progress_by"):
            flags.append(f"in progress by {op['in_progress_by']}")
        if op.get("error_message"):
            flags.append(f"last error: {op['error_message']}")
        suffix = f" [{'; '.join(flags)}]" if flags else ""
        out.write(
            f"  {op['operation_type']:<6} {op['progress_percent']:5.1f}%  step {op['current_step']!s:<20} "
            f"{_age(now - op['updated_time']):>12}  {_display(op['input_file'])}{suffix}\n"
        )
    return len(ops)
