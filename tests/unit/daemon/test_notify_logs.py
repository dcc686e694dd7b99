"""sd_notify messages over a real datagram socket, the watchdog rule, and journal log prefixes."""

from __future__ import annotations

import logging
import os
import socket
import sys
from pathlib import Path

import pytest

from lazy_transcode.daemon.logs import JournalFormatter, stderr_is_journal
from lazy_transcode.daemon.notify import Notifier, status_line, watchdog_interval


def test_notifier_sends_to_notify_socket(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "notify"
    sink = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sink.bind(str(path))
    sink.settimeout(2)
    monkeypatch.setenv("NOTIFY_SOCKET", str(path))  # sdnotify reads the real environment
    monkeypatch.setenv("WATCHDOG_USEC", "3000000")
    notifier = Notifier()
    notifier.ready("idle")
    notifier.watchdog()
    notifier.status("1 running")
    notifier.extend_timeout(12)
    notifier.stopping()
    got = [sink.recv(4096).decode() for _ in range(5)]
    assert got == [
        "READY=1\nSTATUS=idle",
        "WATCHDOG=1",
        "STATUS=1 running",
        "EXTEND_TIMEOUT_USEC=12000000",
        "STOPPING=1\nSTATUS=stopping",
    ]
    assert notifier.watchdog_interval == 1.5
    sink.close()


def test_without_notify_socket_everything_is_a_no_op() -> None:
    notifier = Notifier({})
    notifier.ready("idle")
    assert not notifier.enabled and notifier.watchdog_interval is None


def test_watchdog_interval_rules() -> None:
    assert watchdog_interval({"WATCHDOG_USEC": "1000000"}) == 0.5
    assert watchdog_interval({"WATCHDOG_USEC": "1000000", "WATCHDOG_PID": str(os.getpid())}) == 0.5
    assert watchdog_interval({"WATCHDOG_USEC": "1000000", "WATCHDOG_PID": "1"}) is None
    assert watchdog_interval({"WATCHDOG_USEC": "junk"}) is None
    assert watchdog_interval({}) is None


def test_status_line() -> None:
    assert status_line({"running": 1, "queued": 4, "paused": 1, "completed": 9}) == "1 running, 4 queued, 1 paused"
    assert status_line({"completed": 3}) == "idle"
    assert status_line({"queued": 2}, held=True) == "2 queued (queue held)"
    full = status_line({"running": 1, "queued": 1}, queue_error="database or disk is full")
    assert full == "queue cannot be written: database or disk is full; no new job starts; 1 running, 1 queued"


def test_journal_formatter_prefixes_priorities() -> None:
    fmt = JournalFormatter("%(message)s")
    record = logging.LogRecord("x", logging.ERROR, __file__, 1, "bad\nthing", None, None)
    assert fmt.format(record) == "<3>bad\n<3>thing"
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "fine", None, None)
    assert fmt.format(record) == "<6>fine"


def test_journal_detection_compares_stderr_identity(capfd: pytest.CaptureFixture[str]) -> None:
    st = os.fstat(sys.stderr.fileno())
    assert stderr_is_journal({"JOURNAL_STREAM": f"{st.st_dev}:{st.st_ino}"})
    assert not stderr_is_journal({"JOURNAL_STREAM": f"{st.st_dev}:{st.st_ino + 1}"})
    assert not stderr_is_journal({"JOURNAL_STREAM": "junk"})
    assert not stderr_is_journal({})
