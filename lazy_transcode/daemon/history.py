"""A finished job's history row: what `ltctl history` and `ltctl stats` read, kept after `clean`.

Built from the queue's row, how the job ended and its run here (wall time since it started in this
daemon, CPU time of its ffmpeg children). Sizes come from the job's result; a job that ended without
one (failed, cancelled) has its source measured now, so its size is known too.
"""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lazy_transcode.protocol import JobState

if TYPE_CHECKING:
    from lazy_transcode.daemon.queue_store import Job
    from lazy_transcode.daemon.worker import ActiveJob


def library_of(source: str, libraries: Sequence[Path]) -> str | None:
    """The library root a source lies under (the deepest of them), None when it is under none."""
    path = Path(source)
    inside = [root for root in libraries if path == root or path.is_relative_to(root)]
    return str(max(inside, key=lambda root: len(root.parts))) if inside else None


def _size(path: str) -> int | None:
    try:
        return os.stat(path).st_size
    except OSError:
        return None


def history_row(
    job: Job,
    state: JobState,
    result: dict[str, Any] | None,
    error: str | None,
    run: ActiveJob | None,
    libraries: Sequence[Path],
) -> dict[str, Any]:
    result = result or job.result or {}
    options = job.options
    setting = result.get("setting") or {}
    now = time.time()
    reason = error if state is not JobState.SKIPPED else (result.get("reason") or error)
    source_size = result.get("source_size")
    return {
        "job_id": job.id,
        "source": job.input,
        "library": library_of(job.input, libraries),
        "state": str(state),
        "reason": reason,
        "output": result.get("output_file") if state is JobState.COMPLETED else None,
        "source_size": source_size if source_size is not None else _size(job.input),
        "output_size": result.get("output_size") if state is JobState.COMPLETED else None,
        "mode": options.get("mode"),
        "encoder": options.get("encoder"),
        "preset": options.get("preset"),
        "quality": setting.get("quality"),
        "bitrate_kbps": setting.get("bitrate_kbps"),
        "vmaf": result.get("vmaf"),
        "options": options,
        "wall_seconds": round(now - run.started, 3) if run is not None else None,
        "cpu_seconds": round(run.control.cpu_seconds, 3) if run is not None else None,
        "finished": now,
    }
