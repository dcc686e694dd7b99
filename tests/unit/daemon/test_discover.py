"""Folder expansion: video files only, recursively, in a stable order, state folders skipped."""

from __future__ import annotations

from pathlib import Path

from lazy_transcode.media.discover import expand, is_video_name, video_files


def test_video_files(tmp_path: Path) -> None:
    for name in ("b.MKV", "a.mp4", "notes.txt", "sub/c.m2ts", "sub/d.webm", ".lazy_transcode_state/x.mkv", "e.srt"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_bytes(b"")
    found = [p.relative_to(tmp_path).as_posix() for p in video_files(tmp_path)]
    assert found == ["a.mp4", "b.MKV", "sub/c.m2ts", "sub/d.webm"]
    assert list(expand([tmp_path / "notes.txt", tmp_path / "sub"])) == [
        tmp_path / "notes.txt",
        tmp_path / "sub/c.m2ts",
        tmp_path / "sub/d.webm",
    ]
    assert is_video_name("x.MPEG") and not is_video_name("x.mkv.part")
