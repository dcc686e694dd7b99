"""The resumable encode: checkpointed pieces, then join, assemble, verify and place.

Everything needed to continue lives in the state's `checkpoint["encode"]`: the source's identity, the
piece plan (so a resume never scans the source again), a key of the encoder arguments, and for every
finished piece its frame count, size and SHA-256. On resume each recorded piece is checked against its
record and re-encoded if it does not match; a kill at any instant therefore costs at most the piece
being encoded. Assembly and verification are redone from the pieces until the verified output is
recorded; placement is idempotent.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import logging
import os
import shutil
import tempfile
import time
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

from lazy_transcode.failpoints import failpoint
from lazy_transcode.jobs.api import JobControl, JobFailed, JobOptions, Progress
from lazy_transcode.media.commands import assemble_args, decode_check_args, decode_pieces_args, piece_encode_args
from lazy_transcode.media.encoders import KEYINT_DEFAULT, EncoderArgs, EncodeSettings, get_profile
from lazy_transcode.media.join import JoinError, codec_parameters, join_pieces
from lazy_transcode.media.pieces import PiecePlan, contiguous_runs, plan_pieces
from lazy_transcode.media.place import fsync_dir, fsync_file, output_name, place_file, sha256_file
from lazy_transcode.media.probe import FrameScan, MediaInfo, ProbeError, scan_video_frames
from lazy_transcode.media.process import FfmpegProgress, FFmpegRunError, Priority, run_ffmpeg
from lazy_transcode.media.verify import VerifyError, verify_output
from lazy_transcode.state.manager import UniversalStateManager

log = logging.getLogger(__name__)

CHECKPOINT_VERSION = 1
TIMESTAMP_TOLERANCE = Fraction(1, 1000)  # pieces are compared to the source within a millisecond


@dataclass
class EncodeOutcome:
    output: Path | None  # where the verified file was placed (None when the source was kept)
    output_size: int
    source_size: int
    kept_source_reason: str | None = None


def work_dir_for(manager: UniversalStateManager) -> Path:
    """The job's partial files live beside its state file."""
    name = manager.state_file.name.removesuffix(".state.json")
    return manager.state_file.parent / f"{name}.work"


def destination(source: Path, options: JobOptions, label: str) -> Path:
    if options.replace:
        return source.with_suffix(f".{options.container}")
    folder = Path(options.output_dir) if options.output_dir else source.parent
    return folder / output_name(source, label, options.container)


def source_identity(source: Path) -> dict[str, int]:
    st = source.stat()
    return {"size": st.st_size, "mtime_ns": st.st_mtime_ns}


class ResumableEncode:
    """One file's encode at fixed settings, resumable from its state at any instant."""

    def __init__(
        self,
        source: Path,
        info: MediaInfo,
        options: JobOptions,
        settings: EncodeSettings,
        manager: UniversalStateManager,
        control: JobControl,
        *,
        ffmpeg: str,
    ) -> None:
        assert info.video is not None
        self.source = source
        self.info = info
        self.options = options
        self.settings = settings
        self.manager = manager
        self.control = control
        self.ffmpeg = ffmpeg
        self.work = work_dir_for(manager)
        self.pieces_dir = self.work / "pieces"
        video = info.video
        self.profile = get_profile(options.encoder)
        self.keyint = KEYINT_DEFAULT
        self.enc_args: EncoderArgs = self.profile.build(
            settings, preset=options.preset, ten_bit=video.bit_depth > 8, hdr=video.hdr, keyint=self.keyint
        )
        self.dest = destination(source, options, settings.label())
        self._last_save = 0.0
        self._done_frames = 0  # frames in recorded pieces
        self._fresh_frames = 0  # frames encoded by this process (for the speed and the ETA)
        self._started = time.monotonic()

    # --- checkpoint helpers ------------------------------------------------------------------
    @property
    def cp(self) -> dict[str, Any]:
        return self.manager.state.checkpoint.setdefault("encode", {})

    def _key(self) -> str:
        blob = json.dumps(
            {"args": self.enc_args.output, "g": self.enc_args.global_args, "f": self.enc_args.filters,
             "piece_seconds": self.options.piece_seconds, "container": self.options.container, "v": CHECKPOINT_VERSION},
            sort_keys=True, default=str,
        )  # fmt: skip
        return hashlib.sha256(blob.encode()).hexdigest()[:16]

    def _save(self) -> None:
        self.manager.save_state()
        self._last_save = time.monotonic()

    def _report(self, step: str, percent: float, **kw: Any) -> None:
        self.manager.state.progress_percent = round(percent, 2)
        self.control.report(Progress(step=step, percent=round(percent, 2), **kw))
        if time.monotonic() - self._last_save >= self.control.checkpoint_interval:
            self._save()

    # --- the pipeline ------------------------------------------------------------------------
    async def run(self) -> EncodeOutcome:
        if not self.cp.get("output"):
            await self._prepare()
            await self._encode_pieces()
            if not await self._pieces_agree():
                await self._encode_pieces()
            await self._assemble_and_verify()
        return await finish_encode(self.manager, self.options, self.source)

    async def _prepare(self) -> None:
        """Plan the pieces once; drop everything when the source or the settings changed."""
        identity = source_identity(self.source)
        key = self._key()
        cp = self.cp
        if cp and (cp.get("version") != CHECKPOINT_VERSION or cp.get("source") != identity or cp.get("key") != key):
            log.info("%s: source or settings changed since the checkpoint; starting the encode over", self.source)
            cp.clear()
            shutil.rmtree(self.work, ignore_errors=True)
        if not cp.get("plan"):
            self.manager.update_step("analysis", progress=0.0)
            assert self.info.video is not None
            try:
                scan = await asyncio.to_thread(scan_video_frames, self.source, self.info.video.index)
            except ProbeError as exc:
                raise JobFailed(str(exc)) from None
            self._check_complete(scan)
            plans = plan_pieces(scan, self.options.piece_seconds, max_frames=self.keyint)
            cp.update(
                version=CHECKPOINT_VERSION,
                source=identity,
                key=key,
                frames=scan.frame_count,
                time_base=str(scan.time_base),
                span=scan.seconds(scan.pts[-1]) - scan.seconds(scan.pts[0]),
                plan=[p.to_list() for p in plans],
                pieces={},
            )
            self._save()
        self.pieces_dir.mkdir(parents=True, exist_ok=True)

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
        try:
            return [PiecePlan.from_list(i, row) for i, row in enumerate(self.cp["plan"])]
        except (ValueError, TypeError, KeyError) as exc:
            raise JobFailed(f"damaged piece plan in {self.manager.state_file}: {exc}") from None

    def _piece_path(self, index: int) -> Path:
        return self.pieces_dir / f"piece_{index:05d}.mp4"

    def _part_path(self, index: int) -> Path:
        return self.pieces_dir / f"piece_{index:05d}.part.mp4"

    def _piece_is_good(self, plan: PiecePlan) -> bool:
        record = self.cp["pieces"].get(str(plan.index))
        path = self._piece_path(plan.index)
        if not isinstance(record, dict):
            return False
        try:
            ok = (
                path.stat().st_size == record.get("bytes")
                and record.get("frames") == plan.frame_count
                and sha256_file(path) == record.get("sha256")
            )
        except OSError:
            ok = False
        if not ok:
            log.warning("%s: piece %d is missing or damaged; encoding it again", self.source, plan.index)
            self.cp["pieces"].pop(str(plan.index), None)
        return ok

    async def _encode_pieces(self) -> None:
        """Encode every piece not yet recorded: the source is decoded once per stretch of missing pieces."""
        plans = self._plans()
        self.manager.update_step("encode", progress=self.manager.state.progress_percent)
        good = await asyncio.to_thread(lambda: {p.index for p in plans if self._piece_is_good(p)})
        # Pieces the last run finished but did not record (it was killed, or stopped): check them as new.
        for plan in plans:
            part = self._part_path(plan.index)
            if plan.index not in good and part.exists() and await self._accept_piece(plan, leftover=True) is None:
                good.add(plan.index)
        self._done_frames = sum(p.frame_count for p in plans if p.index in good)
        for run in contiguous_runs([p for p in plans if p.index not in good]):
            await self.control.wait_if_paused()
            await self._encode_run(run)
        self.control.report(Progress(step="encode", percent=100.0))

    def _on_progress(self, base: int, plan: PiecePlan) -> Any:
        """Progress of one piece's encoder; `base` frames are done before it."""
        total = int(self.cp["frames"])
        fresh = self._fresh_frames + base - self._done_frames  # frames encoded by this process before it

        def report(rec: FfmpegProgress) -> None:
            frames = base + min(rec.frame, plan.frame_count)
            elapsed = time.monotonic() - self._started
            rate = (fresh + rec.frame) / elapsed if elapsed > 0 else 0.0
            eta = (total - frames) / rate if rate > 0 else None
            self._report("encode", 100.0 * frames / total, fps=rec.fps or rate, speed=rec.speed, eta_seconds=eta)

        return report

    async def _encode_run(self, run: list[PiecePlan]) -> None:
        """Encode consecutive pieces: one ffmpeg decodes them, each piece has a fresh encoder of its own.

        Every piece is therefore exactly what encoding it alone gives (a resumed job ends identical to
        an uninterrupted one), while the source is read once, with no seek per piece. The decoder
        writes each piece's raw frames into that piece's FIFO; the next piece's encoder is already
        waiting on its FIFO when the decoder gets there, so the CPU never idles between pieces. Each
        piece is checked and recorded as soon as its encoder exits.
        """
        first, last = run[0], run[-1]
        which = f"piece {first.index}" if len(run) == 1 else f"pieces {first.index}-{last.index}"
        with tempfile.TemporaryDirectory(prefix="lazy-transcode-") as fifo_dir:
            fifo = Path(fifo_dir) / "frames_%05d.nut"
            for plan in run:
                try:
                    os.mkfifo(str(fifo).replace("%05d", f"{plan.index:05d}"), 0o600)
                except OSError as exc:
                    raise JobFailed(f"cannot create a FIFO in {fifo_dir}: {exc.strerror}") from None
                self._part_path(plan.index).unlink(missing_ok=True)
            decoder = asyncio.ensure_future(
                run_ffmpeg(
                    decode_pieces_args(self.source, self.info, run, fifo),
                    ffmpeg=self.ffmpeg, control=self.control, graceful_stop=False,
                )
            )  # fmt: skip
            encoders: dict[int, asyncio.Future[str]] = {}
            done_before = [self._done_frames + sum(p.frame_count for p in run[:n]) for n in range(len(run))]

            def decoder_failed() -> bool:
                return decoder.done() and (decoder.cancelled() or decoder.exception() is not None)

            def start_encoder(n: int) -> None:
                if n < len(run) and n not in encoders:
                    plan = run[n]
                    log.info("%s: encoding piece %d (%d frames)", self.source.name, plan.index, plan.frame_count)
                    frames = Path(str(fifo).replace("%05d", f"{plan.index:05d}"))
                    args = piece_encode_args(
                        frames, self.info, plan, self.enc_args, self._part_path(plan.index), self.cp["time_base"]
                    )
                    encoders[n] = asyncio.ensure_future(
                        run_ffmpeg(
                            args, ffmpeg=self.ffmpeg, control=self.control, graceful_stop=False,
                            on_progress=self._on_progress(done_before[n], plan), priority=Priority.BELOW,
                        )
                    )  # fmt: skip

            try:
                for n, plan in enumerate(run):
                    start_encoder(n)
                    start_encoder(n + 1)
                    encoder = encoders[n]  # stays listed until done, so `finally` can stop it
                    while not encoder.done() and not decoder_failed():
                        waiters = {encoder} if decoder.done() else {encoder, decoder}
                        await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
                    if decoder_failed():  # the encoders still waiting for frames would wait forever
                        error = decoder.exception()
                        if isinstance(error, FFmpegRunError):
                            raise JobFailed(f"decoding the source for {which} failed: {error}")
                        assert error is not None
                        raise error
                    try:
                        encoder.result()
                    except FFmpegRunError as exc:
                        self._part_path(plan.index).unlink(missing_ok=True)
                        raise JobFailed(f"piece {plan.index} failed: {exc}") from None
                    del encoders[n]
                    start_encoder(n + 2)
                    self._fresh_frames += plan.frame_count
                    failpoint("piece-unrecorded")
                    reason = await self._accept_piece(plan)
                    if reason is not None:
                        raise JobFailed(f"piece {plan.index}: {reason}")
                await decoder
            finally:
                for task in (decoder, *encoders.values()):
                    if not task.done():
                        task.cancel()
                    with contextlib.suppress(BaseException):
                        await task

    async def _accept_piece(self, plan: PiecePlan, *, leftover: bool = False) -> str | None:
        """Check a written piece and record it; return why it was refused (its file is then removed).

        The piece must hold exactly its planned frames from the planned timestamp, start with a
        keyframe, and decode without error on its own (in the idle CPU class, beside the encoder).
        With `verify = quick` a piece whose encoder this process saw finish is not decoded; a leftover
        of an earlier run (killed, perhaps by a power cut, while writing it) always is.
        """
        part = self._part_path(plan.index)
        reason: str | None = None
        try:
            scan = await asyncio.to_thread(scan_video_frames, part)
        except ProbeError as exc:
            reason = f"unreadable ({exc})"
        else:
            source_tb = Fraction(self.cp["time_base"])
            if scan.frame_count != plan.frame_count:
                reason = f"{scan.frame_count} frames, planned {plan.frame_count}"
            elif abs(scan.pts[0] * scan.time_base - plan.start_pts * source_tb) > TIMESTAMP_TOLERANCE:
                reason = f"starts at {scan.seconds(scan.pts[0]):.3f} s, not as planned"
            elif not scan.keyframes or scan.keyframes[0] != scan.pts[0]:
                reason = "does not start with a keyframe"
        if reason is None and (leftover or self.options.verify == "full"):
            try:
                check = decode_check_args(part)
                await run_ffmpeg(check, ffmpeg=self.ffmpeg, control=self.control, priority=Priority.IDLE)
            except FFmpegRunError as exc:
                reason = f"does not decode ({exc})"
        if reason is not None:
            if leftover:  # the normal case after a kill: the piece was being written
                log.info("%s: piece %d was left unfinished; encoding it again", self.source.name, plan.index)
            else:
                log.warning("%s: piece %d refused: %s", self.source.name, plan.index, reason)
            part.unlink(missing_ok=True)
            return reason
        record = await asyncio.to_thread(self._seal_piece, part, self._piece_path(plan.index), plan.frame_count)
        self.cp["pieces"][str(plan.index)] = record
        self._done_frames += plan.frame_count
        self.manager.state.progress_percent = round(100.0 * self._done_frames / int(self.cp["frames"]), 2)
        self._save()
        return None

    @staticmethod
    def _seal_piece(part: Path, final: Path, frames: int) -> dict[str, Any]:
        """Make a checked piece durable under its final name; `frames` is its checked frame count."""
        fsync_file(part)
        record = {
            "frames": frames,
            "bytes": part.stat().st_size,
            "sha256": sha256_file(part),
            "params": codec_parameters(part),
            "at": time.time(),
        }
        os.replace(part, final)
        fsync_dir(final.parent)
        return record

    async def _pieces_agree(self) -> bool:
        """All pieces must carry the same codec parameters to be joined (an ffmpeg upgrade mid-job
        changes them): drop those unlike the newest piece, which the installed encoder made."""
        records: dict[str, Any] = self.cp["pieces"]
        try:
            params = {
                n: r.get("params") or await asyncio.to_thread(codec_parameters, self._piece_path(int(n)))
                for n, r in records.items()
            }
        except JoinError as exc:
            raise JobFailed(str(exc)) from None
        if len(set(params.values())) <= 1:
            return True
        newest = max(records, key=lambda n: records[n].get("at", 0))
        for n, value in params.items():
            if value != params[newest]:
                log.warning("%s: piece %s was made by another encoder build; encoding it again", self.source, n)
                records.pop(n)
                self._piece_path(int(n)).unlink(missing_ok=True)
        self._save()
        return False

    async def _assemble_and_verify(self) -> None:
        self.manager.update_step("assemble", progress=self.manager.state.progress_percent)
        plans = self._plans()
        ext = self.options.container
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
                assemble_args(joined, self.source, self.info, part, ext), ffmpeg=self.ffmpeg, control=self.control
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
                expected_frames=int(self.cp["frames"]),
                expected_span=float(self.cp["span"]),
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
        self.cp["output"] = {"bytes": size, "sha256": digest, "dest": str(self.dest)}
        source_size = int(self.cp["source"]["size"])
        if size >= source_size and not self.options.force:
            self.cp["kept_source"] = f"output ({size} bytes) is not smaller than the source ({source_size} bytes)"
        self._save()

    def remove_work(self) -> None:
        shutil.rmtree(self.work, ignore_errors=True)


def remove_work_dir(manager: UniversalStateManager) -> None:
    shutil.rmtree(work_dir_for(manager), ignore_errors=True)


def has_verified_output(manager: UniversalStateManager) -> bool:
    return bool(manager.state.checkpoint.get("encode", {}).get("output"))


async def finish_encode(manager: UniversalStateManager, options: JobOptions, source: Path) -> EncodeOutcome:
    """Place the verified output (idempotent: a kill at any point of it resumes correctly)."""
    cp = manager.state.checkpoint["encode"]
    record = cp["output"]
    dest = Path(record["dest"])
    if not cp.get("placed") and not cp.get("kept_source"):
        manager.update_step("place", progress=99.0)
        ready = work_dir_for(manager) / f"output.{options.container}"
        failpoint("before-place")
        if ready.exists():
            await asyncio.to_thread(place_file, ready, dest)
            failpoint("placed-unrecorded")
        elif not (
            dest.exists()
            and dest.stat().st_size == record["bytes"]
            and await asyncio.to_thread(sha256_file, dest) == record["sha256"]
        ):
            cp.pop("output", None)  # gone before placement: the next run rebuilds it from the pieces
            manager.save_state()
            raise JobFailed("the verified output disappeared before placement; run the job again")
        if options.replace and dest != source:
            with contextlib.suppress(FileNotFoundError):
                source.unlink()
            fsync_dir(source.parent)
            failpoint("source-removed-unrecorded")
        cp["placed"] = {"path": str(dest), "bytes": record["bytes"]}
        manager.save_state()
    placed = cp.get("placed") or {}
    return EncodeOutcome(
        output=Path(placed["path"]) if placed else None,
        output_size=int(record.get("bytes", 0)),
        source_size=int(cp.get("source", {}).get("size", 0)),
        kept_source_reason=cp.get("kept_source"),
    )
