"""The interface between a job and whoever runs it (the daemon's workers or the foreground CLI).

A job is `run_job(input_file, options, control)` in `lazy_transcode.jobs.runner`. The owner keeps the
`JobControl`: it pauses and resumes the job's ffmpeg processes (SIGSTOP/SIGCONT of their process
groups), asks the job to stop at its next checkpoint, and receives progress records.
"""

from __future__ import annotations

import asyncio
import os
import signal
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

# The job options are declared in lazy_transcode.options (stdlib only, for ltctl); re-exported for the jobs.
from lazy_transcode.options import CONTAINERS as CONTAINERS
from lazy_transcode.options import MODES as MODES
from lazy_transcode.options import VERIFY_MODES as VERIFY_MODES
from lazy_transcode.options import JobOptions as JobOptions
from lazy_transcode.options import OptionError as OptionError

JOB_STATES = ("queued", "running", "paused", "completed", "failed", "cancelled", "skipped")


class JobStopped(Exception):
    """The job stopped at a checkpoint because its owner asked; its state is saved and resumable."""


class JobFailed(Exception):
    """The job cannot finish; the message is one line for the user. The source is untouched."""


@dataclass
class JobResult:
    """How a job ended: completed (output placed), skipped (with the reason) or failed."""

    status: str
    input_file: str
    output_file: str | None = None
    reason: str | None = None
    source_size: int | None = None
    output_size: int | None = None
    vmaf: float | None = None
    setting: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class Progress:
    """A progress record of the running job, as sent to clients."""

    step: str
    percent: float
    fps: float | None = None
    speed: float | None = None
    eta_seconds: float | None = None
    detail: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class JobControl:
    """The owner's handle on a running job.

    Pause sends SIGSTOP to every registered ffmpeg process group (no CPU while paused), and a process
    group registered while paused is stopped at once; between ffmpeg runs the job waits in
    `wait_if_paused`. `request_stop` makes the job checkpoint and raise `JobStopped`.
    """

    def __init__(
        self, on_progress: Callable[[Progress], None] | None = None, *, checkpoint_interval: float = 10.0
    ) -> None:
        self.on_progress = on_progress
        self.checkpoint_interval = checkpoint_interval  # seconds between progress saves to the state file
        self.paused = False
        self.stop_requested = False
        self._pgids: set[int] = set()
        self._wake = asyncio.Event()
        self._stop = asyncio.Event()

    # --- used by the owner -------------------------------------------------------------------
    def pause(self) -> None:
        self.paused = True
        self._wake.clear()
        for pgid in list(self._pgids):
            _signal_group(pgid, signal.SIGSTOP)

    def resume(self) -> None:
        self.paused = False
        for pgid in list(self._pgids):
            _signal_group(pgid, signal.SIGCONT)
        self._wake.set()

    def request_stop(self) -> None:
        self.stop_requested = True
        self._stop.set()
        self._wake.set()

    async def stopped(self) -> None:
        """Wait until the owner asks the job to stop (used to interrupt a running ffmpeg)."""
        await self._stop.wait()

    @property
    def process_groups(self) -> frozenset[int]:
        return frozenset(self._pgids)

    # --- used by the job ---------------------------------------------------------------------
    def register(self, pgid: int) -> None:
        self._pgids.add(pgid)
        if self.paused:
            _signal_group(pgid, signal.SIGSTOP)

    def unregister(self, pgid: int) -> None:
        self._pgids.discard(pgid)

    def check_stop(self) -> None:
        if self.stop_requested:
            raise JobStopped("stop requested")

    async def wait_if_paused(self) -> None:
        """A pause point: block (costing nothing) while paused; raise JobStopped if asked to stop."""
        while self.paused and not self.stop_requested:
            self._wake.clear()
            await self._wake.wait()
        self.check_stop()

    def report(self, progress: Progress) -> None:
        if self.on_progress is not None:
            self.on_progress(progress)


def _signal_group(pgid: int, sig: signal.Signals) -> None:
    try:
        os.killpg(pgid, sig)
    except ProcessLookupError:
        pass
