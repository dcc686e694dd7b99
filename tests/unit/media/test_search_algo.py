"""The search algorithm on fake VMAF curves: right answer, few probes, no probe repeated on resume."""

from __future__ import annotations

import itertools
import math
import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lazy_transcode.media.encoders import EncodeSettings, bitrate_range, get_profile
from lazy_transcode.media.search import (
    Measurement,
    Prior,
    SearchSpace,
    bitrate_prior,
    decide,
    next_index,
    quality_prior,
    search,
)


def crf_curve(a: float, b: float, noise: float = 0.0, seed: int = 0):
    """VMAF(crf) = 100 - exp(a + b * crf), with optional deterministic noise per setting."""
    rng = random.Random(seed)
    jitter: dict[int, float] = {}

    def vmaf(s: EncodeSettings) -> float:
        q = s.quality
        assert q is not None
        if q not in jitter:
            jitter[q] = rng.uniform(-noise, noise)
        return min(100.0, 100.0 - math.exp(a + b * q) + jitter[q])

    return vmaf


def counting(vmaf_of):
    calls: list[EncodeSettings] = []

    def measure(s: EncodeSettings) -> Measurement:
        calls.append(s)
        return Measurement(vmaf=vmaf_of(s), size=1000)

    return measure, calls


def oracle(space: SearchSpace, vmaf_of, target: float) -> int | None:
    ok = [i for i, s in enumerate(space.settings) if vmaf_of(s) >= target]
    return max(ok) if ok else None


@pytest.mark.parametrize("target", [90.0, 93.0, 95.0, 97.0])
def test_quality_search_finds_highest_crf_in_band(target: float) -> None:
    curve = crf_curve(a=math.log(5) - 0.13 * 27, b=0.13)  # VMAF 95 at CRF 27
    space = SearchSpace.quality(16, 36)
    measure, calls = counting(curve)
    result = search(space, measure, target=target, tol=1.0, prior=quality_prior(get_profile("libx265")))
    assert result.reached
    assert result.index is not None and result.measurement is not None
    assert target <= result.measurement.vmaf
    best = oracle(space, curve, target)
    # Either inside the band or the highest CRF that passes.
    assert result.measurement.vmaf <= target + 1.0 or result.index == best
    assert len(calls) == len(set(calls)) <= 4


def test_average_rounds_over_many_curves_is_at_most_three() -> None:
    rng = random.Random(7)
    space = SearchSpace.quality(16, 36)
    prior = quality_prior(get_profile("libx265"))
    rounds = []
    for _ in range(300):
        b = rng.uniform(0.08, 0.2)
        crf95 = rng.uniform(18, 33)
        curve = crf_curve(a=math.log(5) - b * crf95, b=b)
        target = rng.choice([90.0, 93.0, 95.0])
        measure, calls = counting(curve)
        result = search(space, measure, target=target, tol=1.0, prior=prior)
        best = oracle(space, curve, target)
        if best is None:
            assert not result.reached
            continue
        assert result.reached and result.index is not None
        assert result.index <= best  # never below the target
        assert result.index == best or curve(space.settings[result.index]) <= target + 1.0
        rounds.append(len(calls))
    assert sum(rounds) / len(rounds) <= 3.0, sum(rounds) / len(rounds)


def test_unreachable_target_returns_best_quality_unreached() -> None:
    curve = crf_curve(a=math.log(20) - 0.13 * 16, b=0.13)  # only 80 at CRF 16
    measure, calls = counting(curve)
    result = search(SearchSpace.quality(16, 36), measure, target=95.0, tol=1.0, prior=Prior(24, 0.13))
    assert not result.reached
    assert result.index == 0
    assert len(calls) <= 4


def test_target_reached_even_at_smallest_setting() -> None:
    curve = crf_curve(a=math.log(0.5) - 0.13 * 36, b=0.13)  # 99.5 at CRF 36
    measure, _ = counting(curve)
    result = search(SearchSpace.quality(16, 36), measure, target=95.0, tol=1.0, prior=Prior(24, 0.13))
    assert result.reached and result.index == 20


def test_noisy_non_monotone_curve_still_passes_target() -> None:
    for seed in range(40):
        curve = crf_curve(a=math.log(5) - 0.13 * 25, b=0.13, noise=0.6, seed=seed)
        measure, calls = counting(curve)
        result = search(SearchSpace.quality(16, 36), measure, target=95.0, tol=1.0, prior=Prior(24, 0.13))
        assert result.reached and result.measurement is not None
        assert result.measurement.vmaf >= 95.0
        assert len(calls) == len(set(calls))


def test_resume_from_recorded_probes_repeats_none() -> None:
    curve = crf_curve(a=math.log(5) - 0.16 * 31, b=0.16)
    space = SearchSpace.quality(16, 36)
    prior = Prior(24, 0.13)
    full_measure, full_calls = counting(curve)
    full = search(space, full_measure, target=95.0, tol=0.5, prior=prior)
    assert len(full_calls) >= 2
    # "Crash" after the first probe: resume with what was recorded.
    known = {space.index_of(full_calls[0]): Measurement(curve(full_calls[0]), 1000)}
    measure, calls = counting(curve)
    resumed = search(space, measure, target=95.0, tol=0.5, prior=prior, known=known)
    assert full_calls[0] not in calls
    assert calls == full_calls[1:]
    assert resumed.index == full.index


@settings(max_examples=150, deadline=None)
@given(
    b=st.floats(0.03, 0.4),
    crf95=st.floats(0, 60),
    target=st.floats(70, 99),
    tol=st.floats(0, 3),
    noise=st.floats(0, 1.5),
    seed=st.integers(0, 1000),
)
def test_search_always_terminates_without_repeats(
    b: float, crf95: float, target: float, tol: float, noise: float, seed: int
) -> None:
    curve = crf_curve(a=math.log(5) - b * crf95, b=b, noise=noise, seed=seed)
    space = SearchSpace.quality(16, 36)
    measure, calls = counting(curve)
    result = search(space, measure, target=target, tol=tol, prior=Prior(24, 0.13), max_probes=8)
    assert len(calls) == len(set(calls)) <= 8
    assert result.index is not None
    if result.reached:
        assert result.measurement is not None and result.measurement.vmaf >= target


def test_bitrate_search_finds_lowest_bitrate() -> None:
    # VMAF = 100 - 5 * (2000 / kbps): distortion halves per doubled bitrate, 95 at 2000k.
    def curve(s: EncodeSettings) -> float:
        assert s.bitrate_kbps is not None
        return 100 - 5 * 2000 / s.bitrate_kbps

    lo, hi = 500, 8000
    space = SearchSpace.bitrate(lo, hi)
    measure, calls = counting(curve)
    result = search(space, measure, target=95.0, tol=1.0, prior=bitrate_prior(lo, hi))
    chosen = result.setting(space)
    assert result.reached and chosen is not None and chosen.bitrate_kbps is not None
    assert 2000 <= chosen.bitrate_kbps <= 2000 * 5 / 4  # VMAF in [95, 96]
    assert len(calls) <= 3


def test_bitrate_space_is_descending_geometric_grid() -> None:
    space = SearchSpace.bitrate(300, 2000)
    rates = [s.bitrate_kbps for s in space.settings]
    assert rates[0] == 2000 and rates[-1] == 300
    assert all(a > b for a, b in itertools.pairwise(rates))
    assert all(a / b <= 1.035 for a, b in itertools.pairwise(rates))


def test_bitrate_range_by_resolution_and_source_cap() -> None:
    assert bitrate_range(3840, 2160, None) == (3000, 15000)
    assert bitrate_range(1920, 1080, None) == (1000, 8000)
    assert bitrate_range(1280, 720, None) == (500, 4000)
    assert bitrate_range(1920, 1080, 5000) == (1000, 4000)  # 0.8x the source
    lo, hi = bitrate_range(320, 180, 400)
    assert hi == 320 and 0 < lo < hi


def test_decide_needs_a_probe_at_start_and_first_probe_follows_prior() -> None:
    space = SearchSpace.quality(16, 36)
    assert decide(space, {}, 95.0, 1.0, 8) is None
    index = next_index(space, {}, 95.0, 1.0, Prior(24, 0.13))
    assert space.settings[index].quality in (23, 24)
    index90 = next_index(space, {}, 90.0, 1.0, Prior(24, 0.13))
    assert space.settings[index90].quality in (28, 29, 30)


@pytest.mark.parametrize(("bias", "target"), itertools.product([-3.0, -1.5, -0.5, 0.5, 1.5, 3.0], [90.0, 95.0]))
def test_an_answer_never_rests_on_an_estimate(bias: float, target: float) -> None:
    """A setting first measured on part of the file (biased by `bias`) is measured whole before the
    answer may rest on it; as in the job, no setting is estimated once one estimate was measured again.
    The answer was measured whole and reaches the target; it is the oracle's unless the estimates are off by
    more than the band is wide (then the probe limit may come first)."""
    vmaf_of = crf_curve(-3.0, 0.18)
    space = SearchSpace.quality(10, 40)
    seen: list[int] = []

    def measure(s: EncodeSettings) -> Measurement:
        assert s.quality is not None
        estimating = len(seen) == len(set(seen))
        again = s.quality in seen
        seen.append(s.quality)
        estimate = estimating and not again
        return Measurement(vmaf=vmaf_of(s) + (bias if estimate else 0.0), size=1000, estimate=estimate)

    result = search(space, measure, target=target, tol=1.0, prior=Prior(x95=24.0, slope=0.13))
    assert result.index is not None and result.measurement is not None
    assert not result.measurement.estimate and all(not result.probes[i].estimate for i in result.basis)
    assert result.measurement.vmaf >= target
    assert all(seen.count(q) <= 2 for q in seen), seen  # an estimate measured again once, whole
    if abs(bias) <= 1.5:
        assert result.index == oracle(space, vmaf_of, target), (result.reason, seen)


@pytest.mark.parametrize("bias", [-1.0, 1.0])
def test_a_vbr_answer_is_measured_whole(bias: float) -> None:
    """The same in a bitrate space, whose band is narrow: estimates (no more once one was measured again,
    as in the job) never decide, and the answer reaches the target within the probe limit."""
    space = SearchSpace.bitrate(200, 12000)

    def true_vmaf(kbps: int) -> float:
        return 100.0 - 5.0 * (1500 / kbps) ** 0.9

    measured: dict[int, list[bool]] = {}

    def measure(s: EncodeSettings) -> Measurement:
        assert s.bitrate_kbps is not None
        first = s.bitrate_kbps not in measured and all(len(m) == 1 for m in measured.values())
        measured.setdefault(s.bitrate_kbps, []).append(first)
        return Measurement(vmaf=true_vmaf(s.bitrate_kbps) + (bias if first else 0.0), size=1, estimate=first)

    result = search(space, measure, target=95.0, tol=1.0, prior=bitrate_prior(200, 12000))
    assert result.index is not None and result.measurement is not None
    for i in (result.index, *result.basis):
        assert not result.probes[i].estimate
    assert result.measurement.vmaf >= 95.0 and "probe limit" not in result.reason, (result.reason, measured)
