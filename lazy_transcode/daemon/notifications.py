"""Notifications through Apprise (`[notify] urls`, `events`): a job completed or failed, the queue ran empty.

Sending takes seconds (an HTTP round trip, a mail server, retries), so nothing here runs on the daemon's
event loop: the scheduler hands each message to a bounded queue and one thread sends them in order. A
URL that cannot be sent to, a receiver that is down or slow, an exception inside Apprise: each is logged
and dropped; the daemon never waits for it and never stops for it. Apprise is imported only here, only
when URLs are configured, so ltd without notifications (and ltctl) never load it.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

MAX_WAITING = 1000  # messages waiting to be sent; past that, new ones are dropped (and logged)
TITLE = "lazy-transcode"


def bad_url(url: str) -> str | None:
    """Why Apprise cannot send to `url` (naming its scheme, never its secrets), or None."""
    import apprise

    if apprise.Apprise.instantiate(url, suppress_exceptions=True) is None:
        scheme = url.split("://", 1)[0] if "://" in url else url[:12]
        return f"{scheme!r}... is not a URL Apprise can send to (see its list of services)"
    return None


def _size(n: int | None) -> str:
    if n is None:
        return "?"
    value = float(n)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} TiB"  # pragma: no cover


def job_message(row: dict[str, Any]) -> tuple[str, str, str] | None:
    """(event, title, body) for a history row, None for an end that no event tells (skipped, cancelled)."""
    name = Path(row["source"]).name
    if row["state"] == "completed":
        saved = ""
        if row.get("source_size") and row.get("output_size") is not None:
            percent = 100.0 * (1 - row["output_size"] / row["source_size"])
            saved = f": {_size(row['source_size'])} -> {_size(row['output_size'])} ({percent:.0f}% saved)"
        return "completed", f"{TITLE}: completed {name}", f"{row['source']}{saved}"
    if row["state"] == "failed":
        return "failed", f"{TITLE}: failed {name}", f"{row['source']}: {row.get('reason') or 'failed'}"
    return None


class Notifications:
    """The scheduler's `Alerts`: messages for the configured events, sent by one thread."""

    def __init__(self, urls: Sequence[str], events: Sequence[str]) -> None:
        self.urls = list(urls)
        self.events = frozenset(events)
        self._waiting: queue.Queue[tuple[str, str, str] | None] = queue.Queue(MAX_WAITING)
        self._thread: threading.Thread | None = None

    def start(self) -> Notifications:
        if self.urls and self._thread is None:
            self._thread = threading.Thread(target=self._send_all, name="notifications", daemon=True)
            self._thread.start()
        return self

    def stop(self, timeout: float = 2.0) -> None:
        """Let the thread send what waits, for at most `timeout` seconds (it is a daemon thread after that)."""
        if self._thread is None:
            return
        try:
            self._waiting.put(None, timeout=timeout)
        except queue.Full:
            return
        self._thread.join(timeout)

    # --- the scheduler's side (the event loop): never blocks ------------------------------------------
    def job_ended(self, row: dict[str, Any]) -> None:
        message = job_message(row)
        if message is not None:
            self._put(*message)

    def queue_empty(self) -> None:
        self._put("queue_empty", f"{TITLE}: queue empty", "no job is queued or running")

    def _put(self, event: str, title: str, body: str) -> None:
        if not self.urls or event not in self.events:
            return
        try:
            self._waiting.put_nowait((event, title, body))
        except queue.Full:
            log.warning("notification %r dropped: %d are waiting to be sent", title, MAX_WAITING)

    # --- the sending thread -------------------------------------------------------------------------
    def _send_all(self) -> None:
        try:
            import apprise

            sender = apprise.Apprise()
            for url in self.urls:
                sender.add(url)
        except Exception:
            log.exception("notifications cannot be sent: Apprise failed to start")
            return
        kinds = {"completed": apprise.NotifyType.SUCCESS, "failed": apprise.NotifyType.FAILURE}
        while True:
            message = self._waiting.get()
            if message is None:
                return
            event, title, body = message
            try:
                sent = sender.notify(body=body, title=title, notify_type=kinds.get(event, apprise.NotifyType.INFO))
            except Exception as exc:
                log.warning("notification %r not sent: %s: %s", title, type(exc).__name__, exc)
                continue
            if not sent:
                log.warning("notification %r not sent to every URL (see Apprise's messages above)", title)
