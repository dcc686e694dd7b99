"""The ltd <-> ltctl wire protocol: one msgpack map per request and per reply, shared by both sides.

Request: `{"v": 1, "id": ..., "cmd": ..., "args": {...}}`.
Reply: `{"v": 1, "id": ..., "ok": true, "result": ...}` or `{"v": 1, "id": ..., "ok": false,
"error": {"code": ..., "message": ...}}`. Events on the PUB socket are two frames: a topic
(`job` or `daemon`) and a msgpack map.

Anything a peer sends is untrusted: unpacking uses tight limits and `strict_map_key`, and every check
raises `ProtocolError` with a code and a one-line message, never another exception.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import msgpack

VERSION = 1
MAX_REQUEST_BYTES = 1024 * 1024  # also the daemon's ZMQ_MAXMSGSIZE
MAX_REPLY_BYTES = 256 * 1024 * 1024  # `list` of a huge queue is big; the client trusts its daemon more
MAX_ID_LEN = 128

COMMANDS = ("add", "list", "status", "pause", "resume", "cancel", "ping")

# Error codes of an error reply.
BAD_REQUEST = "bad_request"  # not msgpack, not a map, missing/ill-typed envelope fields
BAD_VERSION = "bad_version"
UNKNOWN_COMMAND = "unknown_command"
BAD_ARGS = "bad_args"
NOT_FOUND = "not_found"
REFUSED = "refused"  # e.g. a path outside library_roots
BAD_STATE = "bad_state"  # e.g. cancelling a finished job
INTERNAL = "internal"


class ProtocolError(Exception):
    """A request or reply that breaks the protocol; `code` is one of the error codes above."""

    def __init__(self, code: str, message: str, request_id: Any = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.request_id = request_id


@dataclass(frozen=True)
class Request:
    id: str | int
    cmd: str
    args: dict[str, Any]


def pack(obj: Any) -> bytes:
    return msgpack.packb(obj, use_bin_type=True)


def unpack(data: bytes, *, limit: int = MAX_REQUEST_BYTES) -> Any:
    """Decode untrusted bytes with limits on every container and string; ProtocolError on any failure."""
    if len(data) > limit:
        raise ProtocolError(BAD_REQUEST, f"message of {len(data)} bytes exceeds the limit of {limit}")
    try:
        return msgpack.unpackb(
            data,
            raw=False,
            strict_map_key=True,
            use_list=True,
            max_str_len=limit,
            max_bin_len=limit,
            max_array_len=limit // 4,
            max_map_len=limit // 16,
            max_ext_len=0,
        )
    except Exception as exc:  # msgpack raises ValueError, TypeError, StackError, ExtraData, UnicodeDecodeError...
        raise ProtocolError(BAD_REQUEST, f"not a msgpack message ({type(exc).__name__})") from None


def _valid_id(value: Any) -> bool:
    if isinstance(value, bool):
        return False
    if isinstance(value, int):
        return -(2**63) <= value < 2**64
    return isinstance(value, str) and 0 < len(value) <= MAX_ID_LEN


def build_request(request_id: str | int, cmd: str, args: dict[str, Any] | None = None) -> bytes:
    return pack({"v": VERSION, "id": request_id, "cmd": cmd, "args": args or {}})


def parse_request(data: bytes) -> Request:
    """Validate a request envelope (the command's own arguments are checked by its handler)."""
    msg = unpack(data)
    if not isinstance(msg, dict):
        raise ProtocolError(BAD_REQUEST, f"a request must be a map, not {type(msg).__name__}")
    request_id = msg.get("id")
    rid = request_id if _valid_id(request_id) else None
    if msg.get("v") != VERSION or isinstance(msg.get("v"), bool):
        raise ProtocolError(BAD_VERSION, f"unsupported protocol version {msg.get('v')!r} (this is {VERSION})", rid)
    if rid is None:
        raise ProtocolError(BAD_REQUEST, "the request id must be a short string or an integer")
    extra = set(msg) - {"v", "id", "cmd", "args"}
    if extra:
        raise ProtocolError(BAD_REQUEST, f"unknown request field {sorted(map(str, extra))[0]!r}", rid)
    cmd = msg.get("cmd")
    if not isinstance(cmd, str):
        raise ProtocolError(BAD_REQUEST, "cmd must be a string", rid)
    if cmd not in COMMANDS:
        raise ProtocolError(UNKNOWN_COMMAND, f"unknown command {cmd[:64]!r}", rid)
    args = msg.get("args", {})
    if not isinstance(args, dict):
        raise ProtocolError(BAD_ARGS, "args must be a map", rid)
    return Request(id=rid, cmd=cmd, args=args)


def build_ok(request_id: Any, result: Any) -> bytes:
    return pack({"v": VERSION, "id": request_id, "ok": True, "result": result})


def build_error(request_id: Any, code: str, message: str) -> bytes:
    return pack({"v": VERSION, "id": request_id, "ok": False, "error": {"code": code, "message": message}})


@dataclass(frozen=True)
class Reply:
    id: Any
    ok: bool
    result: Any = None
    code: str | None = None
    message: str | None = None


def parse_reply(data: bytes) -> Reply:
    msg = unpack(data, limit=MAX_REPLY_BYTES)
    if not isinstance(msg, dict) or msg.get("v") != VERSION or not isinstance(msg.get("ok"), bool):
        raise ProtocolError(BAD_REQUEST, "the daemon sent a malformed reply")
    if msg["ok"]:
        return Reply(id=msg.get("id"), ok=True, result=msg.get("result"))
    error = msg.get("error")
    if not isinstance(error, dict):
        raise ProtocolError(BAD_REQUEST, "the daemon sent a malformed error reply")
    return Reply(
        id=msg.get("id"), ok=False, code=str(error.get("code", INTERNAL)), message=str(error.get("message", ""))
    )


# --- argument checks shared by the handlers ---------------------------------------------------------

_MISSING = object()


def take(
    args: dict[str, Any], name: str, types: type | tuple[type, ...], default: Any = _MISSING, *, max_len: int = 4096
) -> Any:
    """One argument of a command, type-checked (bool is never an int); BAD_ARGS when wrong."""
    value = args.get(name, _MISSING)
    if value is _MISSING or (value is None and default is not _MISSING):
        if default is _MISSING:
            raise ProtocolError(BAD_ARGS, f"missing argument {name!r}")
        return default
    wanted = types if isinstance(types, tuple) else (types,)
    if isinstance(value, bool) and bool not in wanted:
        raise ProtocolError(BAD_ARGS, f"argument {name!r} has the wrong type (bool)")
    if not isinstance(value, wanted):
        raise ProtocolError(BAD_ARGS, f"argument {name!r} has the wrong type ({type(value).__name__})")
    if isinstance(value, str | list | dict) and len(value) > max_len:
        raise ProtocolError(BAD_ARGS, f"argument {name!r} is too long")
    return value


def take_ids(args: dict[str, Any], name: str = "ids") -> list[int]:
    """A list of job ids (positive integers)."""
    ids = take(args, name, list, [], max_len=100_000)
    for job_id in ids:
        if isinstance(job_id, bool) or not isinstance(job_id, int) or job_id <= 0:
            raise ProtocolError(BAD_ARGS, f"job ids must be positive integers, not {job_id!r}"[:200])
    return ids


def take_selection(args: dict[str, Any]) -> tuple[list[int], bool]:
    """`ids` and/or `all` of a command acting on jobs (pause, resume); at least one is required."""
    reject_unknown(args, ("ids", "all"))
    ids = take_ids(args)
    all_jobs = take(args, "all", bool, False)
    if not ids and not all_jobs:
        raise ProtocolError(BAD_ARGS, "give job ids or all")
    return ids, all_jobs


def reject_unknown(args: dict[str, Any], known: tuple[str, ...]) -> None:
    for key in args:
        if key not in known:
            raise ProtocolError(BAD_ARGS, f"unknown argument {str(key)[:64]!r}")


# --- job states -------------------------------------------------------------------------------------
# Replies and events carry a job's state and ltctl shows it, so the states belong to the protocol. This
# section is self-contained (its import included) so that it can change without touching the rest.

from enum import StrEnum  # noqa: E402


class JobState(StrEnum):
    """A job's state; `lazy_transcode.daemon.states` says which state may follow which."""

    QUEUED = "queued"
    RUNNING = "running"
    PAUSED = "paused"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"
    SKIPPED = "skipped"


# Pending jobs: they still hold their file (no second job may be queued for it).
ACTIVE_STATES = frozenset({JobState.QUEUED, JobState.RUNNING, JobState.PAUSED})
# Ended jobs: their state never changes again.
FINAL_STATES = frozenset({JobState.COMPLETED, JobState.FAILED, JobState.CANCELLED, JobState.SKIPPED})
