"""UniversalStateManager: steps, completion, loading without overwriting, bad files, pause points."""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from pathlib import Path

import pytest

from lazy_transcode.state import (
    SCHEMA_VERSION,
    FutureSchemaError,
    OperationInterrupted,
    PauseManager,
    StateAwareOperation,
    TranscodeOperation,
    UniversalStateManager,
    find_resumable_operations,
)


def test_state_file_location_and_initial_state(manager: UniversalStateManager, video: Path) -> None:
    assert manager.state_file == video.parent / ".lazy_transcode_state" / "video.mkv_vbr.state.json"
    assert manager.state.current_step == "initialization"
    assert not manager.state_file.exists()  # nothing written before the first save


def test_update_step_records_previous_steps_once(manager: UniversalStateManager) -> None:
    manager.update_step("file_validation", progress=5)
    manager.update_step("clip_extraction", progress=20.0)
    manager.update_step("clip_extraction", progress=30.0)
    manager.update_step("vbr_optimization")
    manager.update_step("clip_extraction")  # back to an earlier step: recorded once only
    manager.update_step("vbr_optimization", progress=75.0)
    saved = json.loads(manager.state_file.read_bytes())
    assert saved["steps_completed"] == ["file_validation", "clip_extraction", "vbr_optimization"]
    assert saved["current_step"] == "vbr_optimization"
    assert saved["progress_percent"] == 75.0
    assert saved["schema_version"] == SCHEMA_VERSION
    with pytest.raises(ValueError, match="progress"):
        manager.update_step("x", progress=150)


def test_failure_is_never_completed(manager: UniversalStateManager) -> None:
    manager.update_step("encode", progress=40)
    manager.mark_completed(success=False, error_message="ffmpeg died\nwith a long trace")
    saved = json.loads(manager.state_file.read_bytes())
    assert saved["completed"] is False and saved["success"] is False
    assert saved["error_message"] == "ffmpeg died"
    assert [op["current_step"] for op in find_resumable_operations(manager.state_file.parent.parent)] == ["encode"]
    manager.mark_completed(success=True, result={"crf": 24, "vmaf": 95.2})
    saved = json.loads(manager.state_file.read_bytes())
    assert saved["completed"] is True and saved["success"] is True and saved["best_result"] == {"crf": 24, "vmaf": 95.2}
    assert find_resumable_operations(manager.state_file.parent.parent) == []


def test_load_never_overwrites_before_reading(op: TranscodeOperation, manager: UniversalStateManager) -> None:
    manager.update_step("first")
    manager.update_step("second", progress=50)
    manager.state.checkpoint["pieces"] = {"0": {"done": True}}
    manager.save_state()
    before = manager.state_file.read_bytes()
    again = UniversalStateManager(op)
    assert manager.state_file.read_bytes() == before  # constructing writes nothing
    assert again.load_state() is True
    assert manager.state_file.read_bytes() == before  # loading writes nothing
    assert again.state.current_step == "second" and again.state.steps_completed == ["first"]
    assert again.state.checkpoint == {"pieces": {"0": {"done": True}}}


def test_unknown_keys_are_written_back(manager: UniversalStateManager, op: TranscodeOperation) -> None:
    manager.save_state()
    data = json.loads(manager.state_file.read_bytes())
    data["written_by_a_newer_minor_version"] = {"keep": [1, 2]}
    manager.state_file.write_text(json.dumps(data))
    again = UniversalStateManager(op)
    assert again.load_state()
    again.update_step("next")
    assert json.loads(manager.state_file.read_bytes())["written_by_a_newer_minor_version"] == {"keep": [1, 2]}


def _valid_json(manager: UniversalStateManager) -> str:
    manager.update_step("encode", progress=10)
    return manager.state_file.read_text()


@pytest.mark.parametrize(
    "damage",
    [
        lambda text: "{not json",
        lambda text: text[: len(text) // 2],  # truncated
        lambda text: "",  # empty
        lambda text: "\x00\x00\x00\x00",  # zeros after a crash without fsync
        lambda text: text.replace('"progress_percent": 10.0', '"progress_percent": "ten"'),  # wrongly typed
        lambda text: "[1, 2, 3]",  # wrong top-level type
    ],
    ids=["garbage", "truncated", "empty", "zeros", "wrong-type", "list"],
)
def test_bad_files_are_quarantined_with_a_warning(
    manager: UniversalStateManager, op: TranscodeOperation, damage, caplog: pytest.LogCaptureFixture
) -> None:
    bad = damage(_valid_json(manager))
    manager.state_file.write_text(bad)
    again = UniversalStateManager(op)
    with caplog.at_level(logging.WARNING, logger="lazy_transcode.state"):
        assert again.load_state() is False
    assert not manager.state_file.exists()
    corrupt = manager.state_file.with_name(manager.state_file.name + ".corrupt")
    assert corrupt.read_text() == bad
    assert any("moved aside" in r.getMessage() for r in caplog.records)
    again.update_step("restart")  # works afresh
    assert again.load_state() and again.state.current_step == "restart"
    manager.state_file.write_text("{")  # a second bad file does not overwrite the first quarantined one
    assert UniversalStateManager(op).load_state() is False
    assert corrupt.read_text() == bad
    assert corrupt.with_name(corrupt.name + ".1").read_text() == "{"


def test_future_schema_is_refused_and_never_overwritten(manager: UniversalStateManager, op: TranscodeOperation) -> None:
    manager.save_state()
    data = json.loads(manager.state_file.read_bytes())
    data["schema_version"] = SCHEMA_VERSION + 1
    future = json.dumps(data)
    manager.state_file.write_text(future)
    newer = UniversalStateManager(op)
    with pytest.raises(FutureSchemaError, match="newer than this lazy-transcode supports"):
        newer.load_state()
    with pytest.raises(FutureSchemaError, match="not overwriting it"):
        newer.update_step("x")
    with pytest.raises(FutureSchemaError):
        UniversalStateManager(op).save_state()  # a manager that never loaded: also refuses
    with pytest.raises(FutureSchemaError):
        StateAwareOperation(op, resume=False).__enter__()
    assert manager.state_file.read_text() == future
    assert not list(manager.state_dir.glob("*.corrupt*"))
    assert find_resumable_operations(manager.state_dir.parent) == []  # skipped with a warning, kept


def _worker(manager: UniversalStateManager, counter: list[int], outcome: list[str]) -> None:
    try:
        for i in range(100000):
            manager.state.checkpoint["i"] = i
            counter[0] = i
            manager.check_pause_point()
            time.sleep(0.001)
        outcome.append("finished")
    except OperationInterrupted as exc:
        outcome.append(f"interrupted: {exc}")


def test_pause_point_blocks_while_paused_and_stops_after_saving(op: TranscodeOperation) -> None:
    pm = PauseManager()
    manager = UniversalStateManager(op, pause_manager=pm)
    manager.update_step("encoding", progress=30)
    counter, outcome = [0], []
    thread = threading.Thread(target=_worker, args=(manager, counter, outcome))
    thread.start()
    time.sleep(0.05)
    pm.pause()
    time.sleep(0.05)
    frozen = counter[0]
    time.sleep(0.2)
    assert counter[0] == frozen  # no progress while paused
    assert json.loads(manager.state_file.read_bytes())["paused"] is True
    pm.resume()
    time.sleep(0.05)
    assert counter[0] > frozen
    pm.request_stop()
    thread.join(5)
    assert not thread.is_alive()
    assert outcome == ["interrupted: stopped at step 'encoding'; state saved, resumable"]
    saved = json.loads(manager.state_file.read_bytes())
    assert saved["checkpoint"]["i"] == counter[0] and saved["completed"] is False and saved["paused"] is False


def test_stop_while_paused_wakes_the_pause_point(op: TranscodeOperation) -> None:
    pm = PauseManager()
    manager = UniversalStateManager(op, pause_manager=pm)
    counter, outcome = [0], []
    pm.pause()
    thread = threading.Thread(target=_worker, args=(manager, counter, outcome))
    thread.start()
    time.sleep(0.05)
    assert thread.is_alive() and counter[0] == 0
    pm.request_stop()
    thread.join(5)
    assert outcome and outcome[0].startswith("interrupted")


def test_ask_decides_at_the_pause_point(op: TranscodeOperation) -> None:
    answers = iter(["resume", "quit"])
    pm = PauseManager(ask=lambda: next(answers))
    manager = UniversalStateManager(op, pause_manager=pm)
    pm.pause()
    manager.check_pause_point()  # asked, answered resume
    assert not pm.is_paused
    pm.pause()
    with pytest.raises(OperationInterrupted):
        manager.check_pause_point()


def test_signal_handler_style_reentry_does_not_deadlock() -> None:
    """A handler calling pause() while the same thread holds the lock (the original's deadlock)."""
    pm = PauseManager()
    with pm.control._cond:  # what a signal arriving inside a JobControl method looks like
        pm.pause()
        pm.resume()
        pm.request_stop()
    assert pm.stop_requested


@pytest.mark.parametrize("interruption", [KeyboardInterrupt, SystemExit, OperationInterrupted])
def test_interruption_inside_state_aware_operation_keeps_state(op: TranscodeOperation, interruption: type) -> None:
    with pytest.raises(interruption), StateAwareOperation(op) as sm:
        sm.update_step("encode", progress=60)
        sm.state.checkpoint["pieces"] = {"0": "done"}
        raise interruption()
    saved = json.loads(sm.state_file.read_bytes())
    assert saved["completed"] is False and saved["success"] is None
    assert saved["checkpoint"] == {"pieces": {"0": "done"}} and saved["current_step"] == "encode"
    assert saved["error_message"] == f"interrupted: {interruption.__name__}"
    assert not sm.holds_lease and not any(p.suffix == ".lease" for p in sm.state_dir.iterdir())
    with StateAwareOperation(op, resume=True) as again:  # resumes where it stopped
        assert again.state.current_step == "encode" and again.state.checkpoint == {"pieces": {"0": "done"}}
        assert again.state.error_message is None
    assert not again.state_file.exists()  # completed and cleaned up


def test_exception_inside_state_aware_operation_records_error(op: TranscodeOperation) -> None:
    with pytest.raises(RuntimeError), StateAwareOperation(op) as sm:
        sm.update_step("encode")
        raise RuntimeError("disk on fire")
    saved = json.loads(sm.state_file.read_bytes())
    assert saved["success"] is False and saved["error_message"] == "RuntimeError: disk on fire"
    with StateAwareOperation(op, resume=False) as fresh:
        assert fresh.state.current_step == "initialization"


def test_cleanup_state_removes_files_and_empty_folder(manager: UniversalStateManager) -> None:
    manager.acquire_lease()
    manager.update_step("x")
    manager.cleanup_state()
    assert not manager.state_dir.exists()
    manager.cleanup_state()  # idempotent
    assert os.path.exists(manager.operation.input_file)  # the source is never touched


def test_decorator_resumes_and_keeps_state_on_interruption(video: Path) -> None:
    from lazy_transcode.state import with_state_management

    seen: list[tuple[str, list[str]]] = []

    @with_state_management("qp")
    def encode(input_file: str, encoder: str, fail: bool, state_manager: UniversalStateManager | None = None) -> str:
        assert state_manager is not None and state_manager.holds_lease
        seen.append((state_manager.state.current_step, list(state_manager.state.steps_completed)))
        state_manager.update_step("probe")
        state_manager.update_step("encode", progress=50)
        if fail:
            raise KeyboardInterrupt
        return "done"

    with pytest.raises(KeyboardInterrupt):
        encode(str(video), "libx264", True)
    state_file = video.parent / ".lazy_transcode_state" / "video.mkv_qp.state.json"
    saved = json.loads(state_file.read_bytes())
    assert saved["current_step"] == "encode" and saved["error_message"] == "interrupted: KeyboardInterrupt"
    assert saved["operation"]["encoder"] == "libx264" and not saved["completed"]
    assert encode(str(video), "libx264", False) == "done"
    assert seen == [("initialization", []), ("encode", ["probe"])]  # the second call resumed
    assert not state_file.exists()

    @with_state_management("qp", resume_check=False)
    def fresh(input_file: str, state_manager: UniversalStateManager | None = None) -> str:
        return state_manager.state.current_step

    UniversalStateManager(TranscodeOperation("qp", str(video))).update_step("old")
    assert fresh(str(video)) == "initialization"

    @with_state_management("qp")
    def no_input(x: int, state_manager: UniversalStateManager | None = None) -> None:
        pass

    with pytest.raises(TypeError, match="cannot tell the input"):
        no_input(1)


def test_refresh_lease_on_demand(manager: UniversalStateManager) -> None:
    from lazy_transcode.state import lease as lease_mod

    manager.refresh_lease()  # no lease held: nothing to do
    manager.acquire_lease()
    before = lease_mod.read(manager.state_file).refreshed
    time.sleep(0.01)
    manager.refresh_lease()
    assert lease_mod.read(manager.state_file).refreshed > before
