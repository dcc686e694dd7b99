"""systemd notification (sd_notify via sdnotify): READY, STATUS, WATCHDOG, STOPPING, EXTEND_TIMEOUT_USEC.

Without `$NOTIFY_SOCKET` every call is a no-op, so ltd runs the same in a shell and under systemd.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping

log = logging.getLogger(__name__)


class Notifier:
    def __init__(self, env: Mapping[str, str] | None = None) -> None:
        env = os.environ if env is None else env
        self.enabled = bool(env.get("NOTIFY_SOCKET"))
        self._notifier = None
        if self.enabled:
            import sdnotify

            self._notifier = sdnotify.SystemdNotifier()
        self.watchdog_interval = watchdog_interval(env)

    def send(self, *lines: str) -> None:
        if self._notifier is not None:
            self._notifier.notify("\n".join(lines))

    def ready(self, status: str) -> None:
        self.send("READY=1", f"STATUS={status}")

    def status(self, status: str) -> None:
        self.send(f"STATUS={status}")

    def watchdog(self) -> None:
        self.send("WATCHDOG=1")

    def stopping(self, status: str = "stopping") -> None:
        self.send("STOPPING=1", f"STATUS={status}")

    def extend_timeout(self, seconds: float) -> None:
        self.send(f"EXTEND_TIMEOUT_USEC={int(seconds * 1_000_000)}")


def watchdog_interval(env: Mapping[str, str]) -> float | None:
    """Half of `$WATCHDOG_USEC` when the watchdog is meant for us (`$WATCHDOG_PID` ours or unset)."""
    usec = env.get("WATCHDOG_USEC", "")
    if not usec:
        return None
    pid = env.get("WATCHDOG_PID", "")
    if pid and pid != str(os.getpid()):
        return None
    try:
        value = int(usec)
    except ValueError:
        log.warning("ignoring WATCHDOG_USEC=%r: not an integer", usec)
        return None
    return value / 2 / 1_000_000 if value > 0 else None


def status_line(counts: Mapping[str, int], held: bool = False, queue_error: str | None = None) -> str:
    """`1 running, 4 queued, 1 paused` (zero counts left out; `idle` when nothing is pending).

    A queue that cannot be written comes first (`systemctl status` may cut the line short).
    """
    parts = [f"{counts[s]} {s}" for s in ("running", "queued", "paused") if counts.get(s)]
    text = ", ".join(parts) if parts else "idle"
    text += " (queue held)" if held else ""
    return f"queue cannot be written: {queue_error}; no new job starts; {text}" if queue_error else text
