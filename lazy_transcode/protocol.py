"""The ltd <-> ltctl wire protocol: one msgpack map per request and per reply, shared by both sides.

Request: `{"v": 1, "id": ..., "cmd": ..., "args": {...}}`.
Reply: `{"v": 1, "id": ..., "ok": true, "result": ...}` or `{"v": 1, "id": ..., "ok": false,
"error": {"code": ..., "message": ...}}`. Events on the PUB socket are two frames: a topic
(`job` or `daemon`) and a msgpack map.

Anything a peer sends is untrusted: unpacking uses tight limits and `strict_map_key`, and every check
raises `ProtocolError` with a code and a one-line message, never another exception.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import msgpack

VERSION = 1
MAX_REQUEST_BYTES = 1024 * 1024  # also the daemon's ZMQ_MAXMSGSIZE
MAX_REPLY_BYTES = 256 * 1024 * 1024  # `list` of a huge queue is big; the client trusts its daemon more
MAX_ID_LEN = 128

# Error codes of an error reply.
BAD_REQUEST = "bad_request"  # not msgpack, not a map, missing/ill-typed envelope fields
BAD_VERSION = "bad_version"
UNKNOWN_COMMAND = "unknown_command"
BAD_ARGS = "bad_args"
NOT_FOUND = "not_found"
REFUSED = "refused"  # e.g. a path outside library_roots
BAD_STATE = "bad_state"  # e.g. cancelling a finished job
QUEUE_ERROR = "queue_error"  # the daemon cannot write its queue (disk full, I/O error): nothing was changed
INTERNAL = "internal"
DENIED = "permission_denied"  # the peer is not the daemon's user, root or a member of the socket's group
BUSY = "busy"  # too many requests of this client in flight; try again when the earlier ones are answered


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


def request_id_of(data: bytes) -> str | int | None:
    """The id of a request, if it has a valid one (for an error reply to a request not otherwise parsed)."""
    try:
        msg = unpack(data)
    except ProtocolError:
        return None
    value = msg.get("id") if isinstance(msg, dict) else None
    return value if _valid_id(value) else None


def build_request(request_id: str | int, cmd: str, args: dict[str, Any] | None = None) -> bytes:
    return pack({"v": VERSION, "id": request_id, "cmd": cmd, "args": args or {}})


def parse_request(data: bytes) -> Request:
    """Validate a request envelope and its command's arguments (against the command's declaration below)."""
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
    try:
        args = check_args(cmd, msg.get("args", {}))
    except ProtocolError as exc:
        raise ProtocolError(exc.code, exc.message, rid) from None
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


# --- the commands and their arguments, declared once ------------------------------------------------
# ltctl checks each request against these before sending it (`build_command`); the daemon checks every
# request in `parse_request`, so a handler receives each declared argument, defaults filled in, and no other.

_MISSING = object()
JOB_ID_RANGE = (1, 2**63 - 1)  # the queue keeps ids as SQLite integers (signed 64 bits)
PRIORITY_RANGE = (-1000, 1000)
MAX_PATHS = 100_000
MAX_IDS = 100_000
MAX_TEXT_LEN = 4096  # a string argument, or a string in a list (a path)


@dataclass(frozen=True)
class Arg:
    """One argument of a command: the types it may have, its default when left out (or nil), its limits."""

    types: tuple[type, ...]
    default: Any = _MISSING  # _MISSING: required
    bounds: tuple[int, int] | None = None  # of an integer, or of each integer of a list
    max_len: int = MAX_TEXT_LEN  # characters of a string, items of a list, entries of a map
    items: type | None = None  # a list's items: int (within bounds) or str (non-empty, no NUL, <= MAX_TEXT_LEN)
    check: Callable[[Any], Any] | None = None  # checks the contents further and returns the clean value


@dataclass(frozen=True)
class Command:
    """A command: its arguments, and those of which at least one must be given (non-empty or true)."""

    name: str
    args: dict[str, Arg] = field(default_factory=dict)
    needs: tuple[str, ...] = ()
    needs_message: str = ""


def _job_options(given: dict[str, Any]) -> dict[str, Any]:
    """The job options a request gives, each checked as declared (the daemon's [defaults] fill the rest)."""
    from lazy_transcode.options import OptionError, check_given  # only `add` has job options: ltctl ping skips it

    try:
        return check_given(given)
    except OptionError as exc:
        raise ProtocolError(BAD_ARGS, str(exc)) from None


def _known_states(states: list[str]) -> list[str]:
    for state in states:
        if state not in JobState.__members__.values():
            raise ProtocolError(BAD_ARGS, f"unknown state {state[:32]!r}")
    return states


def _final_states(states: list[str]) -> list[str]:
    for state in _known_states(states):
        if state not in FINAL_STATES:
            raise ProtocolError(BAD_ARGS, f"{state} is not a finished state (completed, failed, cancelled, skipped)")
    return states


def _days(days: float) -> float:
    """`--since DAYS`: a number of days back, not negative."""
    if not 0 <= days <= 1_000_000:
        raise ProtocolError(BAD_ARGS, f"since must be a number of days >= 0, not {days!r}"[:200])
    return float(days)


_IDS = Arg((list,), [], bounds=JOB_ID_RANGE, max_len=MAX_IDS, items=int)
_SELECTION = {"ids": _IDS, "all": Arg((bool,), False)}
_FLAG = Arg((bool,), False)

DECLARED = (
    Command(
        "add",
        {
            "paths": Arg((list,), items=str, max_len=MAX_PATHS),
            "options": Arg((dict,), {}, max_len=64, check=_job_options),
            "paused": Arg((bool,), False),
            "priority": Arg((int,), 0, bounds=PRIORITY_RANGE),
            "restart": Arg((bool,), False),  # discard unfinished records of other encode options
            "again": Arg((bool,), False),  # encode files done before once more
        },
        needs=("paths",),
        needs_message="give at least one path",
    ),
    Command("list", {"states": Arg((list,), [], max_len=16, items=str, check=_known_states)}),
    Command("status", {"id": Arg((int,), None, bounds=JOB_ID_RANGE)}),
    # after_current: running jobs finish and no new one starts (until `resume --all`)
    Command(
        "pause",
        {**_SELECTION, "after_current": _FLAG},
        needs=("ids", "all", "after_current"),
        needs_message="give job ids or all, or after_current",
    ),
    # now: run the given jobs at once, outside the schedule's windows and the holds
    Command("resume", {**_SELECTION, "now": _FLAG}, needs=("ids", "all"), needs_message="give job ids or all"),
    Command("cancel", _SELECTION, needs=("ids", "all"), needs_message="give job ids or all"),
    Command("ping"),
    Command("library"),
    Command("clean", {"states": Arg((list,), [], max_len=16, items=str, check=_final_states)}),
    Command(
        "history",
        {
            "since": Arg((int, float), None, check=_days),
            "states": Arg((list,), [], max_len=16, items=str, check=_final_states),
            "limit": Arg((int,), 0, bounds=(0, 1_000_000)),
        },
    ),
    Command("stats", {"since": Arg((int, float), None, check=_days)}),
    Command("farm"),
)
COMMAND_SPECS: dict[str, Command] = {command.name: command for command in DECLARED}
COMMANDS = tuple(COMMAND_SPECS)


def build_command(request_id: str | int, cmd: str, args: dict[str, Any] | None = None) -> bytes:
    """A request whose arguments were checked against the command's declaration (ProtocolError if not).

    It carries the arguments as given, not the defaults, so the daemon's own defaults apply.
    """
    check_args(cmd, args or {})
    return build_request(request_id, cmd, args)


def check_args(cmd: str, args: Any) -> dict[str, Any]:
    """A command's arguments checked against its declaration, with every default filled in; BAD_ARGS if wrong."""
    command = COMMAND_SPECS.get(cmd)
    if command is None:
        raise ProtocolError(UNKNOWN_COMMAND, f"unknown command {str(cmd)[:64]!r}")
    if not isinstance(args, dict):
        raise ProtocolError(BAD_ARGS, "args must be a map")
    reject_unknown(args, tuple(command.args))
    clean: dict[str, Any] = {}
    for name, arg in command.args.items():
        value = args.get(name, _MISSING)
        if value is _MISSING or (value is None and arg.default is not _MISSING):
            if arg.default is _MISSING:
                raise ProtocolError(BAD_ARGS, f"missing argument {name!r}")
            clean[name] = copy.copy(arg.default)
        else:
            clean[name] = _checked(name, arg, value)
    if command.needs and not any(clean[name] for name in command.needs):
        raise ProtocolError(BAD_ARGS, command.needs_message)
    return clean


def _checked(name: str, arg: Arg, value: Any) -> Any:
    """One argument's value: its type (bool is never an int), length, bounds and items."""
    if isinstance(value, bool) and bool not in arg.types:
        raise ProtocolError(BAD_ARGS, f"argument {name!r} has the wrong type (bool)")
    if not isinstance(value, arg.types):
        raise ProtocolError(BAD_ARGS, f"argument {name!r} has the wrong type ({type(value).__name__})")
    if isinstance(value, str | list | dict) and len(value) > arg.max_len:
        raise ProtocolError(BAD_ARGS, f"argument {name!r} is too long")
    if isinstance(value, int) and not isinstance(value, bool) and arg.bounds is not None:
        low, high = arg.bounds
        if not low <= value <= high:
            raise ProtocolError(BAD_ARGS, f"{name} must be in [{low}, {high}], not {value}"[:200])
    if isinstance(value, list) and arg.items is not None:
        for item in value:
            _check_item(name, arg, item)
    return arg.check(value) if arg.check is not None else value


def _check_item(name: str, arg: Arg, item: Any) -> None:
    if arg.items is int:
        low, high = arg.bounds or (-(2**63), 2**63 - 1)
        if isinstance(item, bool) or not isinstance(item, int) or not low <= item <= high:
            raise ProtocolError(BAD_ARGS, f"{name} must hold integers in [{low}, {high}], not {item!r}"[:200])
        return
    if not isinstance(item, str) or not item or len(item) > MAX_TEXT_LEN or "\0" in item:
        raise ProtocolError(BAD_ARGS, f"{name} must hold non-empty strings (no NUL, at most {MAX_TEXT_LEN})")


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
