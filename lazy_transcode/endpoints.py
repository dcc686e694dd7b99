"""Where ltd listens and where ltctl looks for it (the contract's defaults), shared by both sides.

Stdlib only: ltctl imports this at start. The fallback locations (`/tmp`, the system socket) are
parameters with today's values as defaults, so a test can point them at a folder of its own.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Collection, Mapping
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


def _user(uid: int) -> str:
    import pwd

    try:
        return f"{pwd.getpwuid(uid).pw_name} (uid {uid})"
    except KeyError:
        return f"uid {uid}"


def folder_problem(folder: Path, owners: Collection[int] | None) -> str | None:
    """Why a socket folder must not be used (one line naming its owner and mode), or None.

    It must be a real folder (not a link), owned by one of `owners` (None: anyone) and writable by
    nobody but its owner: whoever may write it can put a socket of their own in its place.
    """
    try:
        st = os.lstat(folder)
    except OSError as exc:
        return f"cannot use socket folder {folder}: {exc.strerror}"
    mode = stat.S_IMODE(st.st_mode)
    where = f"socket folder {folder} (owner {_user(st.st_uid)}, mode {mode:04o})"
    if stat.S_ISLNK(st.st_mode):
        return f"{where} is a symbolic link: refusing it"
    if not stat.S_ISDIR(st.st_mode):
        return f"{where} is not a folder: refusing it"
    if owners is not None and st.st_uid not in owners:
        wanted = " or ".join(_user(uid) for uid in dict.fromkeys(owners))
        return f"{where} is not owned by {wanted}: refusing it"
    if mode & 0o022:
        return f"{where} is writable by others: refusing it"
    return None


def expected_owners(endpoint: str, env: Mapping[str, str] | None = None, uid: int | None = None) -> set[int] | None:
    """Who must own the folder of a per-user default socket (this user or root); None for any other
    endpoint (the system socket's folder belongs to the daemon's user, whoever that is)."""
    env = os.environ if env is None else env
    uid = os.geteuid() if uid is None else uid
    path = ipc_path(endpoint)
    if path is None:
        return None
    per_user = {default_socket_dir(env, uid), default_socket_dir({}, uid)}
    runtime = env.get("XDG_RUNTIME_DIR", "")
    if runtime:
        per_user.add(Path(runtime) / "lazy-transcode")
    return {uid, 0} if path.parent in per_user else None
