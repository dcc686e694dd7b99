"""Real signals to a real foreground program: Ctrl+C pauses and asks, a second quits, SIGTERM saves and quits."""

from __future__ import annotations

import json
import os
import select
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

PROGRAM = r"""
import sys, time
from lazy_transcode.state import (
    OperationInterrupted, StateAwareOperation, TranscodeOperation, install_foreground_signal_handlers,
)
install_foreground_signal_handlers()
try:
    with StateAwareOperation(TranscodeOperation("custom", sys.argv[1])) as sm:
        sm.update_step("working", progress=10.0)
        print("started", flush=True)
        for i in range(100000):
            sm.state.checkpoint["i"] = i
            if i % 20 == 0:
                sm.save_state()
            sm.check_pause_point()
            time.sleep(0.005)
except OperationInterrupted as exc:
    print(f"stopped: {exc}", flush=True)
    sys.exit(130)
"""


class Program:
    def __init__(self, video: Path) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-c", PROGRAM, str(video)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        self.state_file = video.parent / ".lazy_transcode_state" / f"{video.name}_custom.state.json"
        assert self.read_until("stdout", b"started\n")

    def read_until(self, stream: str, marker: bytes, timeout: float = 20.0) -> bytes:
        pipe = getattr(self.proc, stream)
        seen = b""
        deadline = time.monotonic() + timeout
        while marker not in seen:
            left = deadline - time.monotonic()
            assert left > 0, f"no {marker!r} on {stream}; got {seen!r}"
            ready, _, _ = select.select([pipe], [], [], left)
            if ready:
                chunk = os.read(pipe.fileno(), 4096)
                assert chunk, f"{stream} closed before {marker!r}; got {seen!r}"
                seen += chunk
        return seen

    def answer(self, text: str) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(text.encode())
        self.proc.stdin.flush()

    def saved(self) -> dict:
        return json.loads(self.state_file.read_bytes())

    def finish(self) -> tuple[int, bytes]:
        out, _ = self.proc.communicate(timeout=20)
        return self.proc.returncode, out


@pytest.fixture
def video(tmp_path: Path) -> Path:
    path = tmp_path / "show s01e01.mkv"
    path.write_bytes(b"x")
    return path


def test_first_ctrl_c_pauses_and_asks_then_quit(video: Path) -> None:
    program = Program(video)
    program.proc.send_signal(signal.SIGINT)
    program.read_until("stderr", b"Paused. [r]esume or [q]uit")
    paused = program.saved()
    assert paused["paused"] is True
    time.sleep(0.1)
    assert program.saved()["checkpoint"] == paused["checkpoint"]  # no work while paused
    program.answer("r\n")
    deadline = time.monotonic() + 10
    while program.saved()["checkpoint"]["i"] == paused["checkpoint"]["i"]:  # works again
        assert time.monotonic() < deadline
        time.sleep(0.02)
    program.proc.send_signal(signal.SIGINT)
    program.read_until("stderr", b"Paused.")
    program.answer("q\n")
    code, out = program.finish()
    assert code == 130 and b"stopped: stopped at step 'working'" in out
    saved = program.saved()
    assert saved["completed"] is False and saved["current_step"] == "working"
    assert saved["checkpoint"]["i"] > paused["checkpoint"]["i"]
    assert not any(p.name.endswith(".lease") for p in program.state_file.parent.iterdir())


def test_second_ctrl_c_saves_and_quits(video: Path) -> None:
    program = Program(video)
    program.proc.send_signal(signal.SIGINT)
    program.read_until("stderr", b"Paused.")
    program.proc.send_signal(signal.SIGINT)  # while the question is open
    code, out = program.finish()
    assert code == 130 and b"stopped:" in out
    assert program.saved()["completed"] is False and program.saved()["paused"] is False


def test_sigterm_saves_and_quits(video: Path) -> None:
    program = Program(video)
    time.sleep(0.1)
    program.proc.send_signal(signal.SIGTERM)
    code, out = program.finish()
    assert code == 130 and b"stopped:" in out
    saved = program.saved()
    assert saved["completed"] is False and saved["checkpoint"]["i"] > 0
