"""ltctl's transport: fast one-line failures for missing, stale and silent sockets; id matching."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest
import zmq

from lazy_transcode import protocol
from lazy_transcode.ctl.client import DaemonError, Unreachable, check_endpoint, request
from lazy_transcode.endpoints import client_endpoint


def test_missing_socket_fails_at_once(tmp_path: Path) -> None:
    endpoint = f"ipc://{tmp_path}/nope/ltd.sock"
    start = time.monotonic()
    with pytest.raises(Unreachable, match="no such socket") as info:
        request(endpoint, "ping", timeout=5)
    assert time.monotonic() - start < 1 and endpoint in str(info.value)


def test_stale_socket_fails_at_once(tmp_path: Path) -> None:
    path = tmp_path / "ltd.sock"
    dead = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    dead.bind(str(path))
    dead.close()  # the file stays, nobody listens: what a SIGKILLed daemon leaves behind
    with pytest.raises(Unreachable, match="nothing is listening"):
        check_endpoint(f"ipc://{path}")


def test_not_an_endpoint() -> None:
    with pytest.raises(Unreachable, match="not a ZeroMQ endpoint"):
        check_endpoint("/tmp/x.sock")


Answer = Callable[[str], list[bytes]] | None


def serve_once(endpoint: str, answer: Answer, ready: threading.Event) -> None:
    """A ROUTER that answers one request with the frames `answer(request id)` gives (None: never answers)."""
    ctx = zmq.Context()
    sock = ctx.socket(zmq.ROUTER)
    sock.setsockopt(zmq.LINGER, 0)
    sock.bind(endpoint)
    ready.set()
    if sock.poll(3000):
        ident, payload = sock.recv_multipart()
        req = protocol.parse_request(payload)
        if answer is not None:
            for frame in answer(str(req.id)):
                sock.send_multipart([ident, frame])
        time.sleep(0.3)
    sock.close()
    ctx.term()


def run_server(endpoint: str, answer: Answer) -> threading.Thread:
    ready = threading.Event()
    thread = threading.Thread(target=serve_once, args=(endpoint, answer, ready), daemon=True)
    thread.start()
    ready.wait(2)
    return thread


def test_silent_daemon_times_out(tmp_path: Path) -> None:
    endpoint = f"ipc://{tmp_path}/ltd.sock"
    thread = run_server(endpoint, None)
    start = time.monotonic()
    with pytest.raises(Unreachable, match="no answer from ltd") as info:
        request(endpoint, "ping", timeout=0.5)
    assert 0.4 < time.monotonic() - start < 2 and endpoint in str(info.value)
    thread.join()


def test_reply_of_another_id_is_ignored_and_errors_raise(tmp_path: Path) -> None:
    endpoint = f"ipc://{tmp_path}/ltd.sock"

    def answer(request_id: str) -> list[bytes]:
        other = protocol.build_ok("someone-else", "wrong")
        return [other, protocol.build_error(request_id, "not_found", "no job 9")]

    thread = run_server(endpoint, answer)
    with pytest.raises(DaemonError) as info:
        request(endpoint, "status", {"id": 9}, timeout=2)
    assert (info.value.code, info.value.message) == ("not_found", "no job 9")
    thread.join()


def test_client_endpoint_order(tmp_path: Path) -> None:
    """--socket, then $LAZY_TRANSCODE_SOCKET, then the first default present: XDG, /tmp, the system socket."""
    xdg, tmp, run = tmp_path / "xdg", tmp_path / "tmp", tmp_path / "run"
    env = {"XDG_RUNTIME_DIR": str(xdg), "LAZY_TRANSCODE_SOCKET": "ipc:///e.sock"}
    where = {"uid": 42, "tmp_dir": str(tmp), "system_socket": f"ipc://{run}/ltd.sock"}
    assert client_endpoint("ipc:///cli.sock", env, **where) == "ipc:///cli.sock"
    assert client_endpoint(None, env, **where) == "ipc:///e.sock"
    env.pop("LAZY_TRANSCODE_SOCKET")
    assert client_endpoint(None, env, **where) == f"ipc://{xdg}/lazy-transcode/ltd.sock"  # nothing exists: the first
    run.mkdir()
    (run / "ltd.sock").touch()
    assert client_endpoint(None, env, **where) == f"ipc://{run}/ltd.sock"
    (tmp / "lazy-transcode-42").mkdir(parents=True)
    (tmp / "lazy-transcode-42" / "ltd.sock").touch()
    assert client_endpoint(None, env, **where) == f"ipc://{tmp}/lazy-transcode-42/ltd.sock"
    (xdg / "lazy-transcode").mkdir(parents=True)
    (xdg / "lazy-transcode" / "ltd.sock").touch()
    assert client_endpoint(None, env, **where) == f"ipc://{xdg}/lazy-transcode/ltd.sock"
