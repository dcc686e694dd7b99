"""The search's first guess learned from the library, and VBR within 5 % of the lowest passing bitrate."""

from __future__ import annotations

import math
import random

import pytest

from lazy_transcode.media.encoders import EncodeSettings, get_profile
from lazy_transcode.media.priors import Taught, learned_prior, size_class
from lazy_transcode.media.search import VBR_SIZE_TOL, Measurement, SearchSpace, bitrate_prior, quality_prior, search


def crf_vmaf(crf95: float, slope: float):
    def vmaf(s: EncodeSettings) -> float:
        assert s.quality is not None
        return 100.0 - 5.0 * math.exp(slope * (s.quality - crf95))

    return vmaf


def taught(crf95: float, slope: float, crfs: tuple[int, ...], **kw: object) -> Taught:
    vmaf = crf_vmaf(crf95, slope)
    fields = {"encoder": "libx265", "preset": "ultrafast", "kind": "quality", "size_class": -5, **kw}
    return Taught(points=tuple((float(q), vmaf(EncodeSettings(quality=q))) for q in crfs), **fields)  # type: ignore[arg-type]


def test_a_library_of_alike_files_puts_the_first_probe_in_the_band() -> None:
    base = quality_prior(get_profile("libx265"), 320, 180)
    library = [taught(19.3 + 0.2 * i, 0.15, (18 + i, 20 + i)) for i in range(5)]
    prior, files = learned_prior(library, encoder="libx265", preset="ultrafast", kind="quality", size=-5, base=base)
    assert files == 5 and abs(prior.x95 - 19.7) < 0.3 and abs(prior.slope - 0.15) < 0.01
    space = SearchSpace.quality(*get_profile("libx265").search_range)
    calls: list[EncodeSettings] = []

    def measure(s: EncodeSettings) -> Measurement:
        calls.append(s)
        return Measurement(crf_vmaf(19.8, 0.15)(s), 1000)

    result = search(space, measure, target=93.0, tol=1.0, prior=prior)
    assert result.reached and len(calls) == 1


def test_only_files_of_the_same_encoder_preset_kind_and_size_teach() -> None:
    base = quality_prior(get_profile("libx265"))
    others = [
        taught(30, 0.1, (28, 30), encoder="libx264"),
        taught(30, 0.1, (28, 30), preset="slow"),
        taught(30, 0.1, (28, 30), size_class=0),
        taught(30, 0.1, (28, 30), kind="bitrate"),
        Taught("libx265", "ultrafast", "quality", -5, ()),
    ]
    assert learned_prior(others, encoder="libx265", preset="ultrafast", kind="quality", size=-5, base=base) == (base, 0)
    assert size_class(1920, 1080) == 0 and size_class(320, 180) == -5 and size_class(3840, 2160) == 2


def test_one_odd_file_moves_the_median_little() -> None:
    base = quality_prior(get_profile("libx265"))
    library = [taught(22, 0.13, (21, 23)) for _ in range(4)] + [taught(40, 0.13, (38,))]
    prior, _ = learned_prior(library, encoder="libx265", preset="ultrafast", kind="quality", size=-5, base=base)
    assert abs(prior.x95 - 22) < 0.1


@pytest.mark.parametrize("seed", range(40))
def test_vbr_lands_within_5_percent_of_the_lowest_bitrate_reaching_the_target(seed: int) -> None:
    rng = random.Random(seed)
    k95, slope = rng.uniform(400, 4000), rng.uniform(0.6, 1.4)  # ln(100 - VMAF) = ln 5 - slope * ln(kbps / k95)
    target = rng.choice([90.0, 93.0, 95.0])

    def vmaf(s: EncodeSettings) -> float:
        assert s.bitrate_kbps is not None
        return 100.0 - 5.0 * (k95 / s.bitrate_kbps) ** slope

    space = SearchSpace.bitrate(200, 12000)
    result = search(space, lambda s: Measurement(vmaf(s), s.bitrate_kbps or 0), target=target, tol=1.0,
                    prior=bitrate_prior(200, 12000))  # fmt: skip
    lowest = min(s.bitrate_kbps for s in space.settings if vmaf(s) >= target)  # type: ignore[type-var]
    chosen = result.setting(space)
    assert result.reached and chosen is not None and chosen.bitrate_kbps is not None
    assert lowest <= chosen.bitrate_kbps <= lowest * VBR_SIZE_TOL, (lowest, chosen, len(result.probes))
    assert len(result.probes) <= 6
