"""The schedule with the real ltd: a window that closes mid-encode checkpoints the job and ends its ffmpeg,
the next window continues it to an output identical to an uninterrupted run; `pause --after-current` and
`resume --now`.

The schedule's clock is moved by `$LAZY_TRANSCODE_CLOCK_FILE` (seconds added to the real time), so the
window `01:00-02:00` opens and closes when the test says.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

import av

from lazy_transcode.daemon.timetable import CLOCK_FILE_ENV
from tests.system.support import FAST_DEFAULTS, Ltd, ffmpeg_pids, state_checkpoint, wait_until
from tests.system.test_ltd_jobs import encoding, frames, pieces_done

SCHEDULED = FAST_DEFAULTS + '\n[schedule]\nwindows = ["01:00-02:00"]\n'


def set_clock(clock: Path, hour: int, minute: int) -> None:
    """Make the schedule's clock read `hour:minute` today, local time (written atomically)."""
    target = datetime.now().replace(hour=hour, minute=minute, second=0, microsecond=0)
    tmp = clock.with_suffix(".tmp")
    tmp.write_text(f"{target.timestamp() - time.time():.3f}\n")
    os.replace(tmp, clock)


def scheduled_ltd(ltd_factory: Callable[..., Ltd]) -> tuple[Ltd, Path]:
    ltd = ltd_factory(SCHEDULED)
    clock = ltd.root / "clock"
    set_clock(clock, 1, 30)  # inside the window
    return ltd.start(extra_env={CLOCK_FILE_ENV: str(clock)}), clock


def video_packets(path: Path) -> list[tuple[int, str]]:
    """(pts, SHA-256 of the data) of every video packet, in file order."""
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        return [(int(p.pts or 0), hashlib.sha256(bytes(p)).hexdigest()) for p in container.demux(stream) if p.size]


def test_a_window_closing_mid_encode_checkpoints_and_the_next_one_continues_identically(
    ltd_factory: Callable[..., Ltd], library: Path, tmp_path: Path, clip_60s: Path
) -> None:
    source = library / "film.mp4"
    ltd, clock = scheduled_ltd(ltd_factory)
    ltd.ctl("add", str(source))
    ltd.wait_job(1, encoding, timeout=60)
    wait_until(lambda: pieces_done(library) >= 2, 60, "two finished pieces")

    set_clock(clock, 3, 0)  # the window closes
    job = ltd.wait_job(1, lambda j: j["state"] != "running", timeout=30)
    assert job["state"] == "queued", job
    wait_until(lambda: not ffmpeg_pids(library), 10, "the job's ffmpeg to end")
    checkpointed = pieces_done(library)
    planned = len(state_checkpoint(library).get("plan", []))
    assert 2 <= checkpointed < planned, (checkpointed, planned)
    status = ltd.ctl("status").stdout
    assert "outside schedule, next window 01:00" in status, status
    time.sleep(2.0)  # outside the window nothing starts again
    assert ltd.job(1)["state"] == "queued" and not ffmpeg_pids(library)
    assert pieces_done(library) == checkpointed

    log_size = ltd.log.stat().st_size
    set_clock(clock, 1, 10)  # the next window
    job = ltd.wait_job(1, lambda j: j["state"] in ("completed", "failed"), timeout=180)
    assert job["state"] == "completed", job
    log = ltd.log.read_text()[log_size:]
    assert "resuming from step 'encode'" in log, log
    encoded = re.search(r"film\.mp4: (\d+) pieces to encode", log)
    assert encoded and int(encoded[1]) <= planned - checkpointed, log  # the checkpointed pieces are kept
    print(f"\n  window closed with {checkpointed} of {planned} pieces checkpointed")

    reference = tmp_path / "reference"  # the same job, never interrupted
    reference.mkdir()
    shutil.copy(clip_60s, reference / "film.mp4")
    [ref_id] = map(int, ltd.ctl("add", str(reference / "film.mp4")).stdout.split())
    assert ltd.wait_job(ref_id, lambda j: j["state"] in ("completed", "failed"), timeout=180)["state"] == "completed"
    resumed, uninterrupted = library / "film_q30.mkv", reference / "film_q30.mkv"
    assert frames(resumed) == frames(source)
    assert video_packets(resumed) == video_packets(uninterrupted)


def test_pause_after_current_finishes_the_running_job_and_resume_now_runs_one_outside_the_window(
    ltd_factory: Callable[..., Ltd], tmp_path: Path, clip_60s: Path, tiny_video: Path
) -> None:
    media = tmp_path / "media"
    media.mkdir()
    shutil.copy(clip_60s, media / "first.mp4")
    shutil.copy(tiny_video, media / "second.mkv")
    ltd, clock = scheduled_ltd(ltd_factory)
    assert ltd.ctl("add", str(media / "first.mp4"), str(media / "second.mkv")).stdout.split() == ["1", "2"]
    ltd.wait_job(1, encoding, timeout=60)
    assert "after current" in ltd.ctl("pause", "--after-current").stdout
    assert "after current: running jobs finish" in ltd.ctl("status").stdout
    assert "after current" in ltd.ctl("list").stdout
    assert ltd.job(1)["state"] in ("running", "completed")  # not paused: it goes on
    assert ltd.wait_job(1, lambda j: j["state"] in ("completed", "failed"), timeout=120)["state"] == "completed"
    time.sleep(1.5)
    assert ltd.job(2)["state"] == "queued" and ltd.request("status")["daemon"]["running"] == 0

    set_clock(clock, 3, 0)  # outside the window
    wait_until(lambda: "outside schedule" in ltd.ctl("status").stdout, 10, "the window to close")
    assert "outside schedule, next window 01:00" in ltd.ctl("list").stdout
    ltd.ctl("resume", "--all")  # releases --after-current; the schedule still holds the job
    status = ltd.ctl("status").stdout
    assert "after current" not in status and "outside schedule, next window 01:00" in status, status
    time.sleep(1.5)
    assert ltd.job(2)["state"] == "queued"

    assert ltd.ctl("resume", "--now", "2").stdout.strip() == "resumed: 2"
    assert ltd.wait_job(2, lambda j: j["state"] in ("completed", "failed"), timeout=120)["state"] == "completed"
    assert (media / "second_q30.mkv").is_file()
    refused = ltd.ctl("resume", "--now", "--all", check=False)
    assert refused.returncode == 2, refused
