"""Wall and CPU time of one encode done here vs by a farm of two workers on this same machine.

The farm here is real (a `dask scheduler` and two `ltworker` processes, each one piece at a time, with
ltd's own lane too), but all of it shares this machine's cores, so the figure shows the farm's
overhead (scheduling, the full decode check of every returned piece, a decoder per piece instead of
per run), not a speed-up: a farm is faster only with more machines. It also measures the scheduler's
per-task overhead with no-op tasks (one at a time: the round trip; many at once: the throughput).

    python bench/farm_bench.py [--seconds 30] [--size 320x180]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import resource
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from lazy_transcode.control import JobControl
from lazy_transcode.farm.client import FarmClient
from lazy_transcode.farm.config import FarmConfig
from lazy_transcode.jobs.runner import run_job
from lazy_transcode.media.binary import ffmpeg_exe
from lazy_transcode.options import JobOptions

ROOT = Path(__file__).resolve().parents[1]


def make_clip(out: Path, seconds: int, size: str) -> None:
    subprocess.run(
        [ffmpeg_exe(), "-v", "error", "-f", "lavfi", "-i", f"testsrc2=size={size}:rate=25", "-t", str(seconds),
         "-c:v", "libx264", "-preset", "ultrafast", "-g", "50", str(out)], check=True,
    )  # fmt: skip


def options() -> JobOptions:
    """piece_workers left out: auto here; with the farm, ltd's own lanes are the farm's local_pieces."""
    return JobOptions(mode="qp", qp=30, encoder="libx265", preset="ultrafast", piece_seconds=2)


def own_cpu() -> float:
    s, c = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return s.ru_utime + s.ru_stime + c.ru_utime + c.ru_stime


def tree_cpu(pid: int) -> float:
    """CPU seconds of `pid` and everything below it, with their reaped children (ffmpeg)."""
    ticks = os.sysconf("SC_CLK_TCK")
    stats: dict[int, tuple[int, float]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                text = (entry / "stat").read_text()
            except OSError:
                continue
            f = text[text.rindex(")") + 2 :].split()
            stats[int(entry.name)] = (int(f[1]), sum(int(x) for x in f[11:15]) / ticks)
    total, todo = 0.0, [pid]
    while todo:
        p = todo.pop()
        total += stats.get(p, (0, 0.0))[1]
        todo += [child for child, (parent, _) in stats.items() if parent == p]
    return total


async def encode(clip: Path, folder: Path, remote: FarmClient | None) -> tuple[float, float]:
    folder.mkdir()
    src = folder / clip.name
    shutil.copy(clip, src)
    cpu, wall = own_cpu(), time.monotonic()
    result = await run_job(src, options(), JobControl(checkpoint_interval=60), remote=remote, cores=2)
    assert result.status == "completed", result
    return time.monotonic() - wall, own_cpu() - cpu


async def task_overhead(client: object, n: int = 200) -> tuple[float, float]:
    from distributed import Client

    assert isinstance(client, Client)
    t = time.monotonic()
    for i in range(n):
        await client.submit(int, i, pure=False)
    one = (time.monotonic() - t) / n
    t = time.monotonic()
    await client.gather(client.map(int, range(n * 5), pure=False))
    return one, (time.monotonic() - t) / (n * 5)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=int, default=30)
    parser.add_argument("--size", default="320x180")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="farm-bench-"))
    procs: list[subprocess.Popen[bytes]] = []
    try:
        clip = work / "clip.mp4"
        make_clip(clip, args.seconds, args.size)
        local_wall, local_cpu = await encode(clip, work / "local", None)
        port = free_port()
        address = f"tcp://127.0.0.1:{port}"
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        log = (work / "farm.log").open("ab")
        dask = [sys.executable, "-m", "distributed.cli.dask_scheduler"]
        procs.append(subprocess.Popen([*dask, "--host", "127.0.0.1", "--port", str(port), "--no-dashboard"],
                                      stdout=log, stderr=log, env=env, start_new_session=True))  # fmt: skip
        time.sleep(2)
        for name in ("w1", "w2"):
            worker = [sys.executable, "-m", "lazy_transcode.farm.worker", address, "--name", name, "--nthreads", "1"]
            procs.append(subprocess.Popen(worker, stdout=log, stderr=log, env=env, start_new_session=True))
        farm = FarmClient(FarmConfig(scheduler=address, insecure=True, local_pieces=1), None, [])
        runner = asyncio.ensure_future(farm.run())
        deadline = time.monotonic() + 60
        while farm.slots() < 2:
            assert time.monotonic() < deadline, "the workers did not join"
            await asyncio.sleep(0.2)
        workers_cpu = sum(tree_cpu(p.pid) for p in procs[1:])
        farm_wall, farm_cpu = await encode(clip, work / "farm", farm)
        workers_cpu = sum(tree_cpu(p.pid) for p in procs[1:]) - workers_cpu
        one, many = await task_overhead(farm.client)
        done = {w.name: w.done for w in farm.workers.values()}
        runner.cancel()
        await farm.close()
    finally:
        for proc in procs:
            with_suppress_kill(proc)
        shutil.rmtree(work, ignore_errors=True)
    print(f"clip: {args.seconds} s of {args.size}, libx265 ultrafast, pieces of 2 s, on {os.cpu_count()} cores")
    print(f"local (auto lanes):             wall {local_wall:6.2f} s   CPU {local_cpu:6.2f} s")
    print(f"farm (ltd 1 lane + 2 workers):  wall {farm_wall:6.2f} s   CPU {farm_cpu + workers_cpu:6.2f} s "
          f"(ltd {farm_cpu:.2f} s, workers {workers_cpu:.2f} s); pieces by the workers: {done}")  # fmt: skip
    print(f"scheduler per task: {one * 1000:.1f} ms one at a time (round trip), {many * 1000:.2f} ms each in bulk")
    print("All of it runs on this one machine, so this shows the farm's overhead, not a speed-up.")


def with_suppress_kill(proc: subprocess.Popen[bytes]) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    proc.wait(10)


if __name__ == "__main__":
    asyncio.run(main())
