"""Where ltd listens and where ltctl looks for it (the contract's defaults), shared by both sides.

Stdlib only: ltctl imports this at start. The fallback locations (`/tmp`, the system socket) are
parameters with today's values as defaults, so a test can point them at a folder of its own.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

SOCKET_NAME = "ltd.sock"
EVENTS_NAME = "ltd-events.sock"
SYSTEM_SOCKET = "ipc:///run/lazy-transcode/ltd.sock"
TMP_DIR = "/tmp"


def default_socket_dir(env: Mapping[str, str] | None = None, uid: int | None = None, tmp_dir: str = TMP_DIR) -> Path:
    """`$RUNTIME_DIRECTORY` (systemd), else `$XDG_RUNTIME_DIR/lazy-transcode`, else `/tmp/lazy-transcode-$UID`."""
    env = os.environ if env is None else env
    uid = os.getuid() if uid is None else uid
    runtime = env.get("RUNTIME_DIRECTORY", "").split(":")[0]
    if runtime:
        return Path(runtime)
    xdg = env.get("XDG_RUNTIME_DIR", "")
    if xdg:
        return Path(xdg) / "lazy-transcode"
    return Path(tmp_dir) / f"lazy-transcode-{uid}"


def default_socket(env: Mapping[str, str] | None = None, uid: int | None = None, tmp_dir: str = TMP_DIR) -> str:
    return "ipc://" + str(default_socket_dir(env, uid, tmp_dir) / SOCKET_NAME)


def events_beside(socket: str) -> str:
    """The events endpoint in the same folder as a request endpoint."""
    path = ipc_path(socket)
    if path is None:
        raise ValueError(f"cannot derive an events socket from {socket!r}: set events_socket")
    return "ipc://" + str(path.parent / EVENTS_NAME)


def ipc_path(endpoint: str) -> Path | None:
    """The filesystem path of an `ipc://` endpoint (None for abstract or other transports)."""
    if not endpoint.startswith("ipc://"):
        return None
    rest = endpoint[len("ipc://") :]
    if not rest or rest.startswith("@"):
        return None
    return Path(rest)


def client_endpoint(
    cli: str | None,
    env: Mapping[str, str] | None = None,
    *,
    uid: int | None = None,
    tmp_dir: str = TMP_DIR,
    system_socket: str = SYSTEM_SOCKET,
) -> str:
    """Where ltctl looks for the daemon: `--socket`, `$LAZY_TRANSCODE_SOCKET`, the defaults, the system socket.

    Of the defaults (this environment's, then `/tmp/lazy-transcode-$UID`, then the system socket) the
    first one present wins; when none is, the first, so the error names where a daemon would be.
    """
    env = os.environ if env is None else env
    if cli:
        return cli
    if env.get("LAZY_TRANSCODE_SOCKET"):
        return env["LAZY_TRANSCODE_SOCKET"]
    candidates = [default_socket(env, uid, tmp_dir), default_socket({}, uid, tmp_dir), system_socket]
    candidates = list(dict.fromkeys(candidates))
    for endpoint in candidates:
        path = ipc_path(endpoint)
        if path is not None and _present(path):
            return endpoint
    return candidates[0]


def _present(path: Path) -> bool:
    """The socket exists, or a folder we may not enter hides it (ltctl then names the group to join)."""
    try:
        path.stat()
    except PermissionError:
        return True
    except OSError:
        return False
    return True
