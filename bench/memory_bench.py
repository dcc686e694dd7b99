"""Peak memory of a piece's encoder at 4K, plain and scoring its own output (VMAF beside the encode).

A probe's piece is encoded by one ffmpeg that also decodes its own packets and scores them against
the source frames it split off (`libvmaf` in the same process). That process holds the encoder,
the loopback decoder, libvmaf's working buffers and whatever source frames wait for their encoded
twins. `piece_workers = auto` keeps the lanes within half the available memory by what one lane holds
per pixel of its frames (`ENCODER_BYTES_PER_PIXEL`, plus `SCORING_BYTES_PER_PIXEL` while it scores);
this bench measures both on real footage (Big Buck Bunny scaled to the size) and checks them.

For each preset it runs the real job twice in a child process with an ffmpeg that reports the
peak resident memory of every run: once at a fixed CRF (plain pieces) and once with a VMAF target
(scored pieces). Printed per preset: the peak of the plain and of the scored encoder in MiB and in
bytes per pixel, the scoring's extra, and the frames of the source that extra would hold.

    .venv/bin/python bench/memory_bench.py [--size 3840:2160] [--seconds 1] [--presets ultrafast medium]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from lazy_transcode.jobs.encode import ENCODER_BYTES_PER_PIXEL, SCORING_BYTES_PER_PIXEL
from lazy_transcode.media.binary import ffmpeg_exe
from lazy_transcode.media.footage import looped_bbb

ROOT = Path(__file__).resolve().parents[1]

# An ffmpeg that runs the real one and appends its arguments and peak RSS (bytes) to a log.
_WRAPPER = """#!{python}
import json, os, subprocess, sys
child = subprocess.Popen([{ffmpeg!r}, *sys.argv[1:]])
_, status, usage = os.wait4(child.pid, 0)
with open({log!r}, "a") as log:
    log.write(json.dumps({{"args": sys.argv[1:], "rss": usage.ru_maxrss * 1024}}) + "\\n")
sys.exit(os.waitstatus_to_exitcode(status))
"""

_CHILD = """
import asyncio, json, sys
from lazy_transcode.jobs.api import JobControl, JobOptions
from lazy_transcode.jobs.runner import run_job
source, out, target, qp, ffmpeg, preset = sys.argv[1:7]
options = JobOptions(mode="qp", vmaf_target=float(target), vmaf_tol=1.0, encoder="libx265", preset=preset,
                     output_dir=out, qp=int(qp) if qp != "-" else None, piece_workers=1)
result = asyncio.run(run_job(source, options, JobControl(), ffmpeg=ffmpeg))
print(json.dumps({"status": result.status, "reason": result.reason, "setting": result.setting}))
"""


def encoder_peaks(log: Path) -> tuple[int, int]:
    """The highest RSS of a plain piece encoder and of a scoring one in the log (0 if none ran)."""
    plain = scored = 0
    for line in log.read_text().splitlines():
        run = json.loads(line)
        args = " ".join(run["args"])
        if "-c:v libx265" not in args:
            continue
        if "libvmaf" in args:
            scored = max(scored, run["rss"])
        else:
            plain = max(plain, run["rss"])
    return plain, scored


def run_job(source: Path, folder: Path, wrapper: Path, target: float, qp: int | None, preset: str) -> None:
    """One job on its own copy of the source (its record lives beside it), in a child process."""
    folder.mkdir(parents=True, exist_ok=True)
    shutil.copy(source, folder / source.name)
    cmd = [sys.executable, "-c", _CHILD, str(folder / source.name), str(folder / "out"), str(target),
           "-" if qp is None else str(qp), str(wrapper), preset]  # fmt: skip
    done = subprocess.run(cmd, env={**os.environ, "PYTHONPATH": str(ROOT)}, capture_output=True, text=True)
    result = json.loads(done.stdout.splitlines()[-1]) if done.returncode == 0 else {"status": done.stderr[-300:]}
    if result["status"] != "completed":
        raise RuntimeError(f"job failed: {result}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", default="3840:2160")
    parser.add_argument("--seconds", type=int, default=1)
    parser.add_argument("--presets", nargs="+", default=["ultrafast", "medium"])
    args = parser.parse_args()
    width, height = (int(v) for v in args.size.split(":"))
    pixels = width * height
    frame_bytes = pixels * 3 // 2
    mib = 1 << 20
    print(
        f"{width}x{height}, {args.seconds} s; a source frame is {frame_bytes / mib:.1f} MiB; "
        f"the lanes assume {ENCODER_BYTES_PER_PIXEL} B/px an encoder, +{SCORING_BYTES_PER_PIXEL} B/px scoring"
    )
    print(f"{'preset':10} {'plain MiB':>9} {'B/px':>5} {'scored MiB':>10} {'B/px':>5} {'extra B/px':>10} {'frames':>6}")
    missed: list[str] = []
    with tempfile.TemporaryDirectory(prefix="memory-bench-") as tmp:
        work = Path(tmp)
        source = looped_bbb(work / "bbb_4k.mp4", loops=0, seconds=args.seconds, size=args.size, crf=18,
                            audio=["-an"])  # fmt: skip
        log = work / "runs.jsonl"
        wrapper = work / "ffmpeg"
        wrapper.write_text(_WRAPPER.format(python=sys.executable, ffmpeg=ffmpeg_exe(), log=str(log)))
        wrapper.chmod(0o755)
        for preset in args.presets:
            log.write_text("")
            run_job(source, work / f"plain_{preset}", wrapper, 95.0, 24, preset)
            plain, _ = encoder_peaks(log)
            log.write_text("")
            run_job(source, work / f"scored_{preset}", wrapper, 90.0, None, preset)
            _, scored = encoder_peaks(log)
            extra = scored - plain
            print(f"{preset:10} {plain / mib:9.0f} {plain / pixels:5.0f} {scored / mib:10.0f} {scored / pixels:5.0f} "
                  f"{extra / pixels:10.0f} {extra / frame_bytes:6.1f}", flush=True)  # fmt: skip
            if plain > ENCODER_BYTES_PER_PIXEL * pixels:
                missed.append(f"{preset}: a plain encoder holds {plain / pixels:.0f} B/px")
            if scored > (ENCODER_BYTES_PER_PIXEL + SCORING_BYTES_PER_PIXEL) * pixels:
                missed.append(f"{preset}: a scoring encoder holds {scored / pixels:.0f} B/px")
    print("all goals met" if not missed else "missed: " + "; ".join(missed))
    return 0


if __name__ == "__main__":
    sys.exit(main())
