"""ltd's `add` decides as the CLI does: a library added twice encodes nothing again, outputs are never
queued, a recorded job goes on with its recorded options, and what cannot work is refused at once."""

from __future__ import annotations

import hashlib
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from lazy_transcode.failpoints import ENV as FAILPOINT_ENV
from tests.helpers import run_ffmpeg
from tests.system.support import Ltd

FINAL = ("completed", "failed", "skipped", "cancelled")


@pytest.fixture(scope="module")
def clip_6s(clip_60s: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("clip") / "film.mp4"
    run_ffmpeg("-i", str(clip_60s), "-t", "6", "-c", "copy", str(out))
    return out


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_a_library_added_twice_encodes_nothing_again(
    ltd_factory: Callable[..., Ltd], tmp_path: Path, clip_6s: Path
) -> None:
    library = tmp_path / "library"
    library.mkdir()
    for name in ("a.mp4", "b.mp4"):
        shutil.copy(clip_6s, library / name)
    ltd = ltd_factory().start()
    assert ltd.ctl("add", str(library)).stdout.split() == ["1", "2"]
    for job_id in (1, 2):
        assert ltd.wait_job(job_id, lambda j: j["state"] in FINAL, timeout=120)["state"] == "completed"
    outputs = {p.name: _digest(p) for p in library.glob("*_q30.mkv")}
    assert sorted(outputs) == ["a_q30.mkv", "b_q30.mkv"]
    again = ltd.ctl("add", str(library))
    assert again.stdout.split() == []  # no new job: nothing queued
    assert again.stderr.count("done before -> ") == 2 and again.stderr.count("is an output of lazy-transcode") == 2
    assert {p.name: _digest(p) for p in library.glob("*_q30.mkv")} == outputs
    assert len(ltd.request("list")["jobs"]) == 2


def test_a_recorded_job_goes_on_with_its_options_and_conflicts_are_refused(
    ltd_factory: Callable[..., Ltd], tmp_path: Path, clip_6s: Path
) -> None:
    library = tmp_path / "library"
    library.mkdir()
    source = library / "film.mp4"
    shutil.copy(clip_6s, source)
    killed = ltd_factory().start(extra_env={FAILPOINT_ENV: "piece-recorded@1"})
    killed.ctl("add", str(source), "--qp", "26")
    assert killed.proc is not None and killed.proc.wait(60) == -9
    # another daemon (its own queue) finds the record beside the media
    ltd = ltd_factory(name="other").start()
    refused = ltd.ctl("add", str(source), "--qp", "30", check=False)
    assert refused.returncode == 1 and "qp 26" in refused.stderr and "--restart" in refused.stderr
    assert ltd.ctl("add", str(source)).stdout.split() == ["1"]  # no option: the recorded ones
    job = ltd.wait_job(1, lambda j: j["state"] in FINAL, timeout=120)
    assert job["state"] == "completed" and job["options"]["qp"] == 26
    assert (library / "film_q26.mkv").is_file()


def test_what_cannot_work_is_refused_at_add(ltd_factory: Callable[..., Ltd], tmp_path: Path, tiny_video: Path) -> None:
    library = tmp_path / "library"
    library.mkdir()
    (library / "notes.mkv").write_text("not a video")
    shutil.copy(tiny_video, library / "film.mkv")
    blocker = tmp_path / "blocker"
    blocker.write_text("x")
    ltd = ltd_factory().start()
    text = ltd.ctl("add", str(library / "notes.mkv"), check=False)
    assert text.returncode == 1 and "not a readable media file" in text.stderr
    folder = ltd.ctl("add", str(library / "film.mkv"), "--output-dir", str(blocker), check=False)
    assert folder.returncode == 1 and "is not a folder" in folder.stderr and "nothing was queued" in folder.stderr
    assert ltd.request("list")["jobs"] == []
    assert not (library / ".lazy_transcode_state").exists()
