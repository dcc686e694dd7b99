"""Libraries looked after by the real ltd: files queued once they settle, with the library's defaults; files
being written, outputs, done files and state folders never queued; scans where inotify is off; a library
folder that is missing queues nothing until it is back; a file whose job was cancelled is not queued again
until it changes.
"""

from __future__ import annotations

import json
import shutil
import signal
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

from lazy_transcode.daemon.timetable import CLOCK_FILE_ENV
from tests.system.support import FAST_DEFAULTS, Ltd, wait_until


def library_config(*libraries: str) -> str:
    return FAST_DEFAULTS + "".join(libraries)


def library_table(path: Path, **keys: Any) -> str:
    lines = [f'\n[[library]]\npath = "{path}"']
    defaults = keys.pop("defaults", None)
    lines += [f"{key} = {json.dumps(value)}" for key, value in keys.items()]
    if defaults:
        lines.append("[library.defaults]")
        lines += [f"{key} = {json.dumps(value)}" for key, value in defaults.items()]
    return "\n".join(lines) + "\n"


def view(ltd: Ltd, path: Path) -> dict[str, Any]:
    [found] = [lib for lib in json.loads(ltd.ctl("library", "--json").stdout)["libraries"] if lib["path"] == str(path)]
    return found


def jobs(ltd: Ltd) -> list[dict[str, Any]]:
    return ltd.request("list")["jobs"]


def settled(ltd: Ltd, path: Path, seen: int) -> Callable[[], bool]:
    """The library has scanned, sees `seen` files, and has decided every one of them."""

    def check() -> bool:
        lib = view(ltd, path)
        return lib["last_scan"] is not None and lib["seen"] == seen and lib["pending"] == 0

    return check


def test_a_file_copied_into_a_watched_library_is_queued_once_settled_with_its_defaults(
    ltd_factory: Callable[..., Ltd], tmp_path: Path, tiny_video: Path
) -> None:
    lib = tmp_path / "films"
    lib.mkdir()
    config = library_config(
        library_table(lib, watch=True, scan_interval=3600, settle_seconds=2, defaults={"qp": 34, "verify": "quick"})
    )
    ltd = ltd_factory(config).start()
    wait_until(lambda: view(ltd, lib)["last_scan"] is not None, 20, "the first scan")
    assert view(ltd, lib)["watching"] is True

    data = tiny_video.read_bytes()
    chunks = [data[i : i + len(data) // 6 + 1] for i in range(0, len(data), len(data) // 6 + 1)]
    with (lib / "new.mkv").open("wb") as out:  # written slowly: it changes more often than it could settle
        for chunk in chunks:
            out.write(chunk)
            out.flush()
            time.sleep(0.6)
            assert jobs(ltd) == [], "a file still being written was queued"
    seen_unsettled = view(ltd, lib)
    assert seen_unsettled["seen"] == 1 and seen_unsettled["pending"] == 1, seen_unsettled

    wait_until(lambda: bool(jobs(ltd)), 30, "the settled file to be queued")
    [row] = jobs(ltd)
    assert row["file"] == str(lib / "new.mkv")
    job = ltd.job(row["id"])
    assert job["options"]["qp"] == 34 and job["options"]["verify"] == "quick"  # the library's defaults
    assert job["options"]["preset"] == "ultrafast"  # ... over the daemon's [defaults]
    job = ltd.wait_job(row["id"], lambda j: j["state"] in ("completed", "failed", "skipped"), timeout=120)
    assert job["state"] == "completed", job
    assert (lib / "new_q34.mkv").is_file()

    wait_until(settled(ltd, lib, seen=2), 30, "the output to be seen and decided")
    lib_view = view(ltd, lib)
    assert [r["file"] for r in jobs(ltd)] == [str(lib / "new.mkv")], "the output was queued"
    assert (lib_view["queued"], lib_view["skipped"]) == (1, 1), lib_view

    assert ltd.proc is not None
    ltd.proc.send_signal(signal.SIGTERM)
    assert ltd.proc.wait(15) == 0
    ltd.start()  # a fresh scan decides both files again, from the records and tags beside them
    wait_until(settled(ltd, lib, seen=2), 30, "both files decided after the restart")
    lib_view = view(ltd, lib)
    assert (lib_view["done"], lib_view["skipped"], lib_view["queued"]) == (1, 1, 0), lib_view
    assert [r["file"] for r in jobs(ltd)] == [str(lib / "new.mkv")], "a done file or the output was queued"
    table = ltd.ctl("library").stdout
    assert str(lib) in table and "inotify" in table and "SEEN" in table

    assert ltd.proc is not None
    ltd.proc.send_signal(signal.SIGTERM)
    assert ltd.proc.wait(15) == 0
    ltd.ctl("cleanup", str(lib), "--days", "0")  # the records are gone; the output's tag still names the source
    assert not list(lib.glob(".lazy_transcode_state/*.state.json"))
    ltd.start()
    wait_until(settled(ltd, lib, seen=2), 30, "both files decided without their records")
    lib_view = view(ltd, lib)
    assert (lib_view["done"], lib_view["skipped"], lib_view["queued"]) == (1, 1, 0), lib_view
    assert len(jobs(ltd)) == 1, "the source was queued again once its record was cleaned up"


def test_the_periodic_scan_finds_files_without_inotify_and_a_missing_folder_queues_nothing(
    ltd_factory: Callable[..., Ltd], tmp_path: Path, tiny_video: Path
) -> None:
    lib = tmp_path / "share"
    (lib / ".lazy_transcode_state").mkdir(parents=True)
    shutil.copy(tiny_video, lib / ".lazy_transcode_state" / "stray.mkv")  # never a library file
    nas = tmp_path / "nas"  # not mounted yet
    config = library_config(
        library_table(lib, watch=False, scan_interval=1, settle_seconds=1),
        library_table(nas, watch=False, scan_interval=1, settle_seconds=1),
    )
    ltd = ltd_factory(config).start()
    wait_until(lambda: view(ltd, lib)["last_scan"] is not None, 20, "the first scan")
    assert view(ltd, lib)["watching"] is False and view(ltd, lib)["seen"] == 0
    missing = view(ltd, nas)
    assert missing["reachable"] is False and "missing" in missing["error"], missing
    status = ltd.ctl("status").stdout
    assert f"library {nas}: unreachable" in status, status
    assert "NO" in ltd.ctl("library").stdout

    (lib / "sub").mkdir()
    shutil.copy(tiny_video, lib / "sub" / "clip.mkv")
    wait_until(lambda: bool(jobs(ltd)), 30, "the periodic scan to queue the file")
    assert [r["file"] for r in jobs(ltd)] == [str(lib / "sub" / "clip.mkv")]

    nas.mkdir()  # the share is back
    shutil.copy(tiny_video, nas / "show.mkv")
    wait_until(lambda: len(jobs(ltd)) == 2, 30, "the file on the share that came back")
    assert view(ltd, nas)["reachable"] is True
    assert "unreachable" not in ltd.ctl("status").stdout

    for row in jobs(ltd):
        assert ltd.wait_job(row["id"], lambda j: j["state"] in ("completed", "failed"), timeout=120)["state"] == (
            "completed"
        )
    shutil.rmtree(nas)  # unmounted again: nothing forgotten, nothing queued
    wait_until(lambda: not view(ltd, nas)["reachable"], 20, "the share to be seen gone")
    assert view(ltd, nas)["seen"] >= 1
    wait_until(settled(ltd, lib, seen=2), 30, "the output in the share folder to be decided")
    assert sorted(r["file"] for r in jobs(ltd)) == sorted([str(lib / "sub" / "clip.mkv"), str(nas / "show.mkv")])


def test_outside_the_schedule_files_are_queued_not_run_and_a_cancelled_one_is_not_queued_again(
    ltd_factory: Callable[..., Ltd], tmp_path: Path, tiny_video: Path
) -> None:
    lib = tmp_path / "films"
    lib.mkdir()
    shutil.copy(tiny_video, lib / "film.mkv")
    config = library_config(library_table(lib, scan_interval=1, settle_seconds=1))
    config += '\n[schedule]\nwindows = ["mon 00:00-00:01"]\n'
    clock = tmp_path / "clock"  # a Wednesday noon, in the test's time zone
    clock.write_text(f"{datetime(2026, 12, 2, 12, 0).timestamp() - time.time():.3f}\n")
    ltd = ltd_factory(config)
    ltd.start(extra_env={CLOCK_FILE_ENV: str(clock)})
    wait_until(lambda: bool(jobs(ltd)), 30, "the file to be queued")
    time.sleep(1.0)
    assert [r["state"] for r in jobs(ltd)] == ["queued"]  # outside the schedule nothing runs
    assert ltd.ctl("cancel", "1").stdout.strip() == "cancelled: 1"

    assert ltd.proc is not None
    ltd.proc.send_signal(signal.SIGTERM)
    assert ltd.proc.wait(15) == 0
    ltd.start(extra_env={CLOCK_FILE_ENV: str(clock)})
    wait_until(settled(ltd, lib, seen=1), 30, "the file to be decided after the restart")
    assert [(r["id"], r["state"]) for r in jobs(ltd)] == [(1, "cancelled")], "a cancelled file was queued again"
    assert view(ltd, lib)["skipped"] == 1

    (lib / "film.mkv").write_bytes(tiny_video.read_bytes())  # changed since: queued again
    wait_until(lambda: len(jobs(ltd)) == 2, 30, "the changed file to be queued")
