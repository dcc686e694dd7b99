"""Attacks by someone who may write the library: forged state files and planted links.

Each test plants what such a user can plant (a symbolic link for the state folder or the work folder,
a forged record, a staging name), runs the real job code on the real 0.1.0 fixture media, and checks
that the files the attacker aimed at are byte-identical afterwards.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from lazy_transcode.jobs.api import JobControl, JobOptions, JobResult
from lazy_transcode.jobs.runner import remove_job_files, run_job
from lazy_transcode.state.discovery import cleanup_completed_states, find_resumable_operations
from lazy_transcode.state.errors import StateError
from tests.fixtures.v010 import FIXTURE, lay_out_library
from tests.integration.encode.runner import run_cli
from tests.security.support import FILM, SEARCH, snapshot, victim_folder


def run(source: Path, options: JobOptions = FILM, ffmpeg: str | None = None, **kw: Any) -> JobResult:
    return asyncio.run(run_job(source, options, JobControl(checkpoint_interval=10), ffmpeg=ffmpeg, **kw))


@pytest.fixture
def library(tmp_path: Path) -> Path:
    folder = tmp_path / "library"
    folder.mkdir()
    shutil.copy(FIXTURE / "film.mp4", folder / "film.mp4")
    return folder


def test_a_linked_state_folder_fails_the_job_and_its_target_is_untouched(library: Path, tmp_path: Path) -> None:
    victim = victim_folder(tmp_path)
    (library / ".lazy_transcode_state").symlink_to(victim)
    before = snapshot(victim)
    result = run(library / "film.mp4")
    assert result.status == "failed", result
    assert "is a symbolic link" in result.reason and "\n" not in result.reason, result.reason
    assert str(library / ".lazy_transcode_state") in result.reason
    assert snapshot(victim) == before
    assert sorted(p.name for p in library.iterdir()) == [".lazy_transcode_state", "film.mp4"]  # no output


def test_a_forged_destination_in_a_0_1_0_record_decides_nothing(tmp_path: Path) -> None:
    """0.1.0 placed `work/output.mkv` at the record's `checkpoint.encode.output.dest`: as root, over an
    `authorized_keys`. Today the destination is derived from the source and the options only."""
    library = tmp_path / "library"
    library.mkdir()
    lay_out_library(library, names=("film.mp4",))
    victim = tmp_path / "victim"
    victim.mkdir()
    (victim / "authorized_keys").write_text("ssh-ed25519 AAAA precious\n")
    payload = b"ssh-ed25519 AAAA attacker\n"
    state_dir = library / ".lazy_transcode_state"
    (state_dir / "film.mp4_qp.work" / "output.mkv").write_bytes(payload)
    state_file = state_dir / "film.mp4_qp.state.json"
    state = json.loads(state_file.read_text())
    state["checkpoint"]["encode"]["output"] = {
        "bytes": len(payload),
        "sha256": hashlib.sha256(payload).hexdigest(),
        "dest": str(victim / "authorized_keys"),
    }
    state["current_step"] = "place"
    state_file.write_text(json.dumps(state))
    before = snapshot(victim)
    result = run(library / "film.mp4")
    assert snapshot(victim) == before
    assert result.output_file in (None, str(library / "film_q30.mkv")), result


def test_a_linked_work_folder_fails_the_resume_and_its_target_is_untouched(tmp_path: Path) -> None:
    library = tmp_path / "library"
    library.mkdir()
    lay_out_library(library, names=("film.mp4",))  # an interrupted job: two of four pieces recorded
    work = library / ".lazy_transcode_state" / "film.mp4_qp.work"
    victim = victim_folder(tmp_path)
    shutil.rmtree(work)
    work.symlink_to(victim / "film.mp4_qp.work")
    before = snapshot(victim)
    result = run(library / "film.mp4")
    assert result.status == "failed", result
    assert "work folder" in result.reason and "is a symbolic link" in result.reason, result.reason
    assert snapshot(victim) == before


def test_cancel_with_a_linked_state_folder_removes_nothing_in_its_target(library: Path, tmp_path: Path) -> None:
    victim = victim_folder(tmp_path)
    (library / ".lazy_transcode_state").symlink_to(victim)
    before = snapshot(victim)
    with pytest.raises(StateError, match="is a symbolic link"):
        remove_job_files(library / "film.mp4", FILM)  # what `ltctl cancel` runs for the job
    assert snapshot(victim) == before


def test_cleanup_and_listing_skip_a_linked_state_folder(library: Path, tmp_path: Path) -> None:
    victim = victim_folder(tmp_path)
    completed = json.loads((FIXTURE / "state" / "film.mp4_qp.state.json").read_text())
    completed.update(completed=True, success=True, updated_time=1.0)
    (victim / "film.mp4_qp.state.json").write_text(json.dumps(completed))  # an old completed state: removable
    (victim / "other.mp4_qp.state.json").write_text("{not json")  # a corrupt one: would be renamed aside
    (library / ".lazy_transcode_state").symlink_to(victim)
    before = snapshot(victim)
    assert cleanup_completed_states(library, 0) == []
    assert find_resumable_operations(library) == []
    assert snapshot(victim) == before


def test_a_forged_clip_path_is_never_read(tmp_path: Path, logging_ffmpeg: tuple[str, Path]) -> None:
    """The search reads its clips where their index and start say, never where the record points."""
    library = tmp_path / "library"
    library.mkdir()
    lay_out_library(library, names=("search.mp4",))  # a search killed after its first probe
    victim = tmp_path / "victim"
    victim.mkdir()
    shutil.copy(FIXTURE / "film.mp4", victim / "secret.mp4")  # same frame count: the old check accepted it
    state_file = library / ".lazy_transcode_state" / "search.mp4_qp.state.json"
    state = json.loads(state_file.read_text())
    assert state["clips_extracted"][0]["path"] == str(library / "search.mp4")
    state["clips_extracted"][0]["path"] = str(victim / "secret.mp4")
    state_file.write_text(json.dumps(state))
    before = snapshot(victim)
    wrapper, calls = logging_ffmpeg
    result = run(library / "search.mp4", SEARCH, ffmpeg=wrapper)
    assert result.status in ("completed", "skipped"), result
    assert str(victim) not in calls.read_text(), "ffmpeg read the forged clip path"
    assert snapshot(victim) == before


@pytest.fixture
def other_file_system(tmp_path: Path) -> Iterator[Path]:
    """A folder on tmpfs, when the test's folder is not: placing there is a copy, not a rename."""
    shm = Path("/dev/shm")
    if not shm.is_dir() or shm.stat().st_dev == tmp_path.stat().st_dev:
        pytest.fail("/dev/shm must be another file system than the test's folder")
    folder = shm / f"lazy-transcode-test-{uuid.uuid4().hex[:8]}"
    folder.mkdir()
    yield folder
    shutil.rmtree(folder)


def test_placement_on_another_file_system_never_writes_through_a_planted_staging_link(
    library: Path, tmp_path: Path, other_file_system: Path
) -> None:
    victim = tmp_path / "victim"
    victim.mkdir()
    (victim / "authorized_keys").write_text("ssh-ed25519 AAAA precious\n")
    planted = other_file_system / ".film_q30.mkv.lazy-transcode-tmp"  # 0.1.0's staging name
    planted.symlink_to(victim / "authorized_keys")
    before = snapshot(victim)
    options = JobOptions(**{**FILM.to_dict(), "output_dir": str(other_file_system)})
    result = run(library / "film.mp4", options)
    assert result.status == "completed", result
    output = other_file_system / "film_q30.mkv"
    assert output.is_file() and not output.is_symlink() and output.stat().st_size == result.output_size
    assert snapshot(victim) == before
    assert planted.is_symlink() and planted.readlink() == victim / "authorized_keys"  # not ours: left alone
    assert sorted(p.name for p in other_file_system.iterdir()) == [planted.name, "film_q30.mkv"]


def test_a_source_outside_the_roots_by_its_real_path_is_refused_at_use(tmp_path: Path) -> None:
    """A folder inside the roots swapped for a link after `add`: the job opens the source, sees where it
    really is, and refuses it before reading or writing anything."""
    roots = tmp_path / "roots"
    outside = tmp_path / "outside"
    (roots / "show").mkdir(parents=True)
    outside.mkdir()
    shutil.copy(FIXTURE / "film.mp4", outside / "film.mp4")
    shutil.copy(FIXTURE / "film.mp4", roots / "show" / "film.mp4")
    assert run(roots / "show" / "film.mp4", FILM, roots=[roots]).status == "completed"
    shutil.rmtree(roots / "show")
    (roots / "show").symlink_to(outside)
    before = snapshot(outside)
    options = JobOptions(**{**FILM.to_dict(), "replace": True})
    result = run(roots / "show" / "film.mp4", options, roots=[roots])
    assert result.status == "failed" and "outside library_roots" in result.reason, result
    assert snapshot(outside) == before


def test_the_foreground_program_refuses_a_linked_state_folder_in_one_line(library: Path, tmp_path: Path) -> None:
    victim = victim_folder(tmp_path)
    (library / ".lazy_transcode_state").symlink_to(victim)
    before = snapshot(victim)
    done = run_cli("--mode", "qp", "--qp", "30", "--preset", "ultrafast", "--plain", str(library / "film.mp4"))
    assert done.returncode == 1, done
    [line] = [ln for ln in done.stderr.splitlines() if "symbolic link" in ln]
    assert str(library / ".lazy_transcode_state") in line, done.stderr
    assert snapshot(victim) == before
