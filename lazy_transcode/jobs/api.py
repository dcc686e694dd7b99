"""The interface between a job and whoever runs it (the daemon's workers or the foreground CLI).

A job is `run_job(input_file, options, control)` in `lazy_transcode.jobs.runner`. The owner keeps the
`JobControl`: it pauses and resumes the job's ffmpeg processes (SIGSTOP/SIGCONT of their process
groups), asks the job to stop at its next checkpoint, and receives progress records.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

# The owner's handle lives in `control` (every layer uses it); re-exported for the job's callers.
from lazy_transcode.control import JobControl as JobControl
from lazy_transcode.control import JobStopped as JobStopped
from lazy_transcode.control import Progress as Progress

# The job options are declared in lazy_transcode.options (stdlib only, for ltctl); re-exported for the jobs.
from lazy_transcode.options import CONTAINERS as CONTAINERS
from lazy_transcode.options import MODES as MODES
from lazy_transcode.options import VERIFY_MODES as VERIFY_MODES
from lazy_transcode.options import JobOptions as JobOptions
from lazy_transcode.options import OptionError as OptionError


class JobFailed(Exception):
    """The job cannot finish; the message is one line for the user. The source is untouched."""


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
    setting: dict[str, int] = field(default_factory=dict)  # {"quality": N} or {"bitrate_kbps": N}

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)
