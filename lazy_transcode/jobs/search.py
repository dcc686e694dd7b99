"""The job step that picks the encoder setting: sample, probe, measure VMAF, decide — resumable.

Everything it learns goes into the job's record as soon as it is known: the extracted clips
(`clips_extracted`), every probe (`SearchRecord.probes`: setting, VMAF, low percentile, size,
seconds), each finished clip of the probe in flight (`SearchRecord.partial`), and the answer
(`BestSetting`, the state's `best_result`). A resumed search feeds the recorded probes back into the (deterministic)
search, so it continues where it stopped and encodes no finished probe or clip again. Clips and
probe encodes live in `.lazy_transcode_state/<file name>.clips/` and are removed once the answer is
recorded.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import hashlib
import json
import logging
import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from lazy_transcode.failpoints import failpoint
from lazy_transcode.jobs.api import JobControl, JobFailed, JobOptions, Progress
from lazy_transcode.jobs.library import taught_by_folder
from lazy_transcode.jobs.record import (
    BestSetting,
    ClipScore,
    JobStateManager,
    PartialProbe,
    Probe,
    SearchRecord,
    Setting,
    TaughtRecord,
)
from lazy_transcode.media.binary import capabilities
from lazy_transcode.media.commands import encode_video_args
from lazy_transcode.media.encoders import (
    KEYINT_DEFAULT,
    SOURCE_BITRATE_CAP,
    EncoderProfile,
    EncodeSettings,
    bitrate_range,
    get_profile,
)
from lazy_transcode.media.pieces import PiecePlan, plan_pieces
from lazy_transcode.media.priors import learned_prior, size_class
from lazy_transcode.media.probe import FrameScan, MediaInfo, ProbeError, scan_video_frames
from lazy_transcode.media.process import FFmpegRunError, run_ffmpeg
from lazy_transcode.media.samples import (
    CLIP_SECONDS,
    Clip,
    ExtractedClip,
    clip_files,
    clips_usable,
    extract_clips,
    frame_rate,
    legacy_sample_starts,
    plan_samples,
    slices,
    stretches,
)
from lazy_transcode.media.search import (
    MAX_PROBES_DEFAULT,
    Measurement,
    Prior,
    SearchResult,
    SearchSpace,
    band,
    bitrate_prior,
    quality_prior,
    search_async,
)
from lazy_transcode.media.vmaf import VmafError, VmafScore, measure_vmaf, model_for, pooled
from lazy_transcode.state.held import ensure_subfolder
from lazy_transcode.state.layout import clips_dir

if TYPE_CHECKING:
    from lazy_transcode.jobs.candidates import Candidates
    from lazy_transcode.jobs.pipeline import Job

log = logging.getLogger(__name__)

RESULTS_VERSION = 1  # part of the probes' key: bumped when the same clips and setting would score otherwise
FRAMES_SCORED_PER_CLIP = 240  # VMAF subsampling keeps about this many scored frames per clip


@dataclass
class SearchOutcome:
    """What the search decided. `skip_reason` set means: do not encode this file."""

    settings: EncodeSettings
    predicted_vmaf: float
    predicted_size_ratio: float | None
    skip_reason: str | None
    probes: int
    reached: bool = True
    probes_run: int = 0  # probes encoded by this run (the others were recorded by an earlier run)


def search_kind(mode: str, profile: EncoderProfile) -> str:
    """'quality' (CRF/QP) or 'bitrate' (VBR): `auto` is VBR for hardware encoders, CRF/QP for software."""
    if mode == "vbr":
        return "bitrate"
    if mode == "auto":
        return "bitrate" if profile.hardware else "quality"
    return "quality"


def search_dir(manager: JobStateManager, input_file: Path) -> Path:
    """The clips folder through the held state folder (what the search writes and reads)."""
    held = manager.open_folder()
    assert held is not None
    return clips_dir(held, input_file)


def remove_search_files(manager: JobStateManager, input_file: Path) -> None:
    """Remove the clips and probe encodes of a job (on completion or cancel); never the source (a
    clips folder that is a link is left alone: rmtree refuses links)."""
    shutil.rmtree(search_dir(manager, input_file), ignore_errors=True)


async def find_setting(
    input_file: Path,
    info: MediaInfo,
    options: JobOptions,
    manager: JobStateManager,
    control: JobControl,
    *,
    ffmpeg: str,
    reads: Path | None = None,
    job: Job | None = None,
) -> SearchOutcome:
    """Find the setting that just reaches `options.vmaf_target` (within `vmaf_tol`), resuming recorded work.

    `reads` is the source as the job opened it (default: `input_file` by name). With the `job`, a
    whole-file probe is made as the job's own pieces and the winner's become the output (see
    `jobs.candidates`); without it (a bare search) probes are throwaway encodes."""
    if info.video is None:
        raise JobFailed(f"{input_file}: no video stream")
    profile = get_profile(options.encoder)
    try:
        run = _SearchRun(input_file, info, options, manager, control, ffmpeg, profile, reads or input_file, job)
        return await run.execute()
    except (FFmpegRunError, VmafError, ProbeError, ValueError) as exc:
        raise JobFailed(f"quality search failed: {_one_line(exc)}") from exc


def search_key(
    encoder: str, preset: str, kind: str, ten_bit: bool, clips: list[ExtractedClip], sample: list[float] | None
) -> str:
    """The key of a search's probes: everything their numbers depend on (the encoder, its preset, the
    clips and, for a longer file measured on its own pieces, the sample times)."""
    blob = json.dumps(
        {
            "v": RESULTS_VERSION,
            "encoder": encoder,
            "preset": preset,
            "kind": kind,
            "ten_bit": ten_bit,
            "clips": [c.to_dict() for c in clips],
            **({"sample": sample} if sample else {}),  # the key of a file measured whole is unchanged
        },
        sort_keys=True,
    )
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


class _SearchRun:
    def __init__(
        self,
        input_file: Path,
        info: MediaInfo,
        options: JobOptions,
        manager: JobStateManager,
        control: JobControl,
        ffmpeg: str,
        profile: EncoderProfile,
        reads: Path,
        job: Job | None = None,
    ) -> None:
        assert info.video is not None
        self.job = job
        self.candidates: Candidates | None = None
        self.input_file = input_file
        self.reads = reads
        self.info = info
        self.video = info.video
        self.options = options
        self.manager = manager
        self.control = control
        self.ffmpeg = ffmpeg
        self.profile = profile
        self.kind = search_kind(options.mode, profile)
        self.preset = options.preset or profile.default_preset
        self.ten_bit = self.video.bit_depth > 8
        self.dir = search_dir(manager, input_file)
        self.recorded_dir = clips_dir(manager.state_dir, input_file)  # as clip paths are recorded
        self.probes_run = 0
        self.capped = False  # VBR: the range's top is 0.8x the source bitrate
        if self.kind == "quality":
            lo, hi = profile.search_range
            self.space = SearchSpace.quality(lo, hi)
            self.prior = quality_prior(profile, self.video.width, self.video.height)
        else:
            source_kbps = (self.video.bit_rate or info.bit_rate or 0) / 1000 or None
            lo, hi = bitrate_range(self.video.width, self.video.height, source_kbps)
            self.capped = source_kbps is not None and hi == max(int(source_kbps * SOURCE_BITRATE_CAP), 1)
            self.space = SearchSpace.bitrate(lo, hi)
            self.prior = bitrate_prior(lo, hi)

    # --- state ---------------------------------------------------------------------------------
    @property
    def results(self) -> SearchRecord:
        assert self.manager.record.search is not None
        return self.manager.record.search

    def _key(self, clips: list[ExtractedClip]) -> str:
        """Everything a probe's numbers depend on; recorded probes with another key are not reused."""
        return search_key(self.profile.name, self.preset, self.kind, self.ten_bit, clips, self._sample_times(clips))

    def _save(self) -> None:
        self.manager.save_state()

    def _report(self, percent: float, detail: str) -> None:
        self.control.report(Progress(step="search", percent=min(100.0, percent), detail=detail))

    # --- steps ---------------------------------------------------------------------------------
    async def execute(self) -> SearchOutcome:
        done = self._recorded_outcome()
        if done is not None:  # killed after the answer was recorded: nothing to redo, not even the clips
            remove_search_files(self.manager, self.input_file)
            return done
        clips, files = await self._clips()
        key = self._key(clips)
        record = self.manager.record
        if record.search is None or record.search.key != key:
            learned = self._learned_prior()
            record.search = SearchRecord(
                key=key, kind=self.kind, encoder=self.profile.name, preset=self.preset,
                prior=[learned.x95, learned.slope],
            )  # fmt: skip
            if self.job is not None:  # candidates of other clips or settings
                shutil.rmtree(self.job.work_dir / "probes", ignore_errors=True)
        base = self.prior
        if record.search.prior is not None:  # the prior of the search's start, whatever was learned since
            self.prior = Prior(*record.search.prior)
        if self.job is not None and len(clips) == 1 and clips[0].whole:
            from lazy_transcode.jobs.candidates import Candidates

            band_top = self.options.vmaf_target + band(self.space, self.options.vmaf_target, self.options.vmaf_tol)
            # A learned first guess usually lands in the band: estimating it first would only cost more.
            # Nor once an estimate had to be measured again: the file's parts differ from the whole.
            estimate = self.prior == base and not any(p.confirmed for p in record.search.probes)
            self.candidates = Candidates(
                self.job, record.search, (self.options.vmaf_target, band_top), estimate=estimate,
                sample=self._sample_times(clips),
            )  # fmt: skip
        self.manager.update_step("quality_search", progress=self.manager.state.progress_percent)
        known = self._known_probes()
        result = await search_async(
            self.space,
            lambda s: self._measure(s, clips, files),
            target=self.options.vmaf_target,
            tol=self.options.vmaf_tol,
            prior=self.prior,
            known=known,
            max_probes=MAX_PROBES_DEFAULT,
        )
        if self.video.bit_rate is None and self.results.video_bytes is None:
            # The container states no video bitrate (Matroska): count the video packets once.
            self.results.video_bytes = await asyncio.to_thread(video_stream_bytes, self.reads, self.video.index)
            self._save()
        outcome = self._outcome(result, clips)
        if self.candidates is not None:
            await self.candidates.adopt(None if outcome.skip_reason else outcome.settings)
        record.best = BestSetting(
            setting=Setting.of(outcome.settings),
            vmaf=outcome.predicted_vmaf,
            predicted_size_ratio=outcome.predicted_size_ratio,
            reached=outcome.reached,
            reason=result.reason,
            skip_reason=outcome.skip_reason,
            probes=outcome.probes,
            search_key=self.results.key,
            taught=self._taught(),
        )
        self.results.partial = None
        self._save()
        remove_search_files(self.manager, self.input_file)
        return outcome

    def _learned_prior(self) -> Prior:
        """The encoder's prior, or what the records beside the file (and the job's `taught`) teach."""
        held = self.manager.open_folder()
        taught = list(self.job.taught) if self.job is not None else []
        if held is not None:
            taught += taught_by_folder(held, self.manager.state_file.name)
        prior, files = learned_prior(
            taught, encoder=self.profile.name, preset=self.preset, kind=self.kind,
            size=size_class(self.video.width, self.video.height), base=self.prior,
        )  # fmt: skip
        if files:
            log.info("%s: first guess learned from %d earlier file(s)", self.input_file.name, files)
        return prior

    def _taught(self) -> TaughtRecord:
        """What this search teaches the next file of its class."""
        points = [
            (float(p.setting.quality if p.setting.quality is not None else p.setting.bitrate_kbps or 0), p.vmaf)
            for p in self.results.probes
        ]
        return TaughtRecord(
            encoder=self.profile.name, preset=self.preset, kind=self.kind,
            size_class=size_class(self.video.width, self.video.height), points=points,
        )  # fmt: skip

    def _recorded_outcome(self) -> SearchOutcome | None:
        best, results = self.manager.record.best, self.manager.record.search
        if best is None or results is None or best.search_key != results.key or best.vmaf is None:
            return None
        settings = best.setting.settings()
        ratio = best.predicted_size_ratio
        return SearchOutcome(
            settings=settings,
            predicted_vmaf=best.vmaf,
            predicted_size_ratio=ratio,
            skip_reason=self._skip_reason(settings, best.vmaf, ratio, best.reached, best.reason),
            probes=best.probes,
            reached=best.reached,
        )

    def _clip_files(self, clips: list[ExtractedClip]) -> list[Path] | None:
        """Where the recorded clips are, derived from their index and start (never from a recorded path);
        None when the recorded paths are not those places (a record of another file, or forged)."""
        fps = frame_rate(self.info)
        expected = clip_files(clips, self.recorded_dir, self.input_file, fps)
        if [c.path for c in clips] != [str(p) for p in expected]:
            log.warning("%s: the recorded sample clips are not where this job keeps them; cutting them again",
                        self.input_file)  # fmt: skip
            return None
        return clip_files(clips, self.dir, self.reads, fps)

    async def _clips(self) -> tuple[list[ExtractedClip], list[Path]]:
        """The sample clips and the files to read them from: the recorded ones when still good, else cut now."""
        clips = self.manager.record.clips
        if clips:
            files = self._clip_files(clips)
            if files is not None and await asyncio.to_thread(clips_usable, clips, files):
                return clips, files
            log.info("%s: recorded sample clips are missing or damaged; cutting them again", self.input_file)
        self.manager.update_step("clip_extraction", progress=self.manager.state.progress_percent)
        plan = plan_samples(self.info.duration, self.info.chapters, count=self.options.samples)
        frames: int | None = None
        samples: tuple[float, ...] | None = None
        if self.job is not None and not plan[0].whole:
            plan, frames, samples = await self._ranked_plan(plan)
        if self.job is not None and (plan[0].whole or frames is not None):
            plan = [Clip(0.0, self.info.duration, whole=True)]  # the job's own pieces are its samples
        self._report(0.0, f"cutting {len(plan)} sample clip(s)")
        ensure_subfolder(self.dir, "clips folder")
        clips = await extract_clips(
            self.input_file, self.info, plan, self.dir, ffmpeg=self.ffmpeg, control=self.control,
            reads=self.reads, recorded_dir=self.recorded_dir, frames=frames,
        )  # fmt: skip
        if samples is not None:
            clips = [dataclasses.replace(clips[0], samples=samples)]
        self.manager.record.clips = clips
        self.manager.record.search = None
        self._save()
        return clips, clip_files(clips, self.dir, self.reads, frame_rate(self.info))

    async def _ranked_plan(self, plan: list[Clip]) -> tuple[list[Clip], int | None, tuple[float, ...] | None]:
        """A longer file's samples chosen by the source's bytes (`plan`, spread in time, if it cannot be
        scanned), with its frame count and sample times when its sample pieces can be scored by their
        encoders (ffmpeg 7.1 with libvmaf, and frames that go to the encoders as YUV4MPEG): then they are
        the pieces holding those times (the stretches ranked are the pieces). Else they are cut as clips:
        scoring scattered pieces from their join would decode the source up to the last one, for every probe.
        The scan is one demux of the source's packets, no decode; the job's pieces are then planned from it."""
        try:
            scan = await asyncio.to_thread(scan_video_frames, self.reads, self.video.index)
        except ProbeError:
            return plan, None, None
        duration, chapters, count = self.info.duration, self.info.chapters, self.options.samples
        assert self.job is not None  # only a job's search ranks its samples
        self.job.scan = scan  # the pieces are planned from it (a probe's, or the encode's): one read
        pieces = self._scored_pieces(scan)
        if pieces is None:
            return plan_samples(duration, chapters, count=count, candidates=slices(scan, CLIP_SECONDS)), None, None
        firsts = [p.first_frame for p in pieces]
        ranked = plan_samples(duration, chapters, count=count, candidates=stretches(scan, firsts))
        return ranked, scan.frame_count, tuple(round(c.start + c.duration / 2, 3) for c in ranked)

    def _scored_pieces(self, scan: FrameScan) -> list[PiecePlan] | None:
        """The job's pieces of a file whose sample pieces its encoders can score; else None."""
        if not capabilities(self.ffmpeg).scores_beside_encode or scan.untimed_packets or not scan.pts:
            return None
        from lazy_transcode.jobs.encode import y4m_timing

        plans = plan_pieces(scan, self.options.piece_seconds, max_frames=KEYINT_DEFAULT)
        enc = self.profile.build(
            self.space.settings[0], preset=self.preset, ten_bit=self.ten_bit, hdr=self.video.hdr, keyint=KEYINT_DEFAULT
        )
        return plans if y4m_timing(scan.pts, plans, self.video.pix_fmt, enc) is not None else None

    def _sample_times(self, clips: list[ExtractedClip]) -> list[float] | None:
        """Where a longer file measured on its own pieces is sampled: the recorded times (a record made
        before they were recorded: where that version sampled it); None when it is measured whole or
        on cut clips."""
        if not clips[0].whole:
            return None
        if clips[0].samples is not None:  # never empty: a record's are validated
            return list(clips[0].samples)
        return legacy_sample_starts(self.info.duration, self.info.chapters, count=self.options.samples) or None

    def _known_probes(self) -> dict[int, Measurement]:
        known: dict[int, Measurement] = {}
        for probe in self.results.probes:
            index = self.space.index_of(probe.setting.settings())
            if index is not None:
                known[index] = Measurement(probe.vmaf, probe.size, probe.vmaf_low, probe.seconds, probe.estimate)
        return known

    async def _measure(self, settings: EncodeSettings, clips: list[ExtractedClip], files: list[Path]) -> Measurement:
        """One probe: encode every clip at `settings`, score it, record it. Resumes a half-done probe.

        A setting recorded as an estimate is measured again, whole, and its record replaced."""
        await self.control.wait_if_paused()
        label = settings.label()
        setting = Setting.of(settings)
        whole = any(p.setting == setting and p.estimate for p in self.results.probes)
        partial = self.results.partial
        if partial is None or partial.setting != setting:
            partial = self.results.partial = PartialProbe(setting=setting)
        n_done = len(self.results.probes) + sum(p.confirmed for p in self.results.probes)  # measures so far
        started = time.monotonic()
        for i, clip in enumerate(clips):
            if i < len(partial.clips):
                continue  # measured before an interruption
            await self.control.wait_if_paused()
            self._report(100.0 * n_done / (n_done + 2), f"probe {n_done + 1}: {label}, clip {i + 1}/{len(clips)}")
            if self.candidates is not None:
                measured = await self.candidates.measure(settings, whole=whole or self._beside_a_probe(settings))
                score, size = measured.score, measured.size
                partial.estimate = measured.estimate
            else:
                score, size = await self._probe_clip(settings, clip, files[i], i)
            partial.clips.append(ClipScore(score.mean, score.low, clip.frames, size, score.frames))
            self._save()
        parts = partial.clips
        mean, low = pooled([(VmafScore(p.vmaf, p.vmaf_low, p.scored, ""), p.frames) for p in parts])
        size = sum(p.size for p in parts)
        seconds = round(time.monotonic() - started, 3)
        self.results.probes = [p for p in self.results.probes if p.setting != setting]
        self.results.probes.append(
            Probe(setting=setting, vmaf=round(mean, 4), vmaf_low=round(low, 4), size=size, seconds=seconds,
                  pid=os.getpid(), time=time.time(), estimate=partial.estimate, confirmed=whole)
        )  # fmt: skip
        if whole and self.candidates is not None:
            self.candidates.estimate = False
        self.results.partial = None
        self.probes_run += 1
        self._save()
        failpoint("probe-recorded")
        how = " (estimated from part of the file)" if partial.estimate else " (measured again, whole)" if whole else ""
        self._report(100.0 * (n_done + 1) / (n_done + 3), f"probe {n_done + 1}: {label} VMAF {mean:.2f}{how}")
        log.info("%s: probe %s VMAF %.2f (low %.2f), %d bytes", self.input_file.name, label, mean, low, size)
        return Measurement(mean, size, low, seconds, partial.estimate)

    def _beside_a_probe(self, settings: EncodeSettings) -> bool:
        """A setting one step from one already measured on this file (an estimate too): the search aimed at
        the band from a point of the file's own curve, so an estimate would rarely lie outside it, and only
        split the probe's encode in two passes (lanes idle between them)."""
        here = self.space.index_of(settings)
        if here is None:
            return False
        measured = (self.space.index_of(p.setting.settings()) for p in self.results.probes)
        return any(i is not None and abs(i - here) <= 1 for i in measured)

    async def _probe_clip(
        self, settings: EncodeSettings, clip: ExtractedClip, file: Path, i: int
    ) -> tuple[VmafScore, int]:
        """Encode one clip (read from `file`, where it is derived to be) at `settings` and score it."""
        ensure_subfolder(self.dir, "clips folder")
        encoded = self.dir / f"probe_{settings.label()}_clip{i:02d}.mkv"
        enc = self.profile.build(
            settings, preset=self.preset, ten_bit=self.ten_bit, hdr=self.video.hdr, keyint=KEYINT_DEFAULT
        )
        stream = f"{self.video.index}" if clip.whole else "v:0"
        args = encode_video_args(
            enc,
            file,
            encoded,
            stream=stream,
            extra_output={"an": None, "sn": None, "dn": None, "map_metadata": -1, "fps_mode": "passthrough"},
        )
        try:
            await run_ffmpeg(["-y", *args], ffmpeg=self.ffmpeg, control=self.control, graceful_stop=False)
            size = encoded.stat().st_size
            score = await measure_vmaf(
                encoded,
                file,
                width=self.video.width,
                height=self.video.height,
                log_path=self.dir / f"vmaf_{settings.label()}_clip{i:02d}.json",
                ffmpeg=self.ffmpeg,
                control=self.control,
                ten_bit=self.ten_bit,
                n_subsample=max(1, round(clip.frames / FRAMES_SCORED_PER_CLIP)),
                model=model_for(self.video.width, self.video.height),
                reference_stream=stream,
            )
        finally:
            with contextlib.suppress(OSError):
                encoded.unlink()
        return score, size

    # --- decision ------------------------------------------------------------------------------
    def _outcome(self, result: SearchResult, clips: list[ExtractedClip]) -> SearchOutcome:
        assert result.index is not None and result.measurement is not None
        settings = self.space.settings[result.index]
        m = result.measurement
        ratio = self._size_ratio(m.size, clips)
        skip = self._skip_reason(settings, m.vmaf, ratio, result.reached, result.reason)
        return SearchOutcome(
            settings=settings,
            predicted_vmaf=round(m.vmaf, 4),
            predicted_size_ratio=None if ratio is None else round(ratio, 4),
            skip_reason=skip,
            probes=len(result.probes),
            reached=result.reached,
            probes_run=self.probes_run,
        )

    def _skip_reason(
        self, settings: EncodeSettings, vmaf: float, ratio: float | None, reached: bool, reason: str
    ) -> str | None:
        """Why not to encode (the target is out of reach, or the saving is below `min_saving`), or None."""
        if not reached:
            if settings == self.space.settings[0]:
                reason = f"VMAF {vmaf:.2f} at {self._limit()}"
            return f"VMAF {self.options.vmaf_target:g} not reachable with {self.profile.name}: {reason}"
        if ratio is not None and ratio > 1.0 - self.options.min_saving and not self.options.force:
            return (
                f"predicted output {ratio:.0%} of the source at {settings.label()} (VMAF {vmaf:.1f}); "
                f"saving below {self.options.min_saving:.0%}"
            )
        return None

    def _limit(self) -> str:
        """The best setting the search may use, and what set it there."""
        top = self.space.settings[0]
        if top.bitrate_kbps is None:
            return f"the best setting of {self.profile.name}'s range, {top.label()}"
        kbps = top.bitrate_kbps
        rate = f"{kbps / 1000:.1f} Mb/s" if kbps >= 1000 else f"{kbps} kb/s"
        if self.capped:
            return f"the highest bitrate, capped at {SOURCE_BITRATE_CAP:g}× the source bitrate: {rate}"  # noqa: RUF001
        return f"the highest bitrate of the range for {self.video.height}p: {rate}"

    def _size_ratio(self, probe_bytes: int, clips: list[ExtractedClip]) -> float | None:
        """Predicted output size / source size: the probes' video rate over the whole duration, plus the
        source's other streams (copied as they are)."""
        duration = self.info.duration
        if duration <= 0 or self.info.size <= 0:
            return None
        sampled = sum(c.duration for c in clips)
        if sampled <= 0:
            return None
        video_out = probe_bytes * duration / sampled
        video_bytes = self.results.video_bytes
        if self.video.bit_rate:
            video_bytes = self.video.bit_rate / 8 * duration
        other = max(0.0, self.info.size - float(video_bytes)) if isinstance(video_bytes, int | float) else 0.0
        return (video_out + other) / self.info.size


def video_stream_bytes(path: Path, stream_index: int) -> int:
    """Bytes of one stream's packets (demux only, no decoding)."""
    import av

    total = 0
    with av.open(str(path), metadata_errors="ignore") as container:
        stream = next(s for s in container.streams if s.index == stream_index)
        for packet in container.demux(stream):
            total += packet.size
    return total


def _one_line(exc: BaseException) -> str:
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    return lines[0] if lines else type(exc).__name__
