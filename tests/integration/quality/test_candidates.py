"""Whole-file probes are candidate outputs (real footage, real ffmpeg): the winner's pieces are the
output, byte-identical to a plain `--qp N` encode, nothing is encoded after the search, and a search
killed at every probe (or inside one) resumes without encoding a finished probe or piece again."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from lazy_transcode.failpoints import ENV as FAILPOINT_ENV
from lazy_transcode.jobs import encode as encode_module
from lazy_transcode.jobs import search as search_module
from lazy_transcode.jobs.api import JobControl, JobOptions, JobResult, JobStopped, Progress
from lazy_transcode.jobs.runner import run_job, state_manager_for
from lazy_transcode.jobs.search import find_setting, search_key
from lazy_transcode.media.probe import FrameScan, probe
from lazy_transcode.media.samples import ExtractedClip, legacy_sample_starts
from lazy_transcode.media.vmaf import measure_vmaf
from tests.helpers import files_beside, run_ffmpeg, video_digest

ROOT = Path(__file__).resolve().parents[3]
OPTIONS = {"mode": "qp", "vmaf_target": 95.0, "vmaf_tol": 0.5, "encoder": "libx265", "preset": "ultrafast",
           "piece_seconds": 4.0}  # fmt: skip

_RUNNER = """
import asyncio, json, sys
from lazy_transcode.jobs.api import JobControl, JobOptions
from lazy_transcode.jobs.runner import run_job
options = JobOptions(output_dir=sys.argv[2], **json.loads(sys.argv[4]))
result = asyncio.run(run_job(sys.argv[1], options, JobControl(), ffmpeg=sys.argv[3]))
print(result.status, json.dumps(result.setting), result.reason)
"""


@pytest.fixture(scope="module")
def clip(bbb_40s: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """12 s of the real footage: measured whole, 3 pieces of 4 s."""
    out = tmp_path_factory.mktemp("clip") / "bbb12.mp4"
    run_ffmpeg("-i", str(bbb_40s), "-t", "12", "-c", "copy", str(out))
    return out


def piece_encodes(log: Path, skip: int = 0) -> list[str]:
    """The piece files ffmpeg encoded (`probes/q24/pieces/piece_00001` or `pieces/piece_00001`)."""
    out = []
    for line in log.read_text().splitlines()[skip:]:
        if "-c:v libx265" in line:
            word = next((w for w in line.split() if w.endswith(".part.mp4")), None)
            if word is not None:
                out.append("/".join(Path(word).parts[-4:]).split(".work/", 1)[-1].removesuffix(".part.mp4"))
    return out


def piece_decodes(log: Path) -> list[str]:
    """The pieces decoded by a `--verify full` check, named as in `piece_encodes` (a piece decoded beside
    the next one's encode is read as `.part.mp4`, one decoded after the search by its final name)."""
    out = []
    for line in log.read_text().splitlines():
        if "-err_detect explode" in line:
            word = line.split(" -i ", 1)[1].split()[0]
            out.append("/".join(Path(word).parts[-4:]).split(".work/", 1)[-1].split(".")[0])
    return out


def probed(probes: list[str]) -> tuple[set[str], set[str]]:
    """The settings measured whole (an estimate finished later counts once) and those only estimated."""
    label = {d: d.split(": ", 1)[1].split()[0] for d in probes}
    finished = {label[d] for d in probes if "estimated" not in d}
    return finished, {label[d] for d in probes if "estimated" in d} - finished


def searched_job(
    clip: Path, tmp_path: Path, logging_ffmpeg: tuple[str, Path], chosen: dict[str, object] = OPTIONS
) -> tuple[JobResult, list[str], list[str]]:
    """A cold search job of `clip` in `tmp_path/library`: its result, its probes' progress lines, the
    pieces ffmpeg encoded."""
    wrapper, log = logging_ffmpeg
    library = tmp_path / "library"
    library.mkdir()
    source = library / "bbb.mp4"
    shutil.copy(clip, source)
    progress: list[Progress] = []
    options = JobOptions(output_dir=str(tmp_path / "out"), **chosen)
    result = asyncio.run(run_job(source, options, JobControl(on_progress=progress.append), ffmpeg=wrapper))
    assert result.status == "completed", result.reason
    probes = [p.detail for p in progress if p.step == "search" and p.detail and " VMAF " in p.detail]
    encodes = piece_encodes(log)
    print(f"setting {result.setting}, probes {probes}, encodes {encodes}")
    return result, probes, encodes


def encode_passes(records: list[logging.LogRecord]) -> list[tuple[str, list[int]]]:
    """Each probe's label and the pieces each of its encode passes had to encode, from the job's log."""
    out: list[tuple[str, list[int]]] = []
    passes: list[int] = []
    for record in records:
        message = record.getMessage()
        if (counted := re.search(r": (\d+) pieces to encode", message)) is not None:
            passes.append(int(counted[1]))
        elif (probe := re.search(r": probe (q\d+) VMAF", message)) is not None:
            out.append((probe[1], passes))
            passes = []
    return out


def test_the_winning_probe_is_the_output_and_identical_to_a_plain_encode(
    clip: Path, tmp_path: Path, logging_ffmpeg: tuple[str, Path], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="lazy_transcode")
    result, probes, encodes = searched_job(clip, tmp_path, logging_ffmpeg)
    library = tmp_path / "library"
    assert encodes and all(e.startswith("probes/") for e in encodes), "nothing is encoded after the search"
    assert len(encodes) == len(set(encodes)), "no piece encoded twice"
    winner = f"probes/q{result.setting['quality']}/pieces/"
    assert sorted(e for e in encodes if e.startswith(winner)) == [f"{winner}piece_{n:05d}" for n in range(3)]
    finished, only_estimated = probed(probes)  # a probe estimated from piece 1 and not finished encodes no other
    assert len(encodes) == 3 * len(finished) + len(only_estimated)
    assert files_beside(library) == {"bbb.mp4"}  # probes folders and losers gone with the work folder
    # `--verify full`: each of the winner's pieces is decoded once (beside an encode when the probe was
    # finished), an only-estimated probe's never.
    decodes = piece_decodes(logging_ffmpeg[1])
    assert sorted(d for d in decodes if d.startswith(winner)) == [f"{winner}piece_{n:05d}" for n in range(3)]
    assert not [d for d in decodes if d.split("/")[1] in only_estimated]
    assert len(decodes) == len(set(decodes))
    # A setting one step from one measured before is measured whole at once, in one pass of 3 pieces.
    passes = encode_passes(caplog.records)
    beside = [(label, n) for k, (label, n) in enumerate(passes) if any(
        abs(int(label[1:]) - int(earlier[1:])) <= 1 for earlier, _ in passes[:k])]  # fmt: skip
    assert beside and all(n == [3] for _, n in beside), passes

    assert_same_video_as_a_plain_job(result, clip, tmp_path, logging_ffmpeg[0], OPTIONS)


def test_a_file_in_two_pieces_estimates_a_missed_guess_from_its_second_piece(
    bbb_40s: Path, tmp_path: Path, logging_ffmpeg: tuple[str, Path]
) -> None:
    """7 s in two pieces: a cold guess that misses encodes the second piece only, and the video is still
    a plain `--qp` job's at the chosen setting."""
    clip = tmp_path / "bbb7.mp4"
    run_ffmpeg("-i", str(bbb_40s), "-t", "7", "-c", "copy", str(clip))
    result, probes, encodes = searched_job(clip, tmp_path, logging_ffmpeg)
    finished, only_estimated = probed(probes)
    assert any("estimated" in d for d in probes), "the cold guess misses this clip's band"
    for label in only_estimated:
        assert [e for e in encodes if e.startswith(f"probes/{label}/")] == [f"probes/{label}/pieces/piece_00001"]
    assert len(encodes) == len(set(encodes)) == 2 * len(finished) + len(only_estimated)
    assert_same_video_as_a_plain_job(result, clip, tmp_path, logging_ffmpeg[0], OPTIONS)


def test_pieces_whose_scoring_fails_inside_ffmpeg_are_encoded_again_and_scored_from_their_join(
    clip: Path, tmp_path: Path, ffmpeg: str, caplog: pytest.LogCaptureFixture
) -> None:
    """An ffmpeg whose libvmaf refuses the scoring graph (an option it does not know) fails each scored
    piece encoder, here in two lanes at once (4 pieces: the estimate's 1 and 3 run side by side): each
    piece is encoded again without the scoring, the search goes on scoring joins, and the job ends with
    a plain job's video."""
    wrapper = tmp_path / "bin" / "ffmpeg"
    wrapper.parent.mkdir()
    wrapper.write_text(
        f"#!{sys.executable}\nimport os, sys\nargs = sys.argv[1:]\nif '-dec' in args:\n"
        "    args = [a.replace('libvmaf=', 'libvmaf=lt_no_such_option=1:') for a in args]\n"
        f"os.execv({ffmpeg!r}, [{ffmpeg!r}, *args])\n"
    )
    wrapper.chmod(0o755)
    source = tmp_path / "bbb.mp4"
    shutil.copy(clip, source)
    four = {**OPTIONS, "piece_seconds": 3.0, "piece_workers": 2}
    options = JobOptions(output_dir=str(tmp_path / "out"), **four)
    with caplog.at_level("WARNING"):
        result = asyncio.run(run_job(source, options, JobControl(), ffmpeg=str(wrapper)))
    assert result.status == "completed", result.reason
    failed = [r.getMessage() for r in caplog.records if "without scoring it beside its encode" in r.getMessage()]
    print(failed)
    assert 1 <= len(failed) <= 2, failed  # once per lane that was scoring: no later piece tries it again
    assert result.vmaf is not None and 94.0 < result.vmaf < 97.0
    assert_same_video_as_a_plain_job(result, clip, tmp_path, ffmpeg, four)


def test_a_probe_piece_that_does_not_decode_is_encoded_again_and_the_video_is_a_plain_jobs(
    clip: Path, tmp_path: Path, ffmpeg: str, caplog: pytest.LogCaptureFixture
) -> None:
    """`--verify full`: the decode of a recorded piece (an estimate's, beside its probe's finish: a band
    this wide takes the first estimate's probe) fails once: that piece is dropped and encoded again
    before the probe is scored, and the job ends with a plain job's video."""
    log, failed_once = tmp_path / "ffmpeg-calls.log", tmp_path / "failed-once"
    wrapper = tmp_path / "bin" / "ffmpeg"
    wrapper.parent.mkdir()
    wrapper.write_text(
        f"#!{sys.executable}\nimport os, sys\nargs = sys.argv[1:]\n"
        f"open({str(log)!r}, 'a').write(' '.join(args) + '\\n')\n"
        "if '-err_detect' in args and not args[args.index('-i') + 1].endswith('.part.mp4'):\n"
        f"    if not os.path.exists({str(failed_once)!r}):\n"
        f"        open({str(failed_once)!r}, 'w').write(args[args.index('-i') + 1])\n"
        "        sys.exit(1)\n"
        f"os.execv({ffmpeg!r}, [{ffmpeg!r}, *args])\n"
    )
    wrapper.chmod(0o755)
    wide = {**OPTIONS, "vmaf_target": 80.0, "vmaf_tol": 19.0}
    with caplog.at_level("WARNING"):
        result, probes, encodes = searched_job(clip, tmp_path, (str(wrapper), log), wide)
    assert len(probes) == 1 and "estimated" not in probes[0], probes
    bad = "/".join(Path(failed_once.read_text()).parts[-4:]).split(".work/", 1)[-1].removesuffix(".mp4")
    assert bad == f"probes/q{result.setting['quality']}/pieces/piece_00001", bad  # the estimate's piece
    assert any("does not decode" in r.getMessage() for r in caplog.records)
    assert sorted(encodes) == sorted([*(f"{bad[:-1]}{n}" for n in range(3)), bad]), encodes  # it, twice
    assert_same_video_as_a_plain_job(result, clip, tmp_path, ffmpeg, wide)


def assert_same_video_as_a_plain_job(
    result: JobResult, clip: Path, tmp_path: Path, wrapper: str, options: dict[str, object]
) -> None:
    """The searched job's video is byte for byte a plain `--qp` job's at the setting it chose."""
    plain_dir = tmp_path / "plain"
    plain_dir.mkdir()
    plain_source = plain_dir / "bbb.mp4"
    shutil.copy(clip, plain_source)
    plain = JobOptions(**{**options, "qp": result.setting["quality"]}, output_dir=str(tmp_path / "plain_out"))
    again = asyncio.run(run_job(plain_source, plain, JobControl(), ffmpeg=wrapper))
    assert again.status == "completed", again.reason
    assert result.output_file is not None and again.output_file is not None
    assert video_digest(Path(result.output_file)) == video_digest(Path(again.output_file))


def _run(
    source: Path, out: Path, wrapper: str, failpoint: str | None, options: dict[str, object] = OPTIONS
) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    env.pop(FAILPOINT_ENV, None)
    if failpoint is not None:
        env[FAILPOINT_ENV] = failpoint
    cmd = [sys.executable, "-c", _RUNNER, str(source), str(out), wrapper, json.dumps(options)]
    return subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)


def _recorded_probes(state_dir: Path) -> list[int]:
    state = json.loads(next(state_dir.glob("*.state.json")).read_text())
    return [p["setting"]["quality"] for p in (state.get("optimization_results") or {}).get("probes", [])]


def _recorded_pieces(state_dir: Path) -> set[str]:
    """The candidate pieces the record holds, named as `piece_encodes` names them."""
    state = json.loads(next(state_dir.glob("*.state.json")).read_text())
    candidates = (state.get("optimization_results") or {}).get("candidates", {})
    return {f"probes/{label}/pieces/piece_{int(n):05d}" for label, rec in candidates.items() for n in rec["pieces"]}


@pytest.mark.parametrize("point", ["probe-recorded", "piece-recorded@2"])
def test_search_killed_at_every_probe_resumes_without_repeating_one(
    point: str, clip: Path, tmp_path: Path, logging_ffmpeg: tuple[str, Path]
) -> None:
    wrapper, log = logging_ffmpeg
    source = tmp_path / "bbb.mp4"
    shutil.copy(clip, source)
    state_dir = tmp_path / ".lazy_transcode_state"
    kills, finished, probes_done = 0, set[str](), list[int]()
    while (run := _run(source, tmp_path / "out", wrapper, point)).returncode == -9:
        kills += 1
        assert kills <= 8, "the search never ends"
        again = set(piece_encodes(log)) & finished  # done before this run's kill, and still encoded by it
        assert not again, f"encoded again after a kill: {again}"
        probes = _recorded_probes(state_dir)
        assert probes[: len(probes_done)] == probes_done  # the recorded probes stay recorded
        if point == "probe-recorded":  # each run records exactly one more probe
            assert len(probes) == kills
        probes_done, finished = probes, finished | _recorded_pieces(state_dir)
        log.write_text("")  # the next run's encodes only
    assert run.returncode == 0 and run.stdout.startswith("completed"), (run.stdout, run.stderr[-2000:])
    last = piece_encodes(log)
    print(f"{kills} kills, probes {probes_done}, last run encoded {last}")
    assert kills >= 1
    assert not set(last) & finished, f"encoded again after a kill: {set(last) & finished}"
    assert all(e.startswith("probes/") for e in last), "the winner's pieces are the output"


def test_a_search_recorded_before_candidates_resumes_with_its_probes(
    clip: Path, tmp_path: Path, logging_ffmpeg: tuple[str, Path]
) -> None:
    """A record of a search whose whole-file probes were throwaway encodes (0.2's record) keeps them."""
    wrapper, log = logging_ffmpeg
    source = tmp_path / "bbb.mp4"
    shutil.copy(clip, source)
    options = JobOptions(output_dir=str(tmp_path / "out"), **OPTIONS)
    control = JobControl()
    control.on_progress = lambda p: control.request_stop() if p.detail and " VMAF " in p.detail else None
    manager = state_manager_for(source, options)
    manager.load_state()
    with pytest.raises(JobStopped):  # the bare search (no job) makes its probes the old way
        asyncio.run(find_setting(source, probe(source), options, manager, control, ffmpeg=wrapper))
    first = _recorded_probes(tmp_path / ".lazy_transcode_state")
    assert len(first) == 1
    result = asyncio.run(run_job(source, options, JobControl(), ffmpeg=wrapper))
    assert result.status == "completed", result.reason
    assert not [e for e in piece_encodes(log) if e.startswith(f"probes/q{first[0]}/")], "a recorded probe again"


def test_each_probe_piece_is_scored_by_its_own_encoder(
    clip: Path, tmp_path: Path, logging_ffmpeg: tuple[str, Path]
) -> None:
    """No VMAF pass of its own: each piece's encoder scores it against the frames it got, and the probe's
    VMAF pools those scores; it agrees with a full VMAF of the same pieces' join."""
    wrapper, log = logging_ffmpeg
    source = tmp_path / "bbb.mp4"
    shutil.copy(clip, source)
    run = _run(source, tmp_path / "out", wrapper, "probe-recorded")
    assert run.returncode == -9, run.stderr[-2000:]
    calls = log.read_text().splitlines()
    assert [c for c in calls if "libvmaf" in c] and all("-dec 0:0" in c for c in calls if "libvmaf" in c)
    state = json.loads(next((tmp_path / ".lazy_transcode_state").glob("*.state.json")).read_text())
    probe_done = state["optimization_results"]["probes"][0]
    label = f"q{probe_done['setting']['quality']}"
    pieces = state["optimization_results"]["candidates"][label]["pieces"]
    plan = state["optimization_results"]["candidates"][label]["plan"]  # rows: first frame, frame count, ...
    scores = [(pieces[n]["score"], plan[int(n)][1]) for n in sorted(pieces, key=int)]
    assert scores and all(s["model"] == "vmaf_v0.6.1" and s["scored"] >= 1 for s, _ in scores), scores
    pooled = sum(s["mean"] * frames for s, frames in scores) / sum(frames for _, frames in scores)
    assert probe_done["vmaf"] == pytest.approx(pooled, abs=1e-3)  # each piece weighs its frames

    folder = next((tmp_path / ".lazy_transcode_state").glob("*.work")) / "probes" / label / "pieces"
    joined, vmaf_log = tmp_path / "joined.mp4", tmp_path / "vmaf.json"
    listing = tmp_path / "list.txt"
    listing.write_text("".join(f"file '{folder / f'piece_{int(n):05d}.mp4'}'\n" for n in sorted(pieces, key=int)))
    run_ffmpeg("-f", "concat", "-safe", "0", "-i", str(listing), "-c", "copy", str(joined))
    frames = [(plan[int(n)][0], plan[int(n)][1]) for n in sorted(pieces, key=int)]
    exact = asyncio.run(
        measure_vmaf(joined, source, width=320, height=180, log_path=vmaf_log, ffmpeg=wrapper, reference_frames=frames)
    )
    print(f"probe {label}: pooled {pooled:.3f} from {len(scores)} piece(s), exact {exact.mean:.3f}")
    assert abs(pooled - exact.mean) <= 0.3


def count_source_scans(monkeypatch: pytest.MonkeyPatch, name: str) -> list[str]:
    """The scans of every packet of the source (named `name`, or read through its held descriptor) that
    the search and the encode make from now on, in this process."""
    scans: list[str] = []

    def counting(module: object) -> None:
        real = module.scan_video_frames  # type: ignore[attr-defined]

        def scan(path: str | Path, stream_index: int | None = None) -> FrameScan:
            if re.fullmatch(r"/proc/\d+/fd/\d+", str(path)) or Path(path).name == name:
                scans.append(str(path))
            return real(path, stream_index)

        monkeypatch.setattr(module, "scan_video_frames", scan)

    counting(search_module)
    counting(encode_module)
    return scans


@pytest.mark.parametrize("samples", [None, 2])
def test_a_longer_file_is_measured_on_sample_pieces_that_stay_in_the_output(
    samples: int | None,
    bbb_100s: Path,
    tmp_path: Path,
    logging_ffmpeg: tuple[str, Path],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Past 60 s the search samples the file: its probes encode the pieces at the sample times (no clip is
    cut), the winner's become the output's, and the encode step encodes only the others. Of three sample
    pieces or more, each probe measures them all (none is an estimate of the others). The source's
    packets are read once: the scan that ranks the samples plans the pieces."""
    wrapper, log = logging_ffmpeg
    source_scans = count_source_scans(monkeypatch, "bbb.mp4")
    library = tmp_path / "library"
    library.mkdir()
    source = library / "bbb.mp4"
    shutil.copy(bbb_100s, source)
    chosen = {**OPTIONS, "piece_seconds": 10.0, "samples": samples}
    progress: list[Progress] = []
    options = JobOptions(output_dir=str(tmp_path / "out"), **chosen)
    result = asyncio.run(run_job(source, options, JobControl(on_progress=progress.append), ffmpeg=wrapper))
    assert result.status == "completed", result.reason
    assert not [line for line in log.read_text().splitlines() if "ffv1" in line], "no sample clip is cut"
    encodes = piece_encodes(log)
    assert len(encodes) == len(set(encodes)), "no piece encoded twice"
    probes: dict[str, set[str]] = {}
    for e in encodes:
        if e.startswith("probes/"):
            probes.setdefault(e.split("/")[1], set()).add(e.rsplit("/", 1)[-1])
    sampled = probes[f"q{result.setting['quality']}"]
    assert len(sampled) == (samples or 3), sampled  # by default, three strata of its pieces
    details = [p.detail for p in progress if p.step == "search" and p.detail and " VMAF " in p.detail]
    finished, only_estimated = probed(details)
    assert finished and all(probes[label] == sampled for label in finished), probes  # the same pieces
    assert not only_estimated and set(probes) == finished, details
    assert not [d for d in details if "estimated" in d], details  # all of them or none
    rest = {e.removeprefix("pieces/") for e in encodes if e.startswith("pieces/")}
    assert rest and not rest & sampled, "the winner's sample pieces are not encoded again"
    numbers = sorted(int(name.removeprefix("piece_")) for name in rest | sampled)
    assert numbers == list(range(len(numbers))) and len(sampled) <= len(numbers) // 3
    print(f"setting {result.setting}, probes {sorted(probes)}, sampled {sorted(sampled)} of {len(numbers)}")
    assert len(source_scans) == 1, source_scans
    assert_same_video_as_a_plain_job(result, bbb_100s, tmp_path, wrapper, chosen)


def test_a_longer_file_recorded_without_its_sample_times_goes_on_with_the_old_ones(
    bbb_100s: Path, tmp_path: Path, logging_ffmpeg: tuple[str, Path]
) -> None:
    """A search recorded by a version that kept no sample times (it spread them evenly in time) goes on
    with the places that version chose: its recorded probe is not measured again, and the next probes
    measure the pieces holding those times, not those a ranking would choose now."""
    wrapper, log = logging_ffmpeg
    source = tmp_path / "bbb.mp4"
    shutil.copy(bbb_100s, source)
    chosen = {**OPTIONS, "piece_seconds": 10.0}
    run = _run(source, tmp_path / "out", wrapper, "probe-recorded", chosen)
    assert run.returncode == -9, run.stderr[-2000:]
    state_file = next((tmp_path / ".lazy_transcode_state").glob("*.state.json"))
    state = json.loads(state_file.read_text())
    ranked = state["clips_extracted"][0].pop("samples")  # as the older version recorded it
    info = probe(source)
    legacy = legacy_sample_starts(info.duration)
    results = state["optimization_results"]
    (label,) = results["candidates"]
    plan = results["candidates"][label]["plan"]  # rows: first frame, frame count, ...
    fps = info.video.avg_fps if info.video else 0.0

    def holding(times: list[float]) -> set[str]:
        return {f"piece_{n:05d}" for n, row in enumerate(plan) for t in times if row[0] <= t * fps < row[0] + row[1]}

    assert holding(ranked) != holding(legacy), "the test needs a ranking that differs from the old places"
    clips = [ExtractedClip.from_dict(c) for c in state["clips_extracted"]]
    results["key"] = search_key("libx265", "ultrafast", "quality", False, clips, legacy)
    del results["candidates"][label]  # its pieces were measured where this version samples
    state_file.write_text(json.dumps(state))
    first = _recorded_probes(state_file.parent)
    log.write_text("")
    run = _run(source, tmp_path / "out", wrapper, None, chosen)
    assert run.returncode == 0 and run.stdout.startswith("completed"), (run.stdout, run.stderr[-2000:])
    probed_pieces = [e for e in piece_encodes(log) if e.startswith("probes/")]
    assert probed_pieces and not [e for e in probed_pieces if e.startswith(f"probes/q{first[0]}/")], probed_pieces
    assert {e.rsplit("/", 1)[-1] for e in probed_pieces} == holding(legacy), (probed_pieces, legacy, ranked)


def test_a_longer_file_probed_on_cut_clips_reads_its_source_once(
    bbb_100s: Path, tmp_path: Path, ffmpeg: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With an ffmpeg that cannot score a piece beside its encode (7.0), a longer file's samples are cut
    as clips, ranked from one scan of the source's packets, and the encode's pieces are planned from
    that same scan: the source is read once."""
    wrapper = tmp_path / "bin" / "ffmpeg"
    wrapper.parent.mkdir()
    log = tmp_path / "calls.log"
    wrapper.write_text(
        f'#!/bin/sh\nprintf "%s\\n" "$*" >> {log}\n'
        'if [ "$*" = "-hide_banner -version" ]; then echo "ffmpeg version 7.0.2 Copyright (c) the FFmpeg developers"; '
        f'exit 0; fi\nexec {ffmpeg} "$@"\n'
    )
    wrapper.chmod(0o755)
    source_scans = count_source_scans(monkeypatch, "bbb.mp4")
    library = tmp_path / "library"
    library.mkdir()
    source = library / "bbb.mp4"
    shutil.copy(bbb_100s, source)
    options = JobOptions(output_dir=str(tmp_path / "out"), **{**OPTIONS, "piece_seconds": 10.0})
    result = asyncio.run(run_job(source, options, JobControl(), ffmpeg=str(wrapper)))
    assert result.status == "completed", result.reason
    calls = log.read_text().splitlines()
    assert [c for c in calls if "ffv1" in c], "the samples are cut as clips"
    assert not [c for c in calls if "libvmaf" in c and "-dec 0:0" in c], "no piece is scored beside its encode"
    assert len(source_scans) == 1, source_scans
