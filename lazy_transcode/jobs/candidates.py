"""Whole-file probes as candidate outputs: each probed setting is encoded as the job's own pieces.

When the search measures the whole file, a probe's encode is the output at that setting: the same
piece plan and encoder arguments, made by `PieceEncoder`, checkpointed piece by piece in a folder of
its own (`<work>/probes/<label>/pieces`) and recorded in `SearchRecord.candidates`. VMAF is measured on
the pieces' join against the source. The winner's pieces move to the job's pieces folder and its
record becomes the checkpoint's `encode`, so the encode step finds every piece recorded and encodes
nothing; the losers' folders go. A kill at any instant costs at most the piece in flight.
"""

from __future__ import annotations

import asyncio
import logging
import os
import shutil
from dataclasses import dataclass, field, fields, replace
from pathlib import Path

from lazy_transcode.jobs.encode import PieceEncoder
from lazy_transcode.jobs.pipeline import Job
from lazy_transcode.jobs.record import Checkpoint, PiecesRecord, SearchRecord, Setting
from lazy_transcode.media.commands import decode_check_args
from lazy_transcode.media.encoders import ARGS_VERSION, EncodeSettings
from lazy_transcode.media.join import JoinError, join_pieces
from lazy_transcode.media.place import fsync_dir
from lazy_transcode.media.process import FFmpegRunError, Priority, run_ffmpeg
from lazy_transcode.media.vmaf import VmafError, VmafScore, measure_vmaf, model_for
from lazy_transcode.state.held import ensure_subfolder, safe_subfolder

log = logging.getLogger(__name__)

FRAMES_SCORED = 160  # VMAF subsampling of a whole file keeps about this many scored frames (bench: within 0.2)


@dataclass
class CandidateJob(Job):
    """The job as the encoder of one candidate sees it: its own checkpoint and work folder."""

    candidate: Checkpoint = field(default_factory=Checkpoint)
    folder: Path = Path()

    @property
    def cp(self) -> Checkpoint:
        return self.candidate

    @property
    def work_dir(self) -> Path:
        safe_subfolder(self.folder, "probe folder")
        return self.folder


def subsample_for(frames: int) -> int:
    """Score every n-th frame: about FRAMES_SCORED of a whole file."""
    return max(1, round(frames / FRAMES_SCORED))


class Candidates:
    """The candidate outputs of one job's search, kept in `search.candidates`."""

    def __init__(self, job: Job, search: SearchRecord) -> None:
        self.job = job
        self.search = search

    @property
    def root(self) -> Path:
        return self.job.work_dir / "probes"

    def folder(self, label: str) -> Path:
        return self.root / label

    def _encoder(self, settings: EncodeSettings, record: PiecesRecord | None) -> PieceEncoder:
        ensure_subfolder(self.job.work_dir, "work folder")
        ensure_subfolder(self.root, "probes folder")
        folder = ensure_subfolder(self.folder(settings.label()), "probe folder")
        own = {f.name: getattr(self.job, f.name) for f in fields(Job)}
        # A losing probe's pieces are never output: only the winner's are decoded whole (`adopt`).
        own["options"] = replace(self.job.options, verify="quick")
        candidate = Checkpoint(source=self.job.cp.source, settings=Setting.of(settings), encode=record)
        encoder = PieceEncoder(CandidateJob(**own, candidate=candidate, folder=folder))
        encoder.step, encoder.progress_step = "quality_search", "search"
        return encoder

    async def encode(self, settings: EncodeSettings) -> PieceEncoder:
        """Encode (or finish) the candidate at `settings`: every piece recorded when this returns."""
        label = settings.label()
        record = self.search.candidates.get(label)
        encoder = self._encoder(settings, record)
        if record is not None and record.key != encoder.key():
            log.info("%s: probe %s was made with other encoder arguments; encoding it again", self.job.source, label)
            self.drop(label)
            record = None
            encoder = self._encoder(settings, None)
        if record is None:
            template = next(iter(self.search.candidates.values()), None)
            if template is None:
                await encoder.plan()  # the one scan of the source's frames
                record = encoder.job.cp.encode
                assert record is not None
            else:  # the plan is the same for every setting: no second scan
                record = PiecesRecord(
                    key=encoder.key(), frames=template.frames, time_base=template.time_base, span=template.span,
                    plan=list(template.plan), args=ARGS_VERSION, threads=template.threads,
                )  # fmt: skip
                encoder.job.cp.encode = record
            self.search.candidates[label] = record
            self.job.manager.save_state()
        await encoder.encode()
        return encoder

    async def measure(self, settings: EncodeSettings) -> tuple[VmafScore, int]:
        """The candidate's full-file VMAF against the source and its video bytes."""
        encoder = await self.encode(settings)
        video = self.job.info.video if self.job.info is not None else None
        assert video is not None
        plans = encoder.rec.plans()
        joined = encoder.work / "video.mp4"
        try:
            await asyncio.to_thread(join_pieces, [encoder._piece_path(p.index) for p in plans], joined)
        except JoinError as exc:
            raise VmafError(str(exc)) from None
        try:
            score = await measure_vmaf(
                joined, self.job.reads, width=video.width, height=video.height, ffmpeg=self.job.ffmpeg,
                log_path=encoder.work / "vmaf.json", control=self.job.control, ten_bit=video.bit_depth > 8,
                n_threads=self.job.cores, n_subsample=subsample_for(encoder.rec.frames),
                model=model_for(video.width, video.height), reference_stream=str(video.index),
            )  # fmt: skip
        finally:
            joined.unlink(missing_ok=True)
        return score, sum(r.bytes for r in encoder.rec.pieces.values())

    def drop(self, label: str) -> None:
        self.search.candidates.pop(label, None)
        shutil.rmtree(self.folder(label), ignore_errors=True)

    async def _decode_check(self, record: PiecesRecord, pieces: Path) -> None:
        """`--verify full`: every piece of the winner decodes without error (a failing one is dropped from
        the record, and the encode step encodes it again)."""
        for index in sorted(record.pieces):
            path = pieces / f"piece_{index:05d}.mp4"
            try:
                await run_ffmpeg(
                    decode_check_args(path), ffmpeg=self.job.ffmpeg, control=self.job.control, priority=Priority.IDLE
                )
            except FFmpegRunError as exc:
                log.warning("%s: piece %d of the chosen probe does not decode (%s)", self.job.source, index, exc)
                record.pieces.pop(index)
                path.unlink(missing_ok=True)

    async def adopt(self, winner: EncodeSettings | None) -> bool:
        """Make the winner's pieces the job's own (None: keep none); every other candidate is removed.

        The move comes before the record says so: a kill between the two finds the pieces moved and
        adopts them again (the encode step checks each piece against its checksum)."""
        record = None if winner is None else self.search.candidates.get(winner.label())
        if record is not None and winner is not None:
            moved = self.folder(winner.label()) / "pieces"
            if moved.is_dir() and self.job.options.verify == "full":
                await self._decode_check(record, moved)
            if moved.is_dir():
                shutil.rmtree(self.job.work_dir / "pieces", ignore_errors=True)
                os.replace(moved, self.job.work_dir / "pieces")
                fsync_dir(self.job.work_dir)
            self.job.cp.encode = record
        self.search.candidates = {}
        shutil.rmtree(self.root, ignore_errors=True)
        return record is not None
