"""ltd killed at every failpoint after the pieces, then started again: the job is resumed from its
record, encodes nothing again, completes with the placed output, and removes no file but the source
(with `--replace`)."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from lazy_transcode.failpoints import ENV as FAILPOINT_ENV
from lazy_transcode.media.probe import scan_video_frames
from tests.helpers import files_beside, run_ffmpeg
from tests.system.support import Ltd

POINTS = ["joined", "assembled", "verified-unrecorded", "before-place", "placed-unrecorded", "completed-unremoved"]
CASES = [
    *((point, replace) for point in POINTS for replace in (False, True)),
    ("source-removed-unrecorded", True),  # reached only with --replace
]


@pytest.fixture(scope="module")
def clip_12s(clip_60s: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("clip") / "film.mp4"
    run_ffmpeg("-i", str(clip_60s), "-t", "12", "-c", "copy", str(out))
    return out


@pytest.mark.parametrize(("point", "replace"), CASES, ids=[f"{p}-{'replace' if r else 'beside'}" for p, r in CASES])
def test_restart_after_a_kill_encodes_nothing(
    point: str, replace: bool, ltd_factory: Callable[..., Ltd], tmp_path: Path, clip_12s: Path
) -> None:
    library = tmp_path / "library"
    library.mkdir()
    source = library / "film.mp4"
    shutil.copy(clip_12s, source)
    frames = scan_video_frames(source).frame_count
    ltd = ltd_factory().start(extra_env={FAILPOINT_ENV: point})
    ltd.ctl("add", str(source), *(["--replace"] if replace else []))
    assert ltd.proc is not None
    assert ltd.proc.wait(120) == -9, ltd.log.read_text()
    before = len(ltd.log.read_text())
    ltd.start()
    job = ltd.wait_job(1, lambda j: j["state"] not in ("queued", "running"), timeout=120)
    output = library / ("film.mkv" if replace else "film_q30.mkv")
    assert job["state"] == "completed", (job["error"], ltd.log.read_text()[before:])
    assert job["result"]["output_file"] == str(output)
    assert "encoding piece" not in ltd.log.read_text()[before:], "no piece is encoded again"
    assert scan_video_frames(output).frame_count == frames
    expected = {output.name} if replace else {output.name, source.name}
    assert files_beside(library) == expected
