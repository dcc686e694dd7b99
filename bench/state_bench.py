"""Benchmark of `UniversalStateManager.save_state()` with an encode-sized checkpoint (~1000 piece records).

Prints save_state p50/p99 and their ratio to a plain, non-durable `json.dump` of the same state to a
file (no temp file, no fsync, no rename). Usage: python bench/state_bench.py [--dir DIR] [--saves N]
(DIR defaults to a temporary folder; point it at the media file system to measure that one).
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from lazy_transcode.state import TranscodeOperation, UniversalStateManager


def _percentiles(samples: list[float]) -> tuple[float, float]:
    ordered = sorted(samples)
    p99 = ordered[min(len(ordered) - 1, round(0.99 * (len(ordered) - 1)))]
    return statistics.median(ordered), p99


def _time(action: Callable[[], None], n: int) -> list[float]:
    samples = []
    for _ in range(n):
        start = time.perf_counter()
        action()
        samples.append(time.perf_counter() - start)
    return samples


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dir", type=Path, default=None, help="folder to write in (default: a temp folder)")
    parser.add_argument("--saves", type=int, default=300)
    parser.add_argument("--pieces", type=int, default=1000)
    opts = parser.parse_args()
    with tempfile.TemporaryDirectory(dir=opts.dir) as folder:
        video = Path(folder) / "bench video.mkv"
        video.write_bytes(b"x")
        manager = UniversalStateManager(TranscodeOperation("vbr", str(video), encoder="libx265", target_vmaf=95.0))
        pieces = manager.state.checkpoint.setdefault("pieces", {})
        for i in range(opts.pieces):  # what the encode engine keeps: one record per finished piece
            pieces[str(i)] = {"start": i * 10.0, "end": i * 10.0 + 10.0, "file": f"piece_{i:05d}.mkv", "size": 123456}
        manager.state.optimization_results = [{"crf": 20 + i % 10, "vmaf": 94.0 + i / 100} for i in range(40)]
        manager.save_state()  # first save creates the folder and checks for an existing file
        size = manager.state_file.stat().st_size

        durable = _time(manager.save_state, opts.saves)
        plain_file = Path(folder) / "plain.json"

        def plain() -> None:
            with open(plain_file, "w") as fh:
                json.dump(manager.state.to_dict(), fh)

        baseline = _time(plain, opts.saves)

        def plain_one_write() -> None:
            with open(plain_file, "w") as fh:
                fh.write(json.dumps(manager.state.to_dict()))

        one_write = _time(plain_one_write, opts.saves)
        dumps_only = _time(lambda: json.dumps(manager.state.to_dict()), opts.saves)

    d50, d99 = _percentiles(durable)
    b50, b99 = _percentiles(baseline)
    w50, w99 = _percentiles(one_write)
    j50, _ = _percentiles(dumps_only)
    print(f"state file: {size / 1024:.1f} KiB ({opts.pieces} checkpoint pieces), {opts.saves} saves each")
    print(f"save_state (temp + fsync + rename + dir fsync): p50 {d50 * 1e3:8.3f} ms   p99 {d99 * 1e3:8.3f} ms")
    print(f"plain json.dump to a file (not durable):        p50 {b50 * 1e3:8.3f} ms   p99 {b99 * 1e3:8.3f} ms")
    print(f"plain write(json.dumps()) (not durable):        p50 {w50 * 1e3:8.3f} ms   p99 {w99 * 1e3:8.3f} ms")
    print(f"json.dumps alone (serialisation):               p50 {j50 * 1e3:8.3f} ms")
    print(f"ratio save_state / plain json.dump: p50 {d50 / b50:.2f}x   p99 {d99 / b99:.2f}x")
    print(f"ratio save_state / write(json.dumps()) (durability): p50 {d50 / w50:.2f}x   p99 {d99 / w99:.2f}x")


if __name__ == "__main__":
    main()
