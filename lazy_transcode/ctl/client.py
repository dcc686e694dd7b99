"""ltctl's side of the wire: one DEALER request with an id and a timeout, and fast, clear failures.

Before connecting, the ipc path is checked: a missing socket, a stale one (nothing listening) or one the
user may not open (the socket folder is 0750 root:lazy-transcode) fails at once with one line naming
the socket, instead of waiting out the timeout (ZeroMQ would silently retry forever).
"""

from __future__ import annotations

import errno
import itertools
import os
import socket
import time
from pathlib import Path
from typing import Any

from lazy_transcode.endpoints import expected_owners, folder_problem, ipc_path

_counter = itertools.count(1)


class Unreachable(Exception):
    """The daemon cannot be reached (exit 69); the message is one line naming the socket."""


class BadArguments(Exception):
    """The request breaks its command's declaration in `protocol` (exit 2): caught before it is sent."""


class DaemonError(Exception):
    """The daemon answered with an error reply (exit 1)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def _group_of(path: Path) -> str:
    import grp

    try:
        gid = path.stat().st_gid
    except OSError:
        return "?"
    try:
        return grp.getgrgid(gid).gr_name
    except KeyError:
        return str(gid)


def _denied(endpoint: str, where: Path) -> Unreachable:
    return Unreachable(
        f"permission denied on {endpoint}: only the daemon's user and members of group '{_group_of(where)}' may use it"
    )


def check_endpoint(endpoint: str) -> None:
    """Fail fast (Unreachable) unless something we may talk to listens on this ipc endpoint.

    The socket folder must not be writable by others (whoever may write it can put a socket of
    their own there and read our requests), and the folder of a per-user default socket must be ours
    or root's; otherwise ltctl refuses it with one line naming its owner and mode. Access is checked
    like the daemon checks it: by our uid and all our groups (`os.access`), primary and supplementary.
    """
    path = ipc_path(endpoint)
    if path is None:
        if not endpoint.startswith(("ipc://", "tcp://")):
            raise Unreachable(f"cannot reach ltd at {endpoint}: not a ZeroMQ endpoint (use ipc://PATH)")
        return
    folder = path.parent
    if os.path.lexists(folder):
        problem = folder_problem(folder, expected_owners(endpoint))
        if problem:
            raise Unreachable(f"not using {endpoint}: {problem}")
    if folder.is_dir() and not os.access(folder, os.X_OK):
        raise _denied(endpoint, folder)
    if not path.exists():
        raise Unreachable(f"cannot reach ltd at {endpoint}: no such socket (is ltd running?)")
    if not os.access(path, os.R_OK | os.W_OK):
        raise _denied(endpoint, folder)
    probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    probe.settimeout(2.0)
    try:
        probe.connect(str(path))
    except PermissionError:
        raise _denied(endpoint, folder) from None
    except OSError as exc:
        if exc.errno in (errno.ECONNREFUSED, errno.ENOENT):
            raise Unreachable(f"cannot reach ltd at {endpoint}: nothing is listening (is ltd running?)") from None
        raise Unreachable(f"cannot reach ltd at {endpoint}: {exc.strerror or exc}") from None
    finally:
        probe.close()


def request(endpoint: str, cmd: str, args: dict[str, Any] | None = None, timeout: float = 5.0) -> Any:
    """Send one request and return the reply's result; BadArguments, DaemonError or Unreachable otherwise."""
    import zmq

    from lazy_transcode import protocol

    request_id = f"{os.getpid()}-{next(_counter)}"
    try:
        payload = protocol.build_command(request_id, cmd, args or {})
    except protocol.ProtocolError as exc:
        raise BadArguments(exc.message) from None
    check_endpoint(endpoint)
    ctx = zmq.Context.instance()
    sock = ctx.socket(zmq.DEALER)
    sock.setsockopt(zmq.LINGER, 0)
    try:
        sock.connect(endpoint)
        sock.send(payload)
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0 or not sock.poll(int(left * 1000)):
                raise Unreachable(f"no answer from ltd at {endpoint} within {timeout:g} s")
            try:
                reply = protocol.parse_reply(sock.recv())
            except protocol.ProtocolError as exc:
                raise Unreachable(f"ltd at {endpoint} sent a malformed reply: {exc.message}") from None
            if reply.id != request_id:
                continue  # a late answer to someone else's request on a reused socket: not ours
            if not reply.ok:
                if reply.code == protocol.DENIED:
                    raise Unreachable(f"{reply.message or 'permission denied'} (ltd at {endpoint})")
                raise DaemonError(reply.code or protocol.INTERNAL, reply.message or "error")
            return reply.result
    finally:
        sock.close(linger=0)
