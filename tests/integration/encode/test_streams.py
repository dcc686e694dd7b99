"""What the finished file keeps (timestamps, streams, languages, chapters) and how bad input fails."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from lazy_transcode.media.probe import probe, scan_video_frames
from tests.helpers import files_beside, run_ffmpeg

from .runner import FAST, run_cli, timestamps

TAG = {"LAZY_TRANSCODE_TEST": "lazy-transcode-test"}


def test_vfr_source_keeps_its_frame_timestamps(vfr_source: Path, tmp_path: Path) -> None:
    source = tmp_path / "vfr.mkv"
    shutil.copy(vfr_source, source)
    intervals = {round(float(b - a), 3) for a, b in zip(timestamps(source), timestamps(source)[1:], strict=False)}
    assert len(intervals) >= 3, f"the fixture must be VFR: {intervals}"
    run = run_cli(*FAST, "--piece-seconds", "3", str(source), env=TAG)
    assert run.returncode == 0, run.stderr
    out = tmp_path / "vfr_q30.mkv"
    assert timestamps(out) == timestamps(source)


def test_every_stream_language_chapter_and_attachment_is_kept(multistream_source: Path, tmp_path: Path) -> None:
    source = tmp_path / multistream_source.name
    shutil.copy(multistream_source, source)
    run = run_cli(*FAST, "--piece-seconds", "5", str(source), env=TAG)
    assert run.returncode == 0, run.stderr
    src, out = probe(source), probe(tmp_path / f"{source.stem}_q30.mkv")
    assert out.video is not None and out.video.codec == "hevc"
    assert [(a.language, a.title, a.default) for a in out.audio] == [
        (a.language, a.title, a.default) for a in src.audio
    ]
    assert [a.language for a in out.audio] == ["eng", "fra"]
    assert [(s.language, s.forced) for s in out.subtitles] == [("eng", False), ("ger", True)]
    assert [(c.title, round(c.start, 3), round(c.end, 3)) for c in out.chapters] == [
        ("Opening", 0.0, 6.0),
        ("Part 2", 6.0, 12.0),
    ]
    assert [a.type for a in out.attachments] == ["attachment"]
    assert out.tags.get("title") == "Multi"
    assert scan_video_frames(tmp_path / f"{source.stem}_q30.mkv").frame_count == scan_video_frames(source).frame_count
    # audio stays in sync: same start and same duration as the source's audio
    assert abs(out.duration - src.duration) < 0.05


def test_mp4_container_on_request(bbb_40s: Path, tmp_path: Path) -> None:
    source = tmp_path / "bbb.mp4"
    shutil.copy(bbb_40s, source)
    run = run_cli(*FAST, "--container", "mp4", "--output-dir", str(tmp_path / "out"), str(source), env=TAG)
    assert run.returncode == 0, run.stderr
    out = tmp_path / "out" / "bbb_q30.mp4"
    info = probe(out)
    assert info.format_name.startswith("mov")
    assert len(info.audio) == 1
    assert [round(float(t), 3) for t in timestamps(out)] == [round(float(t), 3) for t in timestamps(source)]


def test_truncated_file_fails_clearly_and_source_is_untouched(bbb_40s: Path, tmp_path: Path) -> None:
    whole = tmp_path / "whole.mkv"
    run = run_cli(*FAST, "--output-dir", str(tmp_path / "x"), str(bbb_40s), env=TAG)  # any mkv will do
    assert run.returncode == 0, run.stderr
    # without its tags: an output of lazy-transcode is never taken for a source
    run_ffmpeg(
        "-i", str(tmp_path / "x" / "bbb_40s_q30.mkv"), "-map", "0", "-c", "copy", "-map_metadata", "-1", str(whole)
    )
    for name, cut in (("cut.mkv", 0.5), ("cut.mp4", 0.5)):
        source = tmp_path / name
        data = (whole if name.endswith(".mkv") else bbb_40s).read_bytes()
        source.write_bytes(data[: int(len(data) * cut)])
        before = source.read_bytes()
        run = run_cli(*FAST, "--force", str(source), env=TAG)
        assert run.returncode == 1
        lines = [ln for ln in run.stderr.splitlines() if "failed" in ln or "refused" in ln]
        assert len(lines) == 1 and ("truncated" in lines[0] or "not a readable media file" in lines[0]), run.stderr
        assert "Traceback" not in run.stderr
        assert source.read_bytes() == before
        assert not list(tmp_path.glob(f"{source.stem}_q30.*"))


def test_already_hevc_is_skipped_unless_forced(hevc_source: Path, tmp_path: Path) -> None:
    source = tmp_path / "h.mkv"
    shutil.copy(hevc_source, source)
    run = run_cli(*FAST, str(source), env=TAG)
    assert run.returncode == 0
    assert "skipped: already HEVC" in run.stdout
    assert not (tmp_path / "h_q30.mkv").exists()
    run = run_cli(*FAST, "--force", str(source), env=TAG)
    assert run.returncode == 0, run.stderr
    assert (tmp_path / "h_q30.mkv").is_file()


def test_output_larger_than_source_keeps_the_source(tmp_path: Path) -> None:
    from tests.helpers import run_ffmpeg

    source = tmp_path / "tiny.mkv"
    run_ffmpeg("-f", "lavfi", "-i", "color=c=gray:s=320x180:r=25:d=6", "-c:v", "libx264", "-crf", "51", str(source))
    before = source.read_bytes()
    run = run_cli("--mode", "qp", "--qp", "0", "--preset", "ultrafast", "--plain", str(source), env=TAG)
    assert run.returncode == 0, run.stderr
    assert "skipped: output" in run.stdout and "not smaller than the source" in run.stdout
    assert source.read_bytes() == before
    assert not (tmp_path / "tiny_q0.mkv").exists()
    assert files_beside(tmp_path) == {"tiny.mkv"}


@pytest.mark.parametrize("encoder", ["libsvtav1", "libx264"])
def test_other_software_encoders_encode_in_pieces_side_by_side(encoder: str, bbb_40s: Path, tmp_path: Path) -> None:
    """Every software encoder goes the whole way: pieces on two lanes, joined (AV1's decoder, libdav1d,
    names no encoder: the join is a remux), assembled, verified."""
    source = tmp_path / "bbb.mp4"
    shutil.copy(bbb_40s, source)
    preset = {"libsvtav1": "12", "libx264": "ultrafast"}[encoder]
    args = ["--mode", "qp", "--qp", "35", "--encoder", encoder, "--preset", preset, "--plain", "--piece-workers", "2"]
    run = run_cli(*args, "--piece-seconds", "8", str(source), env=TAG)
    assert run.returncode == 0, run.stderr
    out = tmp_path / "bbb_q35.mkv"
    assert probe(out).video is not None
    assert scan_video_frames(out).frame_count == scan_video_frames(source).frame_count
