"""Sources with B-frames in containers whose timestamps are not the packets' order (AVI without pts,
MPEG-TS, MPEG-PS and FLV starting after zero, NTSC frames between the milliseconds) encode with every
frame at its presentation time, keep their audio, and resume after a kill to the same output as an
uninterrupted run."""

from __future__ import annotations

import hashlib
import json
import shutil
from fractions import Fraction
from pathlib import Path

import av

from lazy_transcode.failpoints import ENV as FAILPOINT_ENV

from .runner import FAST, decoded_timestamps, no_ffmpeg_left, run_cli

PIECE = ["--piece-seconds", "2"]
TAG = {"LAZY_TRANSCODE_TEST": "lazy-transcode-test"}
MILLISECOND = Fraction(1, 1000)


def _video_packets(path: Path) -> list[tuple[Fraction, str]]:
    """(presentation time, SHA-256 of the data) of every video packet, in presentation order."""
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        packets = [
            (p.pts * stream.time_base, hashlib.sha256(bytes(p)).hexdigest()) for p in container.demux(stream) if p.size
        ]
    return sorted(packets)


def _audio_packets(path: Path) -> list[int]:
    """The number of packets of each audio stream."""
    with av.open(str(path)) as container:
        counts = {s.index: 0 for s in container.streams.audio}
        for packet in container.demux(*container.streams.audio):
            if packet.size:
                counts[packet.stream.index] += 1
    return list(counts.values())


def test_every_frame_at_its_presentation_time_and_a_resume_ends_identical(
    bframe_source: tuple[Path, int], tmp_path: Path
) -> None:
    bframe_source, frames = bframe_source
    source_times = decoded_timestamps(bframe_source)
    assert len(source_times) == frames

    whole = tmp_path / "whole"
    whole.mkdir()
    source = whole / bframe_source.name
    shutil.copy(bframe_source, source)
    run = run_cli(*FAST, *PIECE, str(source), env=TAG)
    assert run.returncode == 0, run.stderr
    reference = whole / f"{source.stem}_q30.mkv"
    times = [t for t, _ in _video_packets(reference)]
    assert len(times) == len(source_times)
    assert all(abs(a - b) <= MILLISECOND for a, b in zip(times, source_times, strict=True)), (
        [float(t) for t in times[:3]], [float(t) for t in source_times[:3]],
    )  # fmt: skip
    audio = _audio_packets(source)
    assert len(audio) == 1 and _audio_packets(reference) == audio, "the audio is copied whole"

    resumed = tmp_path / "resumed"
    resumed.mkdir()
    source = resumed / bframe_source.name
    shutil.copy(bframe_source, source)
    killed = run_cli(*FAST, *PIECE, str(source), env={**TAG, FAILPOINT_ENV: "piece-recorded@2"})
    assert killed.returncode == -9, killed.stderr
    assert no_ffmpeg_left()
    run = run_cli("--resume", *FAST, *PIECE, str(source), env=TAG)
    assert run.returncode == 0, run.stderr
    assert _video_packets(resumed / f"{source.stem}_q30.mkv") == _video_packets(reference)
    assert _audio_packets(resumed / f"{source.stem}_q30.mkv") == audio


def test_a_plan_without_recorded_pieces_is_made_again(bframe_avi: tuple[Path, int], tmp_path: Path) -> None:
    """A job that failed on a plan an older version made (an AVI's frames one frame early) resumes."""
    source = tmp_path / bframe_avi[0].name
    shutil.copy(bframe_avi[0], source)
    killed = run_cli(*FAST, *PIECE, str(source), env={**TAG, FAILPOINT_ENV: "piece-unrecorded"})
    assert killed.returncode == -9, killed.stderr
    state_file = tmp_path / ".lazy_transcode_state" / f"{source.name}_qp.state.json"
    state = json.loads(state_file.read_text())
    encode = state["checkpoint"]["encode"]
    assert encode["pieces"] == {}
    for row in encode["plan"]:  # [first frame, frames, start pts, seek, stop]: what the old scan planned
        row[2] -= 1
    state_file.write_text(json.dumps(state))
    run = run_cli("--resume", *FAST, *PIECE, str(source), env=TAG)
    assert run.returncode == 0, run.stderr
    times = [t for t, _ in _video_packets(tmp_path / f"{source.stem}_q30.mkv")]
    assert times == decoded_timestamps(source)
