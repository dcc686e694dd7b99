"""Acceptance of the quality search on real footage: the finished file's full VMAF is on target, and a
killed-and-resumed search repeats no probe (counted on the real ffmpeg's command lines); a longer file is
sampled on pieces of its output, with no clip cut."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from lazy_transcode.jobs.api import JobControl, JobOptions, Progress
from lazy_transcode.jobs.runner import run_job
from tests.helpers import files_beside, full_vmaf

TOL = 1.0


@pytest.mark.parametrize("target", [90.0, 95.0])
def test_finished_file_reaches_target_vmaf(target: float, bbb_40s: Path, tmp_path: Path, ffmpeg: str) -> None:
    src_dir = tmp_path / "library"
    src_dir.mkdir()
    source = src_dir / "bbb.mp4"
    shutil.copy(bbb_40s, source)
    out_dir = tmp_path / "out"
    options = JobOptions(
        mode="qp", vmaf_target=target, vmaf_tol=TOL, encoder="libx265", preset="ultrafast", output_dir=str(out_dir)
    )
    progress: list[Progress] = []
    cwd_before = set(Path.cwd().iterdir())
    result = asyncio.run(run_job(source, options, JobControl(on_progress=progress.append), ffmpeg=ffmpeg))
    assert result.status == "completed", result.reason
    assert result.output_file is not None
    achieved = full_vmaf(Path(result.output_file), source, ffmpeg, tmp_path / "full-vmaf.json")
    probes = [p for p in progress if p.step == "search" and p.detail and "VMAF" in p.detail]
    print(f"target {target}: setting {result.setting}, predicted {result.vmaf}, full-file VMAF {achieved:.2f}, "
          f"{len(probes)} probes")  # fmt: skip
    assert target - 0.5 <= achieved <= target + TOL + 0.5
    assert 1 <= len(probes) <= 4
    # Temporary files never beside the source nor in the working directory, and all gone at the end.
    assert files_beside(src_dir) == {"bbb.mp4"}  # and the small record of the finished job
    assert set(Path.cwd().iterdir()) == cwd_before


_RUNNER = """
import asyncio, sys
from lazy_transcode.jobs.api import JobControl, JobOptions
from lazy_transcode.jobs.runner import run_job
options = JobOptions(mode="qp", vmaf_target=95.0, vmaf_tol=0.5, encoder="libx265", preset="ultrafast",
                     output_dir=sys.argv[2], samples=2)
result = asyncio.run(run_job(sys.argv[1], options, JobControl(), ffmpeg=sys.argv[3]))
print(result.status, result.setting, result.reason)
"""


def _probe_encodes(lines: list[str]) -> list[str]:
    """The CRF of every probe piece ffmpeg was started to encode (`<work>/probes/q<CRF>/pieces/...`)."""
    out = []
    for line in lines:
        if "-c:v libx265" not in line:
            continue
        for word in line.split():
            if "/probes/q" in word and word.endswith(".part.mp4"):
                out.append(word.rsplit("/probes/q", 1)[1].split("/")[0])
    return out


def _state(state_dir: Path) -> dict:
    for path in state_dir.glob("*.state.json"):
        try:
            return json.loads(path.read_text())
        except (OSError, ValueError):
            return {}
    return {}


def test_killed_search_resumes_without_repeating_a_probe(
    bbb_100s: Path, tmp_path: Path, logging_ffmpeg: tuple[str, Path]
) -> None:
    wrapper, log = logging_ffmpeg
    source = tmp_path / "bbb long.mp4"
    shutil.copy(bbb_100s, source)
    out_dir = tmp_path / "out"
    state_dir = tmp_path / ".lazy_transcode_state"
    cmd = [sys.executable, "-c", _RUNNER, str(source), str(out_dir), wrapper]
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[3])}

    first = subprocess.Popen(cmd, env=env, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 120
    try:
        while time.monotonic() < deadline:  # kill -9 as soon as one probe is recorded, mid-search
            probes = (_state(state_dir).get("optimization_results") or {}).get("probes") or []
            if probes:
                break
            assert first.poll() is None, first.communicate()
            time.sleep(0.02)
        else:
            pytest.fail("no probe recorded in time")
        first.send_signal(signal.SIGKILL)
        first.wait()
    finally:
        if first.poll() is None:
            first.kill()
            first.wait()
    state = _state(state_dir)
    done_first = [str(p["setting"]["quality"]) for p in state["optimization_results"]["probes"]]
    clips = state["clips_extracted"]  # sampled on pieces of the output: no clip is cut
    assert isinstance(clips, list) and len(clips) == 1 and clips[0]["whole"], clips
    calls_first = log.read_text().splitlines()
    encodes_first = _probe_encodes(calls_first)
    assert len(set(encodes_first)) <= len(done_first) + 1  # at most the probe in flight was cut short

    second = subprocess.run(cmd, env=env, cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert second.returncode == 0, second.stderr[-2000:]
    assert second.stdout.startswith("completed"), second.stdout
    calls_second = log.read_text().splitlines()[len(calls_first) :]
    encodes_second = _probe_encodes(calls_second)
    print(f"first run: probes done {done_first}, encodes {encodes_first}; resumed run: encodes {encodes_second}")
    assert not set(done_first) & set(encodes_second), "a recorded probe was encoded again"
    assert not [c for c in calls_first + calls_second if "ffv1" in c], "no sample clip is cut"
    assert len(encodes_second) >= 1  # the kill really was mid-search
    # Everything temporary is gone, the source is untouched beside its output folder.
    assert not (state_dir / "bbb long.mp4.clips").exists()
    assert sorted(p for p in files_beside(tmp_path) if p != "bin" and not p.endswith(".log")) == [
        "bbb long.mp4", "out",
    ]  # fmt: skip
