"""Benchmarks of ltd/ltctl; prints ratios and figures against their goals, never asserts.

1. `ltctl ping` median wall time vs the median of `python -c "import typer, zmq, msgpack"` in the same run
   (goals: <= 100 ms, ratio <= 1.5); `pause`/`resume` against `ping` (goal: within 50 ms).
2. request latency p50/p99 with 50 concurrent clients.
3. one encode through ltd (add -> completed) vs the same encoder settings as one plain ffmpeg command
   (goal <= 1.02).
4. ltd RSS and `ltctl list` wall time with 10,000 queued jobs (goals <= 150 MB, <= 1 s).

Run: `.venv/bin/python bench/ctl_bench.py [ping|queue|encode]...` (about a minute on 2 cores).
"""

from __future__ import annotations

import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

BIN = Path(sys.executable).parent
LTD = str(BIN / "ltd")
LTCTL = str(BIN / "ltctl")
CLIP_SECONDS = 60


def wall(cmd: list[str], env: dict[str, str] | None = None, runs: int = 9) -> float:
    """Median wall time of a command (its output thrown away)."""
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env, check=True)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


class Daemon:
    def __init__(self, root: Path, config: str = "") -> None:
        self.root = root
        root.mkdir(parents=True, exist_ok=True)
        (root / "config.toml").write_text(config)
        self.socket = f"ipc://{root}/run/ltd.sock"
        self.env = {**os.environ, "LAZY_TRANSCODE_SOCKET": self.socket, "HOME": str(root)}
        self.proc = subprocess.Popen(
            [LTD, "--config", str(root / "config.toml"), "--state-dir", str(root / "state"), "--socket", self.socket],
            stderr=(root / "ltd.log").open("ab"),
            start_new_session=True,
        )
        from lazy_transcode.ctl.client import Unreachable, request

        deadline = time.monotonic() + 30
        while True:
            try:
                request(self.socket, "ping", timeout=1)
                return
            except Unreachable:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)

    def request(self, cmd: str, args: dict | None = None, timeout: float = 30) -> object:
        from lazy_transcode.ctl.client import request

        return request(self.socket, cmd, args, timeout=timeout)

    def rss_mb(self) -> float:
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
        return float("nan")

    def stop(self) -> None:
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(15)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()


def bench_ping(tmp: Path) -> None:
    daemon = Daemon(tmp / "ping")
    try:
        imports = [sys.executable, "-c", "import typer, zmq, msgpack"]
        runs = {"imports": [], "ping": [], "pause": [], "resume": []}
        commands = {
            "imports": imports,
            "ping": [LTCTL, "ping"],
            "pause": [LTCTL, "pause", "--all"],
            "resume": [LTCTL, "resume", "--all"],
        }
        for _ in range(15):  # interleaved, so that a busy moment of the machine weighs on every figure alike
            for name, cmd in commands.items():
                runs[name].append(wall(cmd, env=daemon.env, runs=1))
        med = {name: statistics.median(times) for name, times in runs.items()}
        python = wall([sys.executable, "-c", "pass"])
        print(
            f"ltctl ping: median {med['ping'] * 1000:.0f} ms (goal <= 100); python -c 'import typer, zmq, msgpack':"
            f" median {med['imports'] * 1000:.0f} ms; ratio {med['ping'] / med['imports']:.2f} (goal <= 1.5);"
            f" python -c pass: {python * 1000:.0f} ms"
        )
        print(
            f"ltctl pause --all: median {med['pause'] * 1000:.0f} ms, resume --all: {med['resume'] * 1000:.0f} ms;"
            f" over ping: {(med['pause'] - med['ping']) * 1000:+.0f} ms, {(med['resume'] - med['ping']) * 1000:+.0f} ms"
            " (goal within 50 ms)"
        )
        latencies: list[float] = []
        lock = threading.Lock()

        def client(n: int) -> None:
            import zmq

            from lazy_transcode import protocol

            sock = zmq.Context.instance().socket(zmq.DEALER)
            sock.setsockopt(zmq.LINGER, 0)
            sock.connect(daemon.socket)
            mine = []
            for i in range(40):
                start = time.perf_counter()
                sock.send(protocol.build_request(f"{n}-{i}", "status"))
                assert sock.poll(10_000), "no reply"
                protocol.parse_reply(sock.recv())
                mine.append(time.perf_counter() - start)
            sock.close()
            with lock:
                latencies.extend(mine)

        threads = [threading.Thread(target=client, args=(n,)) for n in range(50)]
        start = time.perf_counter()
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        took = time.perf_counter() - start
        latencies.sort()
        p50 = latencies[len(latencies) // 2] * 1000
        p99 = latencies[int(len(latencies) * 0.99)] * 1000
        print(
            f"50 concurrent clients, {len(latencies)} status requests: p50 {p50:.1f} ms, p99 {p99:.1f} ms, "
            f"{len(latencies) / took:.0f} req/s"
        )
    finally:
        daemon.stop()


def make_clip(path: Path) -> None:
    from lazy_transcode.media.binary import ffmpeg_exe

    subprocess.run(
        [ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-y", "-f", "lavfi", "-i", "testsrc2=size=640x360:rate=25",
         "-f", "lavfi", "-i", "sine=frequency=440", "-t", str(CLIP_SECONDS), "-c:v", "libx264", "-preset", "ultrafast",
         "-c:a", "aac", str(path)],
        check=True,
    )  # fmt: skip


def bench_encode(tmp: Path) -> None:
    from lazy_transcode.media.binary import ffmpeg_exe
    from lazy_transcode.media.encoders import KEYINT_DEFAULT, EncodeSettings, get_profile

    lib = tmp / "lib"
    lib.mkdir()
    clip = lib / "clip.mp4"
    make_clip(clip)
    enc = get_profile("libx265").build(
        EncodeSettings(quality=30), preset="ultrafast", ten_bit=False, hdr=None, keyint=KEYINT_DEFAULT
    )
    plain = [ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-y", *enc.global_args, "-i", str(clip), "-map", "0"]
    for key, value in enc.output.items():
        plain += [f"-{key}", str(value)]
    plain += ["-c:a", "copy", str(tmp / "plain.mkv")]
    plain_runs, engine_runs, ltd_runs, peak_rss = [], [], [], 0.0
    for n in range(2):  # interleaved and the best of two: the machine is shared and noisy
        start = time.perf_counter()
        subprocess.run(plain, check=True)
        plain_runs.append(time.perf_counter() - start)
        engine_runs.append(engine_alone(clip, tmp / f"engine{n}"))
        seconds, rss = through_ltd(clip, tmp / f"enc{n}")
        ltd_runs.append(seconds)
        peak_rss = max(peak_rss, rss)
    plain_s, engine_s, ltd_s = min(plain_runs), min(engine_runs), min(ltd_runs)
    print(
        f"encode {CLIP_SECONDS} s 640x360 libx265 ultrafast QP 30 (best of 2): ltd {ltd_s:.2f} s, plain ffmpeg "
        f"{plain_s:.2f} s; ratio {ltd_s / plain_s:.3f} (goal <= 1.02); ltd peak RSS {peak_rss:.0f} MB"
    )
    print(
        f"  of which the job engine alone (run_job in-process, no daemon): {engine_s:.2f} s = {engine_s / plain_s:.3f}"
        f" x plain; the daemon around it: {ltd_s / engine_s:.3f} x the engine alone"
    )


def through_ltd(clip: Path, root: Path) -> tuple[float, float]:
    """Wall time from `add` to the job's end through a fresh ltd, and the daemon's peak RSS."""
    source = root / "media" / clip.name
    source.parent.mkdir(parents=True)
    shutil.copy(clip, source)
    daemon = Daemon(root, 'checkpoint_interval = 10\n[defaults]\nmode = "qp"\nqp = 30\npreset = "ultrafast"\n')
    try:
        start = time.perf_counter()
        [job_id] = daemon.request("add", {"paths": [str(source)]})["ids"]  # type: ignore[index]
        peak_rss = 0.0
        while True:
            job = daemon.request("status", {"id": job_id})["job"]  # type: ignore[index]
            peak_rss = max(peak_rss, daemon.rss_mb())
            if job["state"] not in ("queued", "running"):
                break
            time.sleep(0.2)
        assert job["state"] == "completed", job
        return time.perf_counter() - start, peak_rss
    finally:
        daemon.stop()


def engine_alone(clip: Path, tmp: Path) -> float:
    """The same job through `run_job` directly, to tell daemon overhead from job-engine overhead."""
    import asyncio

    from lazy_transcode.jobs.api import JobControl, JobOptions
    from lazy_transcode.jobs.runner import run_job

    copy = tmp / clip.name
    copy.parent.mkdir(parents=True)
    shutil.copy(clip, copy)
    options = JobOptions(mode="qp", qp=30, preset="ultrafast").validate()
    start = time.perf_counter()
    result = asyncio.run(run_job(copy, options, JobControl(checkpoint_interval=10)))
    assert result.status == "completed", result
    return time.perf_counter() - start


def bench_big_queue(tmp: Path) -> None:
    folder = tmp / "many"
    for i in range(100):
        sub = folder / f"d{i:03d}"
        sub.mkdir(parents=True)
        for j in range(100):
            (sub / f"episode{j:03d}.mkv").touch()
    daemon = Daemon(tmp / "big")
    try:
        start = time.perf_counter()
        ids = daemon.request("add", {"paths": [str(folder)], "paused": True}, timeout=120)["ids"]  # type: ignore[index]
        add_s = time.perf_counter() - start
        listing = wall([LTCTL, "list"], env=daemon.env, runs=3)
        listing_json = wall([LTCTL, "--json", "list"], env=daemon.env, runs=3)
        rss = daemon.rss_mb()
        print(
            f"{len(ids)} queued jobs (added in {add_s:.2f} s): ltd RSS {rss:.0f} MB (goal <= 150, ratio "
            f"{rss / 150:.2f}); `ltctl list` {listing:.2f} s, `ltctl --json list` {listing_json:.2f} s "
            f"(goal <= 1 s, ratio {listing:.2f})"
        )
    finally:
        daemon.stop()


BENCHES = {"ping": bench_ping, "queue": bench_big_queue, "encode": bench_encode}


def main() -> None:
    chosen = sys.argv[1:] or list(BENCHES)  # e.g. `ctl_bench.py queue` runs one part
    tmp = Path(tempfile.mkdtemp(prefix="ctl-bench-"))
    try:
        for name in chosen:
            BENCHES[name](tmp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
