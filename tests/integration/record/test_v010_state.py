"""State files of lazy-transcode 0.1.0 load, migrate and resume in this version."""

from __future__ import annotations

import re
from pathlib import Path

from lazy_transcode.jobs.api import JobOptions
from lazy_transcode.jobs.runner import state_manager_for
from lazy_transcode.media.probe import scan_video_frames
from lazy_transcode.state.schema import SCHEMA_VERSION
from tests.fixtures.v010 import lay_out_library
from tests.helpers import files_beside
from tests.integration.encode.runner import run_cli

ENCODE = ["--mode", "qp", "--encoder", "libx265", "--preset", "ultrafast", "--piece-seconds", "2", "--plain"]
TAG = {"LAZY_TRANSCODE_TEST": "lazy-transcode-test"}


def test_records_load_typed(tmp_path: Path) -> None:
    lay_out_library(tmp_path)
    film = state_manager_for(tmp_path / "film.mp4", JobOptions(qp=30, preset="ultrafast", piece_seconds=2.0))
    assert film.load_state()
    cp = film.record.checkpoint
    assert cp.settings is not None and cp.settings.quality == 30
    assert cp.encode is not None and sorted(cp.encode.pieces) == [0, 1] and len(cp.encode.plan) == 4
    assert cp.source is not None and cp.source.size == (tmp_path / "film.mp4").stat().st_size
    assert cp.output is None and cp.result is None
    search = state_manager_for(tmp_path / "search.mp4", JobOptions(vmaf_target=90.0, preset="ultrafast"))
    assert search.load_state()
    assert search.record.search is not None and [p.setting.quality for p in search.record.search.probes] == [23]
    assert search.record.clips is not None and search.record.clips[0].whole
    search.save_state()  # written back in today's schema
    assert search.state.to_dict()["schema_version"] == SCHEMA_VERSION
    assert search.load_state() and search.record.search.probes[0].vmaf == 92.541
    assert not list(tmp_path.glob(".lazy_transcode_state/*.corrupt*"))


def test_interrupted_encode_resumes_mid_file(tmp_path: Path) -> None:
    lay_out_library(tmp_path, names=("film.mp4",))
    run = run_cli("-v", *ENCODE, "--qp", "30", str(tmp_path / "film.mp4"), env=TAG)
    assert run.returncode == 0, run.stderr
    assert "resuming from step 'encode'" in run.stderr
    # The two pieces 0.1.0 recorded are reused; its two unfinished ones are encoded (once each).
    assert sorted(int(n) for n in re.findall(r"encoding piece (\d+) \(", run.stderr)) == [2, 3]
    output = tmp_path / "film_q30.mkv"
    assert scan_video_frames(output).frame_count == 200
    assert files_beside(tmp_path) == {"film.mp4", "film_q30.mkv"}


def test_interrupted_search_finishes(tmp_path: Path) -> None:
    """Its probes were keyed by the file's old path, so the moved library measures them again."""
    lay_out_library(tmp_path, names=("search.mp4",))
    run = run_cli("-v", *ENCODE, "--vmaf-target", "90", str(tmp_path / "search.mp4"), env=TAG)
    assert run.returncode == 0, run.stderr
    assert "resuming from step 'quality_search'" in run.stderr
    assert "corrupt" not in run.stderr
    # This test pattern compresses badly: the search ends in a skip, with the measured reason.
    assert "search.mp4: skipped: predicted output" in run.stdout and "saving below 5%" in run.stdout
    assert files_beside(tmp_path) == {"search.mp4"}
