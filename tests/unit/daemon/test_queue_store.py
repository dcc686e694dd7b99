"""The persistent queue: order, states, recovery, and no lost commit under SIGKILL."""

from __future__ import annotations

import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from lazy_transcode.daemon.queue_store import QueueStore


def test_add_order_and_states(tmp_path: Path) -> None:
    store = QueueStore(tmp_path / "q.sqlite3")
    low = store.add([("/a.mkv", {"mode": "qp"}), ("/b.mkv", {"mode": "qp"})])
    high = store.add([("/c.mkv", {"mode": "vbr"})], priority=5)
    paused = store.add([("/d.mkv", {})], paused=True)
    assert low == [1, 2] and high == [3] and paused == [4]
    assert store.next_queued().id == 3  # priority first
    assert store.next_queued(exclude=[3]).id == 1
    store.set_state(3, "running")
    store.set_state(1, "completed", result={"status": "completed"}, progress={"step": "done", "percent": 100.0})
    store.set_state(2, "failed", error="boom")
    assert [j.id for j in store.all()] == [3, 4, 1, 2]
    assert store.get(2).error == "boom" and store.get(1).result == {"status": "completed"}
    assert store.counts()["running"] == 1 and store.counts()["paused"] == 1
    with pytest.raises(ValueError):
        store.set_state(1, "exploded")
    store.set_meta("held", "1")
    store.close()

    again = QueueStore(tmp_path / "q.sqlite3")
    assert again.requeue_interrupted() == [3]
    assert again.get(3).state == "queued" and again.get(4).state == "paused"
    assert again.get_meta("held") == "1"
    assert again.add([("/e.mkv", {})]) == [5]  # ids never reused


WRITER = """
import sys
from lazy_transcode.daemon.queue_store import QueueStore
store = QueueStore(__import__("pathlib").Path(sys.argv[1]))
n = 0
while True:
    n += 1
    [job_id] = store.add([(f"/media/{n}.mkv", {"mode": "qp"})])
    store.set_state(job_id, "running")
    print(job_id, flush=True)
"""


def test_sigkill_at_any_instant_loses_no_acknowledged_change(tmp_path: Path) -> None:
    db = tmp_path / "q.sqlite3"
    acknowledged: list[int] = []
    for delay in (0.3, 0.45, 0.6):
        proc = subprocess.Popen([sys.executable, "-c", WRITER, str(db)], stdout=subprocess.PIPE, text=True)
        time.sleep(delay)
        proc.send_signal(signal.SIGKILL)
        out, _ = proc.communicate()
        acknowledged += [int(line) for line in out.split()]
        con = sqlite3.connect(db)
        assert con.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        con.close()
        store = QueueStore(db)
        for job_id in acknowledged:
            job = store.get(job_id)
            assert job is not None and job.state in ("running", "queued")
        store.requeue_interrupted()
        store.close()
    assert len(acknowledged) > 3
