"""The ROUTER loop: receive a request, answer it from its handler, survive anything a peer sends.

Each request runs as its own task, so a slow command (a cancel waiting for ffmpeg to stop) never holds
up other clients. A frame libzmq refuses (over ZMQ_MAXMSGSIZE) disconnects only its sender; a frame
that is not a valid request gets an error reply; a frame that cannot be answered is dropped.
"""

from __future__ import annotations

import asyncio
import logging
import os
import stat
from pathlib import Path
from typing import Any

import zmq
import zmq.asyncio

from lazy_transcode import protocol
from lazy_transcode.daemon.context import Context
from lazy_transcode.daemon.handlers import HANDLERS
from lazy_transcode.endpoints import ipc_path

log = logging.getLogger(__name__)

MAX_FRAMES = 4  # identity, optional empty delimiter (REQ peers), payload; anything longer is dropped


class StartupError(Exception):
    """ltd cannot start (socket folder, address in use, queue database); one line for the user."""


def prepare_socket_dir(endpoint: str) -> None:
    """Create the socket folder 0700, or keep the mode/group systemd gave it (RuntimeDirectory=)."""
    path = ipc_path(endpoint)
    if path is None:
        raise StartupError(f"{endpoint}: only ipc:// endpoints with a path are supported")
    folder = path.parent
    try:
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        st = folder.stat()
    except OSError as exc:
        raise StartupError(f"cannot create the socket folder {folder}: {exc.strerror}") from None
    if st.st_uid != os.getuid():
        raise StartupError(f"socket folder {folder} belongs to uid {st.st_uid}, not to us ({os.getuid()})")
    if stat.S_IMODE(st.st_mode) & 0o022 or stat.S_IMODE(st.st_mode) & 0o007:
        os.chmod(folder, stat.S_IMODE(st.st_mode) & 0o750)
        log.warning("socket folder %s was open to others; tightened it to %o", folder, folder.stat().st_mode & 0o777)
    if path.exists() and _listening(path):
        raise StartupError(f"{endpoint} is in use: another ltd is running there")


def _listening(path: Path) -> bool:
    import socket

    probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    probe.settimeout(1.0)
    try:
        probe.connect(str(path))
    except OSError:
        return False
    finally:
        probe.close()
    return True


def secure(sock: zmq.Socket[Any], endpoint: str) -> None:
    """Only our uid (and root, and the folder's group when the folder grants it) may connect."""
    sock.setsockopt(zmq.LINGER, 0)
    sock.setsockopt(zmq.MAXMSGSIZE, protocol.MAX_REQUEST_BYTES)
    path = ipc_path(endpoint)
    try:
        sock.setsockopt(zmq.IPC_FILTER_UID, os.getuid())
        if os.getuid() != 0:
            sock.setsockopt(zmq.IPC_FILTER_UID, 0)
        if path is not None:
            st = path.parent.stat()
            if st.st_mode & 0o050 == 0o050:
                sock.setsockopt(zmq.IPC_FILTER_GID, st.st_gid)
    except (zmq.ZMQError, AttributeError) as exc:  # a libzmq without ipc filters: the 0700 folder still guards
        log.info("ZMQ_IPC_FILTER_UID not supported (%s); relying on the socket folder's permissions", exc)


def bind(sock: zmq.Socket[Any], endpoint: str) -> None:
    try:
        sock.bind(endpoint)
    except zmq.ZMQError as exc:
        raise StartupError(f"cannot bind {endpoint}: {exc}") from None
    path = ipc_path(endpoint)
    if path is not None:
        group_may_enter = path.parent.stat().st_mode & 0o050 == 0o050
        os.chmod(path, 0o660 if group_may_enter else 0o600)


class Server:
    def __init__(self, ctx: Context, sock: zmq.asyncio.Socket) -> None:
        self.ctx = ctx
        self.sock = sock
        self._tasks: set[asyncio.Task[None]] = set()
        self.served = 0

    async def run(self) -> None:
        while True:
            try:
                frames = await self.sock.recv_multipart(copy=True)
            except zmq.ZMQError as exc:
                if exc.errno in (zmq.ETERM, zmq.ENOTSOCK):
                    return
                log.warning("receive failed: %s", exc)
                continue
            if len(frames) < 2 or len(frames) > MAX_FRAMES:
                log.debug("dropped a message of %d frames", len(frames))
                continue
            task = asyncio.create_task(self._serve(frames[:-1], frames[-1]))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _serve(self, envelope: list[bytes], payload: bytes) -> None:
        reply = await answer(self.ctx, payload)
        self.served += 1
        try:
            await self.sock.send_multipart([*envelope, reply], flags=zmq.NOBLOCK)
        except zmq.ZMQError as exc:  # the peer went away or is not reading: its loss only
            log.debug("reply dropped: %s", exc)


async def answer(ctx: Context, payload: bytes) -> bytes:
    """The reply bytes for one request payload; never raises."""
    try:
        request = protocol.parse_request(payload)
    except protocol.ProtocolError as exc:
        return protocol.build_error(exc.request_id, exc.code, exc.message)
    try:
        result = await HANDLERS[request.cmd](ctx, request.args)
    except protocol.ProtocolError as exc:
        return protocol.build_error(request.id, exc.code, exc.message)
    except Exception as exc:
        log.exception("command %s failed", request.cmd)
        return protocol.build_error(request.id, protocol.INTERNAL, f"{type(exc).__name__}: {exc}"[:500])
    try:
        return protocol.build_ok(request.id, result)
    except Exception as exc:  # pragma: no cover - a handler returned something msgpack cannot pack
        log.exception("reply to %s cannot be packed", request.cmd)
        return protocol.build_error(request.id, protocol.INTERNAL, f"reply cannot be encoded: {exc}"[:500])
