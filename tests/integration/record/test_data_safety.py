"""Nothing of the user's is destroyed or thrown away: the foreground CLI, with real files and kills.

Each test is one way 0.1.0 lost or destroyed work: the record is the truth for a resumed job, checks
come before the work, no two jobs write one file, a changed source is never spliced or deleted, and
nothing is left behind.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from lazy_transcode.failpoints import ENV as FAILPOINT_ENV
from lazy_transcode.media.probe import scan_video_frames
from tests.helpers import files_beside, run_ffmpeg
from tests.integration.encode.runner import FAST, run_cli, start_cli

PIECE = ["--piece-seconds", "4"]
TAG = {"LAZY_TRANSCODE_TEST": "lazy-transcode-test"}


@pytest.fixture(scope="module")
def clip(bbb_40s: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """12 s of real footage with audio (3 pieces of 4 s)."""
    out = tmp_path_factory.mktemp("clip") / "bbb12.mp4"
    run_ffmpeg("-i", str(bbb_40s), "-t", "12", "-c", "copy", str(out))
    return out


def _encoded(stderr: str) -> list[int]:
    return [int(n) for n in re.findall(r"encoding piece (\d+) \(", stderr)]


def _killed_after_first_piece(source: Path, *args: str) -> None:
    """Killed once piece 0 is recorded (one lane: with two, another piece could be the first)."""
    lane = ["--piece-workers", "1"]
    run = run_cli(*FAST, *PIECE, *lane, *args, str(source), env={**TAG, FAILPOINT_ENV: "piece-recorded@1"})
    assert run.returncode == -9, run.stderr


def test_resume_without_options_goes_on_with_the_recorded_ones(clip: Path, tmp_path: Path) -> None:
    source = tmp_path / "film.mp4"
    shutil.copy(clip, source)
    _killed_after_first_piece(source)
    piece = tmp_path / ".lazy_transcode_state" / "film.mp4_qp.work" / "pieces" / "piece_00000.mp4"
    kept = piece.read_bytes()
    # other encode settings: refused with the recorded ones named, and the pieces kept
    refused = run_cli("--plain", "--qp", "28", str(source), env=TAG)
    assert refused.returncode == 1
    [line] = refused.stderr.splitlines()
    assert "qp 30" in line and "preset ultrafast" in line and "--restart" in line and "--qp" in line
    assert piece.read_bytes() == kept
    # --resume with nothing else: the recorded encode goes on, and only where it stopped
    run = run_cli("--resume", "--plain", "-v", str(source), env=TAG)
    assert run.returncode == 0, run.stderr
    assert set(_encoded(run.stderr)) <= {1, 2}  # piece 0 was recorded; 1 may have been finished, then adopted
    assert f"done -> {tmp_path / 'film_q30.mkv'}" in run.stdout


def test_a_new_output_folder_keeps_the_finished_pieces(clip: Path, tmp_path: Path) -> None:
    source = tmp_path / "film.mp4"
    shutil.copy(clip, source)
    _killed_after_first_piece(source)
    out = tmp_path / "out"
    run = run_cli("--plain", "-v", "--output-dir", str(out), "--container", "mp4", str(source), env=TAG)
    assert run.returncode == 0, run.stderr
    assert set(_encoded(run.stderr)) <= {1, 2}
    assert scan_video_frames(out / "film_q30.mp4").frame_count == scan_video_frames(source).frame_count


def test_restart_discards_the_record_and_encodes_anew(clip: Path, tmp_path: Path) -> None:
    source = tmp_path / "film.mp4"
    shutil.copy(clip, source)
    _killed_after_first_piece(source)
    run = run_cli(*FAST[:-1], "--plain", "-v", "--qp", "28", "--restart", *PIECE, str(source), env=TAG)
    assert run.returncode == 0, run.stderr
    assert sorted(_encoded(run.stderr)) == [0, 1, 2]
    assert files_beside(tmp_path) == {"film.mp4", "film_q28.mkv"}


def test_a_file_done_before_is_not_done_again(clip: Path, tmp_path: Path) -> None:
    source = tmp_path / "film.mp4"
    shutil.copy(clip, source)
    assert run_cli(*FAST, *PIECE, str(source), env=TAG).returncode == 0
    output = tmp_path / "film_q30.mkv"
    first = output.read_bytes()
    again = run_cli(*FAST, *PIECE, "-v", str(tmp_path), env=TAG)  # the folder: the source and its output
    assert again.returncode == 0, again.stderr
    assert f"film.mp4: done before -> {output}" in again.stdout
    assert "film_q30.mkv is an output of lazy-transcode" in again.stdout
    assert not _encoded(again.stderr) and output.read_bytes() == first
    redo = run_cli(*FAST, *PIECE, "-v", "--again", str(source), env=TAG)
    assert redo.returncode == 0 and sorted(_encoded(redo.stderr)) == [0, 1, 2]
    # the records are kept until cleaned; --cleanup-old-states finds them
    cleaned = run_cli("--cleanup-old-states", "0", str(tmp_path))
    assert "Removed 1 completed state file" in cleaned.stdout
    assert files_beside(tmp_path) == {"film.mp4", "film_q30.mkv"}


def test_an_unusable_output_folder_or_a_non_video_is_refused_before_any_work(clip: Path, tmp_path: Path) -> None:
    source = tmp_path / "film.mp4"
    shutil.copy(clip, source)
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the output folder should be")
    run = run_cli(*FAST, "--output-dir", str(blocker / "sub"), str(source), env=TAG)
    assert run.returncode == 1
    assert "refused" in run.stderr and "is not a folder" in run.stderr and len(run.stderr.splitlines()) == 1
    text = tmp_path / "notes.mkv"
    text.write_text("not a video\n" * 100)
    run = run_cli(*FAST, str(text), env=TAG)
    assert run.returncode == 1 and "refused" in run.stderr and len(run.stderr.splitlines()) == 1
    assert not (tmp_path / ".lazy_transcode_state").exists()
    assert blocker.read_text() == "a file where the output folder should be"


def test_two_jobs_never_write_one_file(tiny_video: Path, tmp_path: Path) -> None:
    # --replace of movie.mp4 would write movie.mkv: another source, so it is refused; movie.mkv is fine
    for name in ("movie.mp4", "movie.mkv"):
        shutil.copy(tiny_video, tmp_path / name)
    before = (tmp_path / "movie.mp4").read_bytes()
    run = run_cli(*FAST, "--replace", str(tmp_path / "movie.mp4"), str(tmp_path / "movie.mkv"), env=TAG)
    assert run.returncode == 1
    assert "movie.mp4: refused" in run.stderr and "movie.mkv exists and is not an output" in run.stderr
    assert (tmp_path / "movie.mp4").read_bytes() == before
    assert "movie.mkv: done -> " in run.stdout  # replaced by its own output
    # movie.mp4 and movie.mov beside each other would both write movie_q30.mkv
    other = tmp_path / "pair"
    other.mkdir()
    for name in ("movie.mp4", "movie.mov"):
        shutil.copy(tiny_video, other / name)
    run = run_cli(*FAST, str(other), env=TAG)
    assert run.returncode == 1 and "writes" in run.stderr and run.stdout.count("done -> ") == 1
    # two folders into one output folder
    for folder in ("a", "b"):
        (tmp_path / folder).mkdir()
        shutil.copy(tiny_video, tmp_path / folder / "film.mp4")
    out = tmp_path / "out"
    run = run_cli(*FAST, "--output-dir", str(out), str(tmp_path / "a"), str(tmp_path / "b"), env=TAG)
    assert run.returncode == 1 and "writes" in run.stderr
    assert [p.name for p in out.iterdir()] == ["film_q30.mkv"]


@pytest.mark.parametrize("replace", [False, True], ids=["beside", "replace"])
def test_a_source_replaced_while_its_job_runs_is_never_spliced_nor_deleted(
    replace: bool, bbb_40s: Path, tiny_video: Path, tmp_path: Path
) -> None:
    source = tmp_path / "bbb.mp4"
    shutil.copy(bbb_40s, source)
    proc = start_cli(*FAST, *PIECE, *(["--replace"] if replace else []), str(source), env=TAG)
    state_file = tmp_path / ".lazy_transcode_state" / "bbb.mp4_qp.state.json"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if json.loads(state_file.read_text())["checkpoint"]["encode"]["pieces"]:
                break
        except (OSError, ValueError, KeyError, TypeError):
            pass
        time.sleep(0.02)
    newer = tmp_path / "newer.tmp"
    shutil.copy(tiny_video, newer)
    os.replace(newer, source)  # someone saves another film under the same name
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 1, err
    assert "the source changed" in err and "--restart" in err
    assert source.read_bytes() == tiny_video.read_bytes(), "the new file is untouched"
    assert not (tmp_path / "bbb_q30.mkv").exists() and not (tmp_path / "bbb.mkv").exists()


@pytest.mark.parametrize("replace", [False, True], ids=["beside", "replace"])
def test_a_source_replaced_after_verification_is_not_placed_over(
    replace: bool, clip: Path, tiny_video: Path, tmp_path: Path
) -> None:
    source = tmp_path / "film.mp4"
    shutil.copy(clip, source)
    args = [*FAST, *PIECE, *(["--replace"] if replace else []), str(source)]
    assert run_cli(*args, env={**TAG, FAILPOINT_ENV: "verified-unrecorded"}).returncode == -9
    shutil.copy(tiny_video, source)
    run = run_cli(*args, env=TAG)
    assert run.returncode == 1 and "the source changed" in run.stderr
    assert source.read_bytes() == tiny_video.read_bytes()
    assert not (tmp_path / "film_q30.mkv").exists() and not (tmp_path / "film.mkv").exists()


def test_an_in_place_rewrite_keeping_size_and_mtime_is_noticed(clip: Path, tmp_path: Path) -> None:
    source = tmp_path / "film.mp4"
    shutil.copy(clip, source)
    _killed_after_first_piece(source)
    st = source.stat()
    data = bytearray(source.read_bytes())
    data[len(data) // 2 : len(data) // 2 + 4096] = bytes(4096)  # same size, other content
    source.write_bytes(bytes(data))
    os.utime(source, ns=(st.st_atime_ns, st.st_mtime_ns))
    run = run_cli(*FAST, *PIECE, str(source), env=TAG)
    assert run.returncode == 1 and "its content changed" in run.stderr


def test_nothing_is_left_behind(bbb_100s: Path, tmp_path: Path) -> None:
    """The probe pieces of an interrupted search go when the file is finished another way; the FIFO
    folder of a killed run goes at the next run."""
    source = tmp_path / "long.mp4"
    shutil.copy(bbb_100s, source)
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    env = {**TAG, "TMPDIR": str(tmp)}
    search = start_cli("--plain", "--mode", "qp", "--vmaf-target", "90", "--preset", "ultrafast", str(source), env=env)
    probes = tmp_path / ".lazy_transcode_state" / "long.mp4_qp.work" / "probes"  # the sample pieces' folders
    deadline = time.monotonic() + 60
    while not any(probes.glob("*/pieces/piece_*.mp4")) and time.monotonic() < deadline:
        time.sleep(0.05)
    os.kill(search.pid, signal.SIGTERM)
    search.communicate(timeout=60)
    assert search.returncode == 130 and any(probes.glob("*/pieces/piece_*.mp4"))
    killed = run_cli(*FAST, "--restart", str(source), env={**env, FAILPOINT_ENV: "piece-recorded@1"})
    assert killed.returncode == -9 and not probes.exists()
    assert [p.name for p in tmp.iterdir() if p.name.startswith("lazy-transcode-")], "a killed run leaves its FIFOs"
    run = run_cli(*FAST, str(source), env=env)
    assert run.returncode == 0, run.stderr
    assert not list(tmp.iterdir()), "the FIFO folder of the dead run is removed"
    assert files_beside(tmp_path) == {"long.mp4", "long_q30.mkv", "tmp"}
    listing = subprocess.run(
        [sys.executable, "-m", "lazy_transcode.cli", "--list-resumable", str(tmp_path)], capture_output=True, text=True
    )
    assert "No resumable operations" in listing.stdout


def test_a_job_of_a_non_video_leaves_no_state(tmp_path: Path) -> None:
    """ltd does not probe every file of a large add: the job finds out, and leaves nothing behind."""
    import asyncio

    from lazy_transcode.jobs.api import JobControl, JobOptions
    from lazy_transcode.jobs.runner import run_job

    text = tmp_path / "notes.mkv"
    text.write_text("not a video\n" * 100)
    result = asyncio.run(run_job(text, JobOptions(qp=30, preset="ultrafast"), JobControl()))
    assert result.status == "failed" and "not a readable media file" in (result.reason or "")
    assert not (tmp_path / ".lazy_transcode_state").exists()
