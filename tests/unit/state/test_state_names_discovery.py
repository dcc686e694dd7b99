"""File names (spaces, unicode, newlines, long), discovery of resumable work, cleanup and stale temp files."""

from __future__ import annotations

import io
import json
import logging
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from lazy_transcode.state import (
    SCHEMA_VERSION,
    TranscodeOperation,
    UniversalStateManager,
    cleanup_completed_states,
    find_resumable_operations,
    list_resumable_cli,
    resume_operation_from_state,
    state_file_name,
    store,
)

NAMES = ["plain.mkv", "with  spaces .mkv", "ünïcødé 日本語 🎬.mp4", "new\nline.mkv", "tab\tand 'quote\".mkv"]


@pytest.mark.parametrize("name", NAMES)
def test_awkward_names_round_trip(tmp_path: Path, name: str) -> None:
    video = tmp_path / name
    video.write_bytes(b"x")
    manager = UniversalStateManager(TranscodeOperation("vbr", str(video)))
    manager.update_step("encode", progress=42.5)
    assert manager.state_file.name == f"{name}_vbr.state.json"  # kept as is
    again = UniversalStateManager(TranscodeOperation("vbr", str(video)))
    assert again.load_state() and again.state.operation.input_file == str(video)
    [found] = find_resumable_operations(tmp_path)
    assert found["input_file"] == str(video) and found["state_file"] == manager.state_file
    out = io.StringIO()
    assert list_resumable_cli(tmp_path, out=out) == 1
    lines = out.getvalue().splitlines()
    assert len(lines) == 2 and "42.5%" in lines[1]  # one line per operation, even with a newline in the name
    assert resume_operation_from_state(manager.state_file).state.current_step == "encode"


def test_undecodable_name_bytes(tmp_path: Path) -> None:
    video = Path(os.fsdecode(os.fsencode(tmp_path) + b"/latin1-\xe9t\xe9.mkv"))
    video.write_bytes(b"x")
    manager = UniversalStateManager(TranscodeOperation("qp", str(video)))
    manager.update_step("encode")
    assert os.fsencode(manager.state_file.name) == b"latin1-\xe9t\xe9.mkv_qp.state.json"
    assert find_resumable_operations(tmp_path)[0]["input_file"] == str(video)


def test_same_stem_different_extension_do_not_collide(tmp_path: Path) -> None:
    a = UniversalStateManager(TranscodeOperation("vbr", str(tmp_path / "video.mkv")))
    b = UniversalStateManager(TranscodeOperation("vbr", str(tmp_path / "video.mp4")))
    assert a.state_file != b.state_file


def test_only_what_the_file_system_cannot_hold_is_replaced() -> None:
    assert state_file_name("/x/a.mkv", "my/type\0") == "a.mkv_my_type_.state.json"


def test_very_long_names_fit_the_file_system(tmp_path: Path) -> None:
    names = ["é" * 125 + ".mkv", "a" * 250 + ".mkv"]
    managers = []
    for name in names:
        video = tmp_path / name
        video.write_bytes(b"x")
        manager = UniversalStateManager(TranscodeOperation("batch", str(video)))
        manager.update_step("x")
        assert len(os.fsencode(manager.state_file.name)) <= 255
        manager.state_file.with_name(manager.state_file.name + ".corrupt.999").touch()  # quarantine names fit too
        managers.append(manager)
    assert len({m.state_file for m in managers}) == 2
    assert {op["input_file"] for op in find_resumable_operations(tmp_path)} == {str(tmp_path / n) for n in names}


def _make(tmp_path: Path, rel: str, op_type: str, step: str, *, completed: bool = False, age_days: float = 0) -> Path:
    video = tmp_path / rel
    video.parent.mkdir(parents=True, exist_ok=True)
    video.write_bytes(b"x")
    manager = UniversalStateManager(TranscodeOperation(op_type, str(video)))
    manager.update_step(step, progress=50)
    if completed:
        manager.mark_completed(True, {"ok": 1})
    data = json.loads(manager.state_file.read_bytes())
    data["updated_time"] = time.time() - age_days * 86400
    manager.state_file.write_text(json.dumps(data))
    return manager.state_file


def test_find_resumable_walks_filters_and_reports(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    a = _make(tmp_path, "show/s1/e1.mkv", "vbr", "encode")
    b = _make(tmp_path, "show/s1/e2.mkv", "qp", "probe")
    _make(tmp_path, "film.mkv", "vbr", "done", completed=True)
    corrupt = _make(tmp_path, "show/bad.mkv", "vbr", "x")
    corrupt.write_text("{")
    future = _make(tmp_path, "show/new.mkv", "vbr", "x")
    future.write_text(json.dumps({**json.loads(a.read_bytes()), "schema_version": SCHEMA_VERSION + 1}))
    with caplog.at_level(logging.WARNING, logger="lazy_transcode.state"):
        found = find_resumable_operations(tmp_path)
    assert {f["state_file"] for f in found} == {a, b}
    assert set(found[0]) >= {"operation_type", "input_file", "current_step", "progress_percent", "state_file"}
    assert [f["state_file"] for f in find_resumable_operations(tmp_path, operation_type="qp")] == [b]
    assert [f["state_file"] for f in find_resumable_operations(tmp_path / "show/s1/e1.mkv")] == [a]  # a file
    assert corrupt.with_name(corrupt.name + ".corrupt").exists() and not corrupt.exists()
    assert future.exists()  # a newer version's file is left alone
    text = caplog.text
    assert "moved aside" in text and "newer than this lazy-transcode supports" in text


def test_unreadable_folders_are_skipped_quietly(tmp_path: Path) -> None:
    a = _make(tmp_path, "ok/e1.mkv", "vbr", "encode")
    hidden = tmp_path / "locked"
    hidden.mkdir()
    (hidden / "dangling").symlink_to(tmp_path / "nowhere")
    os.mkfifo(tmp_path / "ok" / "a fifo")
    found = find_resumable_operations(tmp_path)
    assert [f["state_file"] for f in found] == [a]
    # a folder that cannot be listed: checked as an unprivileged user (root can read everything)
    script = (
        "import os, sys\n"
        "from lazy_transcode.state import find_resumable_operations\n"
        "os.setgid(65534); os.setuid(65534)\n"
        "print(len(find_resumable_operations(sys.argv[1])))\n"
    )
    if os.geteuid() == 0:
        import tempfile

        shared = Path(tempfile.mkdtemp(prefix="lt-state-walk-"))
        try:
            shared.chmod(0o755)
            _make(shared, "open/e.mkv", "vbr", "encode")
            _make(shared, "closed/e.mkv", "vbr", "encode")
            for sub in shared.rglob("*"):
                sub.chmod(0o755 if sub.is_dir() else 0o644)
            (shared / "closed").chmod(0o700)
            done = subprocess.run(
                [sys.executable, "-c", script, str(shared)], capture_output=True, text=True, timeout=60
            )
            assert done.returncode == 0, done.stderr
            assert done.stdout.strip() == "1" and done.stderr == ""
        finally:
            import shutil

            shutil.rmtree(shared)


def test_cleanup_removes_only_old_completed_states(tmp_path: Path) -> None:
    old_done = _make(tmp_path, "a/old.mkv", "vbr", "done", completed=True, age_days=10)
    new_done = _make(tmp_path, "a/new.mkv", "vbr", "done", completed=True, age_days=1)
    old_failed = _make(tmp_path, "a/failed.mkv", "vbr", "encode", age_days=10)
    m = resume_operation_from_state(old_failed)
    m.mark_completed(False, error_message="boom")
    data = json.loads(old_failed.read_bytes())
    data["updated_time"] = time.time() - 10 * 86400
    old_failed.write_text(json.dumps(data))
    old_open = _make(tmp_path, "b/open.mkv", "qp", "encode", age_days=30)
    assert cleanup_completed_states(tmp_path, 5) == [old_done]
    assert not old_done.exists() and new_done.exists() and old_failed.exists() and old_open.exists()
    assert cleanup_completed_states(tmp_path, 0) == [new_done]
    assert cleanup_completed_states(tmp_path, 0) == []
    with pytest.raises(ValueError, match="days"):
        cleanup_completed_states(tmp_path, -1)


def _dead_pid() -> int:
    proc = subprocess.Popen(["true"])
    proc.wait()
    return proc.pid


def test_stale_temp_files_are_removed_by_the_next_loader(op: TranscodeOperation, video: Path) -> None:
    folder = video.parent / ".lazy_transcode_state"
    folder.mkdir()
    host = store._host_tag()
    dead = folder / f".ltstate.{host}.{_dead_pid()}.deadbeef.tmp"
    live = folder / f".ltstate.{host}.{os.getppid()}.cafebabe.tmp"
    other_fresh = folder / ".ltstate.00000000.1234.aaaaaaaa.tmp"
    other_old = folder / ".ltstate.00000000.1234.bbbbbbbb.tmp"
    unrelated = folder / "notes.tmp"
    for path in (dead, live, other_fresh, other_old, unrelated):
        path.write_text("{partial")
    os.utime(other_old, (time.time() - 3600, time.time() - 3600))
    assert UniversalStateManager(op).load_state() is False
    assert sorted(p.name for p in folder.iterdir()) == sorted(p.name for p in (live, other_fresh, unrelated))
