"""One running job: its JobControl, live progress, and the coroutine that runs it through the job engine.

The engine (`lazy_transcode.jobs.runner.run_job`) is async and runs ffmpeg as subprocesses in their
own process groups, so jobs share the daemon's event loop. How a job ended is decided here:
`JobResult.status` maps to the job state; `JobStopped` means the owner asked (cancel or shutdown).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lazy_transcode.jobs.api import JobControl, JobFailed, JobOptions, JobResult, JobStopped, Progress
from lazy_transcode.media.averror import plain
from lazy_transcode.protocol import JobState

log = logging.getLogger(__name__)

JobRunner = Callable[[str, JobOptions, JobControl], Awaitable[JobResult]]
FileRemover = Callable[[str, JobOptions], None]

# `JobResult.status` -> the job state it ends in.
RESULT_STATES = {"completed": JobState.COMPLETED, "skipped": JobState.SKIPPED, "failed": JobState.FAILED}


@dataclass
class Outcome:
    """How a run ended: a final state with its result/error, or `stopped` (the owner asked)."""

    state: JobState | None
    result: dict[str, Any] | None = None
    error: str | None = None
    stopped: bool = False


@dataclass
class ActiveJob:
    job_id: int
    input: str
    options: JobOptions
    control: JobControl
    started: float = field(default_factory=time.time)
    progress: Progress | None = None
    task: asyncio.Task[Outcome] | None = None
    stopping: str | None = None  # "cancel", "shutdown" or "schedule" once the owner asked the job to stop

    def progress_dict(self) -> dict[str, Any] | None:
        return None if self.progress is None else self.progress.to_dict()


def one_line(text: str, limit: int = 500) -> str:
    """A message in one line of at most `limit` characters, without FFmpeg's `[Errno N]` codes."""
    line = " ".join(plain(str(text)).split())
    return line if len(line) <= limit else line[: limit - 1] + "…"


async def execute(active: ActiveJob, runner: JobRunner) -> Outcome:
    """Run the job to its end; never raises except CancelledError (a hard shutdown)."""
    try:
        result = await runner(active.input, active.options, active.control)
    except JobStopped:
        return Outcome(state=None, stopped=True)
    except JobFailed as exc:
        return Outcome(state=JobState.FAILED, error=one_line(str(exc)))
    except asyncio.CancelledError:
        raise
    except Exception as exc:
        log.exception("job %d crashed", active.job_id)
        return Outcome(state=JobState.FAILED, error=one_line(f"internal error: {type(exc).__name__}: {exc}"))
    state = RESULT_STATES.get(result.status)
    if state is None:
        return Outcome(state=JobState.FAILED, error=f"the job engine returned an unknown status {result.status!r}")
    error = one_line(result.reason) if state is JobState.FAILED and result.reason else None
    if state is JobState.FAILED and error is None:
        error = "failed"
    return Outcome(state=state, result=result.to_dict(), error=error)


def engine_runner(
    ffmpeg: str | None,
    roots: Sequence[Path] = (),
    *,
    piece_workers: int | None = None,
    jobs_at_once: int = 1,
    remote: Any = None,
) -> JobRunner:
    """The real job engine, imported on first use (it pulls in PyAV and the media modules). `roots`
    (library_roots) are checked again when a job opens its source, not only at `add`. The cores are
    shared among the jobs that run at once; `piece_workers` (None: auto) is each job's default; `remote`
    (the farm, if any) encodes pieces elsewhere."""

    async def run(input_file: str, options: JobOptions, control: JobControl) -> JobResult:
        from lazy_transcode.jobs.encode import available_cores
        from lazy_transcode.jobs.runner import run_job

        cores = max(1, available_cores() // jobs_at_once)
        return await run_job(
            input_file, options, control, ffmpeg=ffmpeg, roots=roots, piece_workers=piece_workers, cores=cores,
            remote=remote,
        )  # fmt: skip

    return run


def engine_remover(input_file: str, options: JobOptions) -> None:
    from lazy_transcode.jobs.runner import remove_job_files

    remove_job_files(input_file, options)
