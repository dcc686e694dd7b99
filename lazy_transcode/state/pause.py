"""Pause/resume/stop requests, consulted by `check_pause_point()`, plus Ctrl+C/SIGTERM for a foreground program.

The requests live in a `JobControl` (one pause mechanism for the engine and the state library); its lock
is reentrant on purpose: a signal handler runs in the main thread between two bytecodes, possibly while
that thread holds the lock (the original deadlocked exactly there with a plain Lock).
"""

from __future__ import annotations

import signal
import sys
from collections.abc import Callable
from types import FrameType

from lazy_transcode.control import JobControl, Listener


class PauseManager:
    """The spec's pause manager: an adapter over the engine's `JobControl`, so that a pause asked here
    also stops the job's ffmpeg at once, and one asked of the control is seen at every `check_pause_point`.

    `ask` (if set) is called at a pause point while paused and returns "resume" or "quit"; without it the
    pause point waits for `resume()` or `request_stop()`.
    """

    def __init__(self, ask: Callable[[], str] | None = None, *, control: JobControl | None = None) -> None:
        self.control = control if control is not None else JobControl()
        self._asking = False
        self.ask = ask

    # --- requests (any thread, or a signal handler) -------------------------------------------------------
    def pause(self) -> None:
        if not self.control.stop_requested:
            self.control.pause()

    def resume(self) -> None:
        self.control.resume()

    def request_stop(self) -> None:
        self.control.request_stop()

    def reset(self) -> None:
        """Forget earlier requests (before a new operation starts)."""
        self.control.reset()

    def add_listener(self, listener: Listener) -> None:
        """Called with "pause", "resume" or "stop" after each change."""
        self.control.add_listener(listener)

    # --- queries ------------------------------------------------------------------------------------------
    @property
    def is_paused(self) -> bool:
        return self.control.paused and not self.control.stop_requested

    @property
    def stop_requested(self) -> bool:
        return self.control.stop_requested

    @property
    def asking(self) -> bool:
        return self._asking

    def wait_if_paused(self, timeout: float | None = None) -> bool:
        """Block while paused (asking the user if `ask` is set). Returns True when a stop was requested."""
        while True:
            if self.stop_requested or not self.is_paused:
                return self.stop_requested
            ask = self.ask
            if ask is None:
                stop = self.control.wait_if_paused_sync(timeout)
                if stop or not self.is_paused:
                    return stop
                return False  # timed out, still paused
            self._asking = True
            try:
                answer = ask()
            except (KeyboardInterrupt, EOFError):
                answer = "quit"
            finally:
                self._asking = False
            if str(answer).strip().lower() in ("q", "quit", "stop", "s"):
                self.request_stop()
            else:
                self.resume()


_DEFAULT = PauseManager()


def default_pause_manager() -> PauseManager:
    """The process-wide manager used by state managers created without one (the decorator's, say)."""
    return _DEFAULT


def ask_on_terminal() -> str:
    """Ask on the terminal whether to resume or quit (the default `ask` of the foreground CLI)."""
    sys.stderr.write("\nPaused. [r]esume or [q]uit (state is saved)? ")
    sys.stderr.flush()
    line = sys.stdin.readline()
    if not line:
        return "quit"
    return "quit" if line.strip().lower().startswith("q") else "resume"


def install_foreground_signal_handlers(
    pause_manager: PauseManager | None = None, ask: Callable[[], str] | None = ask_on_terminal
) -> Callable[[], None]:
    """First Ctrl+C pauses at the next pause point and asks; a second saves and quits; SIGTERM saves and
    quits (at the next pause point). One more signal after a stop request exits at once (the emergency
    save of `StateAwareOperation`/the decorator keeps the state). Returns a function restoring the old
    handlers. Call from the main thread."""
    pm = pause_manager or default_pause_manager()
    if ask is not None:
        pm.ask = ask

    def on_sigint(signum: int, frame: FrameType | None) -> None:
        if pm.asking:
            raise KeyboardInterrupt  # interrupts the question: treated as "quit"
        if pm.stop_requested:
            raise KeyboardInterrupt
        if pm.is_paused:
            pm.request_stop()
        else:
            pm.pause()

    def on_sigterm(signum: int, frame: FrameType | None) -> None:
        if pm.stop_requested or pm.asking:
            raise SystemExit(128 + signum)
        pm.request_stop()

    old_int = signal.signal(signal.SIGINT, on_sigint)
    old_term = signal.signal(signal.SIGTERM, on_sigterm)

    def restore() -> None:
        signal.signal(signal.SIGINT, old_int)
        signal.signal(signal.SIGTERM, old_term)

    return restore
