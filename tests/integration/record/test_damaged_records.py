"""A wrong type anywhere in a real state file: one warning, the file quarantined, the job starts over.

The files are real: the two 0.1.0 left (schema 1) and two this version writes (a QP job and a VMAF
search, killed before their state was removed). Hypothesis picks a field of one of them, anywhere in
the document, and puts a value of another JSON type there.
"""

from __future__ import annotations

import copy
import json
import logging
import shutil
import tempfile
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lazy_transcode.failpoints import ENV as FAILPOINT_ENV
from lazy_transcode.jobs.record import JobStateManager
from lazy_transcode.state.operation import TranscodeOperation
from tests.fixtures.v010 import FIXTURE, lay_out_library
from tests.helpers import JsonPath, json_paths
from tests.integration.encode.runner import run_cli

ENCODE = ["--mode", "qp", "--encoder", "libx265", "--preset", "ultrafast", "--piece-seconds", "2", "--plain"]
TAG = {"LAZY_TRANSCODE_TEST": "lazy-transcode-test"}

Path_ = JsonPath


@pytest.fixture(scope="module")
def real_states(tmp_path_factory: pytest.TempPathFactory) -> list[tuple[str, dict[str, Any]]]:
    """(source name, state document) of four real state files."""
    old = lay_out_library(tmp_path_factory.mktemp("v010"))
    states = [(name, json.loads((old / ".lazy_transcode_state" / f"{name}_qp.state.json").read_text()))
              for name in ("film.mp4", "search.mp4")]  # fmt: skip
    new = tmp_path_factory.mktemp("now")
    for name, args in (("qp.mp4", ["--qp", "30"]), ("search.mp4", ["--vmaf-target", "90", "--force"])):
        shutil.copy(FIXTURE / "film.mp4", new / name)
        run = run_cli(*ENCODE, *args, str(new / name), env={**TAG, FAILPOINT_ENV: "completed-unremoved"})
        assert run.returncode == -9, run.stderr
        states.append((name, json.loads((new / ".lazy_transcode_state" / f"{name}_qp.state.json").read_text())))
    assert states[3][1]["optimization_results"]["probes"] and states[3][1]["checkpoint"]["result"]
    return states


def wrong_type(value: Any) -> Any:
    """A value of another JSON type than `value`'s (none of the record's fields accepts both)."""
    if isinstance(value, bool):
        return "yes"
    if isinstance(value, int | float):
        return str(value)
    if isinstance(value, str):
        return 7
    if isinstance(value, list):
        return {"k": 1}
    return [1, 2]


def with_value(document: dict[str, Any], path: Path_, value: Any) -> dict[str, Any]:
    mutated = copy.deepcopy(document)
    holder: Any = mutated
    for key in path[:-1]:
        holder = holder[key]
    holder[path[-1]] = value
    return mutated


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_a_wrong_type_anywhere_quarantines_the_file(
    real_states: list[tuple[str, dict[str, Any]]], data: st.DataObject, caplog: pytest.LogCaptureFixture
) -> None:
    name, document = data.draw(st.sampled_from(real_states), label="file")
    path = data.draw(st.sampled_from(json_paths(document, nulls=False)), label="field")
    mutated = with_value(document, path, wrong_type(_at(document, path)))
    with tempfile.TemporaryDirectory() as folder:
        source = Path(folder) / name
        manager = JobStateManager(TranscodeOperation(operation_type="qp", input_file=str(source)))
        manager.state_dir.mkdir()
        manager.state_file.write_text(json.dumps(mutated))
        caplog.clear()
        with caplog.at_level(logging.WARNING):
            assert manager.load_state() is False, f"{name}: a wrong type at {path} was accepted"
        warnings = [r for r in caplog.records if r.levelno >= logging.WARNING]
        assert len(warnings) == 1 and "\n" not in warnings[0].getMessage(), [r.getMessage() for r in warnings]
        assert not manager.state_file.exists()
        assert len(list(manager.state_dir.glob("*.corrupt*"))) == 1


def _at(document: Any, path: Path_) -> Any:
    for key in path:
        document = document[key]
    return document


def test_the_untouched_files_load(real_states: list[tuple[str, dict[str, Any]]], tmp_path: Path) -> None:
    """The mutation test means something only if the files it starts from are accepted as they are."""
    for n, (name, document) in enumerate(real_states):
        source = tmp_path / str(n) / name
        manager = JobStateManager(TranscodeOperation(operation_type="qp", input_file=str(source)))
        manager.state_dir.mkdir(parents=True)
        manager.state_file.write_text(json.dumps(document))
        assert manager.load_state(), name


def test_a_damaged_record_starts_the_job_over(tmp_path: Path) -> None:
    lay_out_library(tmp_path, names=("film.mp4",))
    state_file = tmp_path / ".lazy_transcode_state" / "film.mp4_qp.state.json"
    document = json.loads(state_file.read_text())
    state_file.write_text(json.dumps(with_value(document, ("checkpoint", "encode", "pieces", "1", "frames"), "50")))
    run = run_cli("-v", *ENCODE, "--qp", "30", str(tmp_path / "film.mp4"), env=TAG)
    assert run.returncode == 0, run.stderr
    warnings = [line for line in run.stderr.splitlines() if line.startswith("WARNING")]
    assert len(warnings) == 1 and "pieces" in warnings[0], run.stderr
    assert "encoding piece 0 " in run.stderr  # started over: the recorded pieces were not trusted
    assert (tmp_path / "film_q30.mkv").is_file()
    assert len(list((tmp_path / ".lazy_transcode_state").glob("*.corrupt*"))) == 1
