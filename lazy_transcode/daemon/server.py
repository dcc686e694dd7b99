"""The ROUTER loop: receive a request, answer it from its handler, survive anything a peer sends.

Each request runs as its own task, so a slow command (a cancel waiting for ffmpeg to stop) never holds
up other clients. A frame libzmq refuses (over ZMQ_MAXMSGSIZE) disconnects only its sender; a frame
that is not a valid request gets an error reply; a frame that cannot be answered is dropped.

Work per client is bounded: libzmq queues at most RCVHWM requests and SNDHWM replies per connection
(replies to a client that does not read are dropped past that), at most MAX_IN_FLIGHT requests are
answered at once and at most MAX_PER_PEER from one connection (more get a `busy` error at once). A
peer that is not the daemon's user, root or a member of the socket's group gets `permission_denied`.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import logging
import os
import socket
import stat
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import zmq
import zmq.asyncio

from lazy_transcode import protocol
from lazy_transcode.daemon.context import Context
from lazy_transcode.daemon.handlers import HANDLERS
from lazy_transcode.endpoints import folder_problem, ipc_path

log = logging.getLogger(__name__)

MAX_FRAMES = 4  # identity, optional empty delimiter (REQ peers), payload; anything longer is dropped


class StartupError(Exception):
    """ltd cannot start (socket folder, address in use, queue database); one line for the user."""


# Bounds per client: a client that sends without reading costs at most this much.
RCVHWM = 64  # requests queued in libzmq per connection before its sender blocks
SNDHWM = 64  # replies queued per connection; past that, replies to a client that does not read are dropped
MAX_IN_FLIGHT = 64  # requests being answered at once, all clients together
MAX_PER_PEER = 8  # ... and from one connection; more get a `busy` error at once
SO_PEERGROUPS = getattr(socket, "SO_PEERGROUPS", 59)  # Linux >= 4.13


def prepare_socket_dir(endpoint: str) -> IO[bytes]:
    """Create the socket folder 0700 (or keep the mode/group systemd gave it, RuntimeDirectory=), refuse
    one that is a link, not ours (or root's) or writable by others, and take the socket's lock.

    The lock (`<socket>.lock`, flock held for the process's life) is taken before binding: of two
    daemons started at the same instant on one socket, the second stops here, with one line, and
    never replaces the first one's socket.
    """
    path = ipc_path(endpoint)
    if path is None:
        raise StartupError(f"{endpoint}: only ipc:// endpoints with a path are supported")
    folder = path.parent
    try:
        folder.parent.mkdir(parents=True, exist_ok=True)
        folder.mkdir(mode=0o700)
    except FileExistsError:
        pass
    except OSError as exc:
        raise StartupError(f"cannot create the socket folder {folder}: {exc.strerror}") from None
    problem = folder_problem(folder, {os.geteuid(), 0})
    if problem:
        raise StartupError(problem)
    st = folder.lstat()
    if st.st_uid == os.geteuid() and stat.S_IMODE(st.st_mode) & 0o007:
        os.chmod(folder, stat.S_IMODE(st.st_mode) & 0o750)
        log.warning("socket folder %s was open to others; tightened it to %o", folder, folder.stat().st_mode & 0o777)
    lock = _lock(path, endpoint)
    if path.exists() and _listening(path):
        lock.close()
        raise StartupError(f"{endpoint} is in use: another ltd is running there")
    return lock


def _lock(path: Path, endpoint: str) -> IO[bytes]:
    lock_path = path.with_name(path.name + ".lock")
    try:
        fd = os.open(lock_path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
    except OSError as exc:
        raise StartupError(f"cannot open the lock {lock_path}: {exc.strerror}") from None
    handle = os.fdopen(fd, "r+b")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        pid = handle.read(32).decode(errors="replace").strip() or "?"
        handle.close()
        raise StartupError(f"{endpoint} is in use: another ltd (pid {pid}) holds {lock_path}") from None
    handle.truncate(0)
    handle.write(f"{os.getpid()}\n".encode())
    handle.flush()
    return handle


def _listening(path: Path) -> bool:
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
    """Limits of a socket: frame size, queues per connection, no linger.

    Who may connect is decided by the socket file's permissions (0600, or 0660 with the folder's group
    when the folder grants the group entry, see `bind`), inside a folder only we can write; the request
    socket checks each peer's credentials on top (`Access`) and answers a refused one explicitly.
    """
    sock.setsockopt(zmq.LINGER, 0)
    sock.setsockopt(zmq.MAXMSGSIZE, protocol.MAX_REQUEST_BYTES)
    sock.setsockopt(zmq.RCVHWM, RCVHWM)
    sock.setsockopt(zmq.SNDHWM, SNDHWM)


def bind(sock: zmq.Socket[Any], endpoint: str) -> None:
    try:
        sock.bind(endpoint)
    except zmq.ZMQError as exc:
        raise StartupError(f"cannot bind {endpoint}: {exc}") from None
    path = ipc_path(endpoint)
    if path is not None:
        group_may_enter = path.parent.stat().st_mode & 0o050 == 0o050
        os.chmod(path, 0o660 if group_may_enter else 0o600)


@dataclass(frozen=True)
class Access:
    """Who may send requests: our uid, root, and members of `group` (primary or supplementary, as the
    kernel reports the peer's groups: the same as the socket file's permissions allow)."""

    uids: frozenset[int]
    group: int | None

    @classmethod
    def for_endpoint(cls, endpoint: str) -> Access:
        path = ipc_path(endpoint)
        group = None
        if path is not None:
            st = path.parent.stat()
            if st.st_mode & 0o050 == 0o050:
                group = st.st_gid
        return cls(frozenset({os.geteuid(), 0}), group)

    def refusal(self, fd: int) -> str | None:
        """None when the peer on connection `fd` may send requests, else why not (one line)."""
        try:
            peer = socket.socket(fileno=os.dup(fd))
        except OSError:
            return "permission denied: the peer's credentials cannot be read"
        try:
            _pid, uid, gid = struct.unpack("3i", peer.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, 12))
            if uid in self.uids:
                return None
            groups = {gid}
            with contextlib.suppress(OSError):
                raw = peer.getsockopt(socket.SOL_SOCKET, SO_PEERGROUPS, 1024)  # 256 groups, Python's limit
                groups.update(struct.unpack(f"{len(raw) // 4}I", raw))
        except OSError:
            return "permission denied: the peer's credentials cannot be read"
        finally:
            peer.close()
        if self.group is not None and self.group in groups:
            return None
        who = f"members of group {_group_name(self.group)}" if self.group is not None else "nobody else"
        return f"permission denied: uid {uid} may not use this daemon (only its user, root and {who})"


def _group_name(gid: int | None) -> str:
    import grp

    try:
        return repr(grp.getgrgid(gid).gr_name) if gid is not None else "?"
    except KeyError:
        return str(gid)


class Server:
    """Serves requests with bounded work per client (see the limits above)."""

    def __init__(self, ctx: Context, sock: zmq.asyncio.Socket, access: Access | None = None) -> None:
        self.ctx = ctx
        self.sock = sock
        self.access = access
        self._tasks: set[asyncio.Task[None]] = set()
        self._slots = asyncio.Semaphore(MAX_IN_FLIGHT)
        self._per_peer: dict[bytes, int] = {}
        self.served = 0
        self.refused = 0
        self.busy = 0

    async def run(self) -> None:
        while True:
            try:
                frames = await self.sock.recv_multipart(copy=False)
            except zmq.ZMQError as exc:
                if exc.errno in (zmq.ETERM, zmq.ENOTSOCK):
                    return
                log.warning("receive failed: %s", exc)
                continue
            if len(frames) < 2 or len(frames) > MAX_FRAMES:
                log.debug("dropped a message of %d frames", len(frames))
                continue
            envelope = [f.bytes for f in frames[:-1]]
            payload = frames[-1].bytes
            if self.access is not None:
                refusal = self.access.refusal(frames[-1].get(zmq.SRCFD))
                if refusal is not None:
                    self.refused += 1
                    denied = protocol.build_error(protocol.request_id_of(payload), protocol.DENIED, refusal)
                    self._reply(envelope, denied)
                    continue
            peer = envelope[0]
            if self._per_peer.get(peer, 0) >= MAX_PER_PEER:
                self.busy += 1
                message = f"busy: more than {MAX_PER_PEER} requests of this client in flight"
                self._reply(envelope, protocol.build_error(protocol.request_id_of(payload), protocol.BUSY, message))
                continue
            await self._slots.acquire()
            self._per_peer[peer] = self._per_peer.get(peer, 0) + 1
            task = asyncio.create_task(self._serve(envelope, payload))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _serve(self, envelope: list[bytes], payload: bytes) -> None:
        try:
            reply = await answer(self.ctx, payload)
            self.served += 1
            self._reply(envelope, reply)
        finally:
            self._slots.release()
            peer = envelope[0]
            left = self._per_peer.get(peer, 1) - 1
            if left > 0:
                self._per_peer[peer] = left
            else:
                self._per_peer.pop(peer, None)

    def _reply(self, envelope: list[bytes], reply: bytes) -> None:
        try:
            self.sock.send_multipart([*envelope, reply], flags=zmq.NOBLOCK)
        except zmq.ZMQError as exc:  # the peer went away or is not reading (queue full): its loss only
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
