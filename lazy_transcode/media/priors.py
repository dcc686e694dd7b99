"""What the library has taught the search: a first guess from files already done in the same class.

Files of one library (a series, one camera) with the same encoder, preset and size class land near
the same setting for a target, so the settings and VMAF their searches measured give a much better
first probe than the encoder's generic prior: often the first probe already lands in the band. Each
file contributes its own curve (a least-squares line in `ln(100 - VMAF)` against the setting's
coordinate); the prior is the median of their VMAF-95 points and slopes, so one odd file moves nothing.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from lazy_transcode.media.search import Prior, distortion

MAX_TAUGHT = 24  # the most recent files that count (a library changes over the years)
_SLOPE_FREEDOM = 3.0  # a learned slope stays within this factor of the encoder's


@dataclass(frozen=True)
class Taught:
    """One file's finished search: its class and the (setting value, VMAF) points it measured.

    The value is the CRF/QP for a quality search, the kbps for a bitrate search."""

    encoder: str
    preset: str
    kind: str
    size_class: int
    points: tuple[tuple[float, float], ...]


def size_class(width: int, height: int) -> int:
    """Frame sizes that score alike at one setting: octaves of the pixel count around 1080p."""
    return round(math.log2(max(width * height, 1) / (1920 * 1080)))


def coordinate(kind: str, value: float) -> float:
    """The search's x of a setting value (see `media.search.SearchSpace`)."""
    return -math.log(value) if kind == "bitrate" else float(value)


def _curve(kind: str, points: Sequence[tuple[float, float]], base: Prior) -> tuple[float, float | None] | None:
    """(x at VMAF 95, slope or None) of one file's points, or None when they say nothing."""
    xy = [(coordinate(kind, v), distortion(vmaf)) for v, vmaf in points if v > 0 and 0 < vmaf < 100]
    if not xy:
        return None
    mx = sum(x for x, _ in xy) / len(xy)
    my = sum(y for _, y in xy) / len(xy)
    sxx = sum((x - mx) ** 2 for x, _ in xy)
    slope: float | None = None
    if len(xy) >= 2 and sxx > 0:
        fitted = sum((x - mx) * (y - my) for x, y in xy) / sxx
        if base.slope / _SLOPE_FREEDOM <= fitted <= base.slope * _SLOPE_FREEDOM:
            slope = fitted
    return mx + (math.log(5.0) - my) / (slope or base.slope), slope


def learned_prior(
    taught: Iterable[Taught], *, encoder: str, preset: str, kind: str, size: int, base: Prior
) -> tuple[Prior, int]:
    """The prior for a file of this class, and how many earlier files it was learned from (0: `base`)."""
    same = [t for t in taught if (t.encoder, t.preset, t.kind, t.size_class) == (encoder, preset, kind, size)]
    curves = [c for t in same[-MAX_TAUGHT:] if (c := _curve(kind, t.points, base)) is not None]
    if not curves:
        return base, 0
    slopes = [s for _, s in curves if s is not None]
    slope = statistics.median(slopes) if slopes else base.slope
    return Prior(x95=statistics.median(x for x, _ in curves), slope=slope), len(curves)
