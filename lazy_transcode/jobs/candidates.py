"""Whole-file probes as candidate outputs: each probed setting is encoded as the job's own pieces.

When the search measures the whole file, a probe's encode is the output at that setting: the same
piece plan and encoder arguments, made by `PieceEncoder`, checkpointed piece by piece in a folder of
its own (`<work>/probes/<label>/pieces`) and recorded in `SearchRecord.candidates`. Each piece's VMAF
is measured by its own encoder's process, against the raw frames it encodes (no second decode of the
source, no join), and kept in the piece's record; the candidate's VMAF pools them. Where that cannot
be done (an older ffmpeg, frames sent as NUT, a scoring that failed inside ffmpeg), pieces are scored
from their join. The winner's
pieces move to the job's pieces folder and its record becomes the checkpoint's `encode`, so the encode
step finds every piece recorded and encodes nothing; the losers' folders go. A kill at any instant
costs at most the piece in flight.

A longer file is measured on sample pieces of the output: the piece at each of the search's sample times.
A probe encodes only those; the winner's become the job's first recorded pieces, and the encode step
encodes the rest, so the sampled part of the file is never encoded twice.

Without a first guess learned from the library, a probe of a file measured whole first encodes every
other piece (from the second on; of a file in two pieces, the second if it holds a fifth of the frames)
and scores those alone: a setting whose estimate lies clearly outside the accepted band is recorded as
an estimate and encodes no more, so a missed guess costs a part of a probe. "Clearly" widens as the
estimate's share of the measured frames shrinks. An estimate only steers the search: a setting the
answer would rest on is finished and scored whole first. A longer file's sample pieces are measured
all at once: each stands for its own part of the file, so some of them are no estimate of it.
(The search also asks for a setting next to one it measured to be measured whole: `whole`.)

With `--verify full` a probe being finished has its pieces decoded as it goes (the likely winner), so
that `adopt` decodes only what was not decoded in this process.
"""

from __future__ import annotations

import asyncio
import bisect
import logging
import math
import os
import shutil
from collections.abc import Coroutine
from dataclasses import dataclass, field, fields, replace
from fractions import Fraction
from pathlib import Path
from typing import Any

from lazy_transcode.jobs.encode import PieceEncoder, piece_file
from lazy_transcode.jobs.pipeline import Job
from lazy_transcode.jobs.record import Checkpoint, PiecesRecord, SearchRecord, Setting
from lazy_transcode.media.binary import capabilities
from lazy_transcode.media.commands import decode_check_args
from lazy_transcode.media.encoders import ARGS_VERSION, EncodeSettings
from lazy_transcode.media.join import JoinError, join_pieces
from lazy_transcode.media.pieces import PiecePlan
from lazy_transcode.media.place import fsync_dir
from lazy_transcode.media.process import FFmpegRunError, Priority, run_ffmpeg
from lazy_transcode.media.vmaf import InlineScore, VmafError, VmafScore, measure_vmaf, model_for, pooled
from lazy_transcode.state.held import ensure_subfolder, safe_subfolder

log = logging.getLogger(__name__)

ESTIMATE_MARGIN = 0.3  # VMAF: an estimate from half of the file this far outside the band is not finished
ESTIMATE_MIN_SHARE = 0.2  # of a file in two pieces: a smaller second piece is too small a sample
FRAMES_SCORED = 80  # VMAF subsampling of a whole file keeps about this many scored frames (search_bench: the
# prediction is within 0.1 of the full VMAF on its clips)
FRAMES_SCORED_PER_PIECE = 80  # and of each sample piece of a longer file


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


def estimate_pieces(plans: list[PiecePlan], *, samples: bool = False) -> frozenset[int] | None:
    """The pieces of `plans` (the whole file's) an estimate encodes: every other one from the second, or
    the second of two if it holds enough of their frames. None: one piece, nothing to save; or a longer
    file's sample pieces (`samples`): each stands for its own stratum of the file (they are chosen to
    differ in how hard they are to encode), so some of them are biased by construction; on a film of
    varied scenes one of three stood 2.3 VMAF above the three's mean and sent the search two CRF steps
    the wrong way."""
    if samples:
        return None
    if len(plans) >= 3:
        return frozenset(plans[n].index for n in range(1, len(plans), 2))
    if len(plans) == 2 and plans[1].frame_count >= ESTIMATE_MIN_SHARE * (plans[0].frame_count + plans[1].frame_count):
        return frozenset({plans[1].index})
    return None


def estimate_margin(share: float) -> float:
    """How far outside the band an estimate from `share` of the file's frames must lie to be taken: its
    sampling error grows about as 1/sqrt(share)."""
    return ESTIMATE_MARGIN * math.sqrt(0.5 / max(share, 0.01))


def _scaled_size(record: PiecesRecord, chosen: list[PiecePlan]) -> int:
    """The whole file's video bytes, scaled from those of some recorded pieces by their frames."""
    size = sum(record.pieces[p.index].bytes for p in chosen)
    return round(size * record.frames / sum(p.frame_count for p in chosen))


@dataclass(frozen=True)
class Measured:
    score: VmafScore
    size: int  # video bytes of the whole file (an estimate's scaled from its pieces)
    estimate: bool


class Candidates:
    """The candidate outputs of one job's search, kept in `search.candidates`; a probe whose estimate lies
    in `finish` (the accepted band), widened by the estimate's margin, is finished whole."""

    def __init__(
        self,
        job: Job,
        search: SearchRecord,
        finish: tuple[float, float],
        *,
        estimate: bool = True,
        sample: list[float] | None = None,
    ) -> None:
        self.job = job
        self.estimate = estimate
        self.search = search
        self.finish = finish
        self.sample = sample  # a longer file: the times (s from its first frame) whose pieces are measured
        self.unscored = False  # a piece failed while scored beside its encode: pieces are scored from joins
        # Per probe, the pieces this process decoded without error, and the SHA-256 each had (a piece
        # encoded again is not the one decoded).
        self.checked: dict[str, dict[int, str]] = {}

    def sampled(self, record: PiecesRecord) -> frozenset[int] | None:
        """The pieces a probe of a longer file encodes and measures: the one holding each sample time (as the
        search recorded them: pieces ranked by the source's bytes). None: the file is measured whole."""
        if self.sample is None:
            return None
        plans = record.plans()
        tb = Fraction(record.time_base)
        starts = [float((p.start_pts - plans[0].start_pts) * tb) for p in plans]
        return frozenset(plans[max(0, bisect.bisect_right(starts, t) - 1)].index for t in self.sample)

    @property
    def root(self) -> Path:
        return self.job.work_dir / "probes"

    def folder(self, label: str) -> Path:
        return self.root / label

    def _encoder(self, settings: EncodeSettings, record: PiecesRecord | None, *, check: bool = False) -> PieceEncoder:
        ensure_subfolder(self.job.work_dir, "work folder")
        ensure_subfolder(self.root, "probes folder")
        folder = ensure_subfolder(self.folder(settings.label()), "probe folder")
        own = {f.name: getattr(self.job, f.name) for f in fields(Job)}
        # A losing probe's pieces are never output: they are decoded only when the probe is being finished
        # (`check`: its estimate, or none, placed it near the band) and the job verifies in full.
        own["options"] = replace(self.job.options, verify=self.job.options.verify if check else "quick")
        if self.sample is not None:  # a farm's piece has no score: a longer file's few are scored here
            own["remote"] = None
        candidate = Checkpoint(source=self.job.cp.source, settings=Setting.of(settings), encode=record)
        encoder = PieceEncoder(CandidateJob(**own, candidate=candidate, folder=folder))
        encoder.step, encoder.progress_step = "quality_search", "search"
        return encoder

    async def encode(
        self, settings: EncodeSettings, only: frozenset[int] | None = None, *, check: bool = False
    ) -> PieceEncoder:
        """Encode (or finish) the candidate at `settings`: every piece (of `only`) recorded when this returns;
        with `check`, each new piece decoded beside the next one's encode, as the job's own pieces are."""
        label = settings.label()
        record = self.search.candidates.get(label)
        encoder = self._encoder(settings, record, check=check)
        if record is not None and record.key != encoder.key():
            log.info("%s: probe %s was made with other encoder arguments; encoding it again", self.job.source, label)
            self.drop(label)
            record = None
            encoder = self._encoder(settings, None, check=check)
        if record is None:
            template = next(iter(self.search.candidates.values()), None)
            if template is None:
                await encoder.plan()  # the one scan of the source's frames (the search's, if it made one)
                self.job.scan = None  # the probes' plan is every setting's: the job's own copy is not needed
                record = encoder.job.cp.encode
                assert record is not None
            else:  # the plan is the same for every setting: no second scan
                record = PiecesRecord(
                    key=encoder.key(), frames=template.frames, time_base=template.time_base, span=template.span,
                    plan=list(template.plan), args=ARGS_VERSION, threads=template.threads,
                    frame_step=template.frame_step, frame_gaps=list(template.frame_gaps),
                )  # fmt: skip
                encoder.job.cp.encode = record
            self.search.candidates[label] = record
            self.job.manager.save_state()
        encoder.only = only
        sampled = self.sampled(record)
        encoder.score = self._inline(
            record, self._subsample([p for p in record.plans() if sampled is None or p.index in sampled])
        )
        wanted = encoder.score is not None
        try:
            await encoder.encode()
        finally:
            self._checked(label).update(encoder.decoded)
        if wanted and encoder.score is None:  # its encoder could not score beside the encode: none will
            self.unscored = True
        return encoder

    def _subsample(self, plans: list[PiecePlan]) -> int:
        """Every n-th frame of these pieces is scored: about FRAMES_SCORED of a whole file, about
        FRAMES_SCORED_PER_PIECE of each sample piece of a longer file."""
        frames = sum(p.frame_count for p in plans)
        if self.sample is None:
            return subsample_for(frames)
        return max(1, round(frames / (FRAMES_SCORED_PER_PIECE * max(1, len(plans)))))

    def _inline(self, record: PiecesRecord, n_subsample: int) -> InlineScore | None:
        """How each piece is scored by its encoder: every piece of the candidate alike (one subsampling),
        so an estimate's pieces count again when the probe is finished. None: the frames go as NUT, this
        ffmpeg cannot, or a piece failed while scored (the pieces are then scored afterwards, from their join)."""
        video = self.job.info.video if self.job.info is not None else None
        if video is None or record.frame_step is None or self.unscored:
            return None
        if not capabilities(self.job.ffmpeg).scores_beside_encode:
            return None
        return InlineScore(model=model_for(video.width, video.height), n_subsample=n_subsample,
                           ten_bit=video.bit_depth > 8)  # fmt: skip

    async def measure(self, settings: EncodeSettings, *, whole: bool = False) -> Measured:
        """The candidate's VMAF against the source and its video bytes: a longer file's from its sample
        pieces; else an estimate from some of its pieces when that is clearly outside the band (unless
        `whole`), else the whole file's."""
        encoder = await self.encode(settings, only=frozenset())  # the plan (and the pieces done before)
        plans = encoder.rec.plans()
        sampled = self.sampled(encoder.rec)
        measured = plans if sampled is None else [p for p in plans if p.index in sampled]
        some = estimate_pieces(measured, samples=sampled is not None) if self.estimate and not whole else None
        if some is not None and not all(p.index in encoder.rec.pieces for p in measured):
            encoder = await self.encode(settings, only=some)
            chosen = [p for p in plans if p.index in some]
            score = await self._score(encoder, chosen)
            share = sum(p.frame_count for p in chosen) / sum(p.frame_count for p in measured)
            margin = estimate_margin(share)
            if not self.finish[0] - margin <= score.mean <= self.finish[1] + margin:
                log.info("%s: probe %s estimated from %d of %d pieces", self.job.source.name, settings.label(),
                         len(chosen), len(measured))  # fmt: skip
                return Measured(score, _scaled_size(encoder.rec, chosen), True)
        # Every piece, or a longer file's sample pieces (the winner's are kept): the size of all is their sum.
        # A probe finished is likely the winner: with `--verify full` its pieces are decoded now, on the CPU
        # its encoders leave, not after the search (`adopt`) with nothing beside. Those of its estimate too.
        check = self.job.options.verify == "full"
        label = settings.label()
        rec = encoder.rec
        earlier = [p.index for p in measured if p.index in rec.pieces and not self._was_checked(label, rec, p.index)]
        if check and earlier:
            # Nothing left to encode: the decode has every core; else one lane, beside the encoders.
            lanes = self.job.cores if all(p.index in rec.pieces for p in measured) else 1
            decode = self._decode_checks(label, rec, earlier, lanes)
            encoder, failed = await self._encode_beside(settings, sampled, decode)
            if failed:  # encoded again (and decoded as they are written) before they are scored
                self._forget(label, rec, failed)
                encoder = await self.encode(settings, only=sampled, check=check)
        else:
            encoder = await self.encode(settings, only=sampled, check=check)
        return Measured(await self._score(encoder, measured), _scaled_size(encoder.rec, measured), False)

    async def _encode_beside(
        self, settings: EncodeSettings, only: frozenset[int] | None, decode: Coroutine[Any, Any, list[int]]
    ) -> tuple[PieceEncoder, list[int]]:
        """Finish the probe (its new pieces decoded as written) while `decode` checks those recorded
        before; the first error of either ends both, as itself. Returns the encoder and the pieces that
        did not decode."""
        tasks = [asyncio.ensure_future(self.encode(settings, only=only, check=True)), asyncio.ensure_future(decode)]
        try:
            encoder, failed = await asyncio.gather(*tasks)
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)  # every result retrieved, none left pending
        return encoder, failed

    def _forget(self, label: str, record: PiecesRecord, indices: list[int]) -> None:
        """Drop these pieces of probe `label` from its record and its folder (they are encoded again)."""
        for index in indices:
            record.pieces.pop(index, None)
            self._checked(label).pop(index, None)
            piece_file(self.folder(label) / "pieces", index).unlink(missing_ok=True)
        self.job.manager.save_state()

    def _checked(self, label: str) -> dict[int, str]:
        return self.checked.setdefault(label, {})

    def _was_checked(self, label: str, record: PiecesRecord, index: int) -> bool:
        """Piece `index` of the probe, as recorded now, decoded without error in this process."""
        piece = record.pieces.get(index)
        return piece is not None and self._checked(label).get(index) == piece.sha256

    async def _score(self, encoder: PieceEncoder, plans: list[PiecePlan]) -> VmafScore:
        """VMAF of these pieces against the same frames of the source: pooled from the scores their
        encoders measured, and for pieces without one (a leftover of a killed run, a farm's piece, an
        older record) from their join."""
        inline = encoder.score
        wanted = None if inline is None else (inline.model, inline.interval)
        parts: list[tuple[VmafScore, int]] = []  # each score, weighted by the source frames it stands for
        rest: list[PiecePlan] = []
        for plan in plans:
            score = encoder.rec.pieces[plan.index].score
            if score is not None and (score.model, score.subsample) == wanted:
                parts.append((VmafScore(score.mean, score.low, score.scored, score.model), plan.frame_count))
            else:
                rest.append(plan)
        if rest:
            parts.append((await self._score_join(encoder, rest), sum(p.frame_count for p in rest)))
        mean, low = pooled(parts)
        return VmafScore(mean=mean, low=low, frames=sum(s.frames for s, _ in parts), model=parts[-1][0].model)

    async def _score_join(self, encoder: PieceEncoder, plans: list[PiecePlan]) -> VmafScore:
        """VMAF of the join of these pieces against the same frames of the source."""
        video = self.job.info.video if self.job.info is not None else None
        assert video is not None
        joined = encoder.work / "video.mp4"
        try:
            await asyncio.to_thread(join_pieces, [encoder._piece_path(p.index) for p in plans], joined)
        except JoinError as exc:
            raise VmafError(str(exc)) from None
        whole = len(plans) == len(encoder.rec.plan)
        try:
            return await measure_vmaf(
                joined, self.job.reads, width=video.width, height=video.height, ffmpeg=self.job.ffmpeg,
                log_path=encoder.work / "vmaf.json", control=self.job.control, ten_bit=video.bit_depth > 8,
                n_threads=self.job.cores, n_subsample=self._subsample(plans),
                model=model_for(video.width, video.height), reference_stream=str(video.index),
                reference_frames=() if whole else [(p.first_frame, p.frame_count) for p in plans],
            )  # fmt: skip
        finally:
            joined.unlink(missing_ok=True)

    def drop(self, label: str) -> None:
        self.search.candidates.pop(label, None)
        self.checked.pop(label, None)
        shutil.rmtree(self.folder(label), ignore_errors=True)

    async def _decode_checks(self, label: str, record: PiecesRecord, indices: list[int], lanes: int = 1) -> list[int]:
        """Decode these pieces of probe `label`, `lanes` at a time, each on one thread in the idle CPU class;
        those that decode join `checked`. Returns those that do not (a missing file is one), unless the
        piece was recorded anew meanwhile (the new one was decoded as it was written)."""
        failed: list[int] = []
        room = asyncio.Semaphore(max(1, lanes))

        async def check(index: int) -> None:
            path = piece_file(self.folder(label) / "pieces", index)
            async with room:
                piece = record.pieces.get(index)  # as recorded when its decode starts
                if piece is None:
                    return
                try:
                    await run_ffmpeg(
                        decode_check_args(path), ffmpeg=self.job.ffmpeg, control=self.job.control,
                        priority=Priority.IDLE,
                    )  # fmt: skip
                except FFmpegRunError as exc:
                    if record.pieces.get(index) is not piece:  # replaced while it was read: not this verdict's
                        return
                    log.warning("%s: piece %d of probe %s does not decode (%s)", self.job.source, index, label, exc)
                    failed.append(index)
                else:
                    self._checked(label)[index] = piece.sha256

        tasks = [asyncio.ensure_future(check(index)) for index in indices]
        try:
            await asyncio.gather(*tasks)  # the first error (a stop) ends them all, as itself
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
        return sorted(failed)

    async def _decode_check(self, label: str, record: PiecesRecord) -> None:
        """`--verify full`: every piece of the winner decodes without error (a failing one is dropped from
        the record, and the encode step encodes it again). Those decoded while the probe was finished are
        not decoded again; the rest are decoded on every core (nothing else runs now)."""
        todo = [n for n in sorted(record.pieces) if not self._was_checked(label, record, n)]
        self._forget(label, record, await self._decode_checks(label, record, todo, lanes=self.job.cores))

    async def adopt(self, winner: EncodeSettings | None) -> bool:
        """Make the winner's pieces the job's own (None: keep none); every other candidate is removed.

        The move comes before the record says so: a kill between the two finds the pieces moved and
        adopts them again (the encode step checks each piece against its checksum)."""
        record = None if winner is None else self.search.candidates.get(winner.label())
        if record is not None and winner is not None:
            moved = self.folder(winner.label()) / "pieces"
            if moved.is_dir() and self.job.options.verify == "full":
                await self._decode_check(winner.label(), record)
            if moved.is_dir():
                shutil.rmtree(self.job.work_dir / "pieces", ignore_errors=True)
                os.replace(moved, self.job.work_dir / "pieces")
                fsync_dir(self.job.work_dir)
            self.job.cp.encode = record
        self.search.candidates = {}
        shutil.rmtree(self.root, ignore_errors=True)
        return record is not None
