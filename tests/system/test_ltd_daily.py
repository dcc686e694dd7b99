"""The daily commands as a new user tries them, each rough edge of 0.1.0 reproduced on the real ltd.

Real daemon, real sockets, real ffmpeg; short clips (the 60 s one only where a job must still be running).
"""

from __future__ import annotations

import json
import shutil
import subprocess
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from lazy_transcode.jobs.preflight import encoder_problem
from lazy_transcode.media.binary import ffmpeg_exe
from lazy_transcode.media.join import JoinError, join_pieces
from tests.system.support import BIN, LTCTL, Ltd, wait_until

FINAL = ("completed", "failed", "cancelled", "skipped")


def encoding(job: dict) -> bool:
    return job["state"] == "running" and job["row"]["step"] == "encode" and bool(job["process_groups"])


def copies(tiny_video: Path, folder: Path, *names: str) -> list[Path]:
    folder.mkdir(exist_ok=True)
    out = []
    for name in names:
        shutil.copy(tiny_video, folder / name)
        out.append(folder / name)
    return out


def test_cancel_all_cancels_every_pending_job(
    ltd_factory: Callable[..., Ltd], tiny_video: Path, tmp_path: Path
) -> None:
    a, b = copies(tiny_video, tmp_path / "lib", "a.mkv", "b.mkv")
    ltd = ltd_factory().start()
    assert ltd.ctl("add", str(a), str(b), "--paused").stdout.split() == ["1", "2"]
    done = ltd.ctl("cancel", "--all")
    assert done.stdout.strip() == "cancelled: 1 2"
    assert [ltd.job(i)["state"] for i in (1, 2)] == ["cancelled", "cancelled"]
    again = ltd.ctl("cancel", "--all")  # nothing left to cancel is no error
    assert again.stdout.strip() == "nothing cancelled"


def test_cancel_a_b_c_cancels_what_it_can_and_names_the_rest(
    ltd_factory: Callable[..., Ltd], tiny_video: Path, tmp_path: Path
) -> None:
    a, b = copies(tiny_video, tmp_path / "lib", "a.mkv", "b.mkv")
    ltd = ltd_factory().start()
    ltd.ctl("add", str(a))
    ltd.wait_job(1, lambda j: j["state"] in FINAL, timeout=120)
    ltd.ctl("add", str(b), "--paused")
    done = ltd.ctl("cancel", "1", "2", "99", check=False)
    assert done.returncode == 1, (done.stdout, done.stderr)
    assert done.stdout.strip() == "cancelled: 2"
    assert done.stderr.splitlines() == ["ltctl: job 1: already completed", "ltctl: job 99: no such job"]
    assert ltd.job(2)["state"] == "cancelled" and ltd.job(1)["state"] == "completed"
    nothing = ltd.ctl("cancel", "1", "2", "99", check=False)  # nothing could be cancelled: an error reply
    assert nothing.returncode == 1 and nothing.stdout == ""
    assert nothing.stderr.strip() == (
        "ltctl: nothing cancelled: job 1: already completed; job 2: already cancelled; job 99: no such job"
    )
    ltd.ctl("add", str(a), "--paused", "--again")
    machine = ltd.ctl("--json", "cancel", "3", "99", check=False)
    assert machine.returncode == 1
    assert json.loads(machine.stdout) == {"cancelled": [3], "refused": [{"id": 99, "reason": "no such job"}]}


class Watch:
    """`ltctl watch --json` running in the background, its lines collected as they come."""

    def __init__(self, ltd: Ltd, *args: str) -> None:
        self.proc = subprocess.Popen(
            [LTCTL, "--socket", ltd.socket, "watch", "--json", *args], stdout=subprocess.PIPE, text=True, env=ltd.env
        )
        self.lines: list[dict] = []
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.append(json.loads(line))

    def saw(self, job: int, state: str) -> bool:
        return any(e.get("job", e.get("id")) == job and e.get("state") == state for e in self.lines)

    def end(self, timeout: float) -> int:
        code = self.proc.wait(timeout)
        self.reader.join(5)
        return code


def test_watch_follows_the_queue_through_a_pause_in_another_shell(
    ltd_factory: Callable[..., Ltd], library: Path
) -> None:
    ltd = ltd_factory().start()
    ltd.ctl("add", str(library))
    ltd.wait_job(1, encoding, timeout=60)
    watch = Watch(ltd)
    try:
        wait_until(lambda: bool(watch.lines), 20, "watch to show the queue")
        ltd.ctl("pause", "1")  # another shell pauses the only job: the watch goes on
        wait_until(lambda: watch.saw(1, "paused"), 20, "watch to see the pause")
        ltd.ctl("resume", "1")
        code = watch.end(timeout=180)
    finally:
        if watch.proc.poll() is None:
            watch.proc.kill()
    assert code == 0
    assert watch.saw(1, "completed"), watch.lines[-3:]
    assert ltd.job(1)["state"] == "completed"


def test_watch_ends_at_once_with_only_parked_jobs_and_exits_1_when_a_job_failed(
    ltd_factory: Callable[..., Ltd], tiny_video: Path, tmp_path: Path
) -> None:
    a, bad = copies(tiny_video, tmp_path / "lib", "a.mkv", "bad.mkv")
    ltd = ltd_factory().start()
    ltd.ctl("add", str(a), "--paused")
    parked = ltd.ctl("watch", "--json", timeout=30)  # a job paused before the watch is not waited for
    assert parked.returncode == 0 and json.loads(parked.stdout.splitlines()[0])["state"] == "paused"
    ltd.ctl("add", str(bad), "--paused")
    bad.write_bytes(b"no video here" * 1000)
    watch = Watch(ltd, "2")
    try:
        wait_until(lambda: bool(watch.lines), 20, "watch to show the job")
        ltd.ctl("resume", "2")
        assert watch.end(timeout=60) == 1  # the job it watched failed
    finally:
        if watch.proc.poll() is None:
            watch.proc.kill()
    ltd.ctl("resume", "1")
    assert ltd.ctl("watch", "--json", timeout=120).returncode == 0
    assert ltd.job(1)["state"] == "completed"


def test_watch_help_documents_its_exit_codes(ltd_factory: Callable[..., Ltd]) -> None:
    ltd = ltd_factory()
    text = " ".join(ltd.ctl("watch", "--help").stdout.split())
    assert "Exit 0 when every job followed completed or was skipped, 1 when one failed" in text
    assert "a pause in another shell does not end it" in text


def test_add_refuses_what_cannot_work_before_queueing(
    ltd_factory: Callable[..., Ltd], tiny_video: Path, tmp_path: Path
) -> None:
    [a] = copies(tiny_video, tmp_path / "lib", "a.mkv")
    ltd = ltd_factory().start()
    refused = {
        "--mode vbr --qp 26": "--qp 26 is a fixed CRF/QP, but --mode vbr searches a bitrate",
        "--preset nosuch": "libx265 has no preset 'nosuch'",
        "--encoder libsvtav1 --preset ultrafast": "libsvtav1 has no preset 'ultrafast'",
        "--encoder nosuch": "unknown encoder 'nosuch'",
        "--qp 99": "--qp 99 is outside libx265's range 0..51",
    }
    for words, reason in refused.items():
        done = ltd.ctl("add", str(a), *words.split(), check=False)
        assert done.returncode == 1 and reason in done.stderr, (words, done.stderr)
        assert len(done.stderr.strip().splitlines()) == 1 and done.stdout == ""
    exe = ffmpeg_exe()
    why = encoder_problem(exe, "hevc_nvenc")
    if why is not None:  # no NVIDIA GPU here (CI): the hardware encoder is refused at add, not when it starts
        done = ltd.ctl("add", str(a), "--encoder", "hevc_nvenc", "--preset", "p4", check=False)
        assert done.returncode == 1 and "encoder 'hevc_nvenc' does not work here" in done.stderr, done.stderr
    assert json.loads(ltd.ctl("list", "--json").stdout)["jobs"] == []


def test_add_of_a_queued_file_with_other_options_exits_1(
    ltd_factory: Callable[..., Ltd], tiny_video: Path, tmp_path: Path
) -> None:
    [a] = copies(tiny_video, tmp_path / "lib", "a.mkv")
    ltd = ltd_factory().start()
    assert ltd.ctl("add", str(a), "--paused", "--qp", "30").stdout.split() == ["1"]
    same = ltd.ctl("add", str(a), "--qp", "30")  # the same request again: nothing to do, no error
    assert same.stdout == "" and "already queued as job 1" in same.stderr
    plain = ltd.ctl("add", str(a))
    assert plain.returncode == 0 and "already queued as job 1" in plain.stderr
    other = ltd.ctl("add", str(a), "--qp", "24", check=False)
    assert other.returncode == 1, (other.stdout, other.stderr)
    assert "already queued as job 1 with other options (qp 24, not 30)" in other.stderr
    assert [r["id"] for r in json.loads(ltd.ctl("list", "--json").stdout)["jobs"]] == [1]


def test_lazy_transcode_on_a_folder_without_videos_says_so_and_exits_1(tmp_path: Path) -> None:
    folder = tmp_path / "docs"
    folder.mkdir()
    (folder / "notes.txt").write_text("no video here")
    done = subprocess.run([str(BIN / "lazy-transcode"), str(folder)], capture_output=True, text=True, timeout=60)
    assert done.returncode == 1 and done.stderr.strip() == f"no video files under {folder}"


def test_list_shows_why_a_job_failed(ltd_factory: Callable[..., Ltd], tiny_video: Path, tmp_path: Path) -> None:
    [bad] = copies(tiny_video, tmp_path / "lib", "bad.mkv")
    ltd = ltd_factory().start()
    ltd.ctl("add", str(bad), "--paused")
    bad.write_bytes(b"no video here" * 1000)
    ltd.ctl("resume", "1")
    job = ltd.wait_job(1, lambda j: j["state"] in FINAL, timeout=60)
    assert job["state"] == "failed"
    header, row = ltd.ctl("list").stdout.splitlines()[:2]
    assert "REASON" in header.split()
    assert "not a readable media file" in row and "[Errno" not in row
    assert job["error"].endswith(json.loads(ltd.ctl("list", "--json").stdout)["jobs"][0]["reason"])


def test_a_paused_job_shows_no_stale_fps_or_eta(ltd_factory: Callable[..., Ltd], library: Path) -> None:
    ltd = ltd_factory().start()
    ltd.ctl("add", str(library))
    ltd.wait_job(1, lambda j: encoding(j) and j["row"]["fps"] is not None, timeout=60)
    ltd.ctl("pause", "1")
    [row] = json.loads(ltd.ctl("list", "--json").stdout)["jobs"]
    assert row["state"] == "paused" and (row["fps"], row["eta"]) == (None, None), row
    assert row["percent"] is not None  # how far it got stays
    status = ltd.ctl("status", "1").stdout
    assert "fps" not in status and "ETA" not in status, status


def test_status_job_prints_settings_as_words(ltd_factory: Callable[..., Ltd], tiny_video: Path, tmp_path: Path) -> None:
    [a] = copies(tiny_video, tmp_path / "lib", "a.mkv")
    ltd = ltd_factory().start()
    ltd.ctl("add", str(a))
    ltd.wait_job(1, lambda j: j["state"] in FINAL, timeout=120)
    text = ltd.ctl("status", "1").stdout
    for repr_like in ("{'", "False", "True", "None", "=", "setting="):
        assert repr_like not in text, (repr_like, text)
    assert "settings: mode qp, quality 30 (fixed CRF/QP, no search), encoder libx265, preset ultrafast" in text
    assert "result: completed -> " in text and "% saved" in text and "quality 30 (CRF/QP)" in text


def test_errors_name_ffmpeg_errors_in_words_not_averror_codes(tmp_path: Path) -> None:
    piece = tmp_path / "0001.mp4"
    piece.write_bytes(b"\x00\x00\x00\x18ftypmp42 but nothing else" * 10)
    with pytest.raises(JoinError) as caught:
        join_pieces([piece], tmp_path / "out.mp4")
    assert "[Errno" not in str(caught.value) and "Invalid data found" in str(caught.value), caught.value


def test_help_shows_defaults_readable_metavars_and_the_default_mode(ltd_factory: Callable[..., Ltd]) -> None:
    ltd = ltd_factory()
    top = ltd.ctl("--help").stdout
    add = " ".join(ltd.ctl("add", "--help").stdout.split())
    cli = subprocess.run([str(BIN / "lazy-transcode"), "--help"], capture_output=True, text=True, check=True).stdout
    cli = " ".join(cli.split())
    for text in (top, add):
        assert "<float range>" not in text and "<int>" not in text and "{paths}" not in text, text
    assert "--timeout SECONDS" in top and "--socket ENDPOINT" in top and "--priority N" in add
    for text in (add, cli):
        for default in ("(default qp)", "(default libx265)", "medium for libx265", "(default mkv)"):
            assert default in text, (default, text)
        assert "searches the highest CRF/QP whose VMAF reaches --vmaf-target 95" in text


def test_a_tcp_socket_is_refused_at_once_with_exit_2(tmp_path: Path) -> None:
    for args in (["ping"], ["list"], ["pause", "--all"]):
        start = time.monotonic()
        done = subprocess.run(
            [LTCTL, "--socket", "tcp://192.0.2.1:5555", "--timeout", "30", *args],
            capture_output=True,
            text=True,
            timeout=25,  # it must not wait out --timeout 30
        )
        print(f"\n  {args}: exit {done.returncode} after {time.monotonic() - start:.2f} s")
        assert done.returncode == 2 and done.stdout == ""
        assert done.stderr.strip().splitlines() == [
            "ltctl: --socket: only ipc:// endpoints are supported (ltd listens on a local socket), not"
            " 'tcp://192.0.2.1:5555'"
        ]
