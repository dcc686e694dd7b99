"""The scheduler's schedule, `pause --after-current` and `resume --now`, with a fake job and a clock in the
test's hands (the real engine and ffmpeg run in tests/system/test_ltd_schedule.py)."""

from __future__ import annotations

import asyncio
from datetime import datetime
from pathlib import Path

from lazy_transcode.daemon.events import EventBus
from lazy_transcode.daemon.queue_store import QueueStore
from lazy_transcode.daemon.scheduler import Scheduler
from lazy_transcode.daemon.timetable import Timetable
from tests.unit.daemon.test_scheduler import FakeEngine, settle, states

INSIDE = datetime(2026, 12, 2, 1, 30).timestamp()
OUTSIDE = datetime(2026, 12, 2, 3, 0).timestamp()


def make(tmp_path: Path, clock: list[float], workers: int = 1) -> tuple[Scheduler, QueueStore, FakeEngine]:
    store = QueueStore(tmp_path / "q.sqlite3")
    engine = FakeEngine()
    sched = Scheduler(
        store, EventBus(None), engine.run, engine.remove, workers=workers, checkpoint_interval=3.0,
        timetable=Timetable.parse(["01:00-02:00"]), now=lambda: clock[0],
    )  # fmt: skip
    return sched, store, engine


def test_a_closing_window_stops_running_jobs_and_an_opening_one_starts_them(tmp_path: Path) -> None:
    async def scenario() -> None:
        clock = [INSIDE]
        sched, store, engine = make(tmp_path, clock, workers=2)
        store.add([("/a", {}), ("/b", {}), ("/c", {})])
        loop = asyncio.create_task(sched.run())
        await settle()
        assert states(store) == {1: "running", 2: "running", 3: "queued"}
        sched.pause([2])  # paused by hand: the schedule leaves it as it is
        await settle()
        assert states(store)[3] == "running"  # a paused job does not hold a worker
        clock[0] = OUTSIDE
        sched.check_window()
        await settle()
        assert states(store) == {1: "queued", 2: "paused", 3: "queued"}
        assert 2 in sched.active and 1 not in sched.active and 3 not in sched.active
        assert sched.schedule_view() | {"forced": []} == {
            "windows": ["01:00-02:00"], "open": False, "next_window": "01:00", "after_current": False, "forced": []
        }  # fmt: skip
        assert sched.resume_now([3]) == [3]  # outside the window anyway
        await settle()
        assert states(store)[3] == "running" and states(store)[1] == "queued"
        sched.check_window()  # still outside: the job run now is not stopped
        engine.gate("/c").set()
        await settle()
        assert states(store)[3] == "completed" and sched.forced == set()
        sched.resume([2])  # resumed outside the window: it stops at its checkpoint and waits for the next
        await settle()
        assert states(store)[2] == "queued" and 2 not in sched.active
        clock[0] = INSIDE
        sched.check_window()
        await settle()
        assert states(store) == {1: "running", 2: "running", 3: "completed"}
        assert engine.started.count("/a") == 2  # started again, from its checkpoint
        sched.closing = True
        sched.wake()
        loop.cancel()

    asyncio.run(scenario())


def test_pause_after_current_lets_the_running_job_finish_and_holds_until_resume_all(tmp_path: Path) -> None:
    async def scenario() -> None:
        clock = [INSIDE]
        sched, store, engine = make(tmp_path, clock)
        store.add([("/a", {}), ("/b", {})])
        loop = asyncio.create_task(sched.run())
        await settle()
        sched.pause_after_current()
        assert states(store) == {1: "running", 2: "queued"}
        engine.gate("/a").set()
        await settle()
        assert states(store) == {1: "completed", 2: "queued"}
        assert Scheduler(store, EventBus(None), engine.run, engine.remove).after_current  # kept across a restart
        sched.resume([], all_jobs=True)
        await settle()
        assert states(store)[2] == "running" and not sched.after_current
        sched.closing = True
        sched.wake()
        loop.cancel()

    asyncio.run(scenario())
