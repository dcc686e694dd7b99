"""ltctl's command line: exit codes of the contract, option mapping, formatting, no heavy imports."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest
import zmq
from typer.testing import CliRunner

from lazy_transcode import protocol
from lazy_transcode.ctl import watch
from lazy_transcode.ctl.app import app, fmt_eta, render_table
from lazy_transcode.ctl.watch import apply_event, finished
from lazy_transcode.options import OPTIONS

runner = CliRunner()


def answer_one_add(endpoint: str, seen: list[dict[str, Any]], ready: threading.Event) -> None:
    """A ROUTER standing in for ltd: it keeps the args of one request and answers that job 1 was queued."""
    ctx = zmq.Context()
    sock = ctx.socket(zmq.ROUTER)
    sock.setsockopt(zmq.LINGER, 0)
    sock.bind(endpoint)
    ready.set()
    if sock.poll(5000):
        ident, payload = sock.recv_multipart()
        raw = protocol.unpack(payload)
        seen.append(raw["args"])
        sock.send_multipart([ident, protocol.build_ok(raw["id"], {"ids": [1], "files": [], "skipped": []})])
        time.sleep(0.2)
    sock.close()
    ctx.term()


def add_request(endpoint: str, *words: str) -> dict[str, Any]:
    """The args `ltctl add` sends for these words."""
    seen: list[dict[str, Any]] = []
    ready = threading.Event()
    thread = threading.Thread(target=answer_one_add, args=(endpoint, seen, ready), daemon=True)
    thread.start()
    ready.wait(2)
    result = runner.invoke(app, ["--socket", endpoint, "add", *words])
    thread.join(10)
    assert result.exit_code == 0 and result.stdout.split() == ["1"], result.output
    return seen[0]


def test_unreachable_is_69_with_one_line(tmp_path: Path) -> None:
    endpoint = f"ipc://{tmp_path}/x/ltd.sock"
    for args in (["ping"], ["list"], ["--json", "status"], ["pause", "--all"], ["cancel", "3"]):
        result = runner.invoke(app, ["--socket", endpoint, *args])
        assert result.exit_code == 69, (args, result.output)
        assert result.stdout == ""
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and endpoint in lines[0]


def test_usage_errors_are_2() -> None:
    assert runner.invoke(app, ["frobnicate"]).exit_code == 2
    assert runner.invoke(app, ["pause"]).exit_code == 2  # neither ids nor --all
    assert runner.invoke(app, ["cancel"]).exit_code == 2
    assert runner.invoke(app, ["add"]).exit_code == 2
    assert runner.invoke(app, ["--timeout", "0", "ping"]).exit_code == 2


def test_arguments_the_protocol_refuses_are_usage_errors_found_before_the_socket(tmp_path: Path) -> None:
    endpoint = f"ipc://{tmp_path}/x/ltd.sock"  # nothing listens: these fail before it is looked at
    for args in (
        ["status", "0"],
        ["cancel", str(2**63)],
        ["pause", "1", str(2**63)],
        ["add", str(tmp_path), "--priority", "5000"],
    ):
        result = runner.invoke(app, ["--socket", endpoint, *args])
        assert result.exit_code == 2, (args, result.output)
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("ltctl: ") and " must " in lines[0], lines


def test_add_help_lists_every_job_option_with_its_help() -> None:
    result = runner.invoke(app, ["add", "--help"], terminal_width=200)
    text = " ".join(result.stdout.split())
    assert result.exit_code == 0
    for option in OPTIONS:
        if option.flag is None or option.hidden:
            assert f"--{option.name.replace('_', '-')}" not in text, option.name
        else:
            assert option.flag in text and " ".join(option.help_text.split()) in text, option.name
    for choices in ("<qp|vbr|auto>", "<mkv|mp4>", "<full|quick>"):
        assert choices in text
    assert text.index("--mode") < text.index("--verify") < text.index("--paused")  # as ltctl always listed them


def test_add_sends_only_the_options_given(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    film = tmp_path / "film.mkv"
    film.touch()
    monkeypatch.chdir(tmp_path)
    assert add_request(f"ipc://{tmp_path}/a.sock", "film.mkv") == {
        "paths": [str(film)], "options": {}, "paused": False, "priority": 0,
    }  # fmt: skip
    args = add_request(
        f"ipc://{tmp_path}/b.sock", "film.mkv", "--qp", "26", "--vmaf-tol", "2", "--verify", "quick", "--force",
        "--output-dir", "out", "--piece-seconds", "4", "--mode", "vbr", "--paused", "--priority", "-5",
    )  # fmt: skip
    assert args == {
        "paths": [str(film)], "paused": True, "priority": -5,
        "options": {"mode": "vbr", "vmaf_tol": 2.0, "qp": 26, "output_dir": str(tmp_path / "out"), "force": True,
                    "piece_seconds": 4.0, "verify": "quick"},
    }  # fmt: skip


def test_bad_job_options_are_usage_errors(tmp_path: Path) -> None:
    endpoint = f"ipc://{tmp_path}/x/ltd.sock"
    for words, message in (
        (["--qp", "300"], "qp must be in [0, 255], not 300"),
        (["--vmaf-target", "0"], "vmaf_target must be in (0, 100], not 0.0"),
        (["--samples", "0"], "samples must be in [1, 100], not 0"),
        (["--mode", "fast"], "'fast' is not one of"),
        (["--qp", "x"], "--qp"),
        (["--min-saving", "0.1"], "No such option"),
    ):
        result = runner.invoke(app, ["--socket", endpoint, "add", str(tmp_path), *words])
        assert result.exit_code == 2 and message in result.stderr, (words, result.output)


def test_fmt_eta() -> None:
    assert (fmt_eta(None), fmt_eta(5), fmt_eta(65), fmt_eta(3725)) == ("", "0:05", "1:05", "1:02:05")


def test_watch_folds_events() -> None:
    rows: dict[int, dict] = {}
    apply_event(rows, {"type": "state", "job": 3, "state": "running", "file": "/a.mkv"}, None)
    apply_event(rows, {"type": "progress", "job": 3, "step": "encode", "percent": 40.0, "fps": 9.0}, None)
    assert rows[3]["percent"] == 40.0 and not finished(rows, 3) and not finished(rows, None)
    apply_event(rows, {"type": "state", "job": 3, "state": "completed"}, None)
    apply_event(rows, {"type": "state", "job": 4, "state": "queued"}, 3)  # filtered: another job
    assert finished(rows, 3) and finished(rows, None) and 4 not in rows


def test_watch_follows_the_queue_through_a_pause() -> None:
    rows: dict[int, dict] = {7: {"id": 7, "state": "paused", "file": "/parked"}}
    followed: set[int] = set()
    assert finished(rows, None, followed)  # only a job paused before the watch: nothing to wait for
    apply_event(rows, {"type": "state", "job": 8, "state": "queued", "file": "/a"}, None, followed)
    apply_event(rows, {"type": "state", "job": 8, "state": "running"}, None, followed)
    apply_event(rows, {"type": "state", "job": 8, "state": "paused"}, None, followed)
    assert followed == {8} and not finished(rows, None, followed)  # paused in another shell: still followed
    apply_event(rows, {"type": "state", "job": 8, "state": "completed"}, None, followed)
    assert finished(rows, None, followed)


def test_ltctl_start_does_not_import_zmq_rich_msgpack() -> None:
    code = (
        "import sys; from lazy_transcode.ctl import app; "
        "print(sorted(m for m in ('zmq', 'rich', 'msgpack', 'av') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_render_table_aligns_columns() -> None:
    text = render_table(("ID", "STATE", "FILE"), [("1", "running", "/a b.mkv"), ("12", "queued", "/c.mkv")], right=(0,))
    assert text.splitlines() == ["ID  STATE    FILE", " 1  running  /a b.mkv", "12  queued   /c.mkv"]


def test_watch_json_ends_with_the_jobs_final_state_when_a_resync_saw_it_before_its_event(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The job ends between two reads of the events: the re-read of its status ends the watch, and the
    last line still says how it ended (scripts read the last line)."""
    monkeypatch.setattr(watch, "RESYNC_SECONDS", 0.0)
    answers = iter([{"id": 1, "state": "running", "percent": 40.0}, {"id": 1, "state": "completed", "percent": 100.0}])

    def call(_settings: Any, command: str, args: dict[str, Any] | None = None) -> dict[str, Any]:
        assert command == "status" and args == {"id": 1}
        return {"job": {"row": next(answers)}}

    ctx = zmq.Context()
    sub = ctx.socket(zmq.SUB)  # connected to no publisher: no event arrives
    sub.setsockopt(zmq.LINGER, 0)
    try:
        rows, _held = watch._fetch(None, 1, call)
        followed: set[int] = set()
        watch.follow(rows, followed)
        assert watch._follow_json(sub, None, 1, call, rows, followed, protocol) == 0
    finally:
        sub.close()
        ctx.term()
    lines = capsys.readouterr().out.splitlines()
    assert [json.loads(line)["state"] for line in lines] == ["running", "completed"]
