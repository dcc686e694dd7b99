"""`TranscodeOperation`: what an operation is (type, input, encoder and parameters), stored in its state file."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, fields
from typing import Any

from lazy_transcode.state.errors import StateCorruptError

# The operation types the project uses; any other string is allowed too (custom operations).
KNOWN_OPERATION_TYPES = ("vbr", "qp", "auto", "batch", "custom")


@dataclass
class TranscodeOperation:
    """Describes one operation; round-trips exactly through JSON (`to_dict` / `from_dict`)."""

    operation_type: str  # 'vbr', 'qp', 'auto', 'batch', 'custom' or any string
    input_file: str
    encoder: str | None = None
    encoder_type: str | None = None
    target_vmaf: float | None = None
    target_qp: int | None = None
    vmaf_tolerance: float | None = None
    preset: str | None = None
    samples: int | None = None
    output_dir: str | None = None
    replace_original: bool = False
    extra: dict[str, Any] = field(default_factory=dict)  # operation-specific parameters (JSON values)

    def __post_init__(self) -> None:
        problem = _check(self)
        if problem:
            raise ValueError(problem)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Any) -> TranscodeOperation:
        """Build from untrusted data (a state file); raises `StateCorruptError` with a one-line reason."""
        if not isinstance(data, dict):
            raise StateCorruptError(f"'operation' must be an object, not {_tname(data)}")
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise StateCorruptError(f"unknown operation field {unknown[0]!r}")
        for required in ("operation_type", "input_file"):
            if required not in data:
                raise StateCorruptError(f"operation field {required!r} is missing")
        try:
            return cls(**data)
        except ValueError as exc:
            raise StateCorruptError(str(exc)) from None


_FIELD_TYPES: dict[str, tuple[type, ...]] = {
    "operation_type": (str,),
    "input_file": (str,),
    "encoder": (str, type(None)),
    "encoder_type": (str, type(None)),
    "target_vmaf": (float, int, type(None)),
    "target_qp": (int, type(None)),
    "vmaf_tolerance": (float, int, type(None)),
    "preset": (str, type(None)),
    "samples": (int, type(None)),
    "output_dir": (str, type(None)),
    "replace_original": (bool,),
    "extra": (dict,),
}


def _tname(value: Any) -> str:
    return "null" if value is None else type(value).__name__


def _check(op: TranscodeOperation) -> str | None:
    for name, allowed in _FIELD_TYPES.items():
        value = getattr(op, name)
        if isinstance(value, bool) and bool not in allowed:
            return f"operation field {name!r} has the wrong type (bool)"
        if not isinstance(value, allowed):
            return f"operation field {name!r} has the wrong type ({_tname(value)})"
        if isinstance(value, float) and not math.isfinite(value):
            return f"operation field {name!r} must be a finite number, not {value}"
    if not op.operation_type:
        return "operation_type must not be empty"
    if not op.input_file:
        return "input_file must not be empty"
    problem = json_value_problem(op.extra, "extra")
    return problem


def json_value_problem(value: Any, where: str, depth: int = 0) -> str | None:
    """Why `value` would not round-trip exactly through JSON (None when it would)."""
    if depth > 100:
        return f"{where} is nested too deeply"
    if value is None or isinstance(value, bool | int | str):
        return None
    if isinstance(value, float):
        return None if math.isfinite(value) else f"{where} holds a non-finite number"
    if isinstance(value, list):
        for i, item in enumerate(value):
            problem = json_value_problem(item, f"{where}[{i}]", depth + 1)
            if problem:
                return problem
        return None
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str):
                return f"{where} has a non-string key {key!r}"
            problem = json_value_problem(item, f"{where}[{key!r}]", depth + 1)
            if problem:
                return problem
        return None
    return f"{where} holds a {type(value).__name__}, which JSON cannot hold"
