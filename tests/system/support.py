"""Helpers for the system tests: a handle on a real `ltd` subprocess, /proc inspection, waiting."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lazy_transcode.ctl.client import Unreachable, request

BIN = Path(sys.executable).parent
LTD = str(BIN / "ltd")
LTCTL = str(BIN / "ltctl")

FAST_DEFAULTS = """
checkpoint_interval = 1
[defaults]
mode = "qp"
qp = 30
encoder = "libx265"
preset = "ultrafast"
piece_seconds = 2
"""


@dataclass
class Ltd:
    """One daemon under test: its folders, process and helpers to talk to it."""

    root: Path
    config: Path
    env: dict[str, str]
    proc: subprocess.Popen[bytes] | None = None
    runs: list[subprocess.Popen[bytes]] = field(default_factory=list)
    wrap: list[str] = field(default_factory=list)  # a command ltd runs under (one that execs it, keeping its pid)

    @property
    def socket(self) -> str:
        return f"ipc://{self.root}/run/ltd.sock"

    @property
    def state_dir(self) -> Path:
        return self.root / "state"

    @property
    def log(self) -> Path:
        return self.root / "ltd.log"

    def start(self, wait: bool = True, extra_env: dict[str, str] | None = None) -> Ltd:
        args = [LTD, "--config", str(self.config), "--state-dir", str(self.state_dir), "--socket", self.socket]
        with self.log.open("ab") as log:
            self.proc = subprocess.Popen(
                [*self.wrap, *args],
                stdout=subprocess.DEVNULL,
                stderr=log,
                start_new_session=True,
                env={**self.env, **(extra_env or {})},
            )
        self.runs.append(self.proc)
        if wait:
            self.wait_ready()
        return self

    def wait_ready(self, timeout: float = 20.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.proc is not None and self.proc.poll() is None, self.log.read_text()
            try:
                self.request("ping", timeout=1.0)
                return
            except Unreachable:
                time.sleep(0.05)
        raise AssertionError("ltd did not answer in time:\n" + self.log.read_text())

    def request(self, cmd: str, args: dict[str, Any] | None = None, timeout: float = 5.0) -> Any:
        return request(self.socket, cmd, args, timeout=timeout)

    def ctl(self, *args: str, timeout: float = 60.0, check: bool = True) -> subprocess.CompletedProcess[str]:
        done = subprocess.run(
            [LTCTL, "--socket", self.socket, *args], capture_output=True, text=True, timeout=timeout, env=self.env
        )
        if check:
            assert done.returncode == 0, (args, done.returncode, done.stdout, done.stderr)
        return done

    def job(self, job_id: int) -> dict[str, Any]:
        return self.request("status", {"id": job_id})["job"]

    def wait_job(self, job_id: int, pred: Callable[[dict[str, Any]], bool], timeout: float = 60.0) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            job = self.job(job_id)
            if pred(job):
                return job
            time.sleep(0.05)
        raise AssertionError(f"job {job_id} never reached the condition: {self.job(job_id)}\n{self.log.read_text()}")

    def kill_group(self) -> None:
        assert self.proc is not None
        os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(10)

    def cleanup(self) -> None:
        for proc in self.runs:
            if proc.poll() is None:
                try:
                    os.killpg(proc.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                proc.wait(10)
        for pid in ffmpeg_pids(self.root):
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass


def proc_stat(pid: int) -> tuple[str, int, int] | None:
    """(state letter, process group, utime+stime ticks) of a process, None when it is gone."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = text[text.rindex(")") + 2 :].split()
    return fields[0], int(fields[2]), int(fields[11]) + int(fields[12])


def ffmpeg_pids(under: Path) -> list[int]:
    """ffmpeg processes whose command line mentions a path under `under` (ours, not another test's)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if (
            cmdline
            and b"ffmpeg" in Path(cmdline[0].decode(errors="replace")).name.encode()
            and str(under).encode() in b" ".join(_named(arg) for arg in cmdline)
        ):
            stat = proc_stat(int(entry.name))
            if stat is not None and stat[0] != "Z":
                found.append(int(entry.name))
    return found


_HELD = re.compile(rb"/proc/(\d+)/fd/(\d+)")


def _named(arg: bytes) -> bytes:
    """An ffmpeg argument with the daemon's held folders and files (`/proc/PID/fd/N`) named by their paths."""

    def name(match: re.Match[bytes]) -> bytes:
        try:
            return os.fsencode(os.readlink(f"/proc/{int(match[1])}/fd/{int(match[2])}"))
        except OSError:
            return match[0]

    return _HELD.sub(name, arg)


def group_members(pgid: int) -> list[int]:
    members = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            stat = proc_stat(int(entry.name))
            if stat is not None and stat[1] == pgid:
                members.append(int(entry.name))
    return members


def state_checkpoint(media: Path) -> dict[str, Any]:
    """The encode checkpoint the job engine keeps in the spec's state file beside the media."""
    files = list((media / ".lazy_transcode_state").glob("*.state.json"))
    if not files:
        return {}
    try:
        return json.loads(files[0].read_text()).get("checkpoint", {}).get("encode") or {}
    except (OSError, ValueError):
        return {}


def wait_until(pred: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")
