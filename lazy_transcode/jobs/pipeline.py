"""A job as one pipeline of idempotent steps over its record, run by one loop.

check source -> choose settings -> plan pieces -> encode pieces -> assemble + verify -> place -> finish

Each step reads and writes only the job's record (`JobRecord`), is skipped when the record says it is
done, and the loop saves the record when a step ends. A kill at any instant therefore resumes at the
step it interrupted; a finished record answers with its recorded result and never starts the job over.
`lazy-transcode` and `ltd` run a job as `run_steps` inside the spec's `StateAwareOperation` (which takes
the lease, records a failure or an interruption, and removes the finished state), like any operation
of the spec's integration helpers.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections.abc import Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from lazy_transcode.failpoints import failpoint
from lazy_transcode.jobs.api import JobControl, JobFailed, JobOptions, JobResult
from lazy_transcode.jobs.encode import PieceEncoder, destination
from lazy_transcode.jobs.record import Checkpoint, Fingerprint, JobStateManager, Placement, Setting
from lazy_transcode.jobs.remote import RemotePieces
from lazy_transcode.media.binary import capabilities
from lazy_transcode.media.encoders import EncodeSettings
from lazy_transcode.media.fingerprint import FileIdentity, identify
from lazy_transcode.media.place import fsync_dir, place_file, sha256_file
from lazy_transcode.media.priors import Taught
from lazy_transcode.media.probe import FrameScan, MediaInfo, probe
from lazy_transcode.media.source import HeldSource, inside, real_path
from lazy_transcode.media.tags import output_source_id
from lazy_transcode.state import layout
from lazy_transcode.state.held import proc_path, safe_subfolder

log = logging.getLogger(__name__)

EFFICIENT_CODECS = {"hevc": "HEVC", "av1": "AV1", "libdav1d": "AV1", "libaom-av1": "AV1"}


@dataclass
class Job:
    """What the steps of one job share: the source, its options, its record and the owner's control."""

    source: Path
    options: JobOptions
    manager: JobStateManager
    control: JobControl
    ffmpeg: str
    info: MediaInfo | None = None  # the source's probe, made by `check_source` when a later step needs it
    held: HeldSource | None = None  # the source and its folder as opened (None: read by name)
    roots: Sequence[Path] = ()  # library_roots: an output folder must lie inside them when it is used
    piece_workers: int | None = None  # pieces encoded at once when the job's options leave it out (None: auto)
    cores: int = 1  # the cores this job's encoders share
    remote: RemotePieces | None = None  # a farm that encodes some of the pieces elsewhere (None: all here)
    taught: Sequence[Taught] = ()  # earlier searches beyond this folder's records (ltd's history, if it has one)
    # The source's frames as the search scanned them to plan its samples: the pieces' plan takes them
    # instead of reading the whole source again, once (then they are dropped).
    scan: FrameScan | None = None

    @property
    def cp(self) -> Checkpoint:
        return self.manager.record.checkpoint

    @property
    def reads(self) -> Path:
        """What the steps read the source from: the file opened at start (see `media.source`)."""
        return self.held.reads if self.held is not None else self.source

    @property
    def work_dir(self) -> Path:
        """The work folder through the held state folder; refused (one line) when it is a link or unsafe."""
        work = layout.work_dir(self.manager.io_state_file)
        safe_subfolder(work, "work folder")
        return work

    @property
    def clips_dir(self) -> Path:
        held = self.manager.open_folder()
        assert held is not None
        return layout.clips_dir(held, self.source)

    def settings(self) -> EncodeSettings:
        assert self.cp.settings is not None
        return self.cp.settings.settings()

    def destination(self) -> Path:
        return destination(self.source, self.options, self.settings().label())


@dataclass(frozen=True)
class Step:
    name: str
    done: Callable[[Job], bool]
    run: Callable[[Job], Awaitable[None]]


def _ended(job: Job) -> bool:
    """Decided not to encode, or finished: nothing of the encode is left to do."""
    return job.cp.skip is not None or job.cp.result is not None


def _verified(job: Job) -> bool:
    return job.cp.output is not None or _ended(job)


async def check_source(job: Job) -> None:
    """The encoder exists, the source is a video worth encoding, and it is still the file recorded."""
    caps = await asyncio.to_thread(capabilities, job.ffmpeg)
    caps.require_encoder(job.options.encoder)
    job.manager.update_step("validation", progress=job.manager.state.progress_percent)
    info = await asyncio.to_thread(probe, job.reads)
    if info.video is None:
        raise JobFailed(f"{job.source}: no video stream")
    job.info = info
    efficient = EFFICIENT_CODECS.get(info.video.codec)
    if efficient and not job.options.force:
        job.cp.skip = f"already {efficient} (use --force to transcode anyway)"
        return
    now = same_source(job, "its encode began")
    job.cp.source = Fingerprint.of(now)  # a record of 0.1.0 gets the inode and the sample hash


def same_source(job: Job, since: str) -> FileIdentity:
    """The source as it is now; JobFailed if it is no longer the file the record was made from.

    A changed source is never spliced into the work done on the old one and never deleted: the job
    stops with one line and keeps its pieces (`--restart` encodes the new file).
    """
    try:
        now = identify(job.source)
    except OSError as exc:
        raise JobFailed(f"{job.source}: cannot read the source ({exc.strerror or exc})") from None
    recorded = job.cp.source
    change = recorded.differs(now) if recorded is not None else None
    if change is not None:
        raise JobFailed(f"{job.source}: the source changed since {since} ({change}); run again with --restart")
    return now


async def choose_settings(job: Job) -> None:
    """The fixed QP, or the setting the VMAF search finds (or the reason to skip the file)."""
    options = job.options
    if options.mode == "qp" and options.qp is not None:
        job.cp.settings = Setting(quality=options.qp)
        return
    from lazy_transcode.jobs.search import find_setting

    assert job.info is not None
    outcome = await find_setting(
        job.source, job.info, options, job.manager, job.control, ffmpeg=job.ffmpeg, reads=job.reads, job=job
    )
    if outcome.skip_reason:
        job.cp.skip = outcome.skip_reason
    else:
        job.cp.settings = Setting.of(outcome.settings)


async def plan_pieces(job: Job) -> None:
    await PieceEncoder(job).plan()


async def encode_pieces(job: Job) -> None:
    await PieceEncoder(job).encode()


async def assemble_and_verify(job: Job) -> None:
    same_source(job, "its pieces were encoded")
    await PieceEncoder(job).assemble_and_verify()


async def place(job: Job) -> None:
    """Put the verified output at its destination (idempotent: a kill at any point of it resumes)."""
    output = job.cp.output
    assert output is not None
    dest = job.destination()
    job.manager.update_step("place", progress=99.0)
    ready = job.work_dir / f"output.{job.options.container}"
    failpoint("before-place")
    if ready.exists():
        same_source(job, "its output was verified")
        with destination_folder(job, dest) as folder:
            await asyncio.to_thread(_check_destination_free, job, dest)
            await asyncio.to_thread(place_file, ready, folder, dest.name)
        failpoint("placed-unrecorded")
    elif not await asyncio.to_thread(_holds_output, dest, output.bytes, output.sha256):
        job.cp.output = None  # gone before placement: the next run rebuilds it from the pieces
        job.manager.save_state()
        raise JobFailed("the verified output disappeared before placement; run the job again")
    if job.options.replace and dest != job.source:
        await asyncio.to_thread(_remove_source, job)
    job.cp.placed = Placement(bytes=output.bytes)


@contextlib.contextmanager
def destination_folder(job: Job, dest: Path) -> Iterator[Path]:
    """The folder the output is placed in, held open: the source's own folder as opened at start, or
    the output folder, opened now and refused unless its real path lies inside `library_roots`."""
    if job.held is not None and dest.parent == job.source.parent:
        yield job.held.folder
        return
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(dest.parent, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        real = real_path(fd)
        if not inside(real, job.roots):
            raise JobFailed(f"output folder {dest.parent} is outside library_roots (it is {real}): refusing it")
        yield proc_path(fd)
    finally:
        os.close(fd)


def _holds_output(path: Path, size: int, sha256: str) -> bool:
    return path.is_file() and path.stat().st_size == size and sha256_file(path) == sha256


def _check_destination_free(job: Job, dest: Path) -> None:
    """Nothing the job did not make is overwritten: `dest` must be absent, the source itself (`--replace`
    of a file already in the output container), or an earlier output of this same source."""
    if not os.path.lexists(dest) or dest == job.source:
        return
    ours = job.cp.source is not None and job.cp.source.id is not None
    if ours and dest.is_file() and not dest.is_symlink() and output_source_id(dest) == job.cp.source.id:
        return
    raise JobFailed(f"{dest} exists and is not an earlier output of {job.source.name}; move it away and run again")


def _remove_source(job: Job) -> None:
    """`--replace`: remove the source, only while it is still the very file that was encoded."""
    try:
        same_source(job, "it was encoded")
    except JobFailed:
        if not os.path.lexists(job.source):
            return  # removed already (a kill right after the removal)
        raise
    job.source.unlink()
    fsync_dir(job.source.parent)
    failpoint("source-removed-unrecorded")


async def finish(job: Job) -> None:
    """Record how the job ended; from now on the record answers with this result."""
    cp = job.cp
    best = job.manager.record.best
    common = {
        "input_file": str(job.source),
        "source_size": cp.source.size if cp.source is not None else None,
        "output_size": cp.output.bytes if cp.output is not None else None,
        "vmaf": best.vmaf if best is not None else None,
        "setting": cp.settings.to_dict() if cp.settings is not None else {},
    }
    if cp.skip is not None:
        result = JobResult("skipped", str(job.source), reason=cp.skip)
    elif cp.kept_source is not None:
        result = JobResult("skipped", reason=cp.kept_source, **common)
    else:
        result = JobResult("completed", output_file=str(job.destination()), **common)
    cp.result = result
    job.manager.mark_completed(True)


STEPS: tuple[Step, ...] = (
    Step("check_source", _verified, check_source),
    Step("choose_settings", lambda j: j.cp.settings is not None or _ended(j), choose_settings),
    Step("plan_pieces", _verified, plan_pieces),  # keeps a plan made with today's encoder arguments
    Step("encode_pieces", _verified, encode_pieces),
    Step("assemble_and_verify", _verified, assemble_and_verify),
    Step("place", lambda j: j.cp.placed is not None or j.cp.kept_source is not None or _ended(j), place),
    Step("finish", lambda j: j.cp.result is not None, finish),
)


async def run_steps(job: Job) -> JobResult:
    """Run every step the record does not mark done, saving after each; the result is the record's."""
    for step in STEPS:
        if step.done(job):
            continue
        await job.control.wait_if_paused()
        await step.run(job)
        job.manager.save_state()
    assert job.cp.result is not None
    return job.cp.result
