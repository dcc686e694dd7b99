"""Attacks on a real ltd: the library swapped or trapped after `add`, sockets in someone else's folder,
clients that flood, out-of-range numbers, two daemons at once, groups that are only supplementary.

Tests that need another user run clients as made-up uids with setpriv (we are root there).
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import stat
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import msgpack
import pytest
import zmq

from lazy_transcode import protocol
from tests.fixtures.v010 import FIXTURE
from tests.security.support import snapshot
from tests.system.support import FAST_DEFAULTS, LTCTL, LTD, Ltd, wait_until

ROOT_ONLY = pytest.mark.skipif(
    os.getuid() != 0 or not shutil.which("setpriv"), reason="runs clients as other uids (needs root and setpriv)"
)
VICTIM_UID, ATTACKER_UID, GROUP = 4242, 4343, 4444


def as_user(uid: int, *args: str, groups: str | None = None, env: dict[str, str] | None = None, timeout: float = 30):
    """Run a command as `uid` (its own gid; `groups` the supplementary groups) in a bare environment."""
    base = {"PATH": "/usr/bin:/bin", "HOME": "/"}
    if os.environ.get("PYTHONPATH"):
        base["PYTHONPATH"] = os.environ["PYTHONPATH"]  # the code under test
    group_args = [f"--groups={groups}"] if groups else ["--clear-groups"]
    return subprocess.run(
        ["setpriv", f"--reuid={uid}", f"--regid={uid}", *group_args, *args],
        capture_output=True, text=True, timeout=timeout, env={**base, **(env or {})},
    )  # fmt: skip


@pytest.fixture
def reachable(tmp_path: Path) -> Iterator[None]:
    """Let other uids traverse down to the test's folder (pytest's tmp folders are 0700)."""
    opened = [p for p in (tmp_path, *tmp_path.parents) if p.stat().st_mode & 0o001 == 0]
    for parent in opened:
        parent.chmod(parent.stat().st_mode | 0o001)
    yield
    for parent in opened:
        parent.chmod(parent.stat().st_mode & ~0o001)


def ping_seconds(ltd: Ltd, timeout: float = 5.0) -> float:
    start = time.monotonic()
    assert ltd.request("ping", timeout=timeout)["pong"] is True
    return time.monotonic() - start


# --- the library after add -------------------------------------------------------------------------------


def test_a_folder_swapped_for_a_link_after_add_is_refused_when_the_job_runs(
    ltd_factory: Callable[..., Ltd], tmp_path: Path
) -> None:
    roots, outside = tmp_path / "roots", tmp_path / "outside"
    (roots / "show").mkdir(parents=True)
    outside.mkdir()
    shutil.copy(FIXTURE / "film.mp4", roots / "show" / "film.mp4")
    shutil.copy(FIXTURE / "film.mp4", outside / "film.mp4")
    ltd = ltd_factory(f'library_roots = ["{roots}"]\n' + FAST_DEFAULTS).start()
    assert ltd.ctl("add", str(roots / "show" / "film.mp4"), "--paused", "--replace").stdout.split() == ["1"]
    (roots / "show").rename(roots / "show.away")
    (roots / "show").symlink_to(outside)
    before = snapshot(outside)
    ltd.ctl("resume", "1")
    job = ltd.wait_job(1, lambda j: j["state"] in protocol.FINAL_STATES, timeout=60)
    assert job["state"] == "failed" and "outside library_roots" in job["error"], job
    assert snapshot(outside) == before  # not transcoded, not removed, no state folder


def test_fifos_are_refused_at_add_and_never_block_the_daemon(ltd_factory: Callable[..., Ltd], tmp_path: Path) -> None:
    library = tmp_path / "library"
    library.mkdir()
    shutil.copy(FIXTURE / "film.mp4", library / "film.mp4")
    os.mkfifo(library / "trap.mkv")
    ltd = ltd_factory().start()
    direct = ltd.ctl("add", str(library / "trap.mkv"), check=False)
    assert direct.returncode == 1 and "is a FIFO, not a regular file" in direct.stderr, direct
    added = ltd.ctl("add", str(library), "--paused")  # the folder: the FIFO is skipped, the film queued
    assert added.stdout.split() == ["1"]
    [warning] = added.stderr.strip().splitlines()
    assert "trap.mkv" in warning and "FIFO" in warning, added.stderr
    # a regular file queued, then swapped for a FIFO before its job runs
    shutil.copy(FIXTURE / "film.mp4", library / "late.mkv")
    assert ltd.ctl("add", str(library / "late.mkv"), "--paused").stdout.split() == ["2"]
    (library / "late.mkv").unlink()
    os.mkfifo(library / "late.mkv")
    ltd.ctl("resume", "2")
    job = ltd.wait_job(2, lambda j: j["state"] in protocol.FINAL_STATES, timeout=30)
    assert job["state"] == "failed" and "is a FIFO" in job["error"], job
    assert ping_seconds(ltd) < 2
    assert ltd.ctl("cancel", "1").returncode == 0
    assert ltd.proc is not None
    ltd.proc.send_signal(signal.SIGTERM)
    assert ltd.proc.wait(10) == 0


# --- sockets ---------------------------------------------------------------------------------------------


@pytest.fixture
def fallback_folder() -> Iterator[Path]:
    """`/tmp/lazy-transcode-<victim uid>`: the default socket folder of a user without XDG_RUNTIME_DIR."""
    folder = Path(f"/tmp/lazy-transcode-{VICTIM_UID}")
    shutil.rmtree(folder, ignore_errors=True)
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


class Listener:
    """The attacker's fake daemon: accepts connections on a socket and keeps what they send."""

    def __init__(self, path: Path) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.bind(str(path))
        os.chmod(path, 0o777)
        self.sock.listen(8)
        self.sock.settimeout(0.2)
        self.received = b""
        self.connections = 0
        self.stop = False
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        while not self.stop:
            try:
                conn, _ = self.sock.accept()
            except TimeoutError:
                continue
            self.connections += 1
            conn.settimeout(1.0)
            try:
                while chunk := conn.recv(65536):
                    self.received += chunk
            except OSError:
                pass
            conn.close()

    def close(self) -> None:
        self.stop = True
        self.thread.join(5)
        self.sock.close()


@ROOT_ONLY
def test_a_fallback_socket_folder_of_another_user_is_refused(fallback_folder: Path, tmp_path: Path) -> None:
    fallback_folder.mkdir(mode=0o755)
    os.chown(fallback_folder, ATTACKER_UID, ATTACKER_UID)
    listener = Listener(fallback_folder / "ltd.sock")
    try:
        done = as_user(VICTIM_UID, LTCTL, "--timeout", "3", "add", "/srv/media/secret-film.mkv")
        assert done.returncode == 69, done
        [line] = done.stderr.strip().splitlines()
        assert f"socket folder {fallback_folder}" in line and f"uid {ATTACKER_UID}" in line and "0755" in line, line
        time.sleep(0.5)
        assert listener.connections == 0 and listener.received == b""
        # ltd refuses it too, with the same kind of line, and binds nothing there
        state = Path(tempfile.mkdtemp(prefix="lt-sec-"))
        try:
            os.chmod(state, 0o755)
            os.chown(state, VICTIM_UID, VICTIM_UID)
            (state / "config.toml").write_text("")
            started = as_user(VICTIM_UID, LTD, "--config", str(state / "config.toml"), "--state-dir", str(state / "q"))
            assert started.returncode == 1, started
            [line] = started.stderr.strip().splitlines()
            assert f"uid {ATTACKER_UID}" in line and "0755" in line and "refusing it" in line, line
        finally:
            shutil.rmtree(state)
    finally:
        listener.close()
    assert sorted(p.name for p in fallback_folder.iterdir()) == ["ltd.sock"]


@ROOT_ONLY
def test_the_fallback_socket_folder_is_created_0700_and_verified(fallback_folder: Path) -> None:
    state = Path(tempfile.mkdtemp(prefix="lt-sec-"))
    os.chmod(state, 0o755)
    os.chown(state, VICTIM_UID, VICTIM_UID)
    (state / "config.toml").write_text("")
    env = {"PYTHONPATH": os.environ.get("PYTHONPATH", "")}
    args = ["setpriv", f"--reuid={VICTIM_UID}", f"--regid={VICTIM_UID}", "--clear-groups"]
    proc = subprocess.Popen(
        [*args, LTD, "--config", str(state / "config.toml"), "--state-dir", str(state / "q")],
        env={"PATH": "/usr/bin:/bin", "HOME": "/", **env}, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        wait_until(lambda: (fallback_folder / "ltd.sock").exists() or proc.poll() is not None, 20, "the socket")
        st = fallback_folder.lstat()
        assert stat.S_ISDIR(st.st_mode) and st.st_uid == VICTIM_UID and stat.S_IMODE(st.st_mode) == 0o700
        pong = as_user(VICTIM_UID, LTCTL, "ping")
        assert pong.returncode == 0, pong
    finally:
        proc.terminate()
        proc.wait(15)
        shutil.rmtree(state)


@ROOT_ONLY
def test_a_member_of_the_group_by_a_supplementary_group_only_is_served(
    ltd_factory: Callable[..., Ltd], reachable: None
) -> None:
    ltd = ltd_factory("")
    run = ltd.root / "run"
    run.mkdir()
    os.chown(run, 0, GROUP)
    run.chmod(0o2750)  # the group may enter; the socket file gets the folder's group
    ltd.start()
    ok = as_user(VICTIM_UID, LTCTL, "--socket", ltd.socket, "--timeout", "5", "ping", groups=str(GROUP))
    assert ok.returncode == 0 and "pong" in ok.stdout.lower(), ok
    start = time.monotonic()
    denied = as_user(ATTACKER_UID, LTCTL, "--socket", ltd.socket, "--timeout", "10", "ping")
    assert denied.returncode == 69 and time.monotonic() - start < 5, denied
    [line] = denied.stderr.strip().splitlines()
    assert "permission denied" in line and f"'{GROUP}'" in line, line


def test_two_daemons_started_at_once_on_one_socket_leave_one_running(ltd_factory: Callable[..., Ltd]) -> None:
    ltd = ltd_factory()
    ltd.root.joinpath("run").mkdir(mode=0o700)
    for round_ in range(10):
        procs = []
        for n in range(2):
            args = [LTD, "--config", str(ltd.config), "--state-dir", str(ltd.root / f"state{round_}-{n}"),
                    "--socket", ltd.socket]  # fmt: skip
            procs.append(subprocess.Popen(args, stderr=subprocess.PIPE, text=True, env=ltd.env, start_new_session=True))
        try:
            wait_until(
                lambda procs=procs: any(p.poll() is not None for p in procs), 20, "one of the two daemons to give up"
            )
            time.sleep(0.5)
            alive = [p for p in procs if p.poll() is None]
            assert len(alive) == 1, f"round {round_}: {[p.poll() for p in procs]}"
            loser = next(p for p in procs if p.poll() is not None)
            assert loser.returncode == 1 and "is in use" in loser.stderr.read(), round_
            assert ping_seconds(ltd) < 2
        finally:
            for p in procs:
                if p.poll() is None:
                    p.terminate()
                    p.wait(15)


# --- bounded work ----------------------------------------------------------------------------------------


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmRSS")


def test_a_flood_of_clients_that_never_read(ltd_factory: Callable[..., Ltd]) -> None:
    """50,000 requests from 20 clients that never read their replies, to this ltd's own ipc socket
    only: RSS stays under 150 MB and another client's ping answers within 2 s, during and after."""
    ltd = ltd_factory().start()
    assert ltd.proc is not None
    clients, per_client, deadline = 20, 2500, time.monotonic() + 90
    ctx = zmq.Context()
    socks = []
    for _ in range(clients):
        sock = ctx.socket(zmq.DEALER)
        sock.setsockopt(zmq.LINGER, 0)
        sock.setsockopt(zmq.SNDTIMEO, 100)
        sock.connect(ltd.socket)
        socks.append(sock)
    payload = [protocol.build_request(n, "list") for n in range(per_client)]
    sent = [0] * clients
    stop = threading.Event()

    def flood() -> None:
        while not stop.is_set() and time.monotonic() < deadline and min(sent) < per_client:
            for i, sock in enumerate(socks):
                if sent[i] < per_client:
                    try:
                        sock.send(payload[sent[i]])
                        sent[i] += 1
                    except zmq.Again:
                        pass

    pings: list[float] = []
    rss: list[float] = [rss_mb(ltd.proc.pid)]
    flooder = threading.Thread(target=flood)
    flooder.start()
    try:
        while flooder.is_alive():
            pings.append(ping_seconds(ltd))
            rss.append(rss_mb(ltd.proc.pid))
            time.sleep(0.2)
        during = list(pings)
        after = [ping_seconds(ltd) for _ in range(5)]
        rss.append(rss_mb(ltd.proc.pid))
    finally:
        stop.set()
        flooder.join(10)
        for sock in socks:
            sock.close(linger=0)
        ctx.term()
    print(f"\nflood: {sum(sent)} requests; RSS max {max(rss):.1f} MB (start {rss[0]:.1f});"
          f" ping during max {max(during):.3f} s ({len(during)} pings), after max {max(after):.3f} s")  # fmt: skip
    assert sum(sent) == clients * per_client, sent
    assert during, "no ping during the flood"
    assert max(rss) < 150, rss
    assert max(during) < 2 and max(after) < 2, (during, after)


def raw_request(ltd: Ltd, message: dict[str, Any]) -> dict[str, Any]:
    ctx = zmq.Context.instance()
    sock = ctx.socket(zmq.DEALER)
    sock.setsockopt(zmq.LINGER, 0)
    try:
        sock.connect(ltd.socket)
        sock.send(msgpack.packb(message, use_bin_type=True))
        assert sock.poll(5000), "no answer"
        return msgpack.unpackb(sock.recv(), raw=False)
    finally:
        sock.close()


def test_numbers_out_of_range_are_bad_arguments(ltd_factory: Callable[..., Ltd]) -> None:
    ltd = ltd_factory().start()
    cases = [
        ({"v": 1, "id": 2**63, "cmd": "status", "args": {"id": 2**63}}, protocol.BAD_ARGS),
        ({"v": 1, "id": 2**64 - 1, "cmd": "status", "args": {"id": -(2**63)}}, protocol.BAD_ARGS),
        ({"v": 1, "id": 1, "cmd": "pause", "args": {"ids": [2**64 - 1]}}, protocol.BAD_ARGS),
        ({"v": 1, "id": 1, "cmd": "cancel", "args": {"ids": [0]}}, protocol.BAD_ARGS),
        ({"v": 1, "id": 1, "cmd": "add", "args": {"paths": ["/x.mkv"], "priority": 2**63}}, protocol.BAD_ARGS),
        ({"v": 1, "id": 2**64 - 1, "cmd": "list", "args": {"states": [2**63]}}, protocol.BAD_ARGS),
        ({"v": 1, "id": 1.5, "cmd": "ping"}, protocol.BAD_REQUEST),
        ({"v": 1, "id": "x" * 200, "cmd": "ping"}, protocol.BAD_REQUEST),
    ]
    for message, code in cases:
        reply = raw_request(ltd, message)
        assert reply["ok"] is False and reply["error"]["code"] == code, (message, reply)
        assert "\n" not in reply["error"]["message"]
    assert ping_seconds(ltd) < 2
    assert "Traceback" not in ltd.log.read_text() and "internal" not in ltd.log.read_text()
