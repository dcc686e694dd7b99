"""Default endpoints and folders of ltd (the contract's defaults), shared with ltctl (stdlib only: fast)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

SOCKET_NAME = "ltd.sock"
EVENTS_NAME = "ltd-events.sock"
SYSTEM_SOCKET = "ipc:///run/lazy-transcode/ltd.sock"


def default_socket_dir(env: Mapping[str, str] | None = None, uid: int | None = None) -> Path:
    """`$RUNTIME_DIRECTORY` (systemd), else `$XDG_RUNTIME_DIR/lazy-transcode`, else `/tmp/lazy-transcode-$UID`."""
    env = os.environ if env is None else env
    uid = os.getuid() if uid is None else uid
    runtime = env.get("RUNTIME_DIRECTORY", "").split(":")[0]
    if runtime:
        return Path(runtime)
    xdg = env.get("XDG_RUNTIME_DIR", "")
    if xdg:
        return Path(xdg) / "lazy-transcode"
    return Path(f"/tmp/lazy-transcode-{uid}")


def default_socket(env: Mapping[str, str] | None = None, uid: int | None = None) -> str:
    return "ipc://" + str(default_socket_dir(env, uid) / SOCKET_NAME)


def events_beside(socket: str) -> str:
    """The events endpoint in the same folder as a request endpoint."""
    path = ipc_path(socket)
    if path is None:
        raise ValueError(f"cannot derive an events socket from {socket!r}: set events_socket")
    return "ipc://" + str(path.parent / EVENTS_NAME)


def default_state_dir(env: Mapping[str, str] | None = None) -> Path:
    """`$STATE_DIRECTORY` (systemd), else `$XDG_STATE_HOME/lazy-transcode`, else `~/.local/state/lazy-transcode`."""
    env = os.environ if env is None else env
    state = env.get("STATE_DIRECTORY", "").split(":")[0]
    if state:
        return Path(state)
    xdg = env.get("XDG_STATE_HOME", "")
    if xdg:
        return Path(xdg) / "lazy-transcode"
    home = env.get("HOME") or os.path.expanduser("~")
    return Path(home) / ".local" / "state" / "lazy-transcode"


def user_config_file(env: Mapping[str, str] | None = None) -> Path:
    env = os.environ if env is None else env
    xdg = env.get("XDG_CONFIG_HOME", "")
    base = Path(xdg) if xdg else Path(env.get("HOME") or os.path.expanduser("~")) / ".config"
    return base / "lazy-transcode" / "config.toml"


SYSTEM_CONFIG = Path("/etc/lazy-transcode/config.toml")


def ipc_path(endpoint: str) -> Path | None:
    """The filesystem path of an `ipc://` endpoint (None for abstract or other transports)."""
    if not endpoint.startswith("ipc://"):
        return None
    rest = endpoint[len("ipc://") :]
    if not rest or rest.startswith("@"):
        return None
    return Path(rest)


def client_endpoint(cli: str | None, env: Mapping[str, str] | None = None) -> str:
    """Where ltctl looks for the daemon: `--socket`, `$LAZY_TRANSCODE_SOCKET`, the defaults, the system socket."""
    env = os.environ if env is None else env
    if cli:
        return cli
    if env.get("LAZY_TRANSCODE_SOCKET"):
        return env["LAZY_TRANSCODE_SOCKET"]
    candidates = list(dict.fromkeys([default_socket(env), default_socket({}), SYSTEM_SOCKET]))
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
