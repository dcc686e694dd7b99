"""The owner's handle on running work: pause, resume and stop, shared by the engine and the state library.

One object holds the pause state of a job. The owner (the daemon's scheduler, the foreground CLI, a
signal handler, the spec's `PauseManager`) asks; the work obeys at once where it can (every registered
ffmpeg process group is SIGSTOPped, so a paused job costs no CPU) and otherwise at its next pause
point, which may be awaited by async code or waited for by a thread. Stdlib only: every layer uses it.
"""

from __future__ import annotations

import asyncio
import os
import signal
import threading
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

Listener = Callable[[str], None]  # called with "pause", "resume" or "stop"


class JobStopped(Exception):
    """The work stopped at a pause point because its owner asked; its state is saved and resumable."""


@dataclass
class Progress:
    """A progress record of running work, as sent to clients."""

    step: str
    percent: float
    fps: float | None = None
    speed: float | None = None
    eta_seconds: float | None = None
    detail: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class JobControl:
    """Pause, resume and stop requests for one job, safe to call from any thread or a signal handler.

    Pause sends SIGSTOP to every registered ffmpeg process group, and a group registered while paused
    is stopped at once; between ffmpeg runs the job waits at a pause point (`wait_if_paused`, or
    `wait_if_paused_sync` in a thread). A stop request keeps the paused flag (the owner reads it to
    tell a paused job from a queued one) and wakes every pause point, which then raises `JobStopped`.
    """

    def __init__(
        self, on_progress: Callable[[Progress], None] | None = None, *, checkpoint_interval: float = 10.0
    ) -> None:
        self.on_progress = on_progress
        self.checkpoint_interval = checkpoint_interval  # seconds between progress saves to the state file
        self.paused = False
        self.stop_requested = False
        # Reentrant: a signal handler runs between two bytecodes of the main thread, maybe inside it.
        self._cond = threading.Condition(threading.RLock())
        self._pgids: set[int] = set()
        self._waiters: list[tuple[asyncio.AbstractEventLoop, asyncio.Future[None]]] = []
        self._listeners: list[Listener] = []
        self.cpu_seconds = 0.0  # CPU time of the job's ffmpeg children that have ended (`add_cpu`)

    # --- used by the owner -------------------------------------------------------------------
    def pause(self) -> None:
        with self._cond:
            if self.paused:
                return
            self.paused = True
            for pgid in list(self._pgids):
                _signal_group(pgid, signal.SIGSTOP)
            self._cond.notify_all()
        self._emit("pause")

    def resume(self) -> None:
        with self._cond:
            if not self.paused:
                return
            self.paused = False
            for pgid in list(self._pgids):
                _signal_group(pgid, signal.SIGCONT)
            self._wake()
        self._emit("resume")

    def request_stop(self) -> None:
        with self._cond:
            if self.stop_requested:
                return
            self.stop_requested = True
            self._wake()
        self._emit("stop")

    def reset(self) -> None:
        """Forget earlier requests (before new work starts under the same control)."""
        with self._cond:
            self.stop_requested = False
            was_paused, self.paused = self.paused, False
            for pgid in list(self._pgids) if was_paused else ():
                _signal_group(pgid, signal.SIGCONT)
            self._wake()

    def add_listener(self, listener: Listener) -> None:
        self._listeners.append(listener)

    @property
    def process_groups(self) -> frozenset[int]:
        return frozenset(self._pgids)

    # --- used by the job ---------------------------------------------------------------------
    def register(self, pgid: int) -> None:
        with self._cond:
            self._pgids.add(pgid)
            if self.paused:
                _signal_group(pgid, signal.SIGSTOP)

    def unregister(self, pgid: int) -> None:
        with self._cond:
            self._pgids.discard(pgid)

    def add_cpu(self, seconds: float) -> None:
        """Count the CPU time of one of the job's ffmpeg children, once it has been reaped."""
        with self._cond:
            self.cpu_seconds += seconds

    def check_stop(self) -> None:
        if self.stop_requested:
            raise JobStopped("stop requested")

    async def wait_if_paused(self) -> None:
        """A pause point: wait (costing nothing) while paused; raise JobStopped if asked to stop."""
        while True:
            with self._cond:
                self.check_stop()
                if not self.paused:
                    return
                future = self._future()
            await future

    async def stopped(self) -> None:
        """Wait until the owner asks the job to stop (used to interrupt a running ffmpeg)."""
        while True:
            with self._cond:
                if self.stop_requested:
                    return
                future = self._future()
            await future

    def wait_if_paused_sync(self, timeout: float | None = None) -> bool:
        """A pause point for a thread: block while paused. True when a stop was requested."""
        with self._cond:
            if self.paused and not self.stop_requested:
                self._cond.wait_for(lambda: not self.paused or self.stop_requested, timeout)
            return self.stop_requested

    def report(self, progress: Progress) -> None:
        if self.on_progress is not None:
            self.on_progress(progress)

    # --- internals -----------------------------------------------------------------------------
    def _future(self) -> asyncio.Future[None]:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[None] = loop.create_future()
        self._waiters.append((loop, future))
        return future

    def _wake(self) -> None:
        """Wake every waiter (the lock is held): threads by the condition, coroutines on their loops."""
        self._cond.notify_all()
        waiters, self._waiters = self._waiters, []
        for loop, future in waiters:
            if loop.is_closed():
                continue
            if _on_loop_thread(loop):
                _settle(future)
            else:
                loop.call_soon_threadsafe(_settle, future)

    def _emit(self, event: str) -> None:
        for listener in list(self._listeners):
            listener(event)


def _on_loop_thread(loop: asyncio.AbstractEventLoop) -> bool:
    try:
        return asyncio.get_running_loop() is loop
    except RuntimeError:
        return False


def _settle(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)


def _signal_group(pgid: int, sig: signal.Signals) -> None:
    try:
        os.killpg(pgid, sig)
    except ProcessLookupError:
        pass
