"""Sample clips for the quality search: where to cut them, and cutting them frame-exact.

Planning follows the original's rules: about 10 % of the file in clips (by default at least three,
so that the strata below are at least hard, middle and easy ones when there is no opening), an
opening chapter (OP, Opening, Theme, Intro) always sampled since openings are the hardest scenes of a
series, the other clips between the first minute and the last two (credits and recaps are unrepresentative; a short
file keeps a tenth of its length at each end instead); a short file is measured whole.

Where the source's packet sizes are known, the other clips are chosen by how hard each stretch is to
encode, not by where it lies: a film's scenes differ, and two clips evenly spaced in time may both
land in its hardest (or easiest) ones. The stretches are ranked by the source's bytes per second,
cut into as many equal strata as there are clips, and the median stretch of each stratum is taken,
so that the clips' mean stands for the whole file. A source whose rate hardly varies (constant
bitrate) gives no ranking: its clips are spread evenly.

Clips are cut frame-exact (decoded from the exact start frame) into a lossless intra-only FFV1
file, so every probe encodes and is scored against the very same frames.
"""

from __future__ import annotations

import itertools
import math
import re
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from lazy_transcode.control import JobControl
from lazy_transcode.media.commands import clip_args
from lazy_transcode.media.probe import Chapter, FrameScan, MediaInfo, ProbeError, scan_video_frames
from lazy_transcode.media.process import run_ffmpeg
from lazy_transcode.options import MAX_SAMPLES
from lazy_transcode.state.layout import clip_name

CLIP_SECONDS = 10.0
COVERAGE = 0.10
MAX_AUTO_CLIPS = 12
MIN_AUTO_CLIPS = 3  # strata at least: hard, middle and easy (two, one per half, missed a film's mean by 0.5 VMAF)
LEGACY_MIN_AUTO_CLIPS = 2  # as a record made before sample times were recorded planned its samples
WHOLE_FILE_SECONDS = 60.0
HEAD_SKIP = 60.0  # clips start after the first minute ...
TAIL_SKIP = 120.0  # ... and end before the last two
EDGE_SHARE = 0.10  # ... or, in a shorter file, after its first tenth and before its last
MIN_GAP = 10.0
FLAT_RATE = 1.10  # stretches whose bytes per second lie within this factor of each other: no ranking
_OPENING = re.compile(r"^\s*(op\d*|opening|intro|theme|main title|title sequence)\b", re.IGNORECASE)


@dataclass(frozen=True)
class Clip:
    """A planned sample: seconds from the file's first frame, or the whole file."""

    start: float
    duration: float
    whole: bool = False
    opening: bool = False


@dataclass(frozen=True)
class Stretch:
    """A stretch of the source a sample may be (a piece of the job, or a clip-long slice): seconds from
    the file's first frame, and the source's video bytes in it."""

    start: float
    duration: float
    bytes: int

    @property
    def rate(self) -> float:
        return self.bytes / self.duration if self.duration > 0 else 0.0


def stretches(scan: FrameScan, firsts: Sequence[int]) -> list[Stretch]:
    """The stretches of `scan` starting at each of the frame numbers `firsts` (ascending), each up to the
    next; empty when the scan has no packet sizes."""
    if len(scan.sizes) != scan.frame_count or not firsts:
        return []
    bounds = [*firsts, scan.frame_count]
    origin = scan.pts[0]
    out: list[Stretch] = []
    for first, end in itertools.pairwise(bounds):
        if not 0 <= first < end <= scan.frame_count:
            continue
        start = scan.seconds(scan.pts[first] - origin)
        stop = scan.seconds(scan.pts[end] - origin) if end < scan.frame_count else None
        duration = (stop if stop is not None else start + (end - first) * _frame_seconds(scan)) - start
        out.append(Stretch(start, duration, sum(scan.sizes[first:end])))
    return out


def slices(scan: FrameScan, seconds: float) -> list[Stretch]:
    """The source cut into stretches of about `seconds` each (where clips may be cut)."""
    step = max(1, round(seconds / _frame_seconds(scan)))
    return stretches(scan, range(0, scan.frame_count, step))


def _frame_seconds(scan: FrameScan) -> float:
    if scan.frame_count < 2:
        return 1 / 25
    return max(1e-3, scan.seconds(scan.pts[-1] - scan.pts[0]) / (scan.frame_count - 1))


def is_opening(title: str | None) -> bool:
    return bool(title) and bool(_OPENING.search(title or ""))


def auto_count(duration: float, clip_seconds: float = CLIP_SECONDS, least: int = MIN_AUTO_CLIPS) -> int:
    """About 10 % coverage, at least `least` clips, at most MAX_AUTO_CLIPS."""
    return max(least, min(MAX_AUTO_CLIPS, round(COVERAGE * duration / clip_seconds)))


def plan_samples(
    duration: float,
    chapters: Sequence[Chapter] = (),
    *,
    count: int | None = None,
    clip_seconds: float = CLIP_SECONDS,
    candidates: Sequence[Stretch] = (),
) -> list[Clip]:
    """Where to sample a file of `duration` seconds; `count` (the `--samples` option) overrides the number.

    With `candidates` (the stretches a clip may be, with the source's bytes in each), the clips other
    than an opening are chosen among them by rank; the clips are then those stretches (a piece's length)."""
    edge_head, edge_tail = min(HEAD_SKIP, EDGE_SHARE * duration), min(TAIL_SKIP, EDGE_SHARE * duration)
    return _plan(duration, chapters, count, clip_seconds, (edge_head, duration - edge_tail), candidates)


def legacy_sample_starts(duration: float, chapters: Sequence[Chapter] = (), *, count: int | None = None) -> list[float]:
    """Where a record made before sample times were recorded sampled a longer file measured on its own
    pieces (evenly spread between 60 s and the last 120 s): such a job goes on with those; [] if whole."""
    if count is None:
        count = auto_count(duration, least=LEGACY_MIN_AUTO_CLIPS)
    plan = _plan(duration, chapters, count, CLIP_SECONDS, (HEAD_SKIP, duration - TAIL_SKIP), ())
    return [] if plan[0].whole else [c.start for c in plan]


def _plan(
    duration: float,
    chapters: Sequence[Chapter],
    count: int | None,
    clip_seconds: float,
    window: tuple[float, float],
    candidates: Sequence[Stretch],
) -> list[Clip]:
    if not duration > 0:
        raise ValueError("cannot sample a file without a duration")
    n = count if count is not None else auto_count(duration, clip_seconds)
    if duration <= WHOLE_FILE_SECONDS or n * clip_seconds >= 0.5 * duration:
        return [Clip(0.0, duration, whole=True)]
    clips: list[Clip] = []
    opening = next((c for c in chapters if is_opening(c.title) and c.end > c.start), None)
    if opening is not None:
        start = max(0.0, min(opening.start, duration - clip_seconds))
        clips.append(Clip(round(start, 3), min(clip_seconds, opening.end - start, duration - start), opening=True))
    rest = n - len(clips)
    if rest > 0:
        ranked = _ranked(candidates, rest, window, clips)
        clips.extend(ranked if ranked is not None else _spread(duration, rest, clip_seconds, clips, window))
    return sorted(clips, key=lambda c: c.start)


def _ranked(candidates: Sequence[Stretch], n: int, window: tuple[float, float], taken: list[Clip]) -> list[Clip] | None:
    """`n` stretches inside `window`, clear of `taken`, that stand for all of them: the median of each
    of `n` equal strata by bytes per second. None: too few stretches, or no ranking (a flat rate)."""
    lo, hi = window
    usable = [
        s for s in candidates
        if s.duration > 0 and s.start >= lo - 1e-6 and s.start + s.duration <= hi + 1e-6
        and not any(s.start < t.start + t.duration and t.start < s.start + s.duration for t in taken)
    ]  # fmt: skip
    if len(usable) < n:  # n >= 1
        return None
    rates = [s.rate for s in usable]
    if min(rates) <= 0 or max(rates) < FLAT_RATE * min(rates):
        return None
    order = sorted(usable, key=lambda s: (-s.rate, s.start))
    picked = []
    for k in range(n):
        stratum = order[k * len(order) // n : (k + 1) * len(order) // n]
        picked.append(stratum[len(stratum) // 2])
    return [Clip(round(s.start, 3), round(s.duration, 3)) for s in picked]


def _spread(duration: float, n: int, clip_seconds: float, taken: list[Clip], window: tuple[float, float]) -> list[Clip]:
    lo, hi = window
    if hi - lo < n * clip_seconds + (n - 1) * MIN_GAP:  # window too narrow: use the whole file
        lo, hi = 0.0, duration
    slot = (hi - lo) / n
    out: list[Clip] = []
    for k in range(n):
        start = lo + (k + 0.5) * slot - clip_seconds / 2
        start = max(lo, min(start, hi - clip_seconds))
        for other in taken:  # move off an opening clip
            if start < other.start + other.duration and other.start < start + clip_seconds:
                start = min(other.start + other.duration, duration - clip_seconds)
        out.append(Clip(round(start, 3), round(min(clip_seconds, duration - start), 3)))
    return out


# --- extraction ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class ExtractedClip:
    """A clip on disk (or the source itself for a whole-file sample), as recorded in the state.

    `path` is recorded only to be compared: where a clip is read from is derived from its index and
    start in the clips folder (`clip_files`), or is the source itself for a whole-file clip. A whole-file
    clip of a longer file, measured on the job's own pieces, records the `samples` (seconds from the
    first frame) whose pieces are measured; None in a record made before they were recorded.
    """

    path: str
    start: float
    frames: int
    duration: float
    whole: bool = False
    samples: tuple[float, ...] | None = None

    def __post_init__(self) -> None:
        if self.samples is not None and not (
            1 <= len(self.samples) <= MAX_SAMPLES and all(math.isfinite(t) and t >= 0 for t in self.samples)
        ):
            raise ValueError(f"bad sample times: {len(self.samples)} (1 to {MAX_SAMPLES}), each finite and >= 0")

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        if self.samples is None:  # as a record made before: its search's key stays the same
            del data["samples"]
        else:
            data["samples"] = list(self.samples)
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ExtractedClip:
        samples = data.get("samples")
        return cls(
            path=str(data["path"]),
            start=float(data["start"]),
            frames=int(data["frames"]),
            duration=float(data["duration"]),
            whole=bool(data.get("whole", False)),
            samples=None if samples is None else tuple(float(t) for t in samples),
        )


def frame_rate(info: MediaInfo) -> float:
    if info.video is None or not info.video.avg_fps or info.video.avg_fps <= 0:
        raise ProbeError(f"{info.path}: no usable video frame rate")
    return info.video.avg_fps


def clip_files(clips: Sequence[ExtractedClip], folder: Path, source: Path, fps: float) -> list[Path]:
    """Where each clip is: the source itself for a whole-file clip, else its name (from its index and
    first frame) in `folder`. Never the recorded `path`."""
    return [source if c.whole else folder / clip_name(i, round(c.start * fps)) for i, c in enumerate(clips)]


async def extract_clips(
    input_file: Path,
    info: MediaInfo,
    clips: Sequence[Clip],
    dest: Path,
    *,
    ffmpeg: str,
    control: JobControl | None = None,
    reads: Path | None = None,
    recorded_dir: Path | None = None,
    frames: int | None = None,
) -> list[ExtractedClip]:
    """Cut each planned clip frame-exact into `dest` (lossless FFV1, `dest` must exist); a whole-file
    clip is the source, of `frames` frames (counted here when not known). The source is read from `reads`
    (the file as opened; default `input_file`); each clip's recorded path names it in `recorded_dir`
    (default `dest`), the folder as users know it."""
    fps = frame_rate(info)
    reads = reads or input_file
    out: list[ExtractedClip] = []
    for i, clip in enumerate(clips):
        if clip.whole:
            count = frames if frames is not None else _count_frames(reads)
            out.append(ExtractedClip(str(input_file), 0.0, count, info.duration, whole=True))
            continue
        if control is not None:
            await control.wait_if_paused()
        first = round(clip.start * fps)
        frames = max(1, math.floor(clip.duration * fps))
        start = first / fps
        path = dest / clip_name(i, first)
        part = path.with_suffix(".part.mkv")
        args = clip_args(reads, start, frames, part)
        try:
            await run_ffmpeg(args, ffmpeg=ffmpeg, control=control, graceful_stop=False)
        except BaseException:
            part.unlink(missing_ok=True)
            raise
        got = _count_frames(part)
        part.replace(path)
        out.append(ExtractedClip(str((recorded_dir or dest) / path.name), start, got, got / fps))
    return out


def _count_frames(path: Path) -> int:
    return scan_video_frames(path).frame_count


def clips_usable(clips: Sequence[ExtractedClip], files: Sequence[Path]) -> bool:
    """Whether recorded clips can be reused on resume: each of `files` (where `clip_files` says each
    clip is) is a regular file, not a link, and demuxes to its clip's frame count."""
    if not clips or len(files) != len(clips):
        return False
    for clip, path in zip(clips, files, strict=True):
        if clip.whole:
            if not path.is_file():
                return False
        elif not path.is_file() or path.is_symlink():
            return False
        try:
            if _count_frames(path) != clip.frames:
                return False
        except ProbeError:
            return False
    return True
