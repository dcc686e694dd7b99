"""The interface between a job and whoever runs it (the daemon's workers or the foreground CLI).

A job is `run_job(input_file, options, control)` in `lazy_transcode.jobs.runner`. The owner keeps the
`JobControl`: it pauses and resumes the job's ffmpeg processes (SIGSTOP/SIGCONT of their process
groups), asks the job to stop at its next checkpoint, and receives progress records.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from typing import Any

# The owner's handle lives in `control` (every layer uses it); re-exported for the job's callers.
from lazy_transcode.control import JobControl as JobControl
from lazy_transcode.control import JobStopped as JobStopped
from lazy_transcode.control import Progress as Progress

MODES = ("qp", "vbr", "auto")
CONTAINERS = ("mkv", "mp4")
# full: every frame of the output is decoded before it may replace anything; quick: frames, timestamps
# and streams are checked without decoding the frames the encoder just wrote (about 5 % less CPU).
VERIFY_MODES = ("full", "quick")


class JobFailed(Exception):
    """The job cannot finish; the message is one line for the user. The source is untouched."""


class OptionError(ValueError):
    """A job option has a wrong name, type or value."""


@dataclass
class JobOptions:
    """Options of one job: the contract's job options (`ltctl add`, `lazy-transcode`)."""

    mode: str = "qp"
    vmaf_target: float = 95.0
    vmaf_tol: float = 1.0
    encoder: str = "libx265"
    preset: str | None = None
    qp: int | None = None
    samples: int | None = None
    output_dir: str | None = None
    replace: bool = False
    force: bool = False
    container: str = "mkv"
    piece_seconds: float = 10.0
    min_saving: float = 0.05
    verify: str = "full"

    def validate(self) -> JobOptions:
        if self.mode not in MODES:
            raise OptionError(f"mode must be one of {', '.join(MODES)}, not {self.mode!r}")
        if self.container not in CONTAINERS:
            raise OptionError(f"container must be one of {', '.join(CONTAINERS)}, not {self.container!r}")
        if self.verify not in VERIFY_MODES:
            raise OptionError(f"verify must be one of {', '.join(VERIFY_MODES)}, not {self.verify!r}")
        if not 0 < self.vmaf_target <= 100:
            raise OptionError(f"vmaf_target must be in (0, 100], not {self.vmaf_target}")
        if not 0 <= self.vmaf_tol <= 20:
            raise OptionError(f"vmaf_tol must be in [0, 20], not {self.vmaf_tol}")
        if self.qp is not None and not 0 <= self.qp <= 255:
            raise OptionError(f"qp must be in [0, 255], not {self.qp}")
        if self.samples is not None and not 1 <= self.samples <= 100:
            raise OptionError(f"samples must be in [1, 100], not {self.samples}")
        if not 1.0 <= self.piece_seconds <= 600.0:
            raise OptionError(f"piece_seconds must be in [1, 600], not {self.piece_seconds}")
        if not 0.0 <= self.min_saving < 1.0:
            raise OptionError(f"min_saving must be in [0, 1), not {self.min_saving}")
        if self.replace and self.output_dir:
            raise OptionError("replace and output_dir exclude each other")
        return self

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> JobOptions:
        """Build from untrusted data (a msgpack request, a TOML table, a state file): checks every type."""
        known = {f.name: f for f in fields(cls)}
        kwargs: dict[str, Any] = {}
        for key, value in data.items():
            name = key.replace("-", "_")
            if name not in known:
                raise OptionError(f"unknown job option {key!r}")
            kwargs[name] = _coerce(name, value)
        return cls(**kwargs).validate()


_TYPES: dict[str, tuple[type, ...]] = {
    "mode": (str,),
    "vmaf_target": (float, int),
    "vmaf_tol": (float, int),
    "encoder": (str,),
    "preset": (str, type(None)),
    "qp": (int, type(None)),
    "samples": (int, type(None)),
    "output_dir": (str, type(None)),
    "replace": (bool,),
    "force": (bool,),
    "container": (str,),
    "piece_seconds": (float, int),
    "min_saving": (float, int),
    "verify": (str,),
}


def _coerce(name: str, value: Any) -> Any:
    allowed = _TYPES[name]
    if isinstance(value, bool) and bool not in allowed:
        raise OptionError(f"job option {name!r} has the wrong type (bool)")
    if not isinstance(value, allowed):
        raise OptionError(f"job option {name!r} has the wrong type ({type(value).__name__})")
    if float in allowed and isinstance(value, int):
        return float(value)
    return value


@dataclass
class JobResult:
    """How a job ended: completed (output placed), skipped (with the reason) or failed."""

    status: str
    input_file: str
    output_file: str | None = None
    reason: str | None = None
    source_size: int | None = None
    output_size: int | None = None
    vmaf: float | None = None
    setting: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)
