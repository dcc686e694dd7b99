"""The queue database failing (a full disk) is loud and loses nothing: the queue holds, the job's end is
kept and committed once the database takes writes again, writing requests get an error reply."""

from __future__ import annotations

import asyncio
import logging
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from lazy_transcode.daemon.queue_store import QueueStore
from lazy_transcode.daemon.scheduler import QueueWriteError, Scheduler
from lazy_transcode.daemon.worker import Outcome
from lazy_transcode.protocol import JobState
from tests.unit.daemon.test_states import Subscriber, no_engine, subscriber  # noqa: F401 (a fixture)


class FillingStore(QueueStore):
    """The real store, whose writes fail as SQLite's do on a full disk while `full` is set."""

    full = False

    def _fail(self) -> None:
        if self.full:
            raise sqlite3.OperationalError("database or disk is full")

    def set_state(self, *args: Any, **kwargs: Any) -> None:
        self._fail()
        super().set_state(*args, **kwargs)

    def add(self, *args: Any, **kwargs: Any) -> list[int]:
        self._fail()
        return super().add(*args, **kwargs)

    def set_meta(self, key: str, value: str) -> None:
        self._fail()
        super().set_meta(key, value)


def test_a_full_disk_holds_the_queue_and_keeps_the_jobs_end(
    tmp_path: Path,
    subscriber: Subscriber,  # noqa: F811 (the fixture)
    caplog: pytest.LogCaptureFixture,
) -> None:
    async def scenario() -> None:
        store = FillingStore(tmp_path / "q.sqlite3")
        sched = Scheduler(store, subscriber.bus, no_engine, lambda _i, _o: None)
        [first, second] = sched.add([("/a.mkv", {}), ("/b.mkv", {})])
        store.set_state(first, JobState.RUNNING)
        subscriber.received()
        store.full = True
        with caplog.at_level(logging.ERROR):
            sched._finish(first, Outcome(state=JobState.COMPLETED, result={"status": "completed"}))
        assert sched.queue_error and "database or disk is full" in sched.queue_error
        assert [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR] == [sched.queue_error]
        assert store.get(first).state == "running"  # not committed ...
        assert subscriber.received() == []  # ... so not announced
        assert sched.row(store.get(first))["state"] == "completed"  # but shown as it is
        sched.fill()
        assert store.get(second).state == "queued" and not sched.active  # the queue holds
        with pytest.raises(QueueWriteError, match="cannot be written"):
            sched.add([("/c.mkv", {})])
        store.full = False  # the disk is fixed
        sched.fill()
        assert sched.queue_error is None
        assert store.get(first).state == "completed" and store.get(first).result == {"status": "completed"}
        events = subscriber.received()
        assert {"job": first, "state": "completed"}.items() <= events[0].items()
        for task in [a.task for a in sched.active.values() if a.task]:
            task.cancel()

    asyncio.run(scenario())
