"""Priorities of the ffmpeg processes of a piece pipeline, read from the running processes."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import pytest

from lazy_transcode.jobs.api import JobControl
from lazy_transcode.media.process import BELOW_NICENESS, Priority, run_ffmpeg

SLOW_NULL = ["-re", "-f", "lavfi", "-i", "testsrc2=s=64x64:r=10:d=1.5", "-f", "null", "-"]


def _nice_and_policy(pid: int) -> tuple[int, int]:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return int(fields[16]), int(fields[38])  # nice, scheduling policy


@pytest.mark.parametrize(
    ("priority", "nice_delta", "policy"),
    [(Priority.NORMAL, 0, os.SCHED_OTHER), (Priority.BELOW, BELOW_NICENESS, os.SCHED_OTHER),
     (Priority.IDLE, 0, os.SCHED_IDLE)],
)  # fmt: skip
def test_each_priority_reaches_the_running_ffmpeg(priority: Priority, nice_delta: int, policy: int) -> None:
    own_nice = os.getpriority(os.PRIO_PROCESS, 0)

    async def main() -> tuple[int, int]:
        control = JobControl()
        task = asyncio.ensure_future(run_ffmpeg(SLOW_NULL, control=control, priority=priority))
        while not control.process_groups:
            await asyncio.sleep(0.01)
        await asyncio.sleep(0.2)
        seen = _nice_and_policy(next(iter(control.process_groups)))
        await task
        return seen

    nice, seen_policy = asyncio.run(main())
    assert nice == min(19, own_nice + nice_delta)
    assert seen_policy == policy
