"""VMAF of an encode against its reference, with the bundled ffmpeg's libvmaf filter.

The distorted video is scaled to the reference's resolution (VMAF is defined there), both are put in
the same pixel format and paired frame by frame (by index), and the per-frame scores are read from
libvmaf's JSON log: the frame mean (what "VMAF" means everywhere) and a low percentile, which shows
a clip whose mean hides a few bad frames. Threads and frame subsampling make it cheap enough to run
once per probe.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from lazy_transcode.control import JobControl
from lazy_transcode.media.binary import FFmpegError, capabilities
from lazy_transcode.media.commands import vmaf_args
from lazy_transcode.media.process import run_ffmpeg

MODEL_HD = "vmaf_v0.6.1"
MODEL_4K = "vmaf_4k_v0.6.1"  # built into libvmaf; trained for 4K viewing at 1.5 screen heights
LOW_PERCENTILE = 5.0


class VmafError(RuntimeError):
    """VMAF could not be measured; the message is one line."""


@dataclass(frozen=True)
class VmafScore:
    """Scores of one comparison: mean over frames, a low percentile, how many frames were scored."""

    mean: float
    low: float
    frames: int
    model: str


def model_for(width: int, height: int) -> str:
    """The built-in model for a resolution: the 4K model from 2160p up, else the HD model."""
    return MODEL_4K if min(width, height) >= 2160 or max(width, height) >= 3840 else MODEL_HD


def default_threads() -> int:
    return max(1, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1))


def escape_filter_value(value: str) -> str:
    """Escape a string for use as a filter option value inside a filter graph (both escaping levels)."""
    level1 = value.replace("\\", "\\\\").replace("'", "\\'").replace(":", "\\:")
    out = []
    for ch in level1:
        if ch in "\\'[],;":
            out.append("\\")
        out.append(ch)
    return "".join(out)


# Pair frames by their index, not their timestamps: an encode stored with a coarser time base (Matroska's
# 1 ms) would otherwise be paired with the reference's previous frame now and then (29.97 fps!).
_BY_INDEX = "settb=1/25,setpts=N"


def odd_subsample(n: int) -> int:
    """An odd subsampling interval: an even one lines up with the encoder's mini-GOP (every 4th frame is a
    P anchor for x265), scores only its best frames and overstates VMAF by ~1 point."""
    n = max(1, n)
    return n if n % 2 else n + 1


def vmaf_filter(
    width: int,
    height: int,
    *,
    log_path: Path,
    model: str,
    ten_bit: bool = False,
    n_threads: int | None = None,
    n_subsample: int = 1,
    reference_stream: str = "v:0",
    reference_frames: Sequence[tuple[int, int]] = (),
) -> str:
    """The filter graph: input 0 = distorted (its first video stream), input 1 = reference.

    `reference_frames` (first frame, count) keeps only those frames of the reference: the distorted
    input is then those stretches of the file, one after the other (some pieces of an encode)."""
    fmt = _pixel_format(ten_bit)
    select = ""
    if reference_frames:
        ranges = "+".join(f"between(n,{first},{first + count - 1})" for first, count in reference_frames)
        select = f"select='{ranges}',"
    return (
        f"[0:v:0]scale={width}:{height}:flags=bicubic,format={fmt},{_BY_INDEX}[dist];"
        f"[1:{reference_stream}]{select}format={fmt},{_BY_INDEX}[ref];"
        f"[dist][ref]{_libvmaf(model, n_threads or default_threads(), n_subsample, log_path)}"
    )


def _pixel_format(ten_bit: bool) -> str:
    return "yuv420p10le" if ten_bit else "yuv420p"


def _libvmaf(model: str, n_threads: int, n_subsample: int, log_path: Path) -> str:
    """The libvmaf filter of both graphs: per-frame scores into a JSON log, every `n_subsample`-th frame
    (made odd)."""
    return (
        f"libvmaf=model=version={model}:n_threads={n_threads}:n_subsample={odd_subsample(n_subsample)}"
        f":log_fmt=json:log_path={escape_filter_value(str(log_path))}:shortest=1"
    )


@dataclass(frozen=True)
class InlineScore:
    """VMAF of a piece scored by its own encoder's process, beside the encode: the raw frames it reads are
    the reference (no second decode of the source), and a loopback decoder (`-dec`) gives back what it
    encoded. The encoded bytes are the same as without it."""

    model: str
    n_subsample: int
    ten_bit: bool = False
    n_threads: int = 1

    @property
    def interval(self) -> int:
        return odd_subsample(self.n_subsample)

    def graph(self, distorted: str, reference: str, log_path: Path, output: str) -> str:
        """The filter graph scoring the `distorted` frames against the `reference` ones (labels) into a log."""
        fmt = _pixel_format(self.ten_bit)
        return (
            f"[{distorted}]format={fmt},{_BY_INDEX}[lt_dist];[{reference}]format={fmt},{_BY_INDEX}[lt_ref];"
            f"[lt_dist][lt_ref]{_libvmaf(self.model, self.n_threads, self.n_subsample, log_path)}[{output}]"
        )


async def measure_vmaf(
    distorted: Path,
    reference: Path,
    *,
    width: int,
    height: int,
    log_path: Path,
    ffmpeg: str,
    control: JobControl | None = None,
    ten_bit: bool = False,
    n_threads: int | None = None,
    n_subsample: int = 1,
    model: str | None = None,
    reference_stream: str = "v:0",
    reference_frames: Sequence[tuple[int, int]] = (),
) -> VmafScore:
    """Score `distorted` against `reference` (whose size is width x height); the log is removed after."""
    if not capabilities(ffmpeg).has_libvmaf:
        raise FFmpegError(f"{ffmpeg} has no libvmaf filter; set `ffmpeg` to a build with libvmaf")
    model = model or model_for(width, height)
    graph = vmaf_filter(
        width,
        height,
        log_path=log_path,
        model=model,
        ten_bit=ten_bit,
        n_threads=n_threads,
        n_subsample=n_subsample,
        reference_stream=reference_stream,
        reference_frames=reference_frames,
    )
    args = vmaf_args(distorted, reference, graph)
    try:
        await run_ffmpeg(args, ffmpeg=ffmpeg, control=control, graceful_stop=False)
        return parse_log(log_path, model)
    finally:
        log_path.unlink(missing_ok=True)


def parse_log(log_path: Path, model: str = MODEL_HD) -> VmafScore:
    """Read libvmaf's JSON log: per-frame scores -> mean and low percentile."""
    try:
        data = json.loads(log_path.read_text())
        scores = [float(frame["metrics"]["vmaf"]) for frame in data["frames"]]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise VmafError(f"unreadable VMAF log {log_path.name}: {exc}") from None
    if not scores:
        raise VmafError("VMAF scored no frames (empty or undecodable input)")
    return VmafScore(
        mean=sum(scores) / len(scores), low=percentile(scores, LOW_PERCENTILE), frames=len(scores), model=model
    )


def percentile(values: list[float], pct: float) -> float:
    """Linear-interpolated percentile (numpy's default method) of a non-empty list."""
    ordered = sorted(values)
    pos = (len(ordered) - 1) * pct / 100.0
    lo, hi = math.floor(pos), math.ceil(pos)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (pos - lo)


def pooled(scores: list[tuple[VmafScore, int]]) -> tuple[float, float]:
    """Frame-weighted mean of several clips' means (weights = source frames), and their lowest low."""
    total = sum(weight for _, weight in scores)
    if total <= 0:
        raise VmafError("no frames to pool")
    mean = sum(score.mean * weight for score, weight in scores) / total
    return mean, min(score.low for score, _ in scores)
