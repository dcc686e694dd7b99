"""Running one job to its end: the entry point the daemon's workers and the foreground CLI share.

`run_job` takes the job's lease, loads its record and runs the pipeline (`jobs.pipeline.run_steps`);
how it ends (completed, skipped, failed, or stopped by its owner) is recorded before it returns.
"""

from __future__ import annotations

import asyncio
import logging
import shutil
from collections.abc import Sequence
from pathlib import Path

from lazy_transcode.jobs.api import JobControl, JobFailed, JobOptions, JobResult, OptionError
from lazy_transcode.jobs.encode import available_cores
from lazy_transcode.jobs.pipeline import Job, run_steps
from lazy_transcode.jobs.record import JobStateManager
from lazy_transcode.jobs.recorded import describe
from lazy_transcode.jobs.remote import RemotePieces
from lazy_transcode.media.averror import plain
from lazy_transcode.media.binary import FFmpegError, ffmpeg_exe
from lazy_transcode.media.encoders import get_profile
from lazy_transcode.media.probe import ProbeError
from lazy_transcode.media.process import FFmpegRunError
from lazy_transcode.media.source import SourceRefused, open_source
from lazy_transcode.options import PLACEMENT_OPTIONS, operation_fields
from lazy_transcode.state import layout
from lazy_transcode.state.errors import StateError
from lazy_transcode.state.held import shown
from lazy_transcode.state.integration import StateAwareOperation
from lazy_transcode.state.operation import TranscodeOperation
from lazy_transcode.state.pause import PauseManager

log = logging.getLogger(__name__)

# How a job fails (one line); ValueError: a recorded setting today's encoder refuses (a forged record)
_FAILURES = (JobFailed, StateError, OSError, FFmpegError, FFmpegRunError, ProbeError, SourceRefused, ValueError)


def make_operation(source: Path, options: JobOptions) -> TranscodeOperation:
    profile = get_profile(options.encoder)
    return TranscodeOperation(
        input_file=str(source),
        encoder_type="hardware" if profile.hardware else "software",
        **operation_fields(options),
    )


def state_manager_for(
    input_file: str | Path, options: JobOptions, control: JobControl | None = None, *, parent: Path | None = None
) -> JobStateManager:
    """The job's state manager; its pause manager is an adapter over the job's `control`. `parent` is
    the held media folder its state folder is opened in (by default the source's folder, by name)."""
    source = Path(input_file).absolute()
    pause = PauseManager(control=control) if control is not None else None
    return JobStateManager(make_operation(source, options), pause_manager=pause, parent=parent)


async def run_job(
    input_file: str | Path,
    options: JobOptions,
    control: JobControl,
    *,
    ffmpeg: str | None = None,
    roots: Sequence[Path] = (),
    piece_workers: int | None = None,
    cores: int | None = None,
    remote: RemotePieces | None = None,
) -> JobResult:
    """Run (or resume) one job to its end. Raises JobStopped only when `control` asked to stop.

    The job runs inside the spec's `StateAwareOperation`: it holds the lease, records a failure (the
    job's one-line reason) or an interruption, and removes the state of a finished job; its record
    is kept across a finish, so a job that died before removing it answers with its recorded result.

    The source and its folder are opened once (`media.source`): both must lie inside `roots` (none:
    anywhere) by their opened fds' real paths, the source must be a regular file, and every step
    reads that very file; the state folder is opened inside the held media folder. `piece_workers`
    (None: auto) applies when the options leave it out; `cores` (default: all this process may use)
    are what the job's encoders share; `remote` (a farm) encodes some pieces elsewhere.
    """
    source = Path(input_file).absolute()
    try:
        options.validate()
    except (OptionError, ValueError) as exc:
        return JobResult("failed", str(source), reason=str(exc))
    try:
        held = await asyncio.to_thread(open_source, source, roots, missing_ok=True)
    except SourceRefused as exc:
        return JobResult("failed", str(source), reason=str(exc))
    with held:
        manager = state_manager_for(source, options, control, parent=held.folder)
        operation = StateAwareOperation(
            manager.operation, manager=manager, keep_finished=True, describe_error=_one_line
        )
        try:
            with operation:
                if operation.resumed:
                    _continue_or_start_over(manager, source, options)
                job = Job(
                    source, options, manager, control, ffmpeg_exe(ffmpeg), held=held, roots=roots,
                    piece_workers=piece_workers, cores=cores or available_cores(), remote=remote,
                )  # fmt: skip
                return await run_steps(job)
        except _FAILURES as exc:
            _after_failure(manager)
            return JobResult("failed", str(source), reason=_one_line(exc))


def _after_failure(manager: JobStateManager) -> None:
    """A failed job keeps its pieces and probes (resumable) but not its sample clips (large, and cut again
    in seconds); a job that failed before anything worth keeping (not a video, say) leaves no state."""
    try:
        if manager.holds_work():
            held = manager.open_folder(create=False)  # never through a link (UnsafeFolderError)
            if held is not None:
                shutil.rmtree(layout.clips_dir(held, manager.operation.input_file), ignore_errors=True)
        else:
            manager.cleanup_state()
    except StateError as exc:
        log.warning("%s", exc)
    finally:
        manager.close()


def _continue_or_start_over(manager: JobStateManager, source: Path, options: JobOptions) -> None:
    """A finished record answers as recorded; an unfinished one continues with its recorded encode options,
    taking the given placement options (`PLACEMENT_OPTIONS`); other encode options are refused."""
    if manager.record.checkpoint.result is not None:
        log.info("%s: finished before; reporting the recorded result", source)
        return
    recorded = manager.recorded_options()
    changed = [n for n in vars(options) if n not in PLACEMENT_OPTIONS and getattr(options, n) != getattr(recorded, n)]
    if changed:
        raise JobFailed(
            f"{source.name}: an unfinished encode is recorded ({describe(recorded)}); {', '.join(changed)} "
            "would change it: run it with the recorded options, or with --restart to discard it"
        )
    if recorded != options:
        cp = manager.record.checkpoint
        if recorded.container != options.container and cp.placed is None:
            cp.output = cp.kept_source = None  # assembled for the other container: assembled again
        manager.state.operation = make_operation(source, options)
        log.info("%s: continuing with the new output options", source)
    log.info("%s: resuming from step %r", source, manager.state.current_step)


def remove_job_files(input_file: str | Path, options: JobOptions) -> None:
    """Cancel: remove the job's partial files and its state; the source is never touched. A state
    folder that is a link, someone else's or writable by others raises `UnsafeFolderError`, untouched."""
    manager = state_manager_for(input_file, options)
    try:
        manager.cleanup_state()
    finally:
        manager.close()


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip()
    if isinstance(exc, OSError) and exc.strerror:
        where = f": {exc.filename}" if exc.filename else ""
        text = f"{exc.strerror}{where}"
    text = plain(shown(text))  # held folders by their own paths; no AVERROR codes
    lines = [ln for ln in text.splitlines() if ln.strip()]
    return lines[0] if lines else type(exc).__name__
