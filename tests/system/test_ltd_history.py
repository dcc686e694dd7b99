"""History, statistics, `clean` and notifications of the real ltd, on real encodes of short clips.

Four jobs end four ways: two complete, an HEVC source is skipped, and a source that is damaged while its
job waits paused fails. Their byte totals are compared with the real files' sizes; notifications go to
a real HTTP receiver on 127.0.0.1 through Apprise's `json://`.
"""

from __future__ import annotations

import json
import shutil
import sqlite3
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import run_ffmpeg
from tests.system.support import FAST_DEFAULTS, Ltd, wait_until

FINAL = ("completed", "failed", "cancelled", "skipped")


@pytest.fixture
def four_sources(tmp_path: Path, tiny_video: Path) -> dict[str, Path]:
    """Two x264 clips to encode, an HEVC one to skip, and one to damage while its job waits."""
    lib = tmp_path / "lib"
    lib.mkdir()
    paths = {name: lib / f"{name}.mkv" for name in ("a", "b", "hevc", "bad")}
    shutil.copy(tiny_video, paths["a"])
    run_ffmpeg(
        "-f", "lavfi", "-i", "testsrc=s=160x96:r=25:d=3", "-c:v", "libx264", "-preset", "ultrafast", str(paths["b"])
    )  # fmt: skip
    run_ffmpeg(
        "-f", "lavfi", "-i", "testsrc2=s=160x96:r=25:d=1", "-c:v", "libx265", "-preset", "ultrafast",
        "-x265-params", "log-level=error", str(paths["hevc"]),
    )  # fmt: skip
    shutil.copy(tiny_video, paths["bad"])
    return paths


class Receiver:
    """A tiny HTTP server that keeps every JSON body posted to it (what Apprise's json:// sends)."""

    def __init__(self) -> None:
        self.bodies: list[dict[str, Any]] = []
        received = self.bodies

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                received.append(json.loads(self.rfile.read(length) or b"{}"))
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"json://127.0.0.1:{self.server.server_address[1]}/"

    def titles(self) -> list[str]:
        return [str(body.get("title", "")) for body in self.bodies]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    server = Receiver()
    yield server
    server.close()


def run_four_jobs(ltd: Ltd, src: dict[str, Path]) -> dict[str, int]:
    """Queue the four jobs, damage `bad` while it waits paused, and wait until every job has ended."""
    ids = ltd.ctl("add", str(src["a"]), str(src["b"]), str(src["hevc"])).stdout.split()
    [bad] = ltd.ctl("add", str(src["bad"]), "--paused").stdout.split()
    src["bad"].write_bytes(b"\x1a\x45\xdf\xa3 not a video any more" * 500)
    ltd.ctl("resume", bad)
    jobs = dict(zip(("a", "b", "hevc", "bad"), map(int, [*ids, bad]), strict=True))
    for job_id in jobs.values():
        ltd.wait_job(job_id, lambda j: j["state"] in FINAL, timeout=120)
    return jobs


def test_stats_history_and_clean_after_four_jobs(
    ltd_factory: Callable[..., Ltd], four_sources: dict[str, Path]
) -> None:
    lib = four_sources["a"].parent
    sizes_in = {name: path.stat().st_size for name, path in four_sources.items()}
    ltd = ltd_factory(f"library_roots = [{json.dumps(str(lib))}]\n" + FAST_DEFAULTS).start()
    jobs = run_four_jobs(ltd, four_sources)
    states = {name: ltd.job(job_id)["state"] for name, job_id in jobs.items()}
    assert states == {"a": "completed", "b": "completed", "hevc": "skipped", "bad": "failed"}, states
    outputs = {name: lib / f"{name}_q30.mkv" for name in ("a", "b")}
    bytes_in = sizes_in["a"] + sizes_in["b"]
    bytes_out = sum(path.stat().st_size for path in outputs.values())

    stats = json.loads(ltd.ctl("stats", "--json").stdout)
    total = stats["total"]
    assert (total["files"], total["completed"], total["skipped"], total["failed"]) == (2, 2, 1, 1), total
    assert (total["bytes_in"], total["bytes_out"], total["saved"]) == (bytes_in, bytes_out, bytes_in - bytes_out)
    assert total["saved_percent"] == round(100 * (bytes_in - bytes_out) / bytes_in, 2)
    assert total["wall_seconds"] > 0 and total["cpu_seconds"] > 0
    [library] = stats["libraries"]
    assert library["library"] == str(lib.resolve()) and library["bytes_in"] == bytes_in

    history = {row["job_id"]: row for row in json.loads(ltd.ctl("history", "--json").stdout)["jobs"]}
    assert set(history) == set(jobs.values())
    for name in ("a", "b"):
        row = history[jobs[name]]
        assert row["state"] == "completed" and row["output"] == str(outputs[name])
        assert (row["source_size"], row["output_size"]) == (sizes_in[name], outputs[name].stat().st_size)
        assert (row["mode"], row["encoder"], row["preset"], row["quality"]) == ("qp", "libx265", "ultrafast", 30)
        assert row["cpu_seconds"] > 0 and row["wall_seconds"] > 0 and row["library"] == str(lib.resolve())
    assert "already HEVC" in history[jobs["hevc"]]["reason"]
    failed = history[jobs["bad"]]
    assert failed["state"] == "failed" and failed["reason"] and "[Errno" not in failed["reason"]
    assert failed["source_size"] == four_sources["bad"].stat().st_size
    only_failed = json.loads(ltd.ctl("history", "--failed", "--json").stdout)["jobs"]
    assert [row["job_id"] for row in only_failed] == [jobs["bad"]]
    assert json.loads(ltd.ctl("history", "--since", "0", "--json").stdout)["jobs"] == []

    listing = ltd.ctl("list").stdout
    assert "already HEVC" in listing  # the REASON column
    text = ltd.ctl("stats").stdout
    assert "files done: 2 (1 skipped, 1 failed)" in text and f"library {lib.resolve()}:" in text

    assert ltd.ctl("clean", "--state", "failed").stdout.startswith("removed 1 finished job(s)")
    assert [r["id"] for r in json.loads(ltd.ctl("list", "--json").stdout)["jobs"]] == sorted(jobs.values())[:3]
    ltd.ctl("clean")
    assert json.loads(ltd.ctl("list", "--json").stdout)["jobs"] == []
    assert len(json.loads(ltd.ctl("history", "--json").stdout)["jobs"]) == 4  # the history stays
    assert json.loads(ltd.ctl("stats", "--json").stdout)["total"] == total
    refused = ltd.ctl("clean", "--state", "running", check=False)
    assert refused.returncode == 2 and "not a finished state" in refused.stderr


def test_history_survives_a_restart(ltd_factory: Callable[..., Ltd], four_sources: dict[str, Path]) -> None:
    ltd = ltd_factory().start()
    [job] = ltd.ctl("add", str(four_sources["a"])).stdout.split()
    ltd.wait_job(int(job), lambda j: j["state"] in FINAL, timeout=120)
    assert ltd.proc is not None
    ltd.proc.terminate()
    assert ltd.proc.wait(15) == 0
    ltd.start()
    [row] = json.loads(ltd.ctl("history", "--json").stdout)["jobs"]
    assert row["job_id"] == int(job) and row["state"] == "completed"
    with sqlite3.connect(ltd.state_dir / "queue.sqlite3") as db:
        assert db.execute("PRAGMA user_version").fetchone()[0] >= 2


def test_a_notification_for_each_completed_and_failed_job_and_the_empty_queue(
    ltd_factory: Callable[..., Ltd], four_sources: dict[str, Path], receiver: Receiver
) -> None:
    config = FAST_DEFAULTS + f"[notify]\nurls = [{json.dumps(receiver.url)}]\n"
    ltd = ltd_factory(config).start()
    jobs = run_four_jobs(ltd, four_sources)
    wait_until(lambda: len([t for t in receiver.titles() if "queue empty" in t]) >= 1, 30, "queue_empty")
    wait_until(lambda: len([t for t in receiver.titles() if "failed" in t]) >= 1, 30, "the failed job's message")
    titles = receiver.titles()
    completed = sorted(t for t in titles if ": completed " in t)
    assert completed == ["lazy-transcode: completed a.mkv", "lazy-transcode: completed b.mkv"], titles
    assert [t for t in titles if ": failed " in t] == ["lazy-transcode: failed bad.mkv"], titles
    assert not [t for t in titles if "hevc" in t]  # a skip is no event
    body = next(b for b in receiver.bodies if b["title"] == "lazy-transcode: failed bad.mkv")
    assert str(four_sources["bad"]) in body["message"] and "[Errno" not in body["message"]
    assert ltd.job(jobs["a"])["state"] == "completed"


def test_notify_events_choose_what_is_sent(
    ltd_factory: Callable[..., Ltd], four_sources: dict[str, Path], receiver: Receiver
) -> None:
    config = FAST_DEFAULTS + f'[notify]\nurls = [{json.dumps(receiver.url)}]\nevents = ["failed"]\n'
    ltd = ltd_factory(config).start()
    run_four_jobs(ltd, four_sources)
    wait_until(lambda: bool(receiver.titles()), 30, "the failed job's message")
    ltd.request("ping")  # the daemon answers on
    assert ltd.proc is not None
    ltd.proc.terminate()
    assert ltd.proc.wait(15) == 0  # and stops cleanly, having sent what waited
    assert receiver.titles() == ["lazy-transcode: failed bad.mkv"]


def test_a_receiver_that_is_down_costs_the_daemon_nothing(
    ltd_factory: Callable[..., Ltd], four_sources: dict[str, Path], receiver: Receiver
) -> None:
    url = receiver.url
    receiver.close()  # nobody listens there any more
    ltd = ltd_factory(FAST_DEFAULTS + f"[notify]\nurls = [{json.dumps(url)}]\n").start()
    jobs = run_four_jobs(ltd, four_sources)
    assert ltd.job(jobs["b"])["state"] == "completed"
    ltd.request("ping")
    assert ltd.proc is not None and ltd.proc.poll() is None
