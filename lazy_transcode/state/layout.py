"""Where everything of an operation lives in `.lazy_transcode_state/`: decided here and nowhere else.

Beside a source `film.mkv`, its folder holds, per operation type (`qp`, `vbr`, ...):
`film.mkv_qp.state.json` (the state), `film.mkv_qp.lease` (who runs it), `film.mkv_qp.work/` (pieces
and the assembled output until it is placed), and `film.mkv.clips/` (sample clips, each named by
`clip_name`, and probe encodes of the quality search). Temporary files of atomic writes are
`.ltstate.*.tmp`. Every name is derived from the source's name and the operation type, never read
from a file.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

STATE_DIR_NAME = ".lazy_transcode_state"
STATE_SUFFIX = ".state.json"
LEASE_SUFFIX = ".lease"
WORK_SUFFIX = ".work"
CLIPS_SUFFIX = ".clips"
TEMP_PREFIX = ".ltstate."
TEMP_SUFFIX = ".tmp"
NAME_MAX = 255
_NAME_BUDGET = NAME_MAX - len(".corrupt.999999")  # room for the quarantine and lease suffixes


def _fs_safe(text: str) -> str:
    """Replace only what a file name cannot hold ('/' and NUL); spaces, unicode and newlines stay."""
    return text.replace("/", "_").replace("\0", "_")


def _fit(name: str, suffix: str) -> str:
    """`name + suffix`, shortened (with a hash of the full name) when it exceeds the file-name limit."""
    full = _fs_safe(name) + suffix
    raw = os.fsencode(full)
    if len(raw) <= _NAME_BUDGET:
        return full
    digest = hashlib.sha256(raw).hexdigest()[:12]
    tail = os.fsencode(f"~{digest}{suffix}")
    head = os.fsencode(_fs_safe(name))[: _NAME_BUDGET - len(tail)]
    # cut on a UTF-8 boundary when the name is UTF-8, else keep the raw bytes (surrogateescape)
    while head and (head[-1] & 0xC0) == 0x80:
        head = head[:-1]
    if head and head[-1] >= 0xC0:
        head = head[:-1]
    return os.fsdecode(head + tail)


def default_state_dir(input_file: str | Path) -> Path:
    """`.lazy_transcode_state/` beside the input file."""
    return Path(os.path.abspath(input_file)).parent / STATE_DIR_NAME


def state_file_name(input_file: str | Path, operation_type: str) -> str:
    """`{input file name with extension}_{operation_type}.state.json`."""
    return _fit(f"{Path(input_file).name}_{operation_type}", STATE_SUFFIX)


def _stem(state_file: Path) -> str:
    return state_file.name.removesuffix(STATE_SUFFIX)


def lease_file(state_file: Path) -> Path:
    """`{name}_{type}.lease` beside the state file."""
    return state_file.with_name(_stem(state_file) + LEASE_SUFFIX)


def work_dir(state_file: Path) -> Path:
    """`{name}_{type}.work/`: the job's pieces and assembled output, beside its state file."""
    return state_file.with_name(_stem(state_file) + WORK_SUFFIX)


def clips_dir(state_dir: Path, input_file: str | Path) -> Path:
    """`{name}.clips/`: a file's sample clips and probe encodes."""
    return Path(state_dir) / _fit(Path(input_file).name, CLIPS_SUFFIX)


def clip_name(index: int, first_frame: int) -> str:
    """`clip{index}_{first frame}.mkv`: the index-th sample clip in the clips folder, from its first frame."""
    return f"clip{index:02d}_{first_frame}.mkv"
