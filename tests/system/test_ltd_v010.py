"""ltd started on what 0.1.0 left: its queue database and, beside the media, its state files."""

from __future__ import annotations

import re
import shutil
import sqlite3
from collections.abc import Callable
from pathlib import Path

from lazy_transcode.media.probe import scan_video_frames
from tests.fixtures.v010 import FIXTURE, RECORDED_AT, lay_out_library
from tests.system.support import Ltd


def test_the_01_queue_and_state_resume(ltd_factory: Callable[..., Ltd], tmp_path: Path) -> None:
    (tmp_path / "library").mkdir()
    library = lay_out_library(tmp_path / "library", names=("film.mp4",))
    ltd = ltd_factory()
    ltd.state_dir.mkdir(parents=True)
    queue = ltd.state_dir / "queue.sqlite3"
    shutil.copy(FIXTURE / "queue.sqlite3", queue)
    with sqlite3.connect(queue) as db:  # the library moved with its state: the same rewrite as the files'
        db.execute("UPDATE jobs SET input = replace(input, ?, ?)", (RECORDED_AT, str(library)))
    ltd.start()
    job = ltd.wait_job(2, lambda j: j["state"] not in ("queued", "running"), timeout=120)
    assert job["state"] == "completed", job
    log = ltd.log.read_text()
    # job 2 was running when 0.1.0 died: it goes on from the two pieces it had recorded
    assert sorted(int(n) for n in re.findall(r"film.mp4: encoding piece (\d+) \(", log)) == [2, 3]
    assert scan_video_frames(library / "film_q30.mkv").frame_count == 200
    assert ltd.job(1)["state"] == "completed" and ltd.job(1)["result"]["output_size"] == 500
    assert ltd.job(4)["state"] == "paused" and ltd.job(4)["priority"] == 5
    later = ltd.wait_job(3, lambda j: j["state"] not in ("queued", "running"), timeout=60)
    assert later["state"] == "failed" and "later.mp4" in later["error"]  # its file never existed here
