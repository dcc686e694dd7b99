"""A real farm on this machine for the tests: a `dask scheduler` and `ltworker` processes, always killed."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

BIN = Path(sys.executable).parent
DASK = str(BIN / "dask")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Farm:
    """A scheduler and its workers, each in its own process group, with logs under `root`."""

    root: Path
    port: int = field(default_factory=free_port)
    tls: list[str] = field(default_factory=list)  # the scheduler's --tls-* flags
    scheduler: subprocess.Popen[bytes] | None = None
    workers: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    procs: list[subprocess.Popen[bytes]] = field(default_factory=list)
    scratch: list[Path] = field(default_factory=list)

    @property
    def address(self) -> str:
        return f"{'tls' if self.tls else 'tcp'}://127.0.0.1:{self.port}"

    def _spawn(self, name: str, cmd: list[str], env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
        log = (self.root / f"{name}.log").open("ab")
        env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2]), **(env or {})}
        proc = subprocess.Popen(cmd, stdout=log, stderr=log, start_new_session=True, env=env)
        self.procs.append(proc)
        return proc

    def start_scheduler(self) -> Farm:
        cmd = [DASK, "scheduler", "--host", "127.0.0.1", "--port", str(self.port), "--no-dashboard", *self.tls]
        if self.tls:
            cmd[2:2] = ["--protocol", "tls"]
        self.scheduler = self._spawn("scheduler", cmd)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", self.port)) == 0:
                    return self
            time.sleep(0.1)
        raise AssertionError("the scheduler did not start:\n" + self.log("scheduler"))

    def stop_scheduler(self) -> None:
        assert self.scheduler is not None
        os.killpg(self.scheduler.pid, signal.SIGKILL)
        self.scheduler.wait(10)

    def start_worker(self, name: str, *extra: str, user: list[str] | None = None) -> subprocess.Popen[bytes]:
        """`ltworker` with one piece at a time; `user` runs it as another user (a command prefix)."""
        scratch = Path(tempfile.mkdtemp(prefix=f"ltworker-{name}-"))
        os.chmod(scratch, 0o777)
        self.scratch.append(scratch)
        cmd = [sys.executable, "-m", "lazy_transcode.farm.worker", self.address, "--name", name, "--nthreads", "1",
               "--local-directory", str(scratch), *extra]  # fmt: skip
        self.workers[name] = proc = self._spawn(name, [*(user or []), *cmd], env={"HOME": str(scratch)})
        return proc

    def dask_worker_pids(self, name: str) -> list[int]:
        """The processes of worker `name` that run tasks (spawned by its nanny, under ltworker)."""
        return [pid for pid in descendants(self.workers[name].pid) if b"spawn_main" in _cmdline(pid)]

    def log(self, name: str) -> str:
        path = self.root / f"{name}.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def cleanup(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                try:
                    os.killpg(proc.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                proc.wait(10)
        for folder in self.scratch:
            shutil.rmtree(folder, ignore_errors=True)


def _cmdline(pid: int) -> bytes:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return b""


def descendants(pid: int) -> list[int]:
    """Every process below `pid`."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                text = (entry / "stat").read_text()
            except OSError:
                continue
            children.setdefault(int(text[text.rindex(")") + 2 :].split()[1]), []).append(int(entry.name))
    found, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found
