"""Fuzz: random mutations of real records beside the media never make a job touch another folder.

The records are real: the two 0.1.0 left (an encode with recorded pieces, a VMAF search with a probe)
and one this version writes (an encode killed after its second piece). Hypothesis changes one to three
values anywhere in one of them (paths into a victim folder, relative escapes, numbers of any size, keys
0.1.0 trusted such as `output.dest`), and the real job runs on it with the real ffmpeg. Afterwards
everything outside the source's folder (which is also the output folder) is as it was, and no ffmpeg
was given a path into the victim folder.
"""

from __future__ import annotations

import asyncio
import copy
import json
import shutil
import tempfile
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lazy_transcode.failpoints import ENV as FAILPOINT_ENV
from lazy_transcode.jobs.api import JobControl, JobOptions
from lazy_transcode.jobs.runner import run_job
from tests.fixtures.v010 import FIXTURE, lay_out_library
from tests.helpers import JsonPath, json_paths
from tests.integration.encode.runner import run_cli
from tests.security.support import FILM, SEARCH, snapshot

STATE = ".lazy_transcode_state"
Path_ = JsonPath


@pytest.fixture(scope="module")
def records(tmp_path_factory: pytest.TempPathFactory) -> list[tuple[Path, str, JobOptions]]:
    """(a library folder to copy, its source's name, the job's options) for each real record."""
    found = []
    for name, options in (("film.mp4", FILM), ("search.mp4", SEARCH)):
        found.append((lay_out_library(tmp_path_factory.mktemp(name), names=(name,)), name, options))
    now = tmp_path_factory.mktemp("now")
    shutil.copy(FIXTURE / "film.mp4", now / "film.mp4")
    args = ["--mode", "qp", "--qp", "30", "--encoder", "libx265", "--preset", "ultrafast", "--piece-seconds", "2"]
    killed = run_cli(*args, "--plain", str(now / "film.mp4"), env={FAILPOINT_ENV: "piece-recorded@2"})
    assert killed.returncode == -9, killed.stderr
    found.append((now, "film.mp4", FILM))
    return found


def attack_paths(victim: Path) -> list[str]:
    return [
        str(victim / "secret.mp4"),  # a real video of the record's frame count: worth reading, for a forgery
        str(victim / "authorized_keys"),
        str(victim),
        str(victim / "film.mp4_qp.work"),
        "../victim/authorized_keys",
        "../../victim",
        "/proc/self/fd/0",
        "",
    ]


def attack_values(victim: Path) -> st.SearchStrategy[Any]:
    paths = attack_paths(victim)
    return st.one_of(
        st.sampled_from(paths),
        st.integers(min_value=-(2**70), max_value=2**70),
        st.floats(allow_nan=False),
        st.booleans(),
        st.none(),
        st.fixed_dictionaries({"dest": st.sampled_from(paths), "path": st.sampled_from(paths)}),
        st.lists(st.sampled_from(paths), max_size=3),
    )


def mutate(document: dict[str, Any], data: st.DataObject, victim: Path) -> dict[str, Any]:
    mutated = copy.deepcopy(document)
    for _ in range(data.draw(st.integers(1, 3), label="mutations")):
        places = json_paths(mutated, nulls=True)
        values = attack_values(victim)
        if data.draw(st.booleans(), label="a path field"):  # what a forger aims at first: the recorded paths
            places = [p for p in places if isinstance(_at(mutated, p), str) and "/" in _at(mutated, p)] or places
            values = st.sampled_from(attack_paths(victim))
        where = data.draw(st.sampled_from(places), label="where")
        holder: Any = mutated
        for key in where[:-1]:
            holder = holder[key]
        value = data.draw(values, label="value")
        if isinstance(holder, dict) and data.draw(st.booleans(), label="new key"):
            holder[data.draw(st.sampled_from(["dest", "path", "output", "work", "clips"]), label="key")] = value
        else:
            holder[where[-1]] = value
    return mutated


def _at(document: Any, path: Path_) -> Any:
    for key in path:
        document = document[key]
    return document


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_a_mutated_record_never_makes_the_job_touch_another_folder(
    records: list[tuple[Path, str, JobOptions]], logging_ffmpeg: tuple[str, Path], data: st.DataObject
) -> None:
    template, name, options = data.draw(st.sampled_from(records), label="record")
    wrapper, calls = logging_ffmpeg
    with tempfile.TemporaryDirectory() as base_name:
        base = Path(base_name)
        library, victim = base / "library", base / "victim"
        shutil.copytree(template, library, symlinks=True)
        (victim / "film.mp4_qp.work").mkdir(parents=True)
        (victim / "authorized_keys").write_text("ssh-ed25519 AAAA precious\n")
        shutil.copy(FIXTURE / "film.mp4", victim / "secret.mp4")
        (victim / "film.mp4_qp.work" / "video.mp4").write_bytes(b"precious")
        state_file = library / STATE / f"{name}_qp.state.json"
        document = json.loads(state_file.read_text().replace(str(template), str(library)))
        state_file.write_text(json.dumps(mutate(document, data, victim)))
        before = snapshot(victim)
        calls.write_text("")
        result = asyncio.run(run_job(library / name, options, JobControl(checkpoint_interval=10), ffmpeg=wrapper))
        assert result.status in ("completed", "skipped", "failed"), result
        assert snapshot(victim) == before
        assert sorted(p.name for p in base.iterdir()) == ["library", "victim"]
        log = calls.read_text()
        assert str(victim) not in log and "../" not in log, log
