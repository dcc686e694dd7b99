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
import time
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

from lazy_transcode.failpoints import failpoint
from lazy_transcode.jobs.api import JobControl, JobFailed, JobOptions, Progress
from lazy_transcode.media.commands import assemble_args, piece_encode_args
from lazy_transcode.media.encoders import KEYINT_DEFAULT, EncoderArgs, EncodeSettings, get_profile
from lazy_transcode.media.join import JoinError, join_pieces
from lazy_transcode.media.pieces import PiecePlan, plan_pieces
from lazy_transcode.media.place import fsync_dir, fsync_file, output_name, place_file, sha256_file
from lazy_transcode.media.probe import FrameScan, MediaInfo, ProbeError, scan_video_frames
from lazy_transcode.media.process import FfmpegProgress, FFmpegRunError, run_ffmpeg
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
        self.enc_args: EncoderArgs = get_profile(options.encoder).build(
            settings, preset=options.preset, ten_bit=video.bit_depth > 8, hdr=video.hdr, keyint=KEYINT_DEFAULT
        )
        self.dest = destination(source, options, settings.label())
        self._last_save = 0.0

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
            plans = plan_pieces(scan, self.options.piece_seconds)
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
        for stale in self.pieces_dir.glob("*.part.mp4"):
            stale.unlink(missing_ok=True)

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
        plans = self._plans()
        total = int(self.cp["frames"])
        self.manager.update_step("encode", progress=self.manager.state.progress_percent)
        good = await asyncio.to_thread(lambda: {p.index for p in plans if self._piece_is_good(p)})
        done_frames = sum(p.frame_count for p in plans if p.index in good)
        started = time.monotonic()
        encoded_frames = 0
        for plan in plans:
            if plan.index in good:
                continue
            await self.control.wait_if_paused()
            base = done_frames

            def on_progress(
                rec: FfmpegProgress, base: int = base, plan: PiecePlan = plan, fresh: int = encoded_frames
            ) -> None:
                frames = base + min(rec.frame, plan.frame_count)
                elapsed = time.monotonic() - started
                rate = (fresh + rec.frame) / elapsed if elapsed > 0 else 0.0
                eta = (total - frames) / rate if rate > 0 else None
                self._report("encode", 100.0 * frames / total, fps=rec.fps or rate, speed=rec.speed, eta_seconds=eta)

            await self._encode_piece(plan, on_progress)
            done_frames += plan.frame_count
            encoded_frames += plan.frame_count
            self.manager.state.progress_percent = round(100.0 * done_frames / total, 2)
            self._save()
        self.control.report(Progress(step="encode", percent=100.0))

    async def _encode_piece(self, plan: PiecePlan, on_progress: Any) -> None:
        final = self._piece_path(plan.index)
        part = final.with_name(final.stem + ".part.mp4")
        log.info("%s: encoding piece %d (%d frames)", self.source.name, plan.index, plan.frame_count)
        args = piece_encode_args(self.source, self.info, plan, self.enc_args, part)
        try:
            await run_ffmpeg(
                args, ffmpeg=self.ffmpeg, control=self.control, on_progress=on_progress, graceful_stop=False
            )
        except FFmpegRunError as exc:
            part.unlink(missing_ok=True)
            raise JobFailed(f"piece {plan.index} failed: {exc}") from None
        except BaseException:
            part.unlink(missing_ok=True)
            raise
        record = await asyncio.to_thread(self._check_piece, plan, part)
        os.replace(part, final)
        fsync_dir(final.parent)
        self.cp["pieces"][str(plan.index)] = record

    def _check_piece(self, plan: PiecePlan, part: Path) -> dict[str, Any]:
        """A new piece must hold exactly its planned frames, starting at the planned timestamp."""
        try:
            scan = scan_video_frames(part)
        except ProbeError as exc:
            raise JobFailed(f"piece {plan.index} is unreadable: {exc}") from None
        source_tb = Fraction(self.cp["time_base"])
        if scan.frame_count != plan.frame_count:
            raise JobFailed(f"piece {plan.index} has {scan.frame_count} frames, planned {plan.frame_count}")
        if abs(scan.pts[0] * scan.time_base - plan.start_pts * source_tb) > TIMESTAMP_TOLERANCE:
            raise JobFailed(f"piece {plan.index} starts at {scan.seconds(scan.pts[0]):.3f} s, not as planned")
        fsync_file(part)
        return {"frames": scan.frame_count, "bytes": part.stat().st_size, "sha256": sha256_file(part)}

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
                ffmpeg=self.ffmpeg,
                control=self.control,
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
