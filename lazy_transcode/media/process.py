"""Running ffmpeg: own process group, progress from `-progress pipe:1`, pause/stop, no orphans.

Each ffmpeg runs in a new session (so SIGSTOP/SIGCONT of its process group pause exactly it), with
PR_SET_PDEATHSIG=SIGKILL (so it dies with us, even after `kill -9`), and without the systemd
notification variables (so a child can never talk to systemd in our name).
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import enum
import os
import resource
import signal
import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

from lazy_transcode.control import JobControl, JobStopped
from lazy_transcode.media.binary import ffmpeg_exe

_SCRUBBED_ENV = ("NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID", "LISTEN_FDS", "LISTEN_PID", "LISTEN_FDNAMES")
_PR_SET_PDEATHSIG = 1


class FFmpegRunError(RuntimeError):
    """ffmpeg exited with an error; the message is one line (ffmpeg's last error line)."""


@dataclass
class FfmpegProgress:
    """One `-progress` record."""

    frame: int = 0
    fps: float = 0.0
    out_time: float = 0.0
    speed: float | None = None
    total_size: int = 0
    percent: float | None = None
    done: bool = False


def _libc() -> ctypes.CDLL | None:
    try:
        return ctypes.CDLL(None, use_errno=True)
    except OSError:  # pragma: no cover - non-glibc platforms
        return None


_LIBC = _libc()


def _child_setup() -> None:
    """Runs in the child between fork and exec: die with the parent."""
    if _LIBC is not None:
        _LIBC.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        if os.getppid() == 1:  # parent already gone before prctl took effect
            os._exit(1)


class Priority(enum.Enum):
    """CPU priority of an ffmpeg relative to ours.

    A pipeline whose encoders read raw frames from a decoder must keep the decoder ahead: when the
    encoders' threads fill both cores, a starved decoder (waking for every 64 KiB of pipe) leaves
    them idle in turn (14 % slower at 720p on 2 cores). Encoders therefore run a few nice levels
    below the decoder, and background checks only on CPU nothing else wants.
    """

    NORMAL = "normal"
    BELOW = "below"  # encoders fed by a decoder of ours
    IDLE = "idle"  # SCHED_IDLE: checks beside the encode


BELOW_NICENESS = 5


def _setup_for(priority: Priority) -> Callable[[], None]:
    if priority is Priority.NORMAL:
        return _child_setup

    def setup() -> None:
        _child_setup()
        with contextlib.suppress(OSError, AttributeError):
            if priority is Priority.IDLE:
                os.sched_setscheduler(0, os.SCHED_IDLE, os.sched_param(0))
            else:
                os.nice(BELOW_NICENESS)

    return setup


def child_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in _SCRUBBED_ENV}
    env.setdefault("LC_ALL", "C")
    return env


def parse_progress_block(fields: dict[str, str], duration: float | None) -> FfmpegProgress:
    def num(key: str, cast: type = float, default: float | int = 0) -> float | int:
        value = fields.get(key, "").strip().rstrip("x")
        try:
            return cast(value)
        except ValueError:
            return default

    out_us = num("out_time_us", int, 0) or num("out_time_ms", int, 0)
    out_time = max(0.0, out_us / 1e6)
    speed = fields.get("speed", "").strip()
    record = FfmpegProgress(
        frame=int(num("frame", int, 0)),
        fps=float(num("fps", float, 0.0)),
        out_time=out_time,
        speed=_speed(speed),
        total_size=int(num("total_size", int, 0)),
        done=fields.get("progress") == "end",
    )
    if duration and duration > 0:
        record.percent = min(100.0, 100.0 * out_time / duration)
    return record


def _speed(text: str) -> float | None:
    """ffmpeg's speed, or None when absent or absurd (with -copyts a run's first report can be)."""
    try:
        value = float(text.rstrip("x"))
    except ValueError:
        return None
    return value if 0 <= value < 10_000 else None


_reaped = [0.0]
_reaped_lock = threading.Lock()


def reaped_cpu() -> float:
    """CPU seconds (user + system) of the children this process reaped since the last call.

    asyncio reaps ffmpeg without its rusage, so this reads the process's RUSAGE_CHILDREN total, which grows
    as each child is reaped: read right after an ffmpeg was reaped, the growth is that ffmpeg's CPU time
    (exact with one job at a time; jobs running at once may count each other's children).
    """
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    total = usage.ru_utime + usage.ru_stime
    with _reaped_lock:
        grown, _reaped[0] = total - _reaped[0], max(total, _reaped[0])
    return max(0.0, grown)


async def run_ffmpeg(
    args: list[str],
    *,
    ffmpeg: str | None = None,
    control: JobControl | None = None,
    on_progress: Callable[[FfmpegProgress], None] | None = None,
    duration: float | None = None,
    stop_grace: float = 5.0,
    graceful_stop: bool = True,
    priority: Priority = Priority.NORMAL,
) -> str:
    """Run one ffmpeg command (arguments after the program name) and return its stderr.

    If `control` asks to stop, ffmpeg is stopped ('q', then SIGKILL after `stop_grace`; at once when
    `graceful_stop` is false, for work that is thrown away anyway) and `JobStopped` is raised.
    """
    exe = ffmpeg or ffmpeg_exe()
    if control is not None:
        control.check_stop()
    cmd = [exe, "-hide_banner", "-nostats", "-progress", "pipe:1", *args]
    if "-loglevel" not in args and "-v" not in args:
        cmd[1:1] = ["-loglevel", "error"]
    proc = await asyncio.create_subprocess_exec(
        *cmd,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        start_new_session=True,
        preexec_fn=_setup_for(priority),
        env=child_env(),
        limit=1 << 20,
    )
    pgid = proc.pid  # a new session: its process group id is its pid
    if control is not None:
        control.register(pgid)
    stderr_tail: deque[str] = deque(maxlen=200)

    async def read_progress() -> None:
        assert proc.stdout is not None
        block: dict[str, str] = {}
        async for raw in proc.stdout:
            key, _, value = raw.decode(errors="replace").strip().partition("=")
            block[key] = value
            if key == "progress":
                if on_progress is not None:
                    on_progress(parse_progress_block(block, duration))
                block = {}

    async def read_stderr() -> None:
        assert proc.stderr is not None
        async for raw in proc.stderr:
            stderr_tail.append(raw.decode(errors="replace").rstrip())

    readers = asyncio.gather(read_progress(), read_stderr())
    stop_wait = asyncio.ensure_future(control.stopped()) if control is not None else None
    try:
        waiters: set[asyncio.Future] = {readers}
        if stop_wait is not None:
            waiters.add(stop_wait)
        done, _ = await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
        if stop_wait is not None and stop_wait in done and not readers.done():
            await _stop(proc, stop_grace if graceful_stop else 0.0)
            raise JobStopped("stopped while ffmpeg was running")
        await readers
        code = await proc.wait()
    except BaseException:
        # Cancelled or stopped: never leave ffmpeg behind.
        await _stop(proc, 0.0)
        readers.cancel()
        with contextlib.suppress(BaseException):
            await readers
        raise
    finally:
        if stop_wait is not None:
            stop_wait.cancel()
        if control is not None:
            control.unregister(pgid)
            control.add_cpu(reaped_cpu())
    stderr = "\n".join(stderr_tail)
    if code != 0:
        raise FFmpegRunError(_error_line(stderr_tail, code))
    return stderr


def _error_line(lines: deque[str], code: int) -> str:
    meaningful = [ln.strip() for ln in lines if ln.strip() and not ln.lstrip().startswith("[out#")]
    last = meaningful[-1] if meaningful else (lines[-1].strip() if lines else "")
    reason = last or f"exit status {code}"
    return f"ffmpeg failed ({reason})" if code >= 0 else f"ffmpeg killed by signal {-code}"


async def _stop(proc: asyncio.subprocess.Process, grace: float) -> None:
    """Stop ffmpeg: resume it if paused, ask it to quit, then kill the whole group."""
    if proc.returncode is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGCONT)
    if grace > 0:
        try:
            if proc.stdin is not None:
                proc.stdin.write(b"q")
                await proc.stdin.drain()
        except (BrokenPipeError, ConnectionResetError):
            pass
        try:
            await asyncio.wait_for(proc.wait(), grace)
            return
        except TimeoutError:
            pass
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)
    await proc.wait()
