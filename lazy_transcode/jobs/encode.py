"""The resumable encode: plan the pieces, encode them checkpointed, then join, assemble and verify."""

from __future__ import annotations

import asyncio
import functools
import hashlib
import json
import logging
import os
import shutil
import time
from collections.abc import Callable, Coroutine, Sequence
from fractions import Fraction
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lazy_transcode.failpoints import failpoint
from lazy_transcode.jobs.api import CONTAINERS, JobFailed, JobOptions, Progress
from lazy_transcode.jobs.lanes import Lanes
from lazy_transcode.jobs.record import OutputRecord, PieceRecord, PieceScore, PiecesRecord
from lazy_transcode.jobs.remote_lanes import REMOTE_TEMP, RemoteLanes
from lazy_transcode.media.commands import assemble_args, decode_check_args, frame_times_args
from lazy_transcode.media.encoders import ARGS_VERSION, KEYINT_DEFAULT, EncoderArgs, get_profile
from lazy_transcode.media.join import JoinError, codec_parameters, join_pieces
from lazy_transcode.media.piece_runs import RunFailed, encode_run, remove_stale_fifo_dirs
from lazy_transcode.media.pieces import FrameTiming, PiecePlan, plan_pieces
from lazy_transcode.media.place import fsync_dir, fsync_file, output_name, sha256_file
from lazy_transcode.media.probe import FrameScan, MediaInfo, ProbeError, read_frame_times, scan_video_frames
from lazy_transcode.media.process import FfmpegProgress, FFmpegRunError, Priority, run_ffmpeg
from lazy_transcode.media.verify import VerifyError, verify_output
from lazy_transcode.media.vmaf import InlineScore, VmafScore
from lazy_transcode.state.held import ensure_subfolder, safe_subfolder
from lazy_transcode.state.store import pid_alive

if TYPE_CHECKING:
    from lazy_transcode.jobs.pipeline import Job

log = logging.getLogger(__name__)

# Decoded formats that YUV4MPEG carries unchanged (no range or siting conversion on the way).
Y4M_FORMATS = frozenset({"yuv420p", "yuv422p", "yuv444p", "yuv420p10le", "yuv422p10le", "yuv444p10le", "gray"})
KEY_VERSION = 1  # part of the pieces' key: bumped only when the same settings would give other piece bytes
TIMESTAMP_TOLERANCE = Fraction(1, 1000)  # pieces are compared to the source within a millisecond


def piece_file(pieces_dir: Path, index: int) -> Path:
    """A recorded piece's file in a pieces folder (a job's own, or a probe's)."""
    return pieces_dir / f"piece_{index:05d}.mp4"


def destination(source: Path, options: JobOptions, label: str) -> Path:
    """Where the output goes: derived from the source and the options, never read from a record."""
    if options.replace:
        return source.with_suffix(f".{options.container}")
    folder = Path(options.output_dir) if options.output_dir else source.parent
    return folder / output_name(source, label, options.container)


MAX_AUTO_LANES = 16
# What one lane's ffmpeg holds per pixel of its frames (peak RSS, bench/memory_bench.py: libx265 at 4K
# held 135-155 B/px plain and 72-92 B/px more while scoring its own output, at ultrafast and medium).
ENCODER_BYTES_PER_PIXEL = 170  # a software encoder of a piece
SCORING_BYTES_PER_PIXEL = 100  # scoring beside it: libvmaf's buffers, the loopback decoder, waiting frames


def auto_piece_workers(encoder: str, info: MediaInfo, cores: int, *, scored: bool = False) -> int:
    """`piece_workers = auto`: as many encoders as `cores` keep busy, within half the available memory
    (`scored`: each lane also scores its pieces, which holds more)."""
    profile = get_profile(encoder)
    video = info.video
    if profile.hardware or video is None:
        return 1
    lanes = max(1, cores // profile.threads_one_encoder_fills(video.width, video.height))
    per_pixel = ENCODER_BYTES_PER_PIXEL + (SCORING_BYTES_PER_PIXEL if scored else 0)
    available = available_memory()
    if available is not None:
        lanes = min(lanes, max(1, available // 2 // (per_pixel * video.width * video.height)))
    return min(lanes, MAX_AUTO_LANES)


def available_memory() -> int | None:
    """Bytes the kernel could give without swapping (`MemAvailable`), or None where it does not say."""
    try:
        with open("/proc/meminfo") as meminfo:
            return next(int(line.split()[1]) * 1024 for line in meminfo if line.startswith("MemAvailable:"))
    except (OSError, StopIteration, ValueError, IndexError):
        return None


def available_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except OSError:
        return os.cpu_count() or 1


def y4m_timing(pts: list[int], plans: list[PiecePlan], pix_fmt: str | None, enc: EncoderArgs) -> FrameTiming | None:
    """The frames' timing, when their decoded format is one YUV4MPEG carries as it is and the encoder
    takes unconverted, and their timestamps are regular enough to write down; else None (as NUT)."""
    wanted = enc.output.get("pix_fmt", pix_fmt)
    if pix_fmt not in Y4M_FORMATS or wanted != pix_fmt or enc.filters:
        return None
    return FrameTiming.of(pts, plans)


async def _all_or_none(lanes: Sequence[Callable[[asyncio.TaskGroup], Coroutine[Any, Any, None]]]) -> None:
    """Run the lanes together, each given the group to which it may add tasks of its own (a run's last
    check); the first to fail stops all the others, and its exception is raised."""
    try:
        async with asyncio.TaskGroup() as group:
            for lane in lanes:
                group.create_task(lane(group))
    except BaseExceptionGroup as failed:
        raise failed.exceptions[0] from None


class PieceEncoder:
    """One file's encode at fixed settings, in checkpointed pieces, resumable from its record at any instant.

    Everything needed to continue lives in the record's `encode` (`PiecesRecord`): the piece plan (so a
    resume after the first recorded piece never scans the source again), the key of the encoder
    arguments, and for every finished piece its frame count, size and SHA-256. On resume each recorded
    piece is checked against its record and encoded again if it does not match; a kill at any instant
    therefore costs at most the piece being encoded. Assembly and verification are redone from the
    pieces until the verified output is recorded.
    """

    step = "encode"  # the state's current step while pieces are encoded (a search's probe names its own)
    progress_step = "encode"  # the step its progress reports name
    only: frozenset[int] | None = None  # encode only these pieces (a search's estimate); None: all
    score: InlineScore | None = None  # a probe's pieces: each scored (VMAF) by its own encoder's process

    def __init__(self, job: Job) -> None:
        assert job.info is not None and job.info.video is not None and job.cp.settings is not None
        self.job = job
        self.source = job.source
        self.reads = job.reads  # the source as opened at start: what every ffmpeg here reads
        self.info = job.info
        self.options = job.options
        self.manager = job.manager
        self.control = job.control
        self.ffmpeg = job.ffmpeg
        self.work = job.work_dir
        self.pieces_dir = self.work / "pieces"
        self.profile = get_profile(job.options.encoder)
        self.keyint = KEYINT_DEFAULT
        # Recorded pieces are finished with the arguments they were made with (an older version's too).
        self.enc_args = self._build_args(job.cp.encode.args if job.cp.encode is not None else ARGS_VERSION)
        self._in_flight: dict[int, int] = {}  # pieces being encoded: frames done so far
        self._last_save = 0.0
        self._done_frames = 0  # frames in recorded pieces
        self._fresh_frames = 0  # frames encoded by this process (for the speed and the ETA)
        self._started = time.monotonic()
        self._local_ids: set[int] = set()  # the lanes encoding here (the others hand pieces to the farm)
        self._lanes_changed = asyncio.Event()  # a lane ended a run: waiting lanes look for work again
        self._scores: dict[int, VmafScore] = {}  # VMAF of pieces encoded here, until they are recorded
        self.decoded: dict[int, str] = {}  # pieces this process decoded without error: their SHA-256

    def _build_args(self, version: int) -> EncoderArgs:
        video = self.info.video
        assert video is not None and self.job.cp.settings is not None
        return self.profile.build(
            self.job.cp.settings.settings(), preset=self.options.preset, ten_bit=video.bit_depth > 8, hdr=video.hdr,
            keyint=self.keyint, args_version=version,
        )  # fmt: skip

    # --- checkpoint helpers ------------------------------------------------------------------
    @property
    def rec(self) -> PiecesRecord:
        assert self.job.cp.encode is not None
        return self.job.cp.encode

    def key(self, container: str | None = None) -> str:
        """What the pieces' bytes depend on. Keys of 0.1.0 also named the output container (`container`),
        on which pieces never depended: `plan` accepts those too, so a new container keeps the pieces."""
        parts: dict[str, Any] = {
            "args": self.enc_args.output, "g": self.enc_args.global_args, "f": self.enc_args.filters,
            "piece_seconds": self.options.piece_seconds, "v": KEY_VERSION,
        }  # fmt: skip
        if container is not None:
            parts["container"] = container
        return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()[:16]

    def _source_id(self) -> str | None:
        source = self.job.cp.source
        return source.id if source is not None else None

    def _save(self) -> None:
        self.manager.save_state()
        self._last_save = time.monotonic()

    def _report(self, step: str, percent: float, **kw: Any) -> None:
        self.manager.state.progress_percent = round(percent, 2)
        self.control.report(Progress(step=step, percent=round(percent, 2), **kw))
        if time.monotonic() - self._last_save >= self.control.checkpoint_interval:
            self._save()

    # --- the steps ---------------------------------------------------------------------------
    async def plan(self) -> None:
        """Scan the source's frames once and cut them into pieces (a plan for other settings is dropped);
        the job's `scan`, when the quality search made one, is taken instead of a second read of the source.

        A plan with no recorded piece yet is made again: that costs one scan, and a plan an older
        version made from misread timestamps (an AVI with B-frames) would otherwise fail forever.
        """
        cp = self.job.cp
        key = self.key()
        known = (key, *(self.key(c) for c in CONTAINERS))  # 0.1.0's keys also named the container
        if cp.encode is not None and cp.encode.key in known and cp.encode.pieces:
            cp.encode.key = key
            return
        if cp.encode is not None and cp.encode.key not in known:
            log.info("%s: the encoder arguments changed since the checkpoint; starting the encode over", self.source)
            shutil.rmtree(self.work, ignore_errors=True)
        cp.encode = None
        self.enc_args = self._build_args(ARGS_VERSION)
        key = self.key()
        self.manager.update_step("analysis", progress=0.0)
        assert self.info.video is not None
        try:
            scan, self.job.scan = self.job.scan, None
            if scan is None:
                scan = await asyncio.to_thread(scan_video_frames, self.reads, self.info.video.index)
            if scan.untimed_packets:
                scan = await self._decoded_times(scan)
        except ProbeError as exc:
            raise JobFailed(str(exc)) from None
        self._check_complete(scan)
        plans = plan_pieces(scan, self.options.piece_seconds, max_frames=self.keyint)
        timing = y4m_timing(scan.pts, plans, self.info.video.pix_fmt, self.enc_args)
        threads = None
        if self.profile.threads_change_output:  # fixed for the whole job, whatever runs beside it later
            threads = max(1, self.job.cores // self._lane_count(len(plans)))
        cp.encode = PiecesRecord(
            key=key,
            args=ARGS_VERSION,
            threads=threads,
            frame_step=timing.step if timing is not None else None,
            frame_gaps=list(timing.gaps) if timing is not None else [],
            frames=scan.frame_count,
            time_base=str(scan.time_base),
            span=scan.seconds(scan.pts[-1]) - scan.seconds(scan.pts[0]),
            plan=[tuple(p.to_list()) for p in plans],  # type: ignore[misc]
        )

    async def _decoded_times(self, scan: FrameScan) -> FrameScan:
        """The scan with the timestamps ffmpeg's decoder gives its frames: the source's packets lack them."""
        log.info("%s: %d video packets without a timestamp; decoding for the frames' times", self.source.name,
                 scan.untimed_packets)  # fmt: skip
        ensure_subfolder(self.work, "work folder")
        listing = self.work / "frame_times.framecrc"
        total = scan.frame_count

        def report(rec: FfmpegProgress) -> None:  # the job's own percent stays the encode's
            self.control.report(Progress(step="analysis", percent=round(100.0 * min(rec.frame, total) / total, 2)))

        try:
            await run_ffmpeg(
                frame_times_args(self.reads, self.info, listing), ffmpeg=self.ffmpeg, control=self.control,
                on_progress=report, graceful_stop=False,
            )  # fmt: skip
        except FFmpegRunError as exc:
            raise JobFailed(f"decoding the source for its frames' times failed: {exc}") from None
        try:
            time_base, times = await asyncio.to_thread(read_frame_times, listing)
            return scan.retimed(time_base, times)
        finally:
            listing.unlink(missing_ok=True)

    async def encode(self) -> None:
        """Encode every piece not yet recorded, until all are recorded and agree."""
        await asyncio.to_thread(remove_stale_fifo_dirs, pid_alive)
        ensure_subfolder(self.work, "work folder")
        ensure_subfolder(self.pieces_dir, "pieces folder")
        await self._encode_pieces()
        if not await self._pieces_agree():
            await self._encode_pieces()

    def _check_complete(self, scan: FrameScan) -> None:
        """A file whose video stops well before its declared duration was cut short: refuse it."""
        declared = self.info.duration
        first = scan.seconds(scan.pts[0])
        video_end = scan.seconds(scan.pts[-1]) - (self.info.start_time if first >= self.info.start_time else first)
        if declared > 0 and video_end < declared - max(2.0, 0.05 * declared):
            raise JobFailed(
                f"{self.source}: video data ends at {video_end:.1f} s of a declared {declared:.1f} s"
                " (truncated or damaged)"
            )
        if scan.corrupt_packets:
            raise JobFailed(f"{self.source}: {scan.corrupt_packets} corrupt video packet(s)")

    def _plans(self) -> list[PiecePlan]:
        return self.rec.plans()

    def _piece_path(self, index: int) -> Path:
        return piece_file(self.pieces_dir, index)

    def _part_path(self, index: int) -> Path:
        return self.pieces_dir / f"piece_{index:05d}.part.mp4"

    def _piece_is_good(self, plan: PiecePlan) -> bool:
        record = self.rec.pieces.get(plan.index)
        path = self._piece_path(plan.index)
        if record is None:
            return False
        try:
            ok = (
                path.stat().st_size == record.bytes
                and record.frames == plan.frame_count
                and sha256_file(path) == record.sha256
            )
        except OSError:
            ok = False
        if not ok:
            log.warning("%s: piece %d is missing or damaged; encoding it again", self.source, plan.index)
            self.rec.pieces.pop(plan.index, None)
        return ok

    async def _encode_pieces(self) -> None:
        """Encode every piece not yet recorded, `lanes` pieces at a time, each recorded as it is done."""
        plans = self._plans()
        self.manager.update_step(self.step, progress=self.manager.state.progress_percent)
        good = await asyncio.to_thread(lambda: {p.index for p in plans if self._piece_is_good(p)})
        for stale in self.pieces_dir.glob(f"*{REMOTE_TEMP}*"):  # of remote tasks that died writing
            stale.unlink(missing_ok=True)
        # Pieces the last run finished but did not record (it was killed, or stopped): check them as new.
        # A probe's piece is encoded again instead: its score was lost with the run.
        for plan in plans:
            part = self._part_path(plan.index)
            if plan.index in good or not part.exists() or self.score is not None:
                continue
            if await self._accept_piece(plan, leftover=True) is None:
                good.add(plan.index)
        self._done_frames = sum(p.frame_count for p in plans if p.index in good)
        missing = [p for p in plans if p.index not in good and (self.only is None or p.index in self.only)]
        if missing:
            remote = self.job.remote
            # A hardware encoder's pieces stay here: a worker's GPU would be another encoder.
            farm = RemoteLanes(self, remote) if remote is not None and not self.profile.hardware else None
            local = self._lane_count(len(missing), scored=self.score is not None)
            if farm is not None and remote is not None and remote.slots() and remote.local_pieces is not None:
                local = min(remote.local_pieces, len(missing))
            lanes = Lanes(missing, max(1, local), Fraction(self.rec.time_base))
            self._local_ids = set(range(local))
            log.info("%s: %d pieces to encode, %d at a time here", self.source.name, len(missing), local)
            runs = [functools.partial(self._lane, lanes, n) for n in range(local)]
            if farm is not None:
                runs.append(functools.partial(farm.run, lanes, local))
            await _all_or_none(runs)
        self.control.report(Progress(step=self.progress_step, percent=100.0))

    def _lane_count(self, pieces: int, *, scored: bool = False) -> int:
        """How many pieces are encoded at once: the option, else ltd's `piece_workers`, else auto
        (`scored`: for lanes that also score their pieces)."""
        asked = self.options.piece_workers or self.job.piece_workers
        if asked is None:
            asked = auto_piece_workers(self.profile.name, self.info, self.job.cores, scored=scored)
        return max(1, min(asked, pieces))

    async def _lane(self, lanes: Lanes, lane: int, group: asyncio.TaskGroup) -> None:
        """One lane: claim a run, encode it, until no work is left. A run's last piece is checked in
        `group`, beside the lane's next run: a lane left idle near the end takes over another's pieces
        at once, not after the check."""
        while True:
            await self.control.wait_if_paused()
            # No await between the claim and the start of its first piece: no other lane can take it first.
            if (run := lanes.claim(lane)) is None:
                if lanes.busy() == 0:
                    return
                self._lanes_changed.clear()  # another lane (a remote one) may still give pieces back
                await self._lanes_changed.wait()
                continue
            scored = self.score  # this run's: another lane may drop it meanwhile
            started: list[PiecePlan] = []  # by this lane (others may have taken the rest of the run)

            def encoder_for(plan: PiecePlan, started: list[PiecePlan] = started) -> EncoderArgs | None:
                enc = self._encoder_for(lanes, lane, plan)
                if enc is not None:
                    started.append(plan)
                return enc

            retry: list[PiecePlan] = []
            try:
                await encode_run(
                    run, source=self.reads, info=self.info, time_base=self.rec.time_base, ffmpeg=self.ffmpeg,
                    control=self.control, part_path=self._part_path, on_frames=self._on_frames,
                    encoder_for=encoder_for, on_piece=self._piece_encoded, name=self.source.name,
                    timing=self.rec.timing(), score=scored, on_score=self._on_score,
                    decode_threads=self._decode_threads(lanes), defer=group.create_task,
                )  # fmt: skip
            except RunFailed as exc:
                if scored is None or exc.piece is None:
                    raise JobFailed(str(exc)) from None
                # The scoring beside the encode may be what failed (a filter this ffmpeg lacks, a frame
                # format libvmaf refuses): the pieces are encoded again without it, and scored from their
                # join. A piece that fails again fails the job.
                log.warning("%s: %s; encoding it again without scoring it beside its encode", self.source, exc)
                self.score = None
                retry = [p for p in started if p.index not in self.rec.pieces]
                for plan in retry:
                    self._in_flight.pop(plan.index, None)
            finally:
                lanes.release(lane)
                for plan in reversed(retry):  # first, before the rest of the run: a failure again shows at once
                    lanes.give_back(plan)
                self._lanes_changed.set()

    def _decode_threads(self, lanes: Lanes) -> int | None:
        """The threads of one lane's source decoder: its share of the cores when lanes run side by side
        (a decoder threaded for every core beside other lanes spends CPU on its threads for nothing;
        a software encoder's piece takes far longer than its decode), ffmpeg's choice for one lane and
        for a hardware encoder, whose lanes wait on their decoders: capped, the last lane to finish
        would decode on its share while the other cores idle."""
        if lanes.count < 2 or self.profile.hardware:
            return None
        return max(1, self.job.cores // lanes.count)

    def _encoder_for(self, lanes: Lanes, lane: int, plan: PiecePlan) -> EncoderArgs | None:
        """The arguments of `plan`'s encoder, with its share of the cores; None if another lane took it."""
        if not lanes.start(lane, plan):
            return None
        self._in_flight[plan.index] = 0
        if lanes.nothing_left_to_start():
            # One of the job's last pieces: it may have every core, since the lanes that finish before it
            # find nothing more to do (the bytes are the same with any budget).
            return self._args_with(self.job.cores)
        here = sum(1 for n in lanes.waiting if n in self._local_ids)
        return self._args_with(self.job.cores // max(1, here))

    def remote_args(self) -> EncoderArgs:
        """The arguments of a piece encoded elsewhere: one core each, or the job's fixed budget (x264)."""
        return self._args_with(1)

    def _args_with(self, threads: int) -> EncoderArgs:
        """The encoder's arguments with a budget of `threads`, where the budget may vary: an older
        version's pieces had none, and an encoder whose bytes depend on it keeps the recorded one."""
        if self.rec.args < 2:
            return self.enc_args
        if self.profile.threads_change_output:
            return self.profile.with_threads(self.enc_args, self.rec.threads or 1)
        return self.profile.with_threads(self.enc_args, threads)

    def _on_frames(self, plan: PiecePlan, frames: int) -> None:
        """Progress of one piece's encoder: the job's percent, speed and ETA over all lanes."""
        self._in_flight[plan.index] = frames
        total = self.rec.frames
        running = sum(self._in_flight.values())
        elapsed = time.monotonic() - self._started
        rate = (self._fresh_frames + running) / elapsed if elapsed > 0 else 0.0
        done = self._done_frames + running
        eta = (total - done) / rate if rate > 0 else None
        self._report(self.progress_step, 100.0 * done / total, fps=rate, eta_seconds=eta)

    def _on_score(self, plan: PiecePlan, score: VmafScore) -> None:
        self._scores[plan.index] = score

    async def _piece_encoded(self, plan: PiecePlan) -> None:
        """A piece's encoder exited: check and record the piece."""
        self._in_flight.pop(plan.index, None)
        self._fresh_frames += plan.frame_count
        failpoint("piece-unrecorded")
        reason = await self._accept_piece(plan)
        if reason is not None:
            raise JobFailed(f"piece {plan.index}: {reason}")

    async def _accept_piece(self, plan: PiecePlan, *, leftover: bool = False, decode: bool = False) -> str | None:
        """Check a written piece and record it; return why it was refused (its file is then removed).

        The piece must hold exactly its planned frames from the planned timestamp, start with a
        keyframe, and decode without error on its own (in the idle CPU class, beside the encoder).
        With `verify = quick` a piece whose encoder this process saw finish is not decoded; a leftover
        of an earlier run (killed, perhaps by a power cut, while writing it) always is, and so is a piece
        another machine wrote (`decode`).
        """
        part = self._part_path(plan.index)
        reason: str | None = None
        decoded = False
        try:
            scan = await asyncio.to_thread(scan_video_frames, part)
        except ProbeError as exc:
            reason = f"unreadable ({exc})"
        else:
            source_tb = Fraction(self.rec.time_base)
            if scan.frame_count != plan.frame_count:
                reason = f"{scan.frame_count} frames, planned {plan.frame_count}"
            elif abs(scan.pts[0] * scan.time_base - plan.start_pts * source_tb) > TIMESTAMP_TOLERANCE:
                reason = f"starts at {scan.seconds(scan.pts[0]):.3f} s, not as planned"
            elif not scan.keyframes or scan.keyframes[0] != scan.pts[0]:
                reason = "does not start with a keyframe"
        if reason is None and (leftover or decode or self.options.verify == "full"):
            try:
                alone = not self._in_flight  # no piece of this job is being encoded, here or on a farm
                check = decode_check_args(part, threads=self.job.cores if alone else 1)
                await run_ffmpeg(check, ffmpeg=self.ffmpeg, control=self.control, priority=Priority.IDLE)
            except FFmpegRunError as exc:
                reason = f"does not decode ({exc})"
            else:
                decoded = True
        if reason is not None:
            if leftover:  # the normal case after a kill: the piece was being written
                log.info("%s: piece %d was left unfinished; encoding it again", self.source.name, plan.index)
            else:
                log.warning("%s: piece %d refused: %s", self.source.name, plan.index, reason)
            part.unlink(missing_ok=True)
            return reason
        record = await asyncio.to_thread(self._seal_piece, part, self._piece_path(plan.index), plan.frame_count)
        if decoded:
            self.decoded[plan.index] = record.sha256
        score = self._scores.pop(plan.index, None)
        if score is not None and self.score is not None and not leftover:
            record.score = PieceScore(
                mean=round(score.mean, 4), low=round(score.low, 4), scored=score.frames, model=score.model,
                subsample=self.score.interval,
            )  # fmt: skip
        self.rec.pieces[plan.index] = record
        self._done_frames += plan.frame_count
        self.manager.state.progress_percent = round(100.0 * self._done_frames / self.rec.frames, 2)
        self._save()
        failpoint("piece-recorded")
        return None

    @staticmethod
    def _seal_piece(part: Path, final: Path, frames: int) -> PieceRecord:
        """Make a checked piece durable under its final name; `frames` is its checked frame count."""
        fsync_file(part)
        record = PieceRecord(
            frames=frames,
            bytes=part.stat().st_size,
            sha256=sha256_file(part),
            params=codec_parameters(part),
            at=time.time(),
        )
        os.replace(part, final)
        fsync_dir(final.parent)
        return record

    async def _pieces_agree(self) -> bool:
        """All pieces must carry the same codec parameters to be joined (an ffmpeg upgrade mid-job
        changes them): drop those unlike the newest piece, which the installed encoder made."""
        records = self.rec.pieces
        try:
            params = {
                n: r.params or await asyncio.to_thread(codec_parameters, self._piece_path(n))
                for n, r in records.items()
            }
        except JoinError as exc:
            raise JobFailed(str(exc)) from None
        if len(set(params.values())) <= 1:
            return True
        newest = max(records, key=lambda n: records[n].at)
        for n, value in params.items():
            if value != params[newest]:
                log.warning("%s: piece %s was made by another encoder build; encoding it again", self.source, n)
                records.pop(n)
                self._piece_path(n).unlink(missing_ok=True)
        self._save()
        return False

    async def assemble_and_verify(self) -> None:
        """Join the pieces, mux every other stream of the source, verify, and record the ready output."""
        self.manager.update_step("assemble", progress=self.manager.state.progress_percent)
        plans = self._plans()
        ext = self.options.container
        safe_subfolder(self.pieces_dir, "pieces folder")
        joined = self.work / "video.mp4"
        part = self.work / f"output.part.{ext}"
        ready = self.work / f"output.{ext}"
        for stale in (joined, part, ready):
            stale.unlink(missing_ok=True)
        pieces = [self._piece_path(p.index) for p in plans]
        try:
            await asyncio.to_thread(join_pieces, pieces, joined)
        except JoinError as exc:
            raise JobFailed(str(exc)) from None
        failpoint("joined")
        await self.control.wait_if_paused()
        try:
            await run_ffmpeg(
                assemble_args(joined, self.reads, self.info, part, ext, self._source_id()),
                ffmpeg=self.ffmpeg,
                control=self.control,
            )
        except FFmpegRunError as exc:
            raise JobFailed(f"assembly failed: {exc}") from None
        failpoint("assembled")
        joined.unlink(missing_ok=True)
        self.manager.update_step("verify", progress=self.manager.state.progress_percent)
        try:
            await verify_output(
                part,
                self.info,
                expected_frames=self.rec.frames,
                expected_span=self.rec.span,
                container=ext,
            )
        except VerifyError as exc:
            part.unlink(missing_ok=True)
            raise JobFailed(str(exc)) from None
        size = part.stat().st_size
        digest = await asyncio.to_thread(sha256_file, part)
        os.replace(part, ready)
        fsync_dir(self.work)
        failpoint("verified-unrecorded")
        cp = self.job.cp
        cp.output = OutputRecord(bytes=size, sha256=digest)
        source_size = cp.source.size if cp.source is not None else 0
        if size >= source_size and not self.options.force:
            cp.kept_source = f"output ({size} bytes) is not smaller than the source ({source_size} bytes)"
