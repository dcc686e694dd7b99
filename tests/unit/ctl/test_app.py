"""ltctl's command line: exit codes of the contract, option mapping, formatting, no heavy imports."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from typer.testing import CliRunner

from lazy_transcode.ctl.app import app, fmt_eta, render_table
from lazy_transcode.ctl.watch import apply_event, finished

runner = CliRunner()


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


def test_fmt_eta() -> None:
    assert (fmt_eta(None), fmt_eta(5), fmt_eta(65), fmt_eta(3725)) == ("", "0:05", "1:05", "1:02:05")


def test_watch_folds_events() -> None:
    rows: dict[int, dict] = {}
    apply_event(rows, {"type": "state", "job": 3, "state": "running", "file": "/a.mkv"}, None)
    apply_event(rows, {"type": "progress", "job": 3, "step": "encode", "percent": 40.0, "fps": 9.0}, None)
    assert rows[3]["percent"] == 40.0 and not finished(rows, 3, False) and not finished(rows, None, False)
    apply_event(rows, {"type": "state", "job": 3, "state": "completed"}, None)
    apply_event(rows, {"type": "state", "job": 4, "state": "queued"}, 3)  # filtered: another job
    assert finished(rows, 3, False) and finished(rows, None, False) and 4 not in rows
    rows[5] = {"id": 5, "state": "queued", "file": "/b"}
    assert not finished(rows, None, False) and finished(rows, None, True)  # a held queue does not run


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
