"""The real ltd running real encodes: pause/resume, SIGKILL and SIGTERM mid-encode, cancel.

Media: a 60 s 320x180 clip (1500 frames), libx265 ultrafast QP 30 in 2 s pieces, checkpoint every 1 s.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import signal
import time
from collections.abc import Callable
from pathlib import Path

from lazy_transcode.media.probe import probe, scan_video_frames
from tests.system.support import FAST_DEFAULTS, Ltd, ffmpeg_pids, group_members, proc_stat, state_checkpoint, wait_until


def frames(path: Path) -> int:
    info = probe(path)
    assert info.video is not None
    return scan_video_frames(path, info.video.index).frame_count


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def encoding(job: dict) -> bool:
    return job["state"] == "running" and job["row"]["step"] == "encode" and bool(job["process_groups"])


def pieces_done(library: Path) -> int:
    return len(state_checkpoint(library).get("pieces", {}))


def check_output(library: Path, source_frames: int) -> Path:
    [output] = library.glob("film_q30.mkv")
    assert frames(output) == source_frames
    assert not list(library.glob(".lazy_transcode_state/*.work"))
    return output


def test_add_run_pause_resume_done(ltd_factory: Callable[..., Ltd], library: Path) -> None:
    source = library / "film.mp4"
    source_sha, source_frames = sha(source), frames(source)
    ltd = ltd_factory(FAST_DEFAULTS.replace("piece_seconds = 2", "piece_seconds = 10")).start()
    assert ltd.ctl("add", str(library), "--verify", "quick").stdout.split() == ["1"]
    assert ltd.job(1)["options"]["verify"] == "quick"
    for _attempt in range(10):  # catch the job while an ffmpeg runs (not between two pieces)
        ltd.wait_job(1, encoding, timeout=60)
        time.sleep(0.3)  # let it burn some CPU first
        assert ltd.ctl("pause", "1").stdout.strip() == "paused: 1"
        job = ltd.job(1)
        if job["process_groups"]:
            break
        ltd.ctl("resume", "1")
    assert job["state"] == "paused"
    pids = [pid for pgid in job["process_groups"] for pid in group_members(pgid)]
    assert pids and set(pids) <= set(ffmpeg_pids(library))
    time.sleep(0.2)
    before = {pid: proc_stat(pid) for pid in pids}
    assert all(stat is not None and stat[0] == "T" for stat in before.values()), before
    time.sleep(1.0)
    after = {pid: proc_stat(pid) for pid in pids}
    print(f"\n  paused ffmpeg {pids}: states {[a[0] for a in after.values() if a]}, CPU ticks {before} -> {after}")
    assert all(after[pid] is not None and after[pid][2] == before[pid][2] for pid in pids), (before, after)  # type: ignore[index]
    listing = json.loads(ltd.ctl("list", "--json").stdout)
    assert [(r["id"], r["state"]) for r in listing["jobs"]] == [(1, "paused")]
    assert ltd.ctl("resume", "1").stdout.strip() == "resumed: 1"
    assert all(proc_stat(pid) is None or proc_stat(pid)[0] != "T" for pid in pids)  # type: ignore[index]
    watched = ltd.ctl("watch", "1", "--json", timeout=120)
    assert json.loads(watched.stdout.splitlines()[-1]).get("state") == "completed"
    job = ltd.job(1)
    assert job["state"] == "completed" and job["result"]["status"] == "completed"
    check_output(library, source_frames)
    assert sha(source) == source_sha
    assert "completed" in ltd.ctl("list").stdout


def test_sigkill_while_paused_and_while_running_loses_nothing(
    ltd_factory: Callable[..., Ltd], library: Path, tiny_video: Path
) -> None:
    source_frames = frames(library / "film.mp4")
    ltd = ltd_factory().start()
    ltd.ctl("add", str(library))
    ltd.ctl("add", str(library / "film.mp4"), "--paused", "--priority", "-5", check=False)  # refused: already queued
    shutil.copy(tiny_video, library / "other.mkv")  # a second job that stays queued behind the first
    ltd.ctl("add", str(library / "other.mkv"), "--paused")
    ltd.wait_job(1, encoding, timeout=60)
    wait_until(lambda: pieces_done(library) >= 2, 60, "two finished pieces")
    ltd.ctl("pause", "1")
    before = json.loads(ltd.ctl("list", "--json").stdout)["jobs"]

    ltd.kill_group()  # SIGKILL while paused
    wait_until(lambda: not ffmpeg_pids(library), 5, "ffmpeg to die with the daemon")
    ltd.start()
    after = json.loads(ltd.ctl("list", "--json").stdout)["jobs"]
    assert [(r["id"], r["state"], r["file"]) for r in after] == [(r["id"], r["state"], r["file"]) for r in before]
    assert [r["state"] for r in after] == ["paused", "paused"]
    time.sleep(1.0)
    assert ltd.job(1)["state"] == "paused" and not ffmpeg_pids(library)  # paused stays paused

    ltd.ctl("resume", "1")
    ltd.wait_job(1, encoding, timeout=60)
    done_before_kill = pieces_done(library)
    wait_until(lambda: pieces_done(library) >= done_before_kill + 2, 60, "two more pieces")
    checkpointed = pieces_done(library)
    planned = len(state_checkpoint(library).get("plan", []))
    ltd.kill_group()  # SIGKILL while running
    wait_until(lambda: not ffmpeg_pids(library), 5, "ffmpeg to die with the daemon")
    log_size = ltd.log.stat().st_size
    ltd.start()  # the running job resumes by itself
    job = ltd.wait_job(1, lambda j: j["state"] in ("completed", "failed"), timeout=120)
    assert job["state"] == "completed", job
    log = ltd.log.read_text()[log_size:]
    assert "resuming 1 interrupted job(s): 1" in log and "resuming from step 'encode'" in log, log
    assert checkpointed >= 4
    print(f"\n  SIGKILL with {checkpointed} of {planned} pieces checkpointed")
    check_output(library, source_frames)
    assert ltd.job(2)["state"] == "paused"


def sigterm(ltd: Ltd) -> float:
    assert ltd.proc is not None
    start = time.monotonic()
    ltd.proc.send_signal(signal.SIGTERM)
    assert ltd.proc.wait(15) == 0
    return time.monotonic() - start


def test_sigterm_mid_encode_exits_0_within_10s_and_resumes(ltd_factory: Callable[..., Ltd], library: Path) -> None:
    source_frames = frames(library / "film.mp4")
    ltd = ltd_factory().start()
    ltd.ctl("add", str(library))
    ltd.wait_job(1, encoding, timeout=60)
    ltd.ctl("pause", "1")
    took = sigterm(ltd)  # a paused job still checkpoints and stops
    print(f"\n  SIGTERM with a paused job: exit 0 after {took:.2f} s")
    assert took < 10, took
    assert not ffmpeg_pids(library)
    ltd.start()
    assert ltd.job(1)["state"] == "paused"
    ltd.ctl("resume", "1")
    ltd.wait_job(1, encoding, timeout=60)
    wait_until(lambda: pieces_done(library) >= 1, 60, "a finished piece")
    took = sigterm(ltd)
    print(f"  SIGTERM mid-encode: exit 0 after {took:.2f} s")
    assert took < 10, took
    assert not ffmpeg_pids(library)
    assert not (ltd.root / "run" / "ltd.sock").exists()
    log_size = ltd.log.stat().st_size
    ltd.start()
    job = ltd.wait_job(1, lambda j: j["state"] in ("completed", "failed"), timeout=120)
    assert job["state"] == "completed", job
    assert "resuming from step 'encode'" in ltd.log.read_text()[log_size:]
    check_output(library, source_frames)


def test_cancel_removes_partial_files_and_keeps_the_source(ltd_factory: Callable[..., Ltd], library: Path) -> None:
    source = library / "film.mp4"
    second = library / "film2.mp4"
    shutil.copy(source, second)
    source_sha = sha(source)
    ltd = ltd_factory().start()
    assert ltd.ctl("add", str(source), str(second)).stdout.split() == ["1", "2"]
    ltd.wait_job(1, encoding, timeout=60)
    wait_until(lambda: pieces_done(library) >= 1, 60, "a finished piece")
    ltd.ctl("pause", "1")  # job 1 holds its stopped ffmpeg; job 2 takes the free worker
    ltd.wait_job(2, encoding, timeout=60)
    assert len(list(library.glob(".lazy_transcode_state/*.state.json"))) == 2
    assert ltd.ctl("cancel", "2").stdout.strip() == "cancelled: 2"  # a running job
    assert ltd.ctl("cancel", "1").stdout.strip() == "cancelled: 1"  # a paused one (its ffmpeg is stopped)
    assert ltd.job(1)["state"] == "cancelled" and ltd.job(2)["state"] == "cancelled"
    assert not ffmpeg_pids(library)
    assert not [p for p in library.glob(".lazy_transcode_state/*") if not p.name.endswith(".lease")]
    assert sorted(p.name for p in library.iterdir() if not p.name.startswith(".")) == ["film.mp4", "film2.mp4"]
    assert sha(source) == source_sha and sha(second) == source_sha
    refused = ltd.ctl("cancel", "1", check=False)
    assert refused.returncode == 1 and "already cancelled" in refused.stderr
