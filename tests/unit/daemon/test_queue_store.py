"""The persistent queue: order, states, recovery, versions and migrations, and no lost commit under SIGKILL."""

from __future__ import annotations

import logging
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from lazy_transcode.daemon.queue_store import (
    SCHEMA_VERSION,
    Change,
    QueueStore,
    QueueVersionError,
    progress_change,
    state_change,
)

V0_1_0_QUEUE = Path(__file__).parents[2] / "fixtures" / "v0_1_0" / "queue.sqlite3"


def test_add_order_and_states(tmp_path: Path) -> None:
    store = QueueStore(tmp_path / "q.sqlite3")
    assert raw(tmp_path / "q.sqlite3", "PRAGMA user_version") == [(SCHEMA_VERSION,)]  # a new queue is current
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


def raw(db: Path, sql: str, *params: Any) -> list[tuple[Any, ...]]:
    """A statement on the file itself, through a connection of its own (committed and closed)."""
    con = sqlite3.connect(db, isolation_level=None)
    try:
        return con.execute(sql, params).fetchall()
    finally:
        con.close()


def copy_of_v0_1_0(tmp_path: Path) -> Path:
    db = tmp_path / "queue.sqlite3"
    shutil.copyfile(V0_1_0_QUEUE, db)
    return db


def test_a_0_1_0_queue_is_migrated_keeping_every_row_and_resumes(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    db = copy_of_v0_1_0(tmp_path)
    assert raw(db, "PRAGMA user_version") == [(0,)]
    rows_0_1_0 = raw(db, "SELECT * FROM jobs ORDER BY id")
    caplog.set_level(logging.INFO, logger="lazy_transcode.daemon.queue_store")

    store = QueueStore(db)
    assert SCHEMA_VERSION >= 1 and raw(db, "PRAGMA user_version") == [(SCHEMA_VERSION,)]
    assert raw(db, "SELECT * FROM jobs ORDER BY id") == rows_0_1_0  # every column of every row kept
    jobs = {job.id: job for job in store.all()}
    assert {i: (j.input, j.state, j.priority) for i, j in jobs.items()} == {
        1: ("/tmp/fx/done.mp4", "completed", 0),
        2: ("/tmp/fx/film.mp4", "running", 0),
        3: ("/tmp/fx/later.mp4", "queued", 0),
        4: ("/tmp/fx/held.mp4", "paused", 5),
    }
    assert all(j.options["mode"] == "qp" and j.options["qp"] == 30 for j in jobs.values())
    assert jobs[1].result is not None and jobs[1].result["output_file"] == "/tmp/fx/done_q30.mkv"
    assert jobs[2].progress == {"step": "encode", "percent": 50.0}
    assert store.get_meta("held") == "0"
    assert f"migrated from version 0 to {SCHEMA_VERSION}" in caplog.text

    assert store.requeue_interrupted() == [2]
    assert store.get(2).state == "queued" and store.get(2).progress == {"step": "encode", "percent": 50.0}
    assert store.next_queued().id == 2 and store.add([("/tmp/fx/new.mp4", {})]) == [5]  # first in line again
    store.close()

    before = raw(db, "SELECT * FROM jobs ORDER BY id")
    caplog.clear()
    again = QueueStore(db)  # already current: no migration, no write
    assert again.db.total_changes == 0 and "migrated" not in caplog.text
    assert raw(db, "PRAGMA user_version") == [(SCHEMA_VERSION,)]
    assert raw(db, "SELECT * FROM jobs ORDER BY id") == before
    again.close()


def test_unknown_states_become_failed_saying_so(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    db = copy_of_v0_1_0(tmp_path)
    raw(db, "UPDATE jobs SET state = 'exploded' WHERE id = 3")
    others = raw(db, "SELECT * FROM jobs WHERE id != 3 ORDER BY id")
    store = QueueStore(db)
    job = store.get(3)
    assert job is not None and job.state == "failed"
    assert job.error == "the queue held an unknown state 'exploded' for this job"
    assert (job.input, job.priority, job.options["qp"]) == ("/tmp/fx/later.mp4", 0, 30)
    assert raw(db, "SELECT * FROM jobs WHERE id != 3 ORDER BY id") == others
    assert "job 3 had an unknown state 'exploded'" in caplog.text
    store.close()
    raw(db, "UPDATE jobs SET state = 'running ' WHERE id = 4")  # a hand edit of a current file is caught too
    store = QueueStore(db)
    assert store.get(4).state == "failed" and "'running '" in store.get(4).error
    store.close()


def newer_wal_queue(db: Path, version: int) -> None:
    store = QueueStore(db)
    store.add([("/a.mkv", {"mode": "qp"})])
    store.close()
    raw(db, f"PRAGMA user_version = {version}")


def newer_rollback_journal_queue(db: Path, version: int) -> None:
    raw(db, "CREATE TABLE jobs (id INTEGER PRIMARY KEY, state TEXT, shiny_new_column BLOB)")
    raw(db, f"PRAGMA user_version = {version}")


@pytest.mark.parametrize("make", [newer_wal_queue, newer_rollback_journal_queue])
@pytest.mark.parametrize("version", [SCHEMA_VERSION + 1, 1000, -1])
def test_a_queue_of_an_unknown_version_is_refused_and_left_byte_identical(
    tmp_path: Path, make: Any, version: int
) -> None:
    db = tmp_path / "queue.sqlite3"
    make(db, version)
    files = sorted(os.listdir(tmp_path))
    data = db.read_bytes()
    with pytest.raises(QueueVersionError) as info:
        QueueStore(db)
    message = str(info.value)
    assert f"version {version}" in message and "left untouched" in message and "\n" not in message
    if version > SCHEMA_VERSION:
        assert "newer lazy-transcode" in message
    assert db.read_bytes() == data and sorted(os.listdir(tmp_path)) == files


def test_a_full_database_raises_sqlites_reason_and_the_next_write_works(tmp_path: Path) -> None:
    store = QueueStore(tmp_path / "q.sqlite3")
    [job_id] = store.add([("/a.mkv", {})])
    pages = store.db.execute("PRAGMA page_count").fetchone()[0]
    store.db.execute(f"PRAGMA max_page_count = {pages}")  # SQLITE_FULL as soon as the file must grow
    with pytest.raises(sqlite3.OperationalError, match="database or disk is full"):
        store.add([(f"/{'x' * 2000}{n}.mkv", {}) for n in range(20)])
    assert not store.db.in_transaction
    store.db.execute("PRAGMA max_page_count = 1000000")  # the disk is freed
    assert store.add([("/b.mkv", {})]) == [job_id + 1]
    assert [job.input for job in store.all()] == ["/a.mkv", "/b.mkv"]


def test_changes_fold_into_one_that_leaves_the_row_as_both_would(tmp_path: Path) -> None:
    one, two = QueueStore(tmp_path / "one.sqlite3"), QueueStore(tmp_path / "two.sqlite3")
    for store in (one, two):
        store.add([("/a.mkv", {})])
        store.set_state(1, "failed", error="old")
    first = state_change("queued", progress={"step": "encode", "percent": 40.0})  # clears the error
    second = progress_change({"step": "encode", "percent": 50.0})
    third = state_change("cancelled", keep_progress=False)
    for change in (first, second, third):
        one.apply(1, change)
    two.apply(1, first | second | third)
    fields = ("state", "result", "error", "progress", "updated")
    assert [getattr(one.get(1), f) for f in fields] == [getattr(two.get(1), f) for f in fields]
    assert (two.get(1).state, two.get(1).error, two.get(1).progress) == ("cancelled", None, None)
    assert (first | second).over(one.get(1)).progress == {"step": "encode", "percent": 50.0}
    with pytest.raises(ValueError, match="cannot set 'input'"):
        one.apply(1, Change({"input": "/elsewhere.mkv"}))
