"""The PUB side: job state changes and progress for `ltctl watch`, as [topic, msgpack map] frames.

Progress is throttled per job (a step change always goes out) so a fast encode cannot flood slow
subscribers; PUB drops messages for a subscriber that falls behind rather than blocking the daemon.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from lazy_transcode import protocol

log = logging.getLogger(__name__)

PROGRESS_INTERVAL = 0.25


class EventBus:
    def __init__(self, socket: Any | None = None) -> None:
        self.socket = socket
        self._last_progress: dict[int, tuple[float, str]] = {}

    def publish(self, topic: str, payload: dict[str, Any]) -> None:
        if self.socket is None:
            return
        import zmq

        try:
            self.socket.send_multipart([topic.encode(), protocol.pack({"v": protocol.VERSION, **payload})], zmq.NOBLOCK)
        except zmq.ZMQError as exc:  # a full or closing PUB socket: events are best effort
            log.debug("event dropped: %s", exc)

    def job_state(self, job_id: int, state: str, **extra: Any) -> None:
        self._last_progress.pop(job_id, None)
        self.publish("job", {"type": "state", "job": job_id, "state": state, **extra})

    def job_progress(self, job_id: int, progress: dict[str, Any]) -> None:
        now = time.monotonic()
        step = str(progress.get("step"))
        last = self._last_progress.get(job_id)
        if last is not None and last[1] == step and now - last[0] < PROGRESS_INTERVAL:
            return
        self._last_progress[job_id] = (now, step)
        self.publish("job", {"type": "progress", "job": job_id, **progress})

    def daemon(self, kind: str, **extra: Any) -> None:
        self.publish("daemon", {"type": kind, **extra})
