"""ltd whose own disk (the queue's) fills up: a real SQLITE_FULL on a small tmpfs, freed again later.

The media stay on the test's ordinary disk, so the encodes go on; only the queue cannot be written. The
60 s clip takes seconds to encode: time enough to fill the disk between a job's start and its end.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import socket
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from lazy_transcode.media.probe import scan_video_frames
from tests.system.small_disk import SmallDisk
from tests.system.support import Ltd, ffmpeg_pids, wait_until

FULL = "database or disk is full"


@pytest.fixture
def small_ltd(ltd_factory: Callable[..., Ltd]) -> Iterator[tuple[Ltd, SmallDisk]]:
    """An ltd whose state_dir is a 1 MiB disk of its own."""
    ltd = ltd_factory()
    disk = SmallDisk(ltd.state_dir).mount()
    ltd.wrap = disk.enter
    try:
        yield ltd, disk
    finally:
        ltd.cleanup()
        disk.close()


def films(tmp_path: Path, clip: Path, *names: str) -> list[Path]:
    library = tmp_path / "library"
    library.mkdir(exist_ok=True)
    for name in names:
        shutil.copy(clip, library / name)
    return [library / name for name in names]


def running(job: dict) -> bool:
    return job["state"] == "running" and bool(job["process_groups"])


def unsaved_end(job: dict) -> bool:
    """The job ended, and how is not saved: the queue still says running."""
    return job["state"] == "running" and job.get("unsaved") == "completed"


def refused(ltd: Ltd, *args: str) -> str:
    done = ltd.ctl(*args, check=False)
    assert done.returncode == 1 and done.stdout == "", (args, done)
    [line] = done.stderr.splitlines()
    assert FULL in line, line
    return line


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_a_full_disk_holds_the_queue_refuses_writes_and_resumes_by_itself_when_freed(
    small_ltd: tuple[Ltd, SmallDisk], tmp_path: Path, clip_60s: Path
) -> None:
    ltd, disk = small_ltd
    first, second, third = films(tmp_path, clip_60s, "film.mp4", "film2.mp4", "film3.mp4")
    notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    notify.bind(str(tmp_path / "notify"))
    notify.setblocking(False)
    ltd.start(extra_env={"NOTIFY_SOCKET": str(tmp_path / "notify")})
    assert ltd.ctl("add", str(first), str(second)).stdout.split() == ["1", "2"]
    ltd.wait_job(1, running, timeout=60)
    assert disk.fill() > 0

    job = ltd.wait_job(1, unsaved_end, timeout=120)  # the encode ended; its end cannot be committed
    assert (first.parent / "film_q30.mkv").exists() and job["error"] is None
    status = ltd.ctl("status").stdout.splitlines()
    assert f"queue error: {FULL}; no new job starts; 1 job change(s) not saved yet" in "\n".join(status), status
    assert json.loads(ltd.ctl("--json", "status").stdout)["daemon"]["queue_error"] == FULL
    listing = ltd.ctl("list").stdout
    assert "completed*" in listing and "not saved in the queue yet" in listing, listing
    rows = json.loads(ltd.ctl("list", "--json").stdout)["jobs"]
    assert [(r["id"], r["state"], r["unsaved"]) for r in rows] == [(1, "running", "completed"), (2, "queued", None)]
    assert ltd.ctl("status", "1").stdout.startswith("job 1: completed, not saved in the queue yet (saved as running)")
    ltd.ctl("ping")

    assert "nothing was added" in refused(ltd, "add", str(third))
    assert "nothing was paused" in refused(ltd, "pause", "2")
    assert "nothing was resumed" in refused(ltd, "resume", "--all")
    assert "nothing was cancelled" in refused(ltd, "cancel", "2")
    assert ltd.job(2)["state"] == "queued" and not ffmpeg_pids(second.parent)  # held: job 2 does not start
    log = ltd.log.read_text()
    assert log.count("cannot be written") == 1, log  # one error line, though every retry failed again
    assert "ERROR" in next(line for line in log.splitlines() if "cannot be written" in line)
    statuses = []
    while True:
        try:
            statuses.append(notify.recv(4096).decode())
        except BlockingIOError:
            break
    notify.close()
    assert any(f"STATUS=queue cannot be written: {FULL}; no new job starts; 1 running" in s for s in statuses)

    disk.free()  # the queue resumes by itself: job 1's end is committed, job 2 runs
    job = ltd.wait_job(1, lambda j: j["state"] == "completed", timeout=30)
    assert job["unsaved"] is None and job["result"]["output_file"] == str(first.parent / "film_q30.mkv")
    assert json.loads(ltd.ctl("--json", "status").stdout)["daemon"]["queue_error"] is None
    assert "queue error" not in ltd.ctl("status").stdout
    assert ltd.wait_job(2, lambda j: j["state"] in ("completed", "failed"), timeout=120)["state"] == "completed"
    assert ltd.ctl("add", str(third), "--paused").stdout.split() == ["3"]
    assert "can be written again" in ltd.log.read_text()


def test_killed_with_its_disk_full_then_restarted_the_finished_job_ends_as_its_record_says(
    small_ltd: tuple[Ltd, SmallDisk], tmp_path: Path, clip_60s: Path
) -> None:
    """A job whose end could not be committed is `running` in the queue after a restart, so it runs again.

    The job engine then meets the finished job's record beside the media: nothing is encoded again and
    the placed output stays untouched.
    """
    ltd, disk = small_ltd
    [source] = films(tmp_path, clip_60s, "film.mp4")
    output = source.parent / "film_q30.mkv"
    ltd.start()
    ltd.ctl("add", str(source))
    ltd.wait_job(1, running, timeout=60)
    disk.fill()
    ltd.wait_job(1, unsaved_end, timeout=120)
    placed = sha(output)
    record_kept = bool(list(source.parent.glob(".lazy_transcode_state/*.state.json")))
    ltd.kill_group()  # before anything is saved: the queue on the disk says job 1 is running
    wait_until(lambda: not ffmpeg_pids(source.parent), 5, "ffmpeg to die with the daemon")

    disk.free()
    before = len(ltd.log.read_text())
    ltd.start()
    job = ltd.wait_job(1, lambda j: j["state"] not in ("queued", "running"), timeout=120)
    log = ltd.log.read_text()[before:]
    assert "resuming 1 interrupted job(s): 1" in log, log
    assert job["state"] == "completed" and job["result"]["output_file"] == str(output), job
    assert scan_video_frames(output).frame_count == scan_video_frames(source).frame_count
    assert sorted(p.name for p in source.parent.iterdir() if not p.name.startswith(".")) == [source.name, output.name]
    assert record_kept, "a finished job keeps its record beside the media"
    assert "encoding piece" not in log, "a finished job must not encode a piece again"
    assert sha(output) == placed


def test_ltd_started_on_a_full_disk_exits_1_with_one_line(small_ltd: tuple[Ltd, SmallDisk]) -> None:
    ltd, disk = small_ltd

    def start_on_a_full_disk() -> str:
        disk.fill()
        before = len(ltd.log.read_text()) if ltd.log.exists() else 0
        ltd.start(wait=False)
        assert ltd.proc is not None and ltd.proc.wait(15) == 1
        [line] = ltd.log.read_text()[before:].splitlines()
        disk.free()
        return line

    assert start_on_a_full_disk() == f"ltd: cannot write to state_dir {ltd.state_dir}: No space left on device"
    ltd.start().proc.terminate()  # a queue and a lock file now exist (and no WAL after a clean stop)
    assert ltd.proc is not None and ltd.proc.wait(15) == 0
    queue = ltd.state_dir / "queue.sqlite3"
    assert start_on_a_full_disk() == f"ltd: cannot open the queue {queue}: disk I/O error"
    ltd.start().ctl("ping")
