"""Drive the real `lazy-transcode` program as a subprocess in its own process group, and compare outputs."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

from lazy_transcode.media.binary import ffmpeg_exe
from lazy_transcode.media.probe import scan_video_frames
from lazy_transcode.media.vmaf import measure_vmaf

CLI = [sys.executable, "-m", "lazy_transcode.cli"]
FAST = ["--mode", "qp", "--qp", "30", "--encoder", "libx265", "--preset", "ultrafast", "--plain"]


@dataclass
class Run:
    returncode: int
    stdout: str
    stderr: str
    seconds: float


def run_cli(*args: str, env: dict[str, str] | None = None, timeout: float = 300) -> Run:
    started = time.monotonic()
    done = subprocess.run(
        [*CLI, *args], capture_output=True, text=True, timeout=timeout, env={**os.environ, **(env or {})}
    )
    return Run(done.returncode, done.stdout, done.stderr, time.monotonic() - started)


def start_cli(*args: str, env: dict[str, str] | None = None) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [*CLI, *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
        env={**os.environ, **(env or {})},
    )


def kill_group(proc: subprocess.Popen[str]) -> None:
    """kill -9 of the program's whole process group (ffmpeg runs in its own group and dies by PDEATHSIG)."""
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    proc.communicate(timeout=30)


def no_ffmpeg_left(timeout: float = 5.0) -> bool:
    """No ffmpeg child of ours may survive its parent (zombies reaped by init do not count)."""
    exe = os.path.basename(ffmpeg_exe())
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        alive = []
        for pid in os.listdir("/proc"):
            if not pid.isdigit():
                continue
            try:
                cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")[0].decode(errors="replace")
                state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
            except (OSError, IndexError):
                continue
            if os.path.basename(cmdline) == exe and state != "Z" and "lazy-transcode-test" in _environ(pid):
                alive.append(pid)
        if not alive:
            return True
        time.sleep(0.1)
    return False


def _environ(pid: str) -> str:
    try:
        return Path(f"/proc/{pid}/environ").read_bytes().decode(errors="replace")
    except OSError:
        return ""


def timestamps(path: Path) -> list[Fraction]:
    scan = scan_video_frames(path)
    return [p * scan.time_base for p in scan.pts]


def vmaf(distorted: Path, reference: Path, width: int = 320, height: int = 180) -> float:
    score = asyncio.run(
        measure_vmaf(
            distorted, reference, width=width, height=height, log_path=distorted.with_suffix(".vmaf.json"),
            ffmpeg=ffmpeg_exe(), n_subsample=2,
        )
    )  # fmt: skip
    return score.mean


def decoded_timestamps(path: Path) -> list[Fraction]:
    """The presentation time of every frame of the first video stream, as ffmpeg's decoder gives it.

    This is what a player built on ffmpeg shows, and independent of how the program reads timestamps:
    each decoded frame is wrapped without copying its pixels, and framecrc lists its pts in the
    stream's own time base.
    """
    done = subprocess.run(
        [ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-copyts", "-i", str(path), "-map", "0:v:0",
         "-fps_mode", "passthrough", "-enc_time_base", "demux", "-c:v", "wrapped_avframe", "-f", "framecrc", "-"],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    time_base = Fraction(1)
    pts: list[Fraction] = []
    for line in done.stdout.splitlines():
        if line.startswith("#tb 0:"):
            time_base = Fraction(line.split(":", 1)[1].strip())
        elif line and not line.startswith("#"):
            pts.append(int(line.split(",")[2]) * time_base)
    return pts
