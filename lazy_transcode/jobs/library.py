"""What the records beside a file teach its search: the finished searches of its neighbours.

A finished job keeps a small record (its `best_result` included) in the folder's state folder, so the
files of one folder (a season, one camera's day) give the search of the next file its first guess.
Records are other files' data: each is read with a size limit, validated as a `BestSetting`, and
skipped when it is anything else (damaged, foreign, from before searches recorded what they taught).
"""

from __future__ import annotations

import json
import logging
import os
import stat
from pathlib import Path

import msgspec

from lazy_transcode.jobs.record import BestSetting
from lazy_transcode.media.priors import MAX_TAUGHT, Taught
from lazy_transcode.state.layout import STATE_SUFFIX

log = logging.getLogger(__name__)

MAX_RECORD_BYTES = 1 << 20
MAX_RECORDS_READ = 200  # the newest; a huge state folder costs no more than this


def taught_by_folder(folder: Path, own: str) -> list[Taught]:
    """The searches recorded in the state `folder` (held path), oldest first, except the record `own`."""
    try:
        entries = [e for e in os.scandir(folder) if e.name.endswith(STATE_SUFFIX) and e.name != own]
        entries.sort(key=lambda e: e.stat(follow_symlinks=False).st_mtime_ns)
    except OSError:
        return []
    taught: list[Taught] = []
    for entry in entries[-MAX_RECORDS_READ:]:
        record = _read(Path(entry.path))
        if record is not None and record.taught is not None and record.taught.points:
            t = record.taught
            taught.append(Taught(t.encoder, t.preset, t.kind, t.size_class, tuple(t.points)))
    return taught[-MAX_TAUGHT * 4 :]


def _read(path: Path) -> BestSetting | None:
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK)
    except OSError:
        return None
    try:
        with os.fdopen(fd, "rb") as f:
            if not stat.S_ISREG(os.fstat(f.fileno()).st_mode):
                return None
            data = f.read(MAX_RECORD_BYTES + 1)
    except OSError:
        return None
    if len(data) > MAX_RECORD_BYTES:
        return None
    try:
        best = json.loads(data).get("best_result")
        return None if best is None else msgspec.convert(best, BestSetting, strict=True)
    except (ValueError, AttributeError, msgspec.ValidationError):
        return None
