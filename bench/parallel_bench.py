"""Pieces encoded side by side (`piece_workers` 1, 2 and auto) against one plain ffmpeg encode.

For each case (libx265 at 1280x720 medium, libx265 at 640x360 ultrafast, libsvtav1 at 640x360), one run
prints the wall time, the CPU time and the CPU utilisation (CPU seconds / wall / cores) of one plain
ffmpeg command with the same encoder arguments (audio copied) and of the real program
(`lazy-transcode`, from start to the placed and verified file) with each `--piece-workers`. Goal on
this 2-core machine: auto is never slower than plain ffmpeg, and faster where one encoder leaves a
core idle. Plain and piecewise runs alternate `--repeat` times; the fastest of each is compared. Every
piecewise output's video must be the same bytes whatever `--piece-workers` was: the bench checks it.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


from bench.installed import byte_compile
from bench.resume_bench import children_cpu, make_source, plain_encode
from lazy_transcode.media.footage import video_digest

CLI = [sys.executable, "-m", "lazy_transcode.cli"]
CASES = {  # name: encoder, size, preset, quality
    "x265-720p-medium": ("libx265", "1280x720", "medium", 28),
    "x265-360p-ultrafast": ("libx265", "640x360", "ultrafast", 28),
    "svtav1-360p-p8": ("libsvtav1", "640x360", "8", 35),
}
WORKERS = ("1", "2", "auto")


def pieces(source: Path, encoder: str, preset: str, quality: int, workers: str) -> float:
    args = ["--mode", "qp", "--qp", str(quality), "--encoder", encoder, "--preset", preset, "--plain"]
    if workers != "auto":
        args += ["--piece-workers", workers]
    started = time.monotonic()
    subprocess.run([*CLI, *args, str(source)], check=True, capture_output=True)
    return time.monotonic() - started


def main() -> None:
    byte_compile()
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=60)
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--case", action="append", choices=sorted(CASES), help="default: every case")
    opts = parser.parse_args()
    cores = len(os.sched_getaffinity(0))
    work = Path(tempfile.mkdtemp(prefix="parallel-bench-"))
    verdicts = []
    try:
        for name in opts.case or list(CASES):
            encoder, size, preset, quality = CASES[name]
            source = work / f"{name}.mp4"
            make_source(source, opts.seconds, size)
            walls: dict[str, list[float]] = {"plain": [], **{w: [] for w in WORKERS}}
            cpus: dict[str, list[float]] = {k: [] for k in walls}
            digests: set[str] = set()
            for n in range(opts.repeat):
                cpu = children_cpu()
                walls["plain"].append(plain_encode(source, work / "plain.mkv", quality, preset, encoder))
                cpus["plain"].append(children_cpu() - cpu)
                for workers in WORKERS:
                    folder = work / f"{name}-{workers}-{n}"
                    folder.mkdir()
                    copy = folder / "src.mp4"
                    shutil.copy(source, copy)
                    cpu = children_cpu()
                    walls[workers].append(pieces(copy, encoder, preset, quality, workers))
                    cpus[workers].append(children_cpu() - cpu)
                    digests.add(video_digest(next(folder.glob("src_*.mkv"))))
                    shutil.rmtree(folder)
            print(f"{name}: {opts.seconds} s of real footage, {encoder} -preset {preset}, quality {quality}; "
                  f"{cores} cores; fastest of {opts.repeat}")  # fmt: skip
            best = {k: min(v) for k, v in walls.items()}
            for key in walls:
                cpu = min(cpus[key])
                label = "plain ffmpeg" if key == "plain" else f"piece_workers {key}"
                print(f"  {label:17} wall {best[key]:7.2f} s ({best[key] / best['plain']:.3f}x plain), CPU {cpu:7.1f} s"
                      f" ({cpu / min(cpus['plain']):.3f}x), utilisation {cpu / best[key] / cores:.0%}"
                      f"   runs: {[round(w, 2) for w in walls[key]]}")  # fmt: skip
            same = len(digests) == 1
            print(f"  video identical for every piece_workers: {'yes' if same else 'NO'}")
            verdicts.append((name, best["auto"] / best["plain"], same))
        for name, ratio, same in verdicts:
            goal = "ok" if ratio <= 1.0 else "SLOWER than plain"
            print(f"{name}: auto / plain wall {ratio:.3f} ({goal}); identical video: {same}")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
