"""One pause mechanism: the spec's PauseManager is an adapter over the engine's JobControl."""

from __future__ import annotations

import asyncio
import subprocess
import threading
import time
from pathlib import Path

import pytest

from lazy_transcode.control import JobControl, JobStopped
from lazy_transcode.state import OperationInterrupted, PauseManager, TranscodeOperation, UniversalStateManager


def _state_letter(pid: int) -> str:
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]


def _wait_letter(pid: int, wanted: str) -> str:
    deadline = time.monotonic() + 5
    while _state_letter(pid) != wanted and time.monotonic() < deadline:
        time.sleep(0.01)
    return _state_letter(pid)


def test_a_pause_asked_of_the_manager_stops_the_jobs_processes() -> None:
    control = JobControl()
    pm = PauseManager(control=control)
    child = subprocess.Popen(["sleep", "30"], start_new_session=True)
    try:
        control.register(child.pid)
        pm.pause()
        assert control.paused and _wait_letter(child.pid, "T") == "T"
        pm.resume()
        assert not control.paused and _wait_letter(child.pid, "S") == "S"
    finally:
        child.kill()
        child.wait()


def test_a_pause_asked_of_the_control_holds_the_spec_pause_point(tmp_path: Path) -> None:
    control = JobControl()
    manager = UniversalStateManager(
        TranscodeOperation("custom", str(tmp_path / "v.mkv")), pause_manager=PauseManager(control=control)
    )
    control.pause()
    threading.Timer(0.3, control.resume).start()
    started = time.monotonic()
    manager.check_pause_point()  # blocks until the control resumes
    assert time.monotonic() - started >= 0.25
    control.request_stop()
    with pytest.raises(OperationInterrupted):
        manager.check_pause_point()


def test_the_engine_pause_point_wakes_when_the_manager_resumes_from_a_thread() -> None:
    control = JobControl()
    pm = PauseManager(control=control)

    async def scenario() -> float:
        pm.pause()
        threading.Timer(0.2, pm.resume).start()
        started = time.monotonic()
        await asyncio.wait_for(control.wait_if_paused(), 5)
        waited = time.monotonic() - started
        pm.pause()
        threading.Timer(0.1, pm.request_stop).start()
        with pytest.raises(JobStopped):
            await asyncio.wait_for(control.wait_if_paused(), 5)
        return waited

    assert asyncio.run(scenario()) >= 0.15
