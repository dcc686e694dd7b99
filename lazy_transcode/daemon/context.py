"""What a command handler may use: the config, the queue store, the scheduler and the libraries."""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from lazy_transcode import __version__
from lazy_transcode.daemon.config import Config
from lazy_transcode.daemon.queue_store import QueueStore
from lazy_transcode.daemon.scheduler import Scheduler

if TYPE_CHECKING:
    from lazy_transcode.daemon.libraries import Libraries


@dataclass
class Context:
    config: Config
    store: QueueStore
    scheduler: Scheduler
    libraries: Libraries | None = None  # the `[[library]]` monitors (set once the daemon starts them)
    farm: Any = None  # lazy_transcode.farm.client.FarmClient when a farm is configured
    version: str = __version__
    pid: int = field(default_factory=os.getpid)
    started_wall: float = field(default_factory=time.time)
    started: float = field(default_factory=time.monotonic)

    def uptime(self) -> float:
        return time.monotonic() - self.started
