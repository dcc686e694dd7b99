"""Find the cheapest encoder setting whose VMAF reaches a target, in as few probe encodes as possible.

The search runs over a `SearchSpace`: an ordered list of candidate settings where a higher index means
a smaller file and a lower VMAF (CRF/QP ascending, or bitrates descending on a ~3 % geometric grid).
It interpolates in a space where the curve is nearly straight: `y = ln(100 - VMAF)` (the distortion
roughly doubles per fixed CRF step, and halves when the bitrate doubles) against `x` = the quality
value, or `-ln(bitrate)`. One probe at a prior-based guess, a step along the prior slope, then secant
steps on the measured points, always kept strictly inside the bracket of known pass/fail settings.
A probe measured on part of the file (an estimate) steers the search; before an answer rests on one,
that setting is measured again, whole (the measure is asked for a setting it has measured already).

The algorithm is a pure function of the probes measured so far (`next_index`), so a resumed search
that feeds back its recorded probes continues exactly where it stopped and repeats no probe.
"""

from __future__ import annotations

import math
from collections.abc import Awaitable, Callable, Generator, Mapping
from dataclasses import dataclass, field

from lazy_transcode.media.encoders import EncoderProfile, EncodeSettings

MAX_PROBES_DEFAULT = 8
VBR_STEP_RATIO = 1.03  # bitrate grid: 3 % apart, so the chosen size is within ~3 % of the best possible
VBR_SIZE_TOL = 1.05  # a VBR answer is at most this much above the lowest bitrate that reaches the target
_VBR_BAND_SLOPE = 0.75  # a gentle distortion slope per ln(bitrate): the VMAF band 5 % of bitrate spans at least
_MIN_DISTORTION = 0.05


@dataclass(frozen=True)
class Measurement:
    """What one probe measured: VMAF of the encoded samples (frame-weighted mean), their size in bytes."""

    vmaf: float
    size: int
    vmaf_low: float | None = None
    seconds: float = 0.0
    estimate: bool = False  # measured on part of the file: it steers the search but never decides it


@dataclass(frozen=True)
class Prior:
    """Where the curve is expected to be before any probe: y = ln(100 - VMAF) ~ y95 + slope * (x - x95)."""

    x95: float  # x at which VMAF 95 is expected
    slope: float  # dy/dx, > 0 (higher x = worse quality)


@dataclass
class SearchSpace:
    """The candidate settings in order of decreasing quality, with their interpolation coordinate."""

    settings: list[EncodeSettings]
    xs: list[float]
    kind: str  # "quality" | "bitrate"

    @classmethod
    def quality(cls, lo: int, hi: int) -> SearchSpace:
        if lo > hi:
            raise ValueError(f"empty quality range {lo}..{hi}")
        values = list(range(lo, hi + 1))
        return cls([EncodeSettings(quality=q) for q in values], [float(q) for q in values], "quality")

    @classmethod
    def bitrate(cls, lo_kbps: int, hi_kbps: int, step_ratio: float = VBR_STEP_RATIO) -> SearchSpace:
        if not 0 < lo_kbps <= hi_kbps:
            raise ValueError(f"bad bitrate range {lo_kbps}..{hi_kbps} kbps")
        rates: list[int] = []
        rate = float(hi_kbps)
        while rate >= lo_kbps * 0.999:
            value = round(rate)
            if not rates or value != rates[-1]:
                rates.append(value)
            rate /= step_ratio
        if rates[-1] != lo_kbps:
            rates.append(lo_kbps)
        return cls([EncodeSettings(bitrate_kbps=r) for r in rates], [-math.log(r) for r in rates], "bitrate")

    def __len__(self) -> int:
        return len(self.settings)

    def index_of(self, settings: EncodeSettings) -> int | None:
        try:
            return self.settings.index(settings)
        except ValueError:
            return None

    def nearest_index(self, x: float) -> int:
        return min(range(len(self.xs)), key=lambda i: (abs(self.xs[i] - x), i))


@dataclass
class SearchResult:
    """The outcome: the chosen setting's index and measurement, whether it reaches the target, and why."""

    index: int | None
    measurement: Measurement | None
    reached: bool
    reason: str
    probes: dict[int, Measurement] = field(default_factory=dict)
    basis: tuple[int, ...] = ()  # the probes the answer rests on (besides `index`)

    def setting(self, space: SearchSpace) -> EncodeSettings | None:
        return None if self.index is None else space.settings[self.index]


def distortion(vmaf: float) -> float:
    """The interpolation coordinate of a VMAF score: ln(100 - VMAF), floored near VMAF 100."""
    return math.log(max(100.0 - vmaf, _MIN_DISTORTION))


def _aim(target: float, tol: float) -> float:
    # Aim inside the accepted band, a bit below its middle: the band is [target, target + tol].
    return target + (0.45 * tol if tol > 0 else 0.15)


def band(space: SearchSpace, target: float, tol: float) -> float:
    """The accepted VMAF band above the target. For VBR it is narrowed to what `VBR_SIZE_TOL` of bitrate
    changes at the target: a wider band would accept a file up to ~20 % larger than needed."""
    if space.kind != "bitrate":
        return tol
    return min(tol, (100.0 - target) * (1.0 - VBR_SIZE_TOL**-_VBR_BAND_SLOPE))


def _bracket(probes: Mapping[int, Measurement], target: float) -> tuple[int | None, int | None]:
    """(highest index that passes below the first failure, lowest index that fails)."""
    failing = [i for i, m in probes.items() if m.vmaf < target]
    first_bad = min(failing) if failing else None
    passing = [i for i, m in probes.items() if m.vmaf >= target and (first_bad is None or i < first_bad)]
    return (max(passing) if passing else None), first_bad


def decide(
    space: SearchSpace, probes: Mapping[int, Measurement], target: float, tol: float, max_probes: int
) -> SearchResult | None:
    """The final answer if the probes so far settle it, else None (another probe is needed)."""
    best_ok, first_bad = _bracket(probes, target)
    last = len(space) - 1

    def done(index: int | None, reached: bool, reason: str, *basis: int) -> SearchResult:
        measured = probes[index] if index is not None else None
        return SearchResult(index, measured, reached, reason, dict(probes), basis)

    if best_ok is not None:
        vmaf = probes[best_ok].vmaf
        if vmaf <= target + tol:
            return done(best_ok, True, f"VMAF {vmaf:.2f} within [{target:g}, {target + tol:g}]")
        if first_bad == best_ok + 1:
            return done(best_ok, True, f"VMAF {vmaf:.2f}: the next setting falls below {target:g}", first_bad)
        if first_bad is not None and space.kind == "bitrate" and _ratio(space, best_ok, first_bad) <= VBR_SIZE_TOL:
            reason = f"VMAF {vmaf:.2f}: {VBR_SIZE_TOL - 1:.0%} less bitrate falls below {target:g}"
            return done(best_ok, True, reason, first_bad)
        if best_ok == last:
            return done(best_ok, True, f"VMAF {vmaf:.2f} even at the smallest setting of the range")
    if first_bad == 0:
        return done(0, False, f"VMAF {probes[0].vmaf:.2f} below {target:g} even at the best setting of the range")
    if len(probes) >= max_probes:
        if best_ok is not None:
            return done(best_ok, True, f"VMAF {probes[best_ok].vmaf:.2f} (probe limit {max_probes} reached)")
        lowest = min(probes)
        return done(lowest, False, f"target {target:g} not reached in {max_probes} probes")
    return None


def _ratio(space: SearchSpace, better: int, worse: int) -> float:
    """How many times larger setting `better` is than `worse` (bitrate spaces: x = -ln(kbps))."""
    return math.exp(space.xs[worse] - space.xs[better])


def next_index(space: SearchSpace, probes: Mapping[int, Measurement], target: float, tol: float, prior: Prior) -> int:
    """The setting to probe next (call only when `decide` returned None)."""
    aim_y = distortion(_aim(target, tol))
    best_ok, first_bad = _bracket(probes, target)
    lo = -1 if best_ok is None else best_ok  # exclusive bounds of where the answer can be
    hi = len(space) if first_bad is None else first_bad
    if not probes:
        x = prior.x95 + (aim_y - math.log(5.0)) / prior.slope
    else:
        x = _predict_x(space, probes, aim_y, prior, best_ok, first_bad)
    index = space.nearest_index(x)
    index = min(max(index, lo + 1), hi - 1)
    if index in probes:  # only possible with noisy, non-monotone measurements: take the nearest free one
        free = [i for i in range(lo + 1, hi) if i not in probes]
        index = min(free, key=lambda i: (abs(i - index), i))
    return index


def _predict_x(
    space: SearchSpace,
    probes: Mapping[int, Measurement],
    aim_y: float,
    prior: Prior,
    best_ok: int | None,
    first_bad: int | None,
) -> float:
    points = sorted((space.xs[i], distortion(m.vmaf)) for i, m in probes.items())
    if best_ok is not None and first_bad is not None:
        pair = [
            (space.xs[best_ok], distortion(probes[best_ok].vmaf)),
            (space.xs[first_bad], distortion(probes[first_bad].vmaf)),
        ]
    else:
        pair = sorted(points, key=lambda p: abs(p[1] - aim_y))[:2]
    if len(pair) == 2 and pair[0][0] != pair[1][0]:
        (x1, y1), (x2, y2) = pair
        slope = (y2 - y1) / (x2 - x1)
        # A measured slope far from plausible (noise, a flat region) is reined in by the prior.
        slope = min(max(slope, prior.slope / 4), prior.slope * 4)
        x0, y0 = (x1, y1) if abs(y1 - aim_y) <= abs(y2 - aim_y) else (x2, y2)
        return x0 + (aim_y - y0) / slope
    x0, y0 = pair[0]
    return x0 + (aim_y - y0) / prior.slope


def _probes(
    space: SearchSpace,
    *,
    target: float,
    tol: float,
    prior: Prior,
    known: Mapping[int, Measurement] | None,
    max_probes: int,
) -> Generator[EncodeSettings, Measurement, SearchResult]:
    """The search itself: yields the next setting to measure, is sent its measurement, returns the result.

    `search` and `search_async` only differ in how they measure, so both drive this one generator.
    """
    probes: dict[int, Measurement] = dict(known or {})
    tol = band(space, target, tol)
    confirmed: set[int] = set()  # estimates measured again, whole (once each, whatever came back)
    while True:
        result = decide(space, probes, target, tol, max_probes)
        if result is None:
            index = next_index(space, probes, target, tol, prior)
        else:
            rests_on = [i for i in (result.index, *result.basis) if i is not None]
            estimated = [i for i in rests_on if probes[i].estimate and i not in confirmed]
            if not estimated:
                return result
            index = estimated[0]  # the answer would rest on part of the file: measure that setting whole
            confirmed.add(index)
        probes[index] = yield space.settings[index]


def search(
    space: SearchSpace,
    measure: Callable[[EncodeSettings], Measurement],
    *,
    target: float,
    tol: float,
    prior: Prior,
    known: Mapping[int, Measurement] | None = None,
    max_probes: int = MAX_PROBES_DEFAULT,
) -> SearchResult:
    """Run the search with a synchronous `measure` (tests, benches); `known` are earlier probes to reuse."""
    steps = _probes(space, target=target, tol=tol, prior=prior, known=known, max_probes=max_probes)
    try:
        settings = next(steps)
        while True:
            settings = steps.send(measure(settings))
    except StopIteration as done:
        return done.value


async def search_async(
    space: SearchSpace,
    measure: Callable[[EncodeSettings], Awaitable[Measurement]],
    *,
    target: float,
    tol: float,
    prior: Prior,
    known: Mapping[int, Measurement] | None = None,
    max_probes: int = MAX_PROBES_DEFAULT,
) -> SearchResult:
    """The same search with an async `measure` (the real encoder); it records its probes itself."""
    steps = _probes(space, target=target, tol=tol, prior=prior, known=known, max_probes=max_probes)
    try:
        settings = next(steps)
        while True:
            settings = steps.send(await measure(settings))
    except StopIteration as done:
        return done.value


# --- priors and ranges per encoder ---------------------------------------------------------------

# Where VMAF 95 is typically reached (CRF/QP) and how fast ln(100 - VMAF) grows per step.
_QUALITY_PRIORS: dict[str, Prior] = {
    "libx265": Prior(x95=24.0, slope=0.13),
    "libx264": Prior(x95=21.0, slope=0.13),
    "libsvtav1": Prior(x95=32.0, slope=0.07),
    "hevc_nvenc": Prior(x95=25.0, slope=0.13),
    "hevc_qsv": Prior(x95=25.0, slope=0.13),
    "hevc_vaapi": Prior(x95=25.0, slope=0.13),
    "hevc_amf": Prior(x95=25.0, slope=0.13),
}


def quality_prior(profile: EncoderProfile, width: int = 1920, height: int = 1080) -> Prior:
    """The encoder's prior at 1080p, moved for the resolution: VMAF (scored at the source's own size)
    needs a lower CRF for small frames, about 1.2 steps per halving of the pixel count."""
    base = _QUALITY_PRIORS.get(profile.name, Prior(x95=sum(profile.search_range) / 2, slope=0.12))
    octaves = math.log2(max(width * height, 1) / (1920 * 1080))
    return Prior(x95=base.x95 + min(max(1.2 * octaves, -6.0), 3.0), slope=base.slope)


def bitrate_prior(lo_kbps: int, hi_kbps: int) -> Prior:
    """VMAF 95 expected at the geometric middle of the range; distortion halves per doubled bitrate."""
    return Prior(x95=-math.log(math.sqrt(lo_kbps * hi_kbps)), slope=1.0)
