"""The scheduler when the queue cannot be written: every write path, on a real SQLite queue whose writes
fail on demand with SQLite's own error (the real full disk is in tests/system/test_ltd_disk_full.py)."""

from __future__ import annotations

import asyncio
import logging
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from lazy_transcode import protocol
from lazy_transcode.daemon.events import EventBus
from lazy_transcode.daemon.queue_store import QueueStore
from lazy_transcode.daemon.scheduler import QueueWriteError, Scheduler
from lazy_transcode.jobs.api import JobOptions
from tests.unit.daemon.test_scheduler import FakeEngine, settle

FULL = "database or disk is full"


class FullDisk(QueueStore):
    """A real queue whose every write (a transaction) fails with SQLITE_FULL once `writes_left` reaches 0."""

    writes_left: int | None = None  # None: every write succeeds

    def fill(self, after: int = 0) -> None:
        self.writes_left = after

    def free(self) -> None:
        self.writes_left = None

    def _tx(self) -> QueueStore._Tx:
        if self.writes_left is not None:
            if self.writes_left <= 0:
                raise sqlite3.OperationalError(FULL)
            self.writes_left -= 1
        return super()._tx()


class Events(EventBus):
    """Keeps what was announced."""

    def __init__(self) -> None:
        super().__init__(None)
        self.sent: list[tuple[str, dict[str, Any]]] = []

    def publish(self, topic: str, payload: dict[str, Any]) -> None:
        self.sent.append((topic, payload))

    def states(self, job_id: int) -> list[str]:
        return [p["state"] for t, p in self.sent if t == "job" and p.get("type") == "state" and p["job"] == job_id]

    def daemon(self, kind: str, **extra: Any) -> None:
        self.sent.append(("daemon", {"type": kind, **extra}))


class Harness:
    def __init__(self, tmp_path: Path, workers: int = 1) -> None:
        self.store = FullDisk(tmp_path / "q.sqlite3")
        self.engine = FakeEngine()
        self.events = Events()
        self.changes = 0
        self.sched = Scheduler(self.store, self.events, self.engine.run, self.engine.remove, workers=workers,
                               checkpoint_interval=3.0, on_change=self._changed, retry_interval=0.02)  # fmt: skip
        self.loop: asyncio.Task[None] | None = None

    def _changed(self) -> None:
        self.changes += 1

    def start(self) -> None:
        self.loop = asyncio.create_task(self.sched.run())

    def state(self, job_id: int) -> str:
        job = self.store.get(job_id)
        assert job is not None
        return job.state

    async def stop(self) -> None:
        await self.sched.shutdown(2.0)
        assert self.loop is not None
        await self.loop


def refused(info: pytest.ExceptionInfo[QueueWriteError], *words: str) -> None:
    """A one-line refusal with the queue_error code, SQLite's reason and the given words."""
    assert info.value.code == protocol.QUEUE_ERROR
    message = info.value.message
    assert "\n" not in message and FULL in message, message
    for word in words:
        assert word in message, message


def errors(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]


def test_job_end_is_kept_not_announced_holds_the_queue_and_is_saved_when_the_disk_is_freed(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    async def scenario() -> None:
        h = Harness(tmp_path)
        h.store.add([("/a", {}), ("/b", {})])
        h.start()
        await settle()
        h.store.fill()
        h.engine.gate("/a").set()  # the encode ends: its result is beside the media, the queue cannot say so
        await settle()
        assert h.state(1) == "running" and h.events.states(1) == ["running"]  # not announced as completed
        assert h.sched.queue_error == FULL and h.engine.started == ["/a"]  # held: job 2 does not start
        row = h.sched.row(h.store.get(1))
        assert (row["state"], row["unsaved"]) == ("running", "completed")
        assert h.sched.detail(h.store.get(1))["unsaved"] == "completed"
        assert ("daemon", {"type": "queue_error", "error": FULL}) in h.events.sent
        await asyncio.sleep(0.2)  # about ten retries, each failing the same way
        [error] = errors(caplog)
        assert FULL in error and "no new job starts" in error

        h.store.free()
        await settle()
        job = h.store.get(1)
        assert job.state == "completed" and job.result["output_file"] == "/a.out.mkv"
        assert job.progress == {"step": "done", "percent": 100.0}
        assert h.events.states(1) == ["running", "completed"] and h.sched.row(job)["unsaved"] is None
        assert h.sched.queue_error is None and h.engine.started == ["/a", "/b"]  # the queue resumed by itself
        assert ("daemon", {"type": "queue_error", "error": None}) in h.events.sent
        assert "can be written again" in caplog.text
        await h.stop()

    asyncio.run(scenario())


def test_a_new_failure_after_recovery_is_logged_again(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    async def scenario() -> None:
        h = Harness(tmp_path)
        h.start()
        for _ in range(2):
            h.store.fill()
            with pytest.raises(QueueWriteError):
                h.sched.add([("/a", {})])
            h.store.free()
            await settle()
            assert h.sched.queue_error is None
        assert len(errors(caplog)) == 2
        await h.stop()

    asyncio.run(scenario())


def test_add_is_refused_and_adds_nothing(tmp_path: Path) -> None:
    async def scenario() -> None:
        h = Harness(tmp_path)
        h.start()
        h.store.fill()
        with pytest.raises(QueueWriteError) as info:  # the add itself fails
            h.sched.add([("/a", {}), ("/b", {})])
        refused(info, "no job was added")
        with pytest.raises(QueueWriteError) as info:  # the queue is known to fail: its retry fails first
            h.sched.add([("/a", {})])
        refused(info, "nothing was added")
        assert list(h.store.all()) == [] and h.events.states(1) == [] and h.engine.started == []
        h.store.free()
        assert h.sched.add([("/a", {})]) == [1]  # the request's retry finds the queue writable again
        await settle()
        assert h.engine.started == ["/a"]
        await h.stop()

    asyncio.run(scenario())


def test_pause_is_refused_and_pauses_nothing(tmp_path: Path) -> None:
    async def scenario() -> None:
        h = Harness(tmp_path, workers=2)
        h.store.add([("/a", {}), ("/b", {}), ("/c", {})])
        h.start()
        await settle()
        h.store.fill()
        with pytest.raises(QueueWriteError) as info:
            h.sched.pause([1])
        refused(info, "job 1 is not paused")
        with pytest.raises(QueueWriteError) as info:
            h.sched.pause([], all_jobs=True)
        refused(info, "nothing was paused")
        assert not h.engine.controls["/a"].paused and h.state(1) == "running"
        assert not h.sched.held and h.store.get_meta("held") != "1"
        h.store.free()
        h.store.fill(after=2)  # the retry's write and job 1's pause commit; job 2's does not
        with pytest.raises(QueueWriteError) as info:
            h.sched.pause([1, 2])
        refused(info, "job 2 is not paused", "paused before that: 1")
        assert h.engine.controls["/a"].paused and h.state(1) == "paused" and h.events.states(1)[-1] == "paused"
        assert not h.engine.controls["/b"].paused and h.state(2) == "running" and "paused" not in h.events.states(2)
        await asyncio.sleep(0.1)
        assert h.engine.started == ["/a", "/b"]  # job 1's worker is free, but the queue is held
        h.store.free()
        await settle()
        assert h.engine.started == ["/a", "/b", "/c"]
        await h.stop()

    asyncio.run(scenario())


def test_resume_is_refused_and_resumes_nothing(tmp_path: Path) -> None:
    async def scenario() -> None:
        h = Harness(tmp_path)
        h.store.add([("/a", {}), ("/b", {})], paused=True)
        h.start()
        await settle()
        h.sched.resume([1])
        await settle()
        h.sched.pause([1], all_jobs=True)
        h.store.fill()
        with pytest.raises(QueueWriteError) as info:
            h.sched.resume([1])
        refused(info, "job 1 is not running")
        with pytest.raises(QueueWriteError) as info:
            h.sched.resume([], all_jobs=True)
        refused(info, "nothing was resumed")
        assert h.engine.controls["/a"].paused and h.state(1) == "paused" and h.state(2) == "paused"
        assert h.sched.held and h.store.get_meta("held") == "1"
        h.store.free()
        assert sorted(h.sched.resume([], all_jobs=True)) == [1, 2]
        assert not h.engine.controls["/a"].paused and h.state(1) == "running" and not h.sched.held
        await h.stop()

    asyncio.run(scenario())


def test_cancel_is_refused_before_it_stops_anything(tmp_path: Path) -> None:
    async def scenario() -> None:
        h = Harness(tmp_path)
        h.store.add([("/a", {})])
        h.start()
        await settle()
        h.store.fill()  # the queue's last write succeeded: cancel tries one before it stops anything
        with pytest.raises(QueueWriteError) as info:
            await h.sched.cancel([1])
        refused(info, "nothing was cancelled")
        assert 1 in h.sched.active and not h.engine.controls["/a"].stop_requested and h.engine.removed == []
        h.store.free()
        assert await h.sched.cancel([1]) == [1] and h.state(1) == "cancelled"
        await h.stop()

    asyncio.run(scenario())


def test_cancel_failing_after_the_files_are_removed_is_kept_and_never_starts_the_job_again(tmp_path: Path) -> None:
    async def scenario() -> None:
        h = Harness(tmp_path)
        h.store.add([("/a", {}), ("/b", {})])
        h.start()
        await settle()

        def remove_then_fill(input_file: str, options: JobOptions) -> None:
            h.engine.removed.append(input_file)
            h.store.fill()  # the disk fills up while the files are removed

        h.sched.remover = remove_then_fill
        with pytest.raises(QueueWriteError) as info:
            await h.sched.cancel([1])
        refused(info, "job 1 stopped, its files removed, saved as cancelled once it can")
        assert h.engine.removed == ["/a"] and h.state(1) == "running" and "cancelled" not in h.events.states(1)
        assert h.sched.row(h.store.get(1))["unsaved"] == "cancelled"
        with pytest.raises(protocol.ProtocolError) as bad:
            h.sched.pause([1])  # refused for the queue, not started again
        assert bad.value.code == protocol.QUEUE_ERROR
        await asyncio.sleep(0.1)
        assert h.state(1) == "running" and 1 not in h.sched.active
        h.store.free()
        await settle()
        assert h.state(1) == "cancelled" and h.events.states(1)[-1] == "cancelled"
        assert h.engine.started == ["/a", "/b"]  # job 2 took the free worker; job 1 never ran again
        await h.stop()

    asyncio.run(scenario())


def test_a_start_that_cannot_be_saved_starts_nothing(tmp_path: Path) -> None:
    async def scenario() -> None:
        h = Harness(tmp_path)
        h.store.add([("/a", {})])
        h.store.fill()
        h.start()
        await asyncio.sleep(0.1)
        assert h.engine.started == [] and h.state(1) == "queued" and h.sched.queue_error == FULL
        h.store.free()
        await settle()
        assert h.engine.started == ["/a"] and h.state(1) == "running"
        await h.stop()

    asyncio.run(scenario())


def test_a_job_with_bad_options_fails_in_memory_until_saved(tmp_path: Path) -> None:
    async def scenario() -> None:
        h = Harness(tmp_path)
        h.store.add([("/bad", {"mode": "nope"}), ("/a", {})])
        h.store.fill()
        h.sched.fill()
        assert h.state(1) == "queued" and h.sched.row(h.store.get(1))["unsaved"] == "failed"
        assert h.engine.started == [] and h.state(2) == "queued"
        h.sched.fill()  # held: nothing is tried while the queue is known to fail
        assert h.engine.started == []
        h.store.free()
        assert h.sched.retry()
        h.sched.fill()
        await settle()
        assert h.state(1) == "failed" and "mode" in (h.store.get(1).error or "")
        assert h.events.states(1) == ["failed"] and h.engine.started == ["/a"]
        await h.sched.shutdown(2.0)

    asyncio.run(scenario())


def test_shutdown_with_the_disk_full_says_what_was_not_saved(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    async def scenario() -> None:
        h = Harness(tmp_path, workers=2)
        h.store.add([("/a", {}), ("/b", {})])
        h.start()
        await settle()
        h.sched.pause([2])
        h.store.fill()
        await h.stop()
        assert h.state(1) == "running" and h.state(2) == "paused"  # a restart requeues job 1: nothing lost
        assert "stopping with changes not saved (job 1 queued, job 2 progress)" in caplog.text
        assert h.events.states(1) == ["running"]

    asyncio.run(scenario())
