"""What a command handler may use: the config, the queue store and the scheduler."""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from typing import Any

from lazy_transcode import __version__
from lazy_transcode.daemon.config import Config
from lazy_transcode.daemon.queue_store import QueueStore
from lazy_transcode.daemon.scheduler import Scheduler


@dataclass
class Context:
    config: Config
    store: QueueStore
    scheduler: Scheduler
    farm: Any = None  # lazy_transcode.farm.client.FarmClient when a farm is configured
    version: str = __version__
    pid: int = field(default_factory=os.getpid)
    started_wall: float = field(default_factory=time.time)
    started: float = field(default_factory=time.monotonic)

    def uptime(self) -> float:
        return time.monotonic() - self.started
