"""A kill at every failpoint after the pieces, then a plain re-run of the same command: nothing is
encoded again, the run exits 0 and reports the placed output, and no file but the source (with
`--replace`) is ever removed."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from lazy_transcode.failpoints import ENV as FAILPOINT_ENV
from lazy_transcode.media.probe import scan_video_frames
from tests.helpers import files_beside

from .runner import FAST, no_ffmpeg_left, run_cli

PIECE = ["--piece-seconds", "4"]
TAG = {"LAZY_TRANSCODE_TEST": "lazy-transcode-test"}
AFTER_THE_PIECES = ["joined", "assembled", "verified-unrecorded", "before-place", "placed-unrecorded"]


@pytest.fixture(scope="module")
def clip(bbb_40s: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, int]:
    """12 s of the real footage (3 pieces), and its frame count."""
    from tests.helpers import run_ffmpeg

    out = tmp_path_factory.mktemp("clip") / "bbb12.mp4"
    run_ffmpeg("-i", str(bbb_40s), "-t", "12", "-c", "copy", str(out))
    return out, scan_video_frames(out).frame_count


CASES = [
    *((point, replace) for point in [*AFTER_THE_PIECES, "completed-unremoved"] for replace in (False, True)),
    ("source-removed-unrecorded", True),  # reached only with --replace
]


@pytest.mark.parametrize(("point", "replace"), CASES, ids=[f"{p}-{'replace' if r else 'beside'}" for p, r in CASES])
def test_rerun_after_a_kill_encodes_nothing(point: str, replace: bool, clip: tuple[Path, int], tmp_path: Path) -> None:
    source_clip, frames = clip
    source = tmp_path / "bbb.mp4"
    shutil.copy(source_clip, source)
    args = [*FAST, *PIECE, *(["--replace"] if replace else []), str(source)]
    crashed = run_cli(*args, env={**TAG, FAILPOINT_ENV: point})
    assert crashed.returncode == -9, (crashed.returncode, crashed.stderr)
    assert no_ffmpeg_left()
    run = run_cli("-v", "--plain", str(source), env=TAG)  # again, with no option: the record says the rest
    assert run.returncode == 0, run.stderr
    assert "encoding piece" not in run.stderr, "no piece is encoded again after all pieces were done"
    output = tmp_path / ("bbb.mkv" if replace else "bbb_q30.mkv")
    # a run killed after it finished answers from its record: "done before -> OUTPUT"
    done = "done before" if point == "completed-unremoved" else "done"
    assert f"{done} -> {output}" in run.stdout
    assert scan_video_frames(output).frame_count == frames
    expected = {output.name} if replace else {output.name, source.name}
    assert files_beside(tmp_path) == expected
