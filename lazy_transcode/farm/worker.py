"""`ltworker`: join a farm with one command, a thin wrapper over `dask worker` that checks first.

It checks this machine's lazy-transcode version and ffmpeg build (version line and encoders), passes
them to the worker processes it starts (ltd reads them when the worker joins and refuses a mismatch),
and offers one `piece` resource per thread, so a worker takes only as many pieces as it has cores. If
the scheduler goes away the worker ends; ltworker starts it again, so it rejoins when the scheduler is
back. SIGTERM/SIGINT end the worker (and its pieces' ffmpeg) and ltworker.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from lazy_transcode import __version__
from lazy_transcode.farm.build import ffmpeg_build
from lazy_transcode.farm.task import CHECKS_ENV
from lazy_transcode.media.binary import FFmpegError, ffmpeg_exe

RESTART_DELAY = 2.0


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="ltworker", description="Encode pieces for ltd on this machine.")
    parser.add_argument("scheduler", help="the farm's scheduler, e.g. tls://HOST:8786")
    parser.add_argument("--tls-ca-file", default="")
    parser.add_argument("--tls-cert", default="")
    parser.add_argument("--tls-key", default="")
    parser.add_argument("--nworkers", type=int, default=1, help="worker processes (default 1)")
    parser.add_argument("--nthreads", type=int, default=0, help="pieces at once per process (default: cores)")
    parser.add_argument("--ffmpeg", default=os.environ.get("LAZY_TRANSCODE_FFMPEG", ""), help="ffmpeg to run")
    parser.add_argument("--name", default="", help="the worker's name (default: the host name)")
    parser.add_argument("--local-directory", default="", help="dask's scratch folder")
    args = parser.parse_args(argv)
    if args.nworkers < 1 or args.nthreads < 0:
        parser.error("--nworkers must be at least 1 and --nthreads at least 0")
    return args


def checks(ffmpeg: str, scratch: Path) -> dict[str, object]:
    """What ltd compares with its own before it sends this worker a piece, and what the pieces run."""
    exe = ffmpeg_exe(ffmpeg or None)
    return {"version": __version__, "ffmpeg": exe, "build": ffmpeg_build(exe), "run": dying_with_worker(exe, scratch)}


def dying_with_worker(exe: str, scratch: Path) -> str:
    """An ffmpeg that gets SIGKILL when the worker process dies (even by SIGKILL), so a dead worker
    leaves no ffmpeg behind: `setpriv --pdeathsig`, where util-linux has it; else ffmpeg itself."""
    setpriv = shutil.which("setpriv")
    if setpriv is None or subprocess.run([setpriv, "--pdeathsig", "KILL", "true"], check=False).returncode:
        return exe
    wrapper = scratch / "ffmpeg"
    wrapper.write_text(f'#!/bin/sh\nexec {shlex.quote(setpriv)} --pdeathsig KILL {shlex.quote(exe)} "$@"\n')
    wrapper.chmod(0o755)
    return str(wrapper)


def dask_command(args: argparse.Namespace, nthreads: int) -> list[str]:
    cmd = [sys.executable, "-m", "distributed.cli.dask_worker"]  # this very Python: the same lazy-transcode
    cmd += [args.scheduler, "--nworkers", str(args.nworkers), "--nthreads", str(nthreads),
            "--resources", f"piece={nthreads}", "--no-dashboard", "--death-timeout", "30"]  # fmt: skip
    if args.name:
        cmd += ["--name", args.name]
    if args.local_directory:
        cmd += ["--local-directory", args.local_directory]
    for flag in ("tls_ca_file", "tls_cert", "tls_key"):
        if getattr(args, flag):
            cmd += [f"--{flag.replace('_', '-')}", getattr(args, flag)]
    return cmd


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    scratch = Path(tempfile.mkdtemp(prefix="ltworker-"))
    try:
        found = checks(args.ffmpeg, scratch)
    except (FFmpegError, OSError, subprocess.SubprocessError) as exc:
        sys.exit(f"ltworker: {exc}")
    nthreads = args.nthreads or len(os.sched_getaffinity(0))
    build = found["build"]
    assert isinstance(build, dict)
    print(f"ltworker: lazy-transcode {__version__}, {build['version']} ({build['count']} encoders), "
          f"{args.nworkers} x {nthreads} piece(s) at once, joining {args.scheduler}", flush=True)  # fmt: skip
    env = {**os.environ, CHECKS_ENV: json.dumps(found)}
    stopping = False
    child: subprocess.Popen[bytes] | None = None

    def stop(signum: int, _frame: object) -> None:
        nonlocal stopping
        stopping = True
        if child is not None and child.poll() is None:
            child.send_signal(signal.SIGTERM)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    while not stopping:
        child = subprocess.Popen(dask_command(args, nthreads), env=env)
        code = child.wait()
        if stopping:
            break
        print(f"ltworker: the dask worker ended ({code}); starting it again in {RESTART_DELAY:g} s", flush=True)
        time.sleep(RESTART_DELAY)
    shutil.rmtree(scratch, ignore_errors=True)
    sys.exit(0)


if __name__ == "__main__":
    main()
