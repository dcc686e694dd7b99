"""The state record (`TranscodeState`): the spec's keys plus ours, validated on read, unknown keys kept."""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Any

from lazy_transcode.state.errors import FutureSchemaError, StateCorruptError
from lazy_transcode.state.operation import TranscodeOperation, json_value_problem

# 2: the job keys (`checkpoint`, `optimization_results`, `best_result`) got one typed shape; the generic
# keys are the same in both, and files of version 1 (0.1.0, and the original's, which had no version)
# are read as they are (the job's record migrates its own keys).
SCHEMA_VERSION = 2
INITIAL_STEP = "initialization"


@dataclass
class TranscodeState:
    """Everything saved for one operation. `checkpoint` is the operation's own resume data."""

    operation: TranscodeOperation
    schema_version: int = SCHEMA_VERSION
    current_step: str = INITIAL_STEP
    steps_completed: list[str] = field(default_factory=list)
    progress_percent: float = 0.0
    clips_extracted: bool | list[Any] = False
    optimization_results: list[Any] | dict[str, Any] = field(default_factory=list)
    best_result: Any = None
    completed: bool = False
    success: bool | None = None
    error_message: str | None = None
    paused: bool = False
    start_time: float = field(default_factory=time.time)
    updated_time: float = field(default_factory=time.time)
    checkpoint: dict[str, Any] = field(default_factory=dict)
    unknown: dict[str, Any] = field(default_factory=dict)  # keys of a file we do not know, written back as-is
    loaded_version: int = field(default=SCHEMA_VERSION, compare=False)  # the version the file had when read

    def to_dict(self) -> dict[str, Any]:
        """The JSON object of the file (no deep copy: it is serialised at once)."""
        data: dict[str, Any] = dict(self.unknown)
        data.update(
            schema_version=self.schema_version,
            operation=self.operation.to_dict(),
            current_step=self.current_step,
            steps_completed=self.steps_completed,
            progress_percent=self.progress_percent,
            clips_extracted=self.clips_extracted,
            optimization_results=self.optimization_results,
            best_result=self.best_result,
            completed=self.completed,
            success=self.success,
            error_message=self.error_message,
            paused=self.paused,
            start_time=self.start_time,
            updated_time=self.updated_time,
            checkpoint=self.checkpoint,
        )
        return data

    @classmethod
    def from_dict(cls, data: Any) -> TranscodeState:
        """Validate untrusted data. Raises `FutureSchemaError` or `StateCorruptError` (one line)."""
        if not isinstance(data, dict):
            raise StateCorruptError(f"a state must be a JSON object, not {_tname(data)}")
        version = data.get("schema_version", 1)  # files of the original have no version: they are version 1
        if isinstance(version, bool) or not isinstance(version, int) or version < 1:
            raise StateCorruptError(f"'schema_version' must be a positive integer, not {version!r}")
        if version > SCHEMA_VERSION:
            raise FutureSchemaError(
                f"state schema version {version} is newer than this lazy-transcode supports ({SCHEMA_VERSION}); "
                "upgrade lazy-transcode to use it"
            )
        if "operation" not in data:
            raise StateCorruptError("'operation' is missing")
        operation = TranscodeOperation.from_dict(data["operation"])
        values: dict[str, Any] = {}
        for key, check in _CHECKS.items():
            if key in data:
                problem = check(data[key])
                if problem:
                    raise StateCorruptError(f"{key!r} {problem}")
                values[key] = data[key]
        for key in ("best_result",):
            if key in data:
                problem = json_value_problem(data[key], key)
                if problem:
                    raise StateCorruptError(problem)
                values[key] = data[key]
        unknown = {k: v for k, v in data.items() if k not in _KNOWN}
        now = time.time()
        values.setdefault("start_time", now)
        values.setdefault("updated_time", values["start_time"])
        values["loaded_version"] = version
        return cls(operation=operation, schema_version=SCHEMA_VERSION, unknown=unknown, **values)


def _tname(value: Any) -> str:
    return "null" if value is None else type(value).__name__


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _check_str(value: Any) -> str | None:
    return None if isinstance(value, str) else f"must be a string, not {_tname(value)}"


def _check_opt_str(value: Any) -> str | None:
    return None if value is None or isinstance(value, str) else f"must be a string or null, not {_tname(value)}"


def _check_steps(value: Any) -> str | None:
    if not isinstance(value, list) or not all(isinstance(s, str) for s in value):
        return "must be a list of strings"
    return None


def _check_progress(value: Any) -> str | None:
    if not _is_number(value) or not 0.0 <= value <= 100.0:
        return f"must be a number in [0, 100], not {value!r}"
    return None


def _check_bool(value: Any) -> str | None:
    return None if isinstance(value, bool) else f"must be true or false, not {_tname(value)}"


def _check_opt_bool(value: Any) -> str | None:
    return None if value is None or isinstance(value, bool) else f"must be true, false or null, not {_tname(value)}"


def _check_time(value: Any) -> str | None:
    return None if _is_number(value) and value >= 0 else f"must be a non-negative number, not {value!r}"


def _check_clips(value: Any) -> str | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, list):
        return json_value_problem(value, "value")
    return f"must be true, false or a list, not {_tname(value)}"


def _check_results(value: Any) -> str | None:
    if not isinstance(value, list | dict):
        return f"must be a list or an object, not {_tname(value)}"
    return json_value_problem(value, "value")


def _check_checkpoint(value: Any) -> str | None:
    if not isinstance(value, dict):
        return f"must be an object, not {_tname(value)}"
    return json_value_problem(value, "value")


_CHECKS = {
    "current_step": _check_str,
    "steps_completed": _check_steps,
    "progress_percent": _check_progress,
    "clips_extracted": _check_clips,
    "optimization_results": _check_results,
    "completed": _check_bool,
    "success": _check_opt_bool,
    "error_message": _check_opt_str,
    "paused": _check_bool,
    "start_time": _check_time,
    "updated_time": _check_time,
    "checkpoint": _check_checkpoint,
}
_KNOWN = {"schema_version", "operation", "best_result", *_CHECKS}
