"""The real ltd as a service: hostile frames, other uids, systemd notify, config and locking, roots."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import sqlite3
import stat
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import msgpack
import pytest
import zmq

from lazy_transcode import protocol
from lazy_transcode.daemon.queue_store import SCHEMA_VERSION
from tests.system.support import LTCTL, LTD, Ltd, wait_until


def dealer(endpoint: str) -> zmq.Socket:
    sock = zmq.Context.instance().socket(zmq.DEALER)
    sock.setsockopt(zmq.LINGER, 0)
    sock.connect(endpoint)
    return sock


def exchange(sock: zmq.Socket, *frames: bytes, wait: float = 2.0) -> protocol.Reply | None:
    sock.send_multipart(list(frames))
    if not sock.poll(int(wait * 1000)):
        return None
    return protocol.parse_reply(sock.recv_multipart()[-1])


def test_hostile_frames_are_answered_or_dropped_and_everyone_else_is_served(ltd_factory: Callable[..., Ltd]) -> None:
    ltd = ltd_factory("").start()
    good = dealer(ltd.socket)
    bad = dealer(ltd.socket)
    cases: list[tuple[bytes, str]] = [
        (b"\x00\xffnot msgpack at all", "bad_request"),
        (msgpack.packb("a string"), "bad_request"),
        (msgpack.packb({"v": 1, "id": 1, "cmd": "format_disk", "args": {}}), "unknown_command"),
        (msgpack.packb({"v": 1, "id": 2, "cmd": "add", "args": {"paths": 5}}), "bad_args"),
        (msgpack.packb({"v": 1, "id": 3, "cmd": "pause", "args": {"ids": ["1"]}}), "bad_args"),
        (msgpack.packb({"v": 1, "id": 4, "cmd": "status", "args": {"id": True}}), "bad_args"),
        (msgpack.packb({"v": 1, "id": 5, "cmd": "add", "args": {"paths": ["/"], "options": {"qp": "9"}}}), "bad_args"),
        (msgpack.packb({"v": 1, "id": 6, "cmd": "ping", "args": {"x": 1}}), "bad_args"),
        (msgpack.packb({"v": 9, "id": 7, "cmd": "ping", "args": {}}), "bad_version"),
        (msgpack.packb({"v": 1, "id": {"nested": 1}, "cmd": "ping"}), "bad_request"),
        (msgpack.packb({"v": 1, "id": 8, "cmd": "cancel", "args": {"ids": [12345]}}), "not_found"),
        (msgpack.packb({"v": 1, "id": 9, "cmd": "status", "args": {"id": 2**63}}), "bad_args"),
        (msgpack.packb({"v": 1, "id": 10, "cmd": "cancel", "args": {"ids": [2**64 - 1]}}), "bad_args"),
        (msgpack.packb({"v": 1, "id": 11, "cmd": "pause", "args": {"ids": [2**63]}}), "bad_args"),
        (msgpack.packb({"v": 1, "id": 12, "cmd": "add", "args": {"paths": ["/"], "priority": 1001}}), "bad_args"),
        (msgpack.packb({"v": 1, "id": 13, "cmd": "add", "args": {"paths": ["/"], "priority": -(2**63)}}), "bad_args"),
    ]  # fmt: skip
    for n, (payload, code) in enumerate(cases):
        reply = exchange(bad, payload)
        assert reply is not None and not reply.ok and reply.code == code, (payload, reply)
        assert exchange(good, protocol.build_request(f"g{n}", "ping")).ok  # type: ignore[union-attr]

    # more frames than a request has: dropped without an answer, and the daemon carries on
    assert exchange(bad, b"a", b"b", b"c", b"d", b"e", wait=0.5) is None
    # 4 MiB: over ZMQ_MAXMSGSIZE, libzmq drops the connection of that peer only
    big = protocol.build_request("big", "add", {"paths": ["/" + "x" * (4 * 1024 * 1024)]})
    assert exchange(bad, big, wait=1.0) is None
    assert exchange(good, protocol.build_request("after-big", "ping")).ok  # type: ignore[union-attr]
    # a REQ peer (empty delimiter frame) is answered too
    req = zmq.Context.instance().socket(zmq.REQ)
    req.setsockopt(zmq.LINGER, 0)
    req.connect(ltd.socket)
    req.send(protocol.build_request("req-1", "ping"))
    assert req.poll(2000) and protocol.parse_reply(req.recv()).result["pong"] is True
    # many clients at once while junk keeps coming
    socks = [dealer(ltd.socket) for _ in range(30)]
    for i, sock in enumerate(socks):
        sock.send(protocol.build_request(i, "list"))
        bad.send(os.urandom(64))
    for i, sock in enumerate(socks):
        assert sock.poll(5000)
        reply = protocol.parse_reply(sock.recv())
        assert reply.ok and reply.id == i
    for sock in [good, bad, req, *socks]:
        sock.close()
    assert ltd.proc is not None and ltd.proc.poll() is None


def run_as_nobody(*args: str, timeout: float = 20) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", *args],
        capture_output=True, text=True, timeout=timeout, env=nobody_env(),
    )  # fmt: skip


def nobody_env() -> dict[str, str]:
    """A bare environment for another user; PYTHONPATH is kept (the code under test, when it is set)."""
    env = {"PATH": "/usr/bin:/bin", "HOME": "/"}
    if os.environ.get("PYTHONPATH"):
        env["PYTHONPATH"] = os.environ["PYTHONPATH"]
    return env


@pytest.mark.skipif(os.getuid() != 0 or not shutil.which("setpriv"), reason="needs root to run a client as another uid")
def test_a_client_of_another_uid_is_refused(ltd_factory: Callable[..., Ltd]) -> None:
    ltd = ltd_factory("").start()
    path = Path(ltd.socket.removeprefix("ipc://"))
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    opened = [p for p in (ltd.root, *ltd.root.parents) if p.stat().st_mode & 0o001 == 0]
    for parent in opened:  # let nobody reach the daemon's folder (pytest's tmp is 0700), not the socket folder
        parent.chmod(parent.stat().st_mode | 0o001)
    try:
        check_other_uid(ltd, path)
    finally:
        for parent in opened:
            parent.chmod(parent.stat().st_mode & ~0o001)


def check_other_uid(ltd: Ltd, path: Path) -> None:
    start = time.monotonic()
    denied = run_as_nobody(LTCTL, "--socket", ltd.socket, "--timeout", "10", "ping")
    assert denied.returncode == 69, denied
    assert time.monotonic() - start < 5  # told at once, no timeout
    [line] = denied.stderr.strip().splitlines()
    assert "permission denied" in line and ltd.socket in line and "'root'" in line

    # Even with the socket opened to everyone, the daemon checks the peer's credentials and says no.
    path.parent.chmod(0o755)
    path.chmod(0o777)
    start = time.monotonic()
    refused = run_as_nobody(LTCTL, "--socket", ltd.socket, "--timeout", "10", "ping")
    assert refused.returncode == 69 and time.monotonic() - start < 5, refused
    [line] = refused.stderr.strip().splitlines()
    assert "permission denied: uid 65534 may not use this daemon" in line, line
    assert ltd.request("ping")["pong"] is True  # and our own uid is still served


def test_notify_ready_status_watchdog_stopping(
    ltd_factory: Callable[..., Ltd], tmp_path: Path, tiny_video: Path
) -> None:
    sink_path = tmp_path / "notify.sock"
    sink = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sink.bind(str(sink_path))
    sink.settimeout(20)
    ltd = ltd_factory("")
    ltd.start(wait=False, extra_env={"NOTIFY_SOCKET": str(sink_path), "WATCHDOG_USEC": "400000"})
    messages: list[tuple[float, str]] = []

    def receive() -> str:
        text = sink.recv(4096).decode()
        messages.append((time.monotonic(), text))
        return text

    first = receive()
    while "READY=1" not in first:
        first = receive()
    # READY comes only once the socket answers (pinged right away, with no retry)
    assert ltd.request("ping", timeout=1.0)["pong"] is True
    assert "STATUS=idle" in first
    (tmp_path / "lib").mkdir()
    shutil.copy(tiny_video, tmp_path / "lib" / "a.mkv")
    ltd.ctl("add", str(tmp_path / "lib"), "--paused")
    sink.setblocking(False)  # what queued up while ltctl ran was sent before the window: drain it first
    with contextlib.suppress(BlockingIOError):
        while True:
            receive()
    sink.settimeout(20)
    t0 = time.monotonic()
    while time.monotonic() - t0 < 2.0:
        receive()
    window = [t for t, m in messages if m == "WATCHDOG=1" and t >= t0]
    assert 7 <= len(window) <= 13, window  # every WATCHDOG_USEC/2 = 0.2 s
    assert any(m == "STATUS=1 paused" for _, m in messages), messages
    assert ltd.proc is not None
    ltd.proc.send_signal(signal.SIGTERM)
    text = receive()
    while "STOPPING=1" not in text:
        text = receive()
    assert ltd.proc.wait(10) == 0
    sink.close()


def test_config_errors_locking_and_socket_in_use(ltd_factory: Callable[..., Ltd]) -> None:
    ltd = ltd_factory("workers = 0\n")
    bad = subprocess.run([LTD, "--config", str(ltd.config)], capture_output=True, text=True, timeout=30)
    assert bad.returncode == 78 and len(bad.stderr.strip().splitlines()) == 1 and "workers" in bad.stderr
    ltd.config.write_text("")
    ltd.start()
    second = subprocess.run(
        [LTD, "--config", str(ltd.config), "--state-dir", str(ltd.state_dir), "--socket", f"ipc://{ltd.root}/o.sock"],
        capture_output=True, text=True, timeout=30,
    )  # fmt: skip
    assert second.returncode == 1 and "already running" in second.stderr and str(ltd.state_dir) in second.stderr
    third = subprocess.run(
        [LTD, "--config", str(ltd.config), "--state-dir", str(ltd.root / "other"), "--socket", ltd.socket],
        capture_output=True, text=True, timeout=30,
    )  # fmt: skip
    assert third.returncode == 1 and "in use" in third.stderr
    assert ltd.request("ping")["pong"] is True  # the first daemon kept its socket


def test_a_queue_from_a_newer_version_stops_ltd_and_is_left_untouched(ltd_factory: Callable[..., Ltd]) -> None:
    ltd = ltd_factory("")
    ltd.state_dir.mkdir()
    queue = ltd.state_dir / "queue.sqlite3"
    con = sqlite3.connect(queue)
    con.execute("CREATE TABLE jobs (id INTEGER PRIMARY KEY, state TEXT)")
    con.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    con.commit()
    con.close()
    data = queue.read_bytes()
    done = subprocess.run(
        [LTD, "--config", str(ltd.config), "--state-dir", str(ltd.state_dir), "--socket", ltd.socket],
        capture_output=True, text=True, timeout=30, env=ltd.env,
    )  # fmt: skip
    assert done.returncode == 1 and len(done.stderr.strip().splitlines()) == 1, done
    assert f"cannot open the queue {queue}: it is version {SCHEMA_VERSION + 1}" in done.stderr
    assert "newer lazy-transcode" in done.stderr
    assert queue.read_bytes() == data


def test_library_roots_after_resolving_symlinks(
    ltd_factory: Callable[..., Ltd], tmp_path: Path, tiny_video: Path
) -> None:
    root = tmp_path / "root"
    outside = tmp_path / "outside"
    root.mkdir()
    outside.mkdir()
    shutil.copy(tiny_video, root / "in.mkv")
    shutil.copy(tiny_video, outside / "out.mkv")
    (root / "sneaky.mkv").symlink_to(outside / "out.mkv")
    ltd = ltd_factory(f'library_roots = ["{root}"]\n').start()
    refused = ltd.ctl("add", str(outside / "out.mkv"), check=False)
    assert refused.returncode == 1 and "outside library_roots" in refused.stderr
    refused = ltd.ctl("add", str(root / "sneaky.mkv"), check=False)
    assert refused.returncode == 1 and "outside library_roots" in refused.stderr
    missing = ltd.ctl("add", str(root / "nope.mkv"), check=False)
    assert missing.returncode == 1 and "no such file" in missing.stderr
    # the folder holds the sneaky link: it is skipped with one warning, the rest of the folder is queued
    added = ltd.ctl("add", str(root), "--paused")
    assert added.stdout.split() == ["1"]
    [warning] = added.stderr.strip().splitlines()
    assert f"{root / 'sneaky.mkv'}: skipped: it leads outside library_roots" in warning, warning
    assert ltd.ctl("--json", "list").stdout.count('"id"') == 1
    assert ltd.job(1)["input"] == str(root / "in.mkv")


def test_ltd_runs_with_no_config_at_all(tmp_path: Path) -> None:
    """`make run`: plain `ltd` with only a HOME; sockets under $XDG_RUNTIME_DIR, state under ~/.local/state."""
    home = tmp_path / "home"
    env = {"PATH": os.environ.get("PATH", ""), "HOME": str(home), "XDG_RUNTIME_DIR": str(tmp_path / "xdg")}
    proc = subprocess.Popen([LTD], env=env, stderr=subprocess.PIPE, start_new_session=True)
    try:
        sock = tmp_path / "xdg" / "lazy-transcode" / "ltd.sock"
        wait_until(sock.exists, 20, "the default socket")
        done = subprocess.run([LTCTL, "ping"], env=env, capture_output=True, text=True, timeout=30)
        assert done.returncode == 0 and done.stdout.startswith("pong"), done
        assert (home / ".local" / "state" / "lazy-transcode" / "queue.sqlite3").exists()
        proc.send_signal(signal.SIGINT)
        assert proc.wait(10) == 0
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def test_ltctl_resumable_and_cleanup_work_without_a_daemon(tmp_path: Path) -> None:
    env = {"PATH": os.environ.get("PATH", ""), "HOME": str(tmp_path)}
    done = subprocess.run([LTCTL, "--json", "resumable", str(tmp_path)], env=env, capture_output=True, text=True)
    assert done.returncode == 0 and done.stdout.strip() == "[]", done
    done = subprocess.run([LTCTL, "cleanup", str(tmp_path), "--days", "3"], env=env, capture_output=True, text=True)
    assert done.returncode == 0 and "removed 0" in done.stdout, done
    # No daemon at the socket ltctl is pointed at (not the host's default ones, which a real ltd may hold).
    env["LAZY_TRANSCODE_SOCKET"] = f"ipc://{tmp_path}/lazy-transcode/ltd.sock"
    done = subprocess.run(
        [sys.executable, "-m", "lazy_transcode.ctl.app", "ping"], env=env, capture_output=True, text=True
    )
    assert done.returncode == 69 and len(done.stderr.strip().splitlines()) == 1
