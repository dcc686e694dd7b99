"""`--verify full` decodes every piece before it is recorded; `--verify quick` trusts an encoder it saw finish.

Which ffmpeg commands ran is read from the `logging_ffmpeg` wrapper around the real ffmpeg (`--ffmpeg`).
"""

from __future__ import annotations

import random
import shutil
from pathlib import Path

from lazy_transcode.failpoints import ENV as FAILPOINT_ENV
from lazy_transcode.media.probe import scan_video_frames

from .runner import FAST, run_cli, timestamps

PIECE = ["--piece-seconds", "4"]
TAG = {"LAZY_TRANSCODE_TEST": "lazy-transcode-test"}
DECODE_CHECK = "-xerror"  # in every decode check, in no encode
PIECE_ENCODE = ("-f nut -copyts -i", "-f yuv4mpegpipe -i")  # a piece encoder reading its FIFO, either way


def _calls(log: Path, *markers: str) -> list[str]:
    return [line for line in log.read_text().splitlines() if any(marker in line for marker in markers)]


def test_full_decodes_each_piece_and_quick_none(
    bbb_40s: Path, logging_ffmpeg: tuple[str, Path], tmp_path: Path
) -> None:
    wrapper, log = logging_ffmpeg
    outputs: dict[str, Path] = {}
    for mode in ("full", "quick"):
        folder = tmp_path / mode
        folder.mkdir()
        source = folder / "bbb.mp4"
        shutil.copy(bbb_40s, source)
        log.unlink(missing_ok=True)
        run = run_cli(*FAST, *PIECE, "--verify", mode, "--ffmpeg", wrapper, str(source), env=TAG)
        assert run.returncode == 0, run.stderr
        encodes, checks = _calls(log, *PIECE_ENCODE), _calls(log, DECODE_CHECK)
        assert len(encodes) >= 10
        assert len(checks) == (len(encodes) if mode == "full" else 0), checks
        outputs[mode] = folder / "bbb_q30.mkv"
    assert timestamps(outputs["quick"]) == timestamps(outputs["full"])
    full, quick = outputs["full"].stat().st_size, outputs["quick"].stat().st_size
    assert abs(full - quick) <= 0.001 * full


def test_quick_still_decodes_a_leftover_and_refuses_it_when_damaged(
    bbb_40s: Path, logging_ffmpeg: tuple[str, Path], tmp_path: Path
) -> None:
    source = tmp_path / "bbb.mp4"
    shutil.copy(bbb_40s, source)
    quick = [*FAST, *PIECE, "--verify", "quick", "--piece-workers", "1"]  # one lane: one leftover piece
    crashed = run_cli(*quick, str(source), env={**TAG, FAILPOINT_ENV: "piece-unrecorded"})
    assert crashed.returncode == -9, crashed.stderr
    part = tmp_path / ".lazy_transcode_state" / "bbb.mp4_qp.work" / "pieces" / "piece_00000.part.mp4"
    frames = scan_video_frames(part).frame_count  # finished by its encoder, killed before it was recorded
    data = bytearray(part.read_bytes())
    middle = len(data) // 2  # inside the frame data: the container and its index stay intact
    data[middle : middle + 2048] = random.Random(3).randbytes(2048)
    part.write_bytes(bytes(data))
    assert scan_video_frames(part).frame_count == frames, "the damage is invisible without decoding"

    wrapper, log = logging_ffmpeg
    run = run_cli("--resume", "-v", *quick, "--ffmpeg", wrapper, str(source), env=TAG)
    assert run.returncode == 0, run.stderr
    assert "piece 0 was left unfinished; encoding it again" in run.stderr
    checks = _calls(log, DECODE_CHECK)
    assert len(checks) == 1 and "piece_00000.part.mp4" in checks[0], checks
    assert scan_video_frames(tmp_path / "bbb_q30.mkv").frame_count == scan_video_frames(source).frame_count
