"""Helpers of the attack tests: what a folder tree holds, exactly, and the job options of the fixtures."""

from __future__ import annotations

import hashlib
import os
import stat
from pathlib import Path

from lazy_transcode.jobs.api import JobOptions

# the options the 0.1.0 fixture's records were made with (tests/fixtures/v0_1_0/README.md)
FILM = JobOptions(mode="qp", qp=30, encoder="libx265", preset="ultrafast", piece_seconds=2.0)
SEARCH = JobOptions(mode="qp", vmaf_target=90.0, encoder="libx265", preset="ultrafast", piece_seconds=2.0)


def snapshot(root: Path) -> dict[str, tuple[object, ...]]:
    """Every entry under `root` (links not followed): kind, mode, owner, size, SHA-256 or link target."""
    found: dict[str, tuple[object, ...]] = {}
    for folder, dirs, files in os.walk(root):
        for name in [*dirs, *files]:
            path = os.path.join(folder, name)
            st = os.lstat(path)
            if stat.S_ISLNK(st.st_mode):
                found[path] = ("link", os.readlink(path))
            elif stat.S_ISREG(st.st_mode):
                digest = hashlib.sha256(Path(path).read_bytes()).hexdigest()
                found[path] = ("file", stat.S_IMODE(st.st_mode), st.st_uid, st.st_size, digest, st.st_mtime_ns)
            else:
                found[path] = (stat.S_IFMT(st.st_mode), stat.S_IMODE(st.st_mode), st.st_uid)
    return found


def victim_folder(root: Path) -> Path:
    """Files an attacker would like ltd to destroy, named like a job's own files."""
    victim = root / "victim"
    (victim / "film.mp4_qp.work" / "pieces").mkdir(parents=True)
    for name in ("film.mp4_qp.state.json", "film.mp4_qp.lease", "authorized_keys", "film.mp4.corrupt"):
        (victim / name).write_text(f"precious {name}\n")
    for name in ("video.mp4", "output.mkv", "pieces/piece_00000.mp4", "pieces/piece_00002.part.mp4"):
        (victim / "film.mp4_qp.work" / name).write_bytes(b"precious " + name.encode())
    (victim / "film.mp4.clips").mkdir()
    (victim / "film.mp4.clips" / "clip00_0.mkv").write_bytes(b"precious clip")
    return victim
