"""The lease: live holders refuse, stale ones (dead pid, reused pid, reboot, expired) are taken over."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from lazy_transcode.state import StateLockedError, TranscodeOperation, UniversalStateManager
from lazy_transcode.state import lease as lease_mod

HOLD = """
import sys, time
from lazy_transcode.state import TranscodeOperation, UniversalStateManager
m = UniversalStateManager(TranscodeOperation("vbr", sys.argv[1]))
m.acquire_lease()
print("held", flush=True)
if sys.argv[2] == "hold":
    time.sleep(60)
"""


def _holder(video: Path, mode: str) -> subprocess.Popen:
    proc = subprocess.Popen([sys.executable, "-c", HOLD, str(video), mode], stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None and proc.stdout.readline() == "held\n"
    return proc


def _write_lease(manager: UniversalStateManager, **change: object) -> None:
    info = lease_mod.LeaseInfo.mine()
    data = {**info.__dict__, **change}
    manager.state_dir.mkdir(exist_ok=True)
    lease_mod.lease_path(manager.state_file).write_text(json.dumps(data))


def test_live_holder_refuses_with_pid_and_host(manager: UniversalStateManager, video: Path) -> None:
    proc = _holder(video, "hold")
    try:
        with pytest.raises(StateLockedError) as info:
            manager.acquire_lease()
        assert str(info.value) == f"vbr of 'video.mkv' is in progress by pid {proc.pid} on {socket.gethostname()}"
        assert info.value.pid == proc.pid
    finally:
        proc.kill()
        proc.wait()
    manager.acquire_lease()  # the holder died (SIGKILL, no release): taken over
    assert lease_mod.read(manager.state_file).pid == os.getpid()


def test_holder_exiting_without_release_leaves_a_stale_lease(manager: UniversalStateManager, video: Path) -> None:
    proc = _holder(video, "exit")
    proc.wait()
    assert lease_mod.read(manager.state_file).pid == proc.pid
    manager.acquire_lease()


def test_same_process_may_reacquire(op: TranscodeOperation, manager: UniversalStateManager) -> None:
    manager.acquire_lease()
    manager.acquire_lease()
    UniversalStateManager(op).acquire_lease()
    manager.release_lease()
    manager.release_lease()
    assert not lease_mod.lease_path(manager.state_file).exists()


def test_reused_pid_is_stale(manager: UniversalStateManager) -> None:
    parent = os.getppid()  # alive, but its start time is not the recorded one: the pid was reused
    _write_lease(manager, pid=parent, start_time=(lease_mod.process_start_time(parent) or 0) + 12345)
    manager.acquire_lease()
    _write_lease(manager, pid=parent, start_time=lease_mod.process_start_time(parent))
    with pytest.raises(StateLockedError, match=f"in progress by pid {parent}"):
        manager.acquire_lease()


def test_reboot_makes_a_lease_stale(manager: UniversalStateManager) -> None:
    parent = os.getppid()  # after a reboot a daemon may get the pid (and even start time) of its predecessor
    _write_lease(manager, pid=parent, start_time=lease_mod.process_start_time(parent), boot_id="another-boot")
    manager.acquire_lease()


def test_other_hosts_expire(manager: UniversalStateManager) -> None:
    _write_lease(manager, host="elsewhere", pid=1, refreshed=time.time() - 10)
    with pytest.raises(StateLockedError, match="in progress by pid 1 on elsewhere"):
        manager.acquire_lease()
    _write_lease(manager, host="elsewhere", pid=1, refreshed=time.time() - lease_mod.DEFAULT_EXPIRY - 1)
    manager.acquire_lease()


def test_garbage_lease_is_free(manager: UniversalStateManager) -> None:
    manager.state_dir.mkdir()
    lease_mod.lease_path(manager.state_file).write_text("{half")
    manager.acquire_lease()


def test_save_state_refreshes_and_detects_a_lost_lease(op: TranscodeOperation) -> None:
    manager = UniversalStateManager(op, lease_expiry=0.5)
    manager.acquire_lease()
    first = lease_mod.read(manager.state_file).refreshed
    time.sleep(0.15)
    manager.save_state()
    assert lease_mod.read(manager.state_file).refreshed > first
    parent = os.getppid()
    _write_lease(manager, pid=parent, start_time=lease_mod.process_start_time(parent))  # taken over by another
    time.sleep(0.15)
    with pytest.raises(StateLockedError, match="lease lost"):
        manager.save_state()
