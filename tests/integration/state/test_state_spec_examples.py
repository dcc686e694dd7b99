"""Every code example of the state-management spec runs as written, through the spec's import paths.

The examples are exec'd verbatim from `spec_examples.py`; only the spec's placeholders (`results`,
`result`, `logger`, `do_work`, `TranscodeOperation` where an example uses it without importing it) are
defined here, and `Path("/videos")` is pointed at a temporary library.
"""

from __future__ import annotations

import argparse
import dataclasses
import inspect
import io
import json
import logging
import pathlib
import typing
from contextlib import redirect_stdout
from typing import Any

import pytest
from spec_examples import EXAMPLES

from lazy_transcode.core.modules.system import state_integration, transcode_state_manager
from lazy_transcode.state import OperationInterrupted, PauseManager, StateAwareOperation


def _run(name: str, **placeholders: Any) -> dict[str, Any]:
    namespace: dict[str, Any] = {"__name__": f"spec_example_{name}", **placeholders}
    exec(compile(EXAMPLES[name], f"<spec example {name}>", "exec", dont_inherit=True), namespace)
    return namespace


def _video(folder: pathlib.Path, name: str = "video.mkv") -> pathlib.Path:
    path = folder / name
    path.write_bytes(b"not a video")
    return path


def _states(folder: pathlib.Path) -> list[pathlib.Path]:
    return sorted((folder / ".lazy_transcode_state").glob("*.state.json"))


def test_core_components_match_the_spec() -> None:
    op_fields = {f.name: f for f in dataclasses.fields(transcode_state_manager.TranscodeOperation)}
    spec_op = _run("core_operation", dataclass=dataclasses.dataclass, Optional=typing.Optional)["TranscodeOperation"]
    for field in dataclasses.fields(spec_op):
        assert field.name in op_fields
        assert op_fields[field.name].default == field.default
    # the spec's class listing is a signature summary, not Python: check each signature against ours
    manager = transcode_state_manager.UniversalStateManager
    for line in EXAMPLES["core_manager"].splitlines()[1:]:
        name, params = line.strip()[4:].split("(", 1)
        names = [p.split(":")[0].split("=")[0].strip() for p in params.split(")")[0].split(",")]
        ours = inspect.signature(getattr(manager, name)).parameters
        assert all(n in ours for n in names), (name, names, list(ours))


def test_state_file_structure_loads(tmp_path: pathlib.Path) -> None:
    data = json.loads(EXAMPLES["state_file"].replace("{...}", "{}"))
    folder = tmp_path / ".lazy_transcode_state"
    folder.mkdir()
    path = folder / "video.mkv_vbr.state.json"
    path.write_text(json.dumps(data))
    manager = transcode_state_manager.resume_operation_from_state(path)
    assert manager is not None
    assert manager.state.current_step == "vbr_optimization" and manager.state.progress_percent == 75.0
    assert manager.state.steps_completed == ["file_validation", "clip_extraction"]
    assert manager.state.operation.encoder == "hevc_nvenc" and manager.state.start_time == 1693824000.0
    manager.update_step("encode")
    saved = json.loads(path.read_bytes())
    assert set(data) <= set(saved)  # the spec's keys are all in our files


def test_method1_decorator(tmp_path: pathlib.Path, fresh_default_pause_manager: PauseManager) -> None:
    results = {"files": 1}
    ns = _run("method1_decorator", results=results)
    video = _video(tmp_path)
    seen: list[dict[str, Any]] = []

    def ask() -> str:  # the pause point reached inside the function: look at the saved state, then resume
        [path] = _states(tmp_path)
        seen.append(json.loads(path.read_bytes()))
        return "resume"

    fresh_default_pause_manager.ask = ask
    fresh_default_pause_manager.pause()
    args = argparse.Namespace(vmaf_target=92.0, vmaf_tol=1.0, preset="medium")
    assert ns["process_vbr_mode"](args, "hevc_nvenc", "hardware", [str(video)]) is results
    [state] = seen
    assert state["current_step"] == "processing_files" and state["paused"] is True
    assert state["operation"]["operation_type"] == "vbr" and state["operation"]["input_file"] == str(video)
    assert state["operation"]["encoder"] == "hevc_nvenc" and state["operation"]["target_vmaf"] == 92.0
    assert _states(tmp_path) == []  # completed and removed


def test_method1_decorator_keeps_state_when_stopped(
    tmp_path: pathlib.Path, fresh_default_pause_manager: PauseManager
) -> None:
    ns = _run("method1_decorator", results=[])
    video = _video(tmp_path)
    fresh_default_pause_manager.request_stop()
    with pytest.raises(OperationInterrupted):
        ns["process_vbr_mode"](argparse.Namespace(), "libx265", "software", [video])
    [path] = _states(tmp_path)
    saved = json.loads(path.read_bytes())
    assert saved["current_step"] == "processing_files" and saved["completed"] is False
    found = transcode_state_manager.find_resumable_operations(tmp_path, operation_type="vbr")
    assert [f["current_step"] for f in found] == ["processing_files"]


def test_method2_context_manager_interrupt_then_resume(
    tmp_path: pathlib.Path, fresh_default_pause_manager: PauseManager, caplog: pytest.LogCaptureFixture
) -> None:
    logger = logging.getLogger("spec.example")
    ns = _run(
        "method2_context",
        TranscodeOperation=state_integration.TranscodeOperation,
        logger=logger,
        result={"done": True},
    )
    video = _video(tmp_path)
    fresh_default_pause_manager.request_stop()  # as if Ctrl+C twice: stops at the example's pause point
    with pytest.raises(OperationInterrupted):
        ns["my_transcoding_function"](video, "libx265")
    [path] = _states(tmp_path)
    saved = json.loads(path.read_bytes())
    assert saved["current_step"] == "optimization" and saved["progress_percent"] == 75.0
    assert saved["steps_completed"] == ["file_analysis"] and saved["completed"] is False
    fresh_default_pause_manager.reset()
    with caplog.at_level(logging.INFO, logger="spec.example"):
        assert ns["my_transcoding_function"](video, "libx265") == {"done": True}
    assert "Resuming from: optimization" in caplog.text
    assert _states(tmp_path) == []


def test_method3_direct_usage(tmp_path: pathlib.Path) -> None:
    calls: list[str] = []

    def do_work() -> dict[str, Any]:
        calls.append("work")
        if len(calls) == 1:
            raise RuntimeError("encoder crashed")
        return {"crf": 23}

    ns = _run("method3_direct", TranscodeOperation=transcode_state_manager.TranscodeOperation, do_work=do_work)
    video = _video(tmp_path)
    with pytest.raises(RuntimeError):
        ns["my_function"](video)
    [path] = _states(tmp_path)
    saved = json.loads(path.read_bytes())
    assert saved["success"] is False and saved["error_message"] == "encoder crashed" and not saved["completed"]
    assert ns["my_function"](video) == {"crf": 23}
    assert _states(tmp_path) == []
    # a completed state that was not cleaned up: the example returns the stored result without working
    op = transcode_state_manager.TranscodeOperation(operation_type="custom", input_file=str(video))
    done = transcode_state_manager.UniversalStateManager(op)
    done.mark_completed(success=True, result={"crf": 21})
    assert ns["my_function"](video) == {"crf": 21}
    assert calls == ["work", "work"]


def test_cli_examples(tmp_path: pathlib.Path) -> None:
    spec_parser = argparse.ArgumentParser()
    _run("cli_add_args")["add_state_management_args"](spec_parser)
    our_parser = argparse.ArgumentParser()
    state_integration.add_state_management_args(our_parser)
    for argv in ([], ["--resume"], ["--list-resumable"], ["--cleanup-old-states", "7"]):
        assert vars(spec_parser.parse_args(argv)) == vars(our_parser.parse_args(argv))

    video = _video(tmp_path)
    with StateAwareOperation(state_integration.TranscodeOperation("qp", str(video)), keep_completed=True) as sm:
        sm.update_step("encode")
    completed = sm.state_file
    data = json.loads(completed.read_bytes())
    completed.write_text(json.dumps({**data, "updated_time": data["updated_time"] - 4 * 86400}))
    manager = state_integration.UniversalStateManager(state_integration.TranscodeOperation("vbr", str(video)))
    manager.update_step("vbr_optimization", progress=40.0)

    handle = _run("cli_handle", cleanup_completed_states=state_integration.cleanup_completed_states)["handle_state_cli"]
    for fn in (handle, state_integration.handle_state_cli):
        out = io.StringIO()
        with redirect_stdout(out):
            assert fn(our_parser.parse_args(["--list-resumable"]), tmp_path) is True
        assert "vbr" in out.getvalue() and "40.0%" in out.getvalue() and "video.mkv" in out.getvalue()
        with redirect_stdout(io.StringIO()):
            assert fn(our_parser.parse_args(["--cleanup-old-states", "3"]), tmp_path) is True
        assert fn(our_parser.parse_args([]), tmp_path) is False
        assert not completed.exists()  # the old completed state is gone
        completed.write_text(json.dumps({**data, "updated_time": data["updated_time"] - 4 * 86400}))
    assert manager.state_file.exists()  # incomplete work is never cleaned up


def test_finding_resumable_and_manual_resume(tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    video = _video(tmp_path, "video")  # the spec's file name: .lazy_transcode_state/video_vbr.state.json
    vbr = transcode_state_manager.UniversalStateManager(transcode_state_manager.TranscodeOperation("vbr", str(video)))
    vbr.update_step("clip_extraction", progress=20.0)
    vbr.update_step("vbr_optimization", progress=62.5)
    (tmp_path / "sub").mkdir()
    other = _video(tmp_path / "sub", "b.mkv")
    qp = transcode_state_manager.UniversalStateManager(transcode_state_manager.TranscodeOperation("qp", str(other)))
    qp.update_step("encode", progress=10.0)

    def spec_path(text: str) -> pathlib.Path:
        return tmp_path if text == "/videos" else pathlib.Path(text)

    out = io.StringIO()
    with redirect_stdout(out):
        ns = _run("finding_resumable", Path=spec_path)
    assert len(ns["resumable"]) == 2 and [op["operation_type"] for op in ns["vbr_resumable"]] == ["vbr"]
    printed = out.getvalue()
    assert "Operation: vbr" in printed and "Step: vbr_optimization" in printed and "Progress: 62.5%" in printed
    assert "Operation: qp" in printed and "Progress: 10.0%" in printed

    out = io.StringIO()
    with redirect_stdout(out):
        ns = _run("manual_resume", Path=pathlib.Path)
    assert out.getvalue() == "Resumed: vbr_optimization\n"
    assert ns["state_manager"].state.steps_completed == ["clip_extraction"]


def test_migration_examples(tmp_path: pathlib.Path) -> None:
    ns = _run("migration_original")
    assert ns["process_vbr_mode"](argparse.Namespace(), "libx265", "software", []) is None
    ns = _run("migration_enhanced", with_state_management=state_integration.with_state_management, **ns)
    video = _video(tmp_path)
    assert ns["process_vbr_mode_enhanced"](argparse.Namespace(), "libx265", "software", [video]) is None
    assert _states(tmp_path) == []
