"""The table of job state changes, enforced by `Scheduler.transition`: over a real SQLite queue and a real PUB socket.

An allowed change is committed, published, logged and reported; a refused one raises IllegalTransition and
leaves the row, the subscribers and systemd's status exactly as they were.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import zmq

from lazy_transcode import protocol
from lazy_transcode.daemon.events import EventBus
from lazy_transcode.daemon.queue_store import QueueStore
from lazy_transcode.daemon.scheduler import Scheduler
from lazy_transcode.daemon.states import ENTRY_STATES, TRANSITIONS, IllegalTransition, allowed, check
from lazy_transcode.jobs.api import JobControl, JobOptions, JobResult
from lazy_transcode.protocol import ACTIVE_STATES, FINAL_STATES, JobState

PAIRS = [(old, new) for old in JobState for new in JobState]
ALLOWED = [pair for pair in PAIRS if allowed(*pair)]
REFUSED = [pair for pair in PAIRS if not allowed(*pair)]


class Subscriber:
    """A SUB socket on the bus's real PUB socket; `received()` returns what was published since the last call."""

    def __init__(self, endpoint: str) -> None:
        self.ctx = zmq.Context()
        pub = self.ctx.socket(zmq.PUB)
        pub.bind(endpoint)
        self.sub = self.ctx.socket(zmq.SUB)
        self.sub.setsockopt(zmq.SUBSCRIBE, b"")
        self.sub.connect(endpoint)
        self.bus = EventBus(pub)
        while True:  # a subscription takes a moment to reach the PUB side: publish until one arrives
            self.bus.daemon("hello")
            if self.sub.poll(50):
                break
        self.received()

    def received(self) -> list[dict[str, Any]]:
        self.bus.daemon("mark")  # one publisher keeps its order: everything before the mark has arrived with it
        got = []
        while self.sub.poll(2000):
            topic, body = self.sub.recv_multipart()
            message = protocol.unpack(body)
            if topic == b"daemon" and message["type"] == "mark":
                return [m for m in got if m.get("type") != "hello"]
            got.append(message)
        raise AssertionError("the mark never arrived")

    def close(self) -> None:
        self.ctx.destroy(linger=0)


@pytest.fixture(scope="module")
def subscriber(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Subscriber]:
    sub = Subscriber(f"ipc://{tmp_path_factory.mktemp('events')}/events.sock")
    yield sub
    sub.close()


async def no_engine(input_file: str, options: JobOptions, control: JobControl) -> JobResult:
    raise AssertionError("no job runs in these tests: the scheduler's loop is not started")


def scheduler(tmp_path: Path, bus: EventBus, changes: list[int]) -> tuple[Scheduler, QueueStore]:
    store = QueueStore(tmp_path / "q.sqlite3")
    sched = Scheduler(store, bus, no_engine, lambda _input, _options: None, on_change=lambda: changes.append(1))
    return sched, store


def test_the_table_names_every_state_and_only_final_states_are_dead_ends() -> None:
    assert set(TRANSITIONS) == set(JobState)
    assert {state for state, targets in TRANSITIONS.items() if not targets} == FINAL_STATES
    assert ENTRY_STATES <= ACTIVE_STATES and set(JobState) == ACTIVE_STATES | FINAL_STATES
    assert all(old not in targets for old, targets in TRANSITIONS.items())  # a same-state write is no transition
    assert all(allowed(JobState.RUNNING, final) for final in FINAL_STATES)
    assert not allowed(None, JobState.RUNNING) and not allowed(None, JobState.COMPLETED)
    with pytest.raises(IllegalTransition, match="a new job cannot be added as running"):
        check(None, None, JobState.RUNNING)


def test_add_commits_then_announces_each_new_job(tmp_path: Path, subscriber: Subscriber) -> None:
    async def scenario() -> None:
        changes: list[int] = []
        sched, store = scheduler(tmp_path, subscriber.bus, changes)
        assert sched.add([("/a.mkv", {"mode": "qp"}), ("/b.mkv", {})], priority=3) == [1, 2]
        assert sched.add([("/c.mkv", {})], paused=True) == [3]
        assert sched.add([]) == []
        rows = [(j.id, j.state, j.priority) for j in store.all()]
        assert rows == [(1, "queued", 3), (2, "queued", 3), (3, "paused", 0)]
        assert subscriber.received() == [
            {"v": 1, "type": "state", "job": 1, "state": "queued", "file": "/a.mkv"},
            {"v": 1, "type": "state", "job": 2, "state": "queued", "file": "/b.mkv"},
            {"v": 1, "type": "state", "job": 3, "state": "paused", "file": "/c.mkv"},
        ]
        assert len(changes) == 2

    asyncio.run(scenario())


@pytest.mark.parametrize(("old", "new"), ALLOWED, ids=[f"{o}->{n}" for o, n in ALLOWED])
def test_an_allowed_transition_is_committed_announced_and_logged(
    tmp_path: Path, subscriber: Subscriber, caplog: pytest.LogCaptureFixture, old: JobState, new: JobState
) -> None:
    async def scenario() -> None:
        changes: list[int] = []
        sched, store = scheduler(tmp_path, subscriber.bus, changes)
        [job_id] = sched.add([("/film.mkv", {})])
        if old is not JobState.QUEUED:
            store.set_state(job_id, old)  # the starting point, written as it is
        subscriber.received()
        changes.clear()
        caplog.set_level(logging.INFO, logger="lazy_transcode.daemon.scheduler")
        error = "boom" if new is JobState.FAILED else None
        sched.transition(job_id, new, error=error, progress={"step": "encode", "percent": 50.0})
        job = store.get(job_id)
        assert job is not None and (job.state, job.error, job.progress["percent"]) == (new, error, 50.0)
        event = {"v": 1, "type": "state", "job": job_id, "state": str(new), "file": "/film.mkv"}
        assert subscriber.received() == [event | ({"error": "boom"} if error else {})]
        assert changes == [1]
        assert f"job {job_id} {old} -> {new}" in caplog.text

    asyncio.run(scenario())


@pytest.mark.parametrize(("old", "new"), REFUSED, ids=[f"{o}->{n}" for o, n in REFUSED])
def test_a_refused_transition_raises_and_changes_nothing(
    tmp_path: Path, subscriber: Subscriber, caplog: pytest.LogCaptureFixture, old: JobState, new: JobState
) -> None:
    async def scenario() -> None:
        changes: list[int] = []
        sched, store = scheduler(tmp_path, subscriber.bus, changes)
        [job_id] = sched.add([("/film.mkv", {})])
        store.set_state(job_id, old, error="kept" if old is JobState.FAILED else None, progress={"percent": 7.0})
        before = store.get(job_id)
        subscriber.received()
        changes.clear()
        with pytest.raises(IllegalTransition, match=f"job {job_id}: {old} -> {new} is not an allowed transition"):
            sched.transition(job_id, new, result={"status": "completed"}, error="new", keep_progress=False)
        assert store.get(job_id) == before  # state, result, error, progress and `updated` untouched
        assert subscriber.received() == [] and changes == []
        assert any(r.levelno == logging.ERROR and "not an allowed transition" in r.message for r in caplog.records)

    asyncio.run(scenario())
