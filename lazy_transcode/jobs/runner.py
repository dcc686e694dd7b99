"""Running one job: validate, (search), resumable encode, verify, place — over a state manager.

This is the single entry point the daemon's workers and the foreground CLI share.
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

from lazy_transcode.jobs.api import JobControl, JobFailed, JobOptions, JobResult, JobStopped, OptionError
from lazy_transcode.jobs.encode import (
    ResumableEncode,
    finish_encode,
    has_verified_output,
    remove_work_dir,
    work_dir_for,
)
from lazy_transcode.media.binary import FFmpegError, capabilities, ffmpeg_exe
from lazy_transcode.media.encoders import EncodeSettings, get_profile
from lazy_transcode.media.probe import ProbeError, probe
from lazy_transcode.media.process import FFmpegRunError
from lazy_transcode.options import operation_fields
from lazy_transcode.state.errors import StateError
from lazy_transcode.state.manager import UniversalStateManager
from lazy_transcode.state.operation import TranscodeOperation
from lazy_transcode.state.schema import TranscodeState

log = logging.getLogger(__name__)

EFFICIENT_CODECS = {"hevc": "HEVC", "av1": "AV1", "libdav1d": "AV1", "libaom-av1": "AV1"}


def make_operation(source: Path, options: JobOptions) -> TranscodeOperation:
    profile = get_profile(options.encoder)
    return TranscodeOperation(
        input_file=str(source),
        encoder_type="hardware" if profile.hardware else "software",
        **operation_fields(options),
    )


def state_manager_for(input_file: str | Path, options: JobOptions) -> UniversalStateManager:
    source = Path(input_file).absolute()
    return UniversalStateManager(make_operation(source, options))


async def run_job(
    input_file: str | Path, options: JobOptions, control: JobControl, *, ffmpeg: str | None = None
) -> JobResult:
    """Run (or resume) one job to its end. Raises JobStopped only when `control` asked to stop."""
    source = Path(input_file).absolute()
    try:
        options.validate()
        manager = state_manager_for(source, options)
    except (OptionError, ValueError) as exc:
        return JobResult("failed", str(source), reason=str(exc))
    try:
        manager.acquire_lease()
    except (StateError, OSError) as exc:
        return JobResult("failed", str(source), reason=_one_line(exc))
    try:
        return await _run(source, options, control, manager, ffmpeg)
    except JobStopped:
        manager.record_interruption("stopped by request")
        raise
    except asyncio.CancelledError:
        manager.record_interruption("cancelled")
        raise
    except (JobFailed, StateError, OSError, FFmpegError, FFmpegRunError, ProbeError) as exc:
        reason = _one_line(exc)
        try:
            manager.mark_completed(False, error_message=reason)
        except StateError as save_exc:
            log.error("cannot record the failure of %s: %s", source, save_exc)
        return JobResult("failed", str(source), reason=reason)
    finally:
        manager.release_lease()


async def _run(
    source: Path, options: JobOptions, control: JobControl, manager: UniversalStateManager, ffmpeg: str | None
) -> JobResult:
    operation = manager.operation
    if manager.load_state():
        if manager.state.operation.to_dict() != operation.to_dict() or manager.state.completed:
            log.info("%s: previous state is for other options or finished; starting over", source)
            remove_work_dir(manager)
            manager.state = TranscodeState(operation=operation)
        else:
            log.info("%s: resuming from step %r", source, manager.state.current_step)
    exe = ffmpeg_exe(ffmpeg)
    if not has_verified_output(manager):
        caps = await asyncio.to_thread(capabilities, exe)
        caps.require_encoder(options.encoder)
        manager.update_step("validation", progress=manager.state.progress_percent)
        info = await asyncio.to_thread(probe, source)
        if info.video is None:
            raise JobFailed(f"{source}: no video stream")
        efficient = EFFICIENT_CODECS.get(info.video.codec)
        if efficient and not options.force:
            return _finish_skipped(manager, source, f"already {efficient} (use --force to transcode anyway)")
        settings = await _choose_settings(source, info, options, control, manager, exe)
        if isinstance(settings, str):
            return _finish_skipped(manager, source, settings)
        encode = ResumableEncode(source, info, options, settings, manager, control, ffmpeg=exe)
        outcome = await encode.run()
    else:
        settings = _recorded_settings(manager)
        outcome = await finish_encode(manager, options, source)
    best = manager.state.best_result if isinstance(manager.state.best_result, dict) else {}
    vmaf = best.get("vmaf") if isinstance(best.get("vmaf"), int | float) else None
    if outcome.kept_source_reason:
        result = JobResult(
            "skipped", str(source), reason=outcome.kept_source_reason, source_size=outcome.source_size,
            output_size=outcome.output_size, vmaf=vmaf, setting=_settings_dict(settings),
        )  # fmt: skip
    else:
        result = JobResult(
            "completed", str(source), output_file=str(outcome.output), source_size=outcome.source_size,
            output_size=outcome.output_size, vmaf=vmaf, setting=_settings_dict(settings),
        )  # fmt: skip
    manager.mark_completed(True, result.to_dict())
    remove_work_dir(manager)
    manager.cleanup_state()
    return result


async def _choose_settings(
    source: Path,
    info: object,
    options: JobOptions,
    control: JobControl,
    manager: UniversalStateManager,
    exe: str,
) -> EncodeSettings | str:
    """The fixed QP, or the result of the VMAF search (a string is a reason to skip)."""
    recorded = manager.state.checkpoint.get("settings")
    if isinstance(recorded, dict):
        return EncodeSettings(quality=recorded.get("quality"), bitrate_kbps=recorded.get("bitrate_kbps"))
    if options.mode == "qp" and options.qp is not None:
        settings = EncodeSettings(quality=options.qp)
    else:
        from lazy_transcode.jobs.search import find_setting

        outcome = await find_setting(source, info, options, manager, control, ffmpeg=exe)  # type: ignore[arg-type]
        if outcome.skip_reason:
            return outcome.skip_reason
        settings = outcome.settings
    manager.state.checkpoint["settings"] = _settings_dict(settings)
    manager.save_state()
    return settings


def _recorded_settings(manager: UniversalStateManager) -> EncodeSettings:
    recorded = manager.state.checkpoint.get("settings") or {}
    return EncodeSettings(quality=recorded.get("quality"), bitrate_kbps=recorded.get("bitrate_kbps"))


def _settings_dict(settings: EncodeSettings) -> dict[str, int]:
    return {k: v for k, v in (("quality", settings.quality), ("bitrate_kbps", settings.bitrate_kbps)) if v is not None}


def _finish_skipped(manager: UniversalStateManager, source: Path, reason: str) -> JobResult:
    result = JobResult("skipped", str(source), reason=reason)
    manager.mark_completed(True, result.to_dict())
    remove_work_dir(manager)
    manager.cleanup_state()
    return result


def remove_job_files(input_file: str | Path, options: JobOptions) -> None:
    """Cancel: remove the job's partial files and its state; the source is never touched."""
    from lazy_transcode.jobs.search import remove_search_files

    manager = state_manager_for(input_file, options)
    remove_search_files(manager, Path(input_file).absolute())
    work = work_dir_for(manager)
    if work.exists():
        import shutil

        shutil.rmtree(work, ignore_errors=True)
    manager.cleanup_state()


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip()
    if isinstance(exc, OSError) and exc.strerror:
        where = f": {exc.filename}" if exc.filename else ""
        text = f"{exc.strerror}{where}"
    lines = [ln for ln in text.splitlines() if ln.strip()]
    return lines[0] if lines else type(exc).__name__
