"""A killed encode resumes mid-file and ends identical to an uninterrupted one (issue 3's acceptance)."""

from __future__ import annotations

import json
import random
import re
import shutil
import time
from pathlib import Path

import pytest

from lazy_transcode.failpoints import ENV as FAILPOINT_ENV
from lazy_transcode.media.probe import scan_video_frames
from tests.helpers import files_beside, video_digest

from .runner import FAST, kill_group, no_ffmpeg_left, run_cli, start_cli, timestamps, vmaf

PIECE = ["--piece-seconds", "4"]
TAG = {"LAZY_TRANSCODE_TEST": "lazy-transcode-test"}


def _state_files(folder: Path) -> list[Path]:
    return sorted((folder / ".lazy_transcode_state").glob("*.state.json"))


@pytest.fixture(scope="module")
def reference(bbb_40s: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, float]:
    """The uninterrupted run: its output and how long it took."""
    folder = tmp_path_factory.mktemp("reference")
    source = folder / "bbb.mp4"
    shutil.copy(bbb_40s, source)
    run = run_cli(*FAST, *PIECE, str(source), env=TAG)
    assert run.returncode == 0, run.stderr
    out = folder / "bbb_q30.mkv"
    assert out.is_file()
    assert files_beside(folder) == {"bbb.mp4", "bbb_q30.mkv"}, "pieces are removed after success"
    return out, run.seconds


def _assert_same_as_reference(out: Path, reference: Path, source: Path) -> None:
    assert video_digest(out) == video_digest(reference), "the resumed video differs from the uninterrupted one"
    assert timestamps(out) == timestamps(reference)
    size, ref_size = out.stat().st_size, reference.stat().st_size
    assert abs(size - ref_size) <= 0.01 * ref_size, (size, ref_size)
    assert abs(vmaf(out, source) - vmaf(reference, source)) <= 0.3


def test_kill_at_random_moments_then_resume(bbb_40s: Path, reference: tuple[Path, float], tmp_path: Path) -> None:
    ref_out, ref_seconds = reference
    source = tmp_path / "bbb.mp4"
    shutil.copy(bbb_40s, source)
    source_bytes = source.read_bytes()
    rng = random.Random(20261124)
    kills = 0
    for _ in range(6):
        proc = start_cli(*FAST, *PIECE, str(source), env=TAG)
        time.sleep(rng.uniform(0.7, 0.7 + 0.15 * ref_seconds))
        if proc.poll() is not None:
            break
        kill_group(proc)
        if proc.returncode == 0:
            break  # it finished just before the kill
        kills += 1
        assert no_ffmpeg_left(), "an ffmpeg survived the kill of its parent"
        states = _state_files(tmp_path)
        assert len(states) == 1
        json.loads(states[0].read_text())  # always parseable
    assert kills >= 2
    run = run_cli("--resume", *FAST, *PIECE, str(source), env=TAG)
    assert run.returncode == 0, run.stderr
    out = tmp_path / "bbb_q30.mkv"
    assert source.read_bytes() == source_bytes, "the source is never modified"
    _assert_same_as_reference(out, ref_out, source)
    assert "bbb_q30.mkv" in files_beside(tmp_path)


def _encoded_pieces(stderr: str) -> list[int]:
    """The pieces a run (with -v) started an encoder for, in order."""
    return [int(n) for n in re.findall(r"encoding piece (\d+) \(", stderr)]


@pytest.mark.parametrize(("workers", "resumed_with"), [(1, 1), (2, 2), (2, 1)])
def test_resume_reencodes_only_the_pieces_in_flight(
    workers: int, resumed_with: int, bbb_40s: Path, reference: tuple[Path, float], tmp_path: Path
) -> None:
    """Killed right after its third piece was recorded, a run loses at most, per piece encoder, the piece
    being encoded and the next one (whose encoder the pipeline starts early, to wait for its frames; a
    piece whose encoder had finished is checked and kept);
    the resume encodes every other piece exactly once and no recorded piece again, and its video is the
    uninterrupted run's, byte for byte, whatever number of pieces either encoded at once."""
    source = tmp_path / "bbb.mp4"
    shutil.copy(bbb_40s, source)
    frames = scan_video_frames(source).frame_count
    lanes = ["--piece-workers", str(workers)]
    killed = run_cli("-v", *FAST, *PIECE, *lanes, str(source), env={**TAG, FAILPOINT_ENV: "piece-recorded@3"})
    assert killed.returncode == -9, killed.stderr
    assert no_ffmpeg_left()
    state = json.loads((tmp_path / ".lazy_transcode_state" / "bbb.mp4_qp.state.json").read_text())
    recorded = {int(n) for n in state["checkpoint"]["encode"]["pieces"]}
    total = len(state["checkpoint"]["encode"]["plan"])
    assert len(recorded) == 3 and total >= 8
    started = _encoded_pieces(killed.stderr)
    assert len(started) == len(set(started))
    in_flight = set(started) - recorded  # per encoder: one being checked, one encoding, one waiting for frames
    assert len(in_flight) <= 3 * workers, f"pieces {sorted(in_flight)} were in flight beyond the recorded ones"
    if workers == 1:
        assert started[:3] == [0, 1, 2] and recorded == {0, 1, 2} and in_flight <= {3, 4}
    else:
        assert f"{total} pieces to encode, 2 at a time" in killed.stderr
    run = run_cli("--resume", "-v", *FAST, *PIECE, "--piece-workers", str(resumed_with), str(source), env=TAG)
    assert run.returncode == 0, run.stderr
    assert "resuming from step 'encode'" in run.stderr
    again = _encoded_pieces(run.stderr)
    assert len(again) == len(set(again)), f"a piece was encoded twice: {again}"
    assert not set(again) & recorded, f"recorded pieces were encoded again: {sorted(set(again) & recorded)}"
    adopted = set(range(total)) - recorded - set(again)  # finished by the killed run, checked and kept
    assert adopted <= in_flight
    assert set(again) | adopted | recorded == set(range(total))
    lost = set(again) & in_flight
    assert len(lost) <= 2 * workers, f"the kill lost pieces {sorted(lost)}"
    out = tmp_path / "bbb_q30.mkv"
    assert scan_video_frames(out).frame_count == frames
    assert video_digest(out) == video_digest(reference[0])


def test_damaged_piece_is_reencoded_never_trusted(bbb_40s: Path, reference: tuple[Path, float], tmp_path: Path) -> None:
    source = tmp_path / "bbb.mp4"
    shutil.copy(bbb_40s, source)
    killed = run_cli(*FAST, *PIECE, str(source), env={**TAG, FAILPOINT_ENV: "piece-recorded@2"})
    assert killed.returncode == -9, killed.stderr
    state = json.loads((tmp_path / ".lazy_transcode_state" / "bbb.mp4_qp.state.json").read_text())
    n = max(int(i) for i in state["checkpoint"]["encode"]["pieces"])
    piece = tmp_path / ".lazy_transcode_state" / "bbb.mp4_qp.work" / "pieces" / f"piece_{n:05d}.mp4"
    data = bytearray(piece.read_bytes())
    data[len(data) // 2] ^= 0xFF  # one flipped byte: same size, different checksum
    piece.write_bytes(bytes(data))
    run = run_cli("--resume", "-v", *FAST, *PIECE, str(source), env=TAG)
    assert run.returncode == 0, run.stderr
    assert f"piece {n} is missing or damaged" in run.stderr
    _assert_same_as_reference(tmp_path / "bbb_q30.mkv", reference[0], source)


@pytest.mark.parametrize("point", ["joined", "assembled", "verified-unrecorded", "before-place", "placed-unrecorded"])
def test_kill_during_assembly_and_placement(
    point: str, bbb_40s: Path, reference: tuple[Path, float], tmp_path: Path
) -> None:
    source = tmp_path / "bbb.mp4"
    shutil.copy(bbb_40s, source)
    crashed = run_cli(*FAST, *PIECE, str(source), env={**TAG, FAILPOINT_ENV: point})
    assert crashed.returncode == -9, (crashed.returncode, crashed.stderr)
    assert no_ffmpeg_left()
    run = run_cli("--resume", "-v", *FAST, *PIECE, str(source), env=TAG)
    assert run.returncode == 0, run.stderr
    assert "resuming" in run.stderr
    assert "encoding piece" not in run.stderr, "no piece is encoded again after all pieces were done"
    out = tmp_path / "bbb_q30.mkv"
    assert timestamps(out) == timestamps(reference[0])
    assert abs(out.stat().st_size - reference[0].stat().st_size) <= 0.01 * reference[0].stat().st_size
    assert "bbb_q30.mkv" in files_beside(tmp_path)


@pytest.mark.parametrize("point", ["placed-unrecorded", "source-removed-unrecorded"])
def test_replace_survives_a_kill_during_placement(point: str, bbb_40s: Path, tmp_path: Path) -> None:
    source = tmp_path / "bbb.mp4"
    shutil.copy(bbb_40s, source)
    frames = scan_video_frames(source).frame_count
    crashed = run_cli(*FAST, *PIECE, "--replace", str(source), env={**TAG, FAILPOINT_ENV: point})
    assert crashed.returncode == -9
    run = run_cli("--resume", *FAST, *PIECE, "--replace", str(source), env=TAG)
    assert run.returncode == 0, run.stderr
    out = tmp_path / "bbb.mkv"
    assert out.is_file() and not source.exists()
    assert scan_video_frames(out).frame_count == frames
    assert files_beside(tmp_path) == {"bbb.mkv"}


def test_sigterm_saves_checkpoint_and_quits(bbb_40s: Path, tmp_path: Path) -> None:
    import os
    import signal

    source = tmp_path / "bbb.mp4"
    shutil.copy(bbb_40s, source)
    proc = start_cli(*FAST, *PIECE, "--piece-workers", "1", str(source), env=TAG)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and proc.poll() is None:  # SIGTERM mid-encode: once a piece is recorded
        states = _state_files(tmp_path)
        try:
            if states and json.loads(states[0].read_text())["checkpoint"]["encode"]["pieces"]:
                break
        except (OSError, ValueError, KeyError, TypeError):
            pass
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGTERM)
    _, err = proc.communicate(timeout=20)
    assert proc.returncode == 130, err
    assert "checkpoint saved" in err
    assert no_ffmpeg_left()
    state = json.loads(_state_files(tmp_path)[0].read_text())
    assert state["completed"] is False
    run = run_cli("--resume", *FAST, *PIECE, str(source), env=TAG)
    assert run.returncode == 0, run.stderr
