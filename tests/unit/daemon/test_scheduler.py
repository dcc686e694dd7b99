"""Scheduler logic with a fake job coroutine (the real engine runs in tests/system)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from lazy_transcode.daemon.events import EventBus
from lazy_transcode.daemon.queue_store import QueueStore
from lazy_transcode.daemon.scheduler import Scheduler
from lazy_transcode.jobs.api import JobControl, JobOptions, JobResult, Progress
from lazy_transcode.protocol import ProtocolError


class FakeEngine:
    """A job that reports progress and honours pause/stop until its test lets it finish."""

    def __init__(self) -> None:
        self.release: dict[str, asyncio.Event] = {}
        self.started: list[str] = []
        self.removed: list[str] = []
        self.controls: dict[str, JobControl] = {}

    def gate(self, name: str) -> asyncio.Event:
        return self.release.setdefault(name, asyncio.Event())

    async def run(self, input_file: str, options: JobOptions, control: JobControl) -> JobResult:
        self.started.append(input_file)
        self.controls[input_file] = control
        assert control.checkpoint_interval == 3.0
        control.report(Progress(step="encode", percent=10.0, fps=42.0, eta_seconds=5.0))
        while True:
            await control.wait_if_paused()  # like ffmpeg: a paused job cannot finish
            if self.gate(input_file).is_set():
                break
            await asyncio.sleep(0.005)
        if "crash" in input_file:
            raise RuntimeError("kaboom")
        if "fail" in input_file:
            return JobResult("failed", input_file, reason="bad\nsource")
        if "skip" in input_file:
            return JobResult("skipped", input_file, reason="already HEVC")
        return JobResult("completed", input_file, output_file=input_file + ".out.mkv")

    def remove(self, input_file: str, options: JobOptions) -> None:
        self.removed.append(input_file)


async def settle() -> None:
    for _ in range(20):
        await asyncio.sleep(0.01)


def make(tmp_path: Path, workers: int = 1) -> tuple[Scheduler, QueueStore, FakeEngine, list[int]]:
    store = QueueStore(tmp_path / "q.sqlite3")
    engine = FakeEngine()
    changes: list[int] = []
    sched = Scheduler(store, EventBus(None), engine.run, engine.remove, workers=workers, checkpoint_interval=3.0,
                      on_change=lambda: changes.append(1))  # fmt: skip
    return sched, store, engine, changes


def states(store: QueueStore) -> dict[int, str]:
    return {j.id: j.state for j in store.all()}


def test_runs_up_to_workers_in_priority_order(tmp_path: Path) -> None:
    async def scenario() -> None:
        sched, store, engine, changes = make(tmp_path, workers=2)
        store.add([("/a", {}), ("/b", {})])
        store.add([("/c", {})], priority=9)
        loop = asyncio.create_task(sched.run())
        await settle()
        assert engine.started == ["/c", "/a"]
        assert states(store) == {1: "running", 2: "queued", 3: "running"}
        row = sched.row(store.get(3))
        assert (row["step"], row["percent"], row["fps"], row["eta"]) == ("encode", 10.0, 42.0, 5.0)
        engine.gate("/c").set()
        await settle()
        assert engine.started == ["/c", "/a", "/b"]
        engine.gate("/a").set()
        engine.gate("/b").set()
        await settle()
        assert states(store) == {1: "completed", 2: "completed", 3: "completed"}
        assert store.get(1).result["output_file"] == "/a.out.mkv" and changes
        sched.closing = True
        sched.wake()
        await loop

    asyncio.run(scenario())


def test_outcomes_map_to_states(tmp_path: Path) -> None:
    async def scenario() -> None:
        sched, store, engine, _ = make(tmp_path, workers=4)
        store.add([("/fail", {}), ("/crash", {}), ("/skip", {}), ("/bad-options", {"mode": "nope"})])
        for name in ("/fail", "/crash", "/skip"):
            engine.gate(name).set()
        loop = asyncio.create_task(sched.run())
        await settle()
        jobs = {j.input: j for j in store.all()}
        assert (jobs["/fail"].state, jobs["/fail"].error) == ("failed", "bad source")
        assert jobs["/crash"].state == "failed" and "kaboom" in jobs["/crash"].error
        assert jobs["/skip"].state == "skipped" and jobs["/skip"].result["reason"] == "already HEVC"
        assert jobs["/bad-options"].state == "failed" and "mode" in jobs["/bad-options"].error
        sched.closing = True
        sched.wake()
        await loop

    asyncio.run(scenario())


def test_pause_resume_and_hold(tmp_path: Path) -> None:
    async def scenario() -> None:
        sched, store, engine, _ = make(tmp_path, workers=1)
        store.add([("/a", {}), ("/b", {})])
        loop = asyncio.create_task(sched.run())
        await settle()
        assert sched.pause([1]) == [1]
        assert engine.controls["/a"].paused and store.get(1).state == "paused"
        await settle()
        assert engine.started == ["/a", "/b"]  # a paused job frees its worker
        assert sched.pause([1]) == []  # already paused: nothing to do
        assert sched.resume([1]) == [1]
        assert not engine.controls["/a"].paused and store.get(1).state == "running"
        # pause --all: every running job paused and the queue held (persisted)
        store.add([("/c", {})])
        assert sorted(sched.pause([], all_jobs=True)) == [1, 2]
        engine.gate("/a").set()
        engine.gate("/b").set()
        await settle()
        assert store.get(3).state == "queued" and "/c" not in engine.started and store.get_meta("held") == "1"
        assert sorted(sched.resume([], all_jobs=True)) == [1, 2]
        await settle()
        assert states(store)[1] == "completed" and states(store)[2] == "completed"
        assert "/c" in engine.started
        with pytest.raises(ProtocolError) as info:
            sched.pause([1])
        assert info.value.code == "bad_state"
        with pytest.raises(ProtocolError) as info:
            sched.resume([99])
        assert info.value.code == "not_found"
        sched.closing = True
        sched.wake()
        await loop

    asyncio.run(scenario())


def test_paused_queued_job_does_not_start_and_resume_requeues(tmp_path: Path) -> None:
    async def scenario() -> None:
        sched, store, engine, _ = make(tmp_path)
        store.add([("/a", {})], paused=True)
        loop = asyncio.create_task(sched.run())
        await settle()
        assert engine.started == []
        sched.resume([1])
        await settle()
        assert engine.started == ["/a"] and store.get(1).state == "running"
        await sched.shutdown(2.0)
        await loop
        assert store.get(1).state == "queued"

    asyncio.run(scenario())


def test_cancel_stops_and_removes_files(tmp_path: Path) -> None:
    async def scenario() -> None:
        sched, store, engine, _ = make(tmp_path)
        store.add([("/a", {}), ("/b", {}), ("/c", {})])
        loop = asyncio.create_task(sched.run())
        await settle()
        assert await sched.cancel([1, 2]) == [1, 2]
        assert engine.removed == ["/a", "/b"]
        assert store.get(1).state == "cancelled" and store.get(2).state == "cancelled"
        await settle()
        assert engine.started == ["/a", "/c"]
        with pytest.raises(ProtocolError):
            await sched.cancel([1])
        await sched.shutdown(2.0)
        await loop

    asyncio.run(scenario())


def test_shutdown_checkpoints_running_and_keeps_paused(tmp_path: Path) -> None:
    async def scenario() -> None:
        sched, store, _engine, _ = make(tmp_path, workers=2)
        store.add([("/a", {}), ("/b", {})])
        loop = asyncio.create_task(sched.run())
        await settle()
        sched.pause([2])
        await sched.shutdown(2.0)
        await loop
        assert states(store) == {1: "queued", 2: "paused"}
        assert store.get(1).progress["percent"] == 10.0  # last progress kept for `list` after restart

    asyncio.run(scenario())


def test_two_cancels_of_one_job_cancel_it_once(tmp_path: Path) -> None:
    async def scenario() -> None:
        sched, store, engine, _ = make(tmp_path)
        store.add([("/a", {}), ("/b", {})])
        loop = asyncio.create_task(sched.run())
        await settle()
        first, second = await asyncio.gather(sched.cancel([1, 2]), sched.cancel([2]))
        assert sorted(first + second) == [1, 2]  # job 2 was cancelled by whichever came first, and only once
        assert states(store) == {1: "cancelled", 2: "cancelled"} and engine.started == ["/a"]
        await sched.shutdown(2.0)
        await loop

    asyncio.run(scenario())
