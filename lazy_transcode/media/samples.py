"""Sample clips for the quality search: where to cut them, and cutting them frame-exact.

Planning follows the original's rules: about 10 % of the file in clips, an opening chapter (OP,
Opening, Theme, Intro) always sampled since openings are the hardest scenes of a series, the other
clips spread between 60 s and the last 120 s (credits and recaps are unrepresentative); a short
file is measured whole. Clips are cut frame-exact (decoded from the exact start frame) into a
lossless intra-only FFV1 file, so every probe encodes and is scored against the very same frames.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from lazy_transcode.control import JobControl
from lazy_transcode.media.commands import clip_args
from lazy_transcode.media.probe import Chapter, MediaInfo, ProbeError, scan_video_frames
from lazy_transcode.media.process import run_ffmpeg
from lazy_transcode.state.layout import clip_name

CLIP_SECONDS = 10.0
COVERAGE = 0.10
MAX_AUTO_CLIPS = 12
WHOLE_FILE_SECONDS = 60.0
HEAD_SKIP = 60.0  # clips start after the first minute ...
TAIL_SKIP = 120.0  # ... and end before the last two
MIN_GAP = 10.0
_OPENING = re.compile(r"^\s*(op\d*|opening|intro|theme|main title|title sequence)\b", re.IGNORECASE)


@dataclass(frozen=True)
class Clip:
    """A planned sample: seconds from the file's first frame, or the whole file."""

    start: float
    duration: float
    whole: bool = False
    opening: bool = False


def is_opening(title: str | None) -> bool:
    return bool(title) and bool(_OPENING.search(title or ""))


def auto_count(duration: float, clip_seconds: float = CLIP_SECONDS) -> int:
    """About 10 % coverage, at least 2 clips, at most MAX_AUTO_CLIPS."""
    return max(2, min(MAX_AUTO_CLIPS, round(COVERAGE * duration / clip_seconds)))


def plan_samples(
    duration: float,
    chapters: Sequence[Chapter] = (),
    *,
    count: int | None = None,
    clip_seconds: float = CLIP_SECONDS,
) -> list[Clip]:
    """Where to sample a file of `duration` seconds; `count` (the `--samples` option) overrides the number."""
    if duration <= 0:
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
        clips.extend(_spread(duration, rest, clip_seconds, clips))
    return sorted(clips, key=lambda c: c.start)


def _spread(duration: float, n: int, clip_seconds: float, taken: list[Clip]) -> list[Clip]:
    lo, hi = HEAD_SKIP, duration - TAIL_SKIP
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
    start in the clips folder (`clip_files`), or is the source itself for a whole-file clip.
    """

    path: str
    start: float
    frames: int
    duration: float
    whole: bool = False

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ExtractedClip:
        return cls(
            path=str(data["path"]),
            start=float(data["start"]),
            frames=int(data["frames"]),
            duration=float(data["duration"]),
            whole=bool(data.get("whole", False)),
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
