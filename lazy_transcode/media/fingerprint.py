"""What makes a source "the file that was encoded": size, mtime, inode and a hash of sampled blocks.

The sample is the first and last MiB and eight evenly spaced MiB in between (the whole file when it is
smaller), so a 50 GB film is fingerprinted by reading 10 MiB: well under a second, while an in-place
rewrite that keeps size and mtime (a remux, a re-encode to the same size) still changes the hash.
"""

from __future__ import annotations

import errno
import hashlib
import os
import stat
from dataclasses import dataclass
from pathlib import Path

BLOCK = 1 << 20
SPACED_BLOCKS = 8


@dataclass(frozen=True)
class FileIdentity:
    size: int
    mtime_ns: int
    inode: int
    device: int
    sample: str  # SHA-256 of the sampled blocks, hex

    @property
    def id(self) -> str:
        """The content's short name, as written into an output's container tag (stable across copies)."""
        return hashlib.sha256(f"{self.size}:{self.sample}".encode()).hexdigest()[:32]


def _offsets(size: int) -> list[int]:
    if size <= (SPACED_BLOCKS + 2) * BLOCK:
        return list(range(0, size, BLOCK))
    last = size - BLOCK
    step = last / (SPACED_BLOCKS + 1)
    return [0, *(round(step * (n + 1)) for n in range(SPACED_BLOCKS)), last]


def identify(path: Path) -> FileIdentity:
    """The identity of the regular file at `path` (read through one descriptor: one file, not two)."""
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC | os.O_NONBLOCK)  # a FIFO must not block us
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise OSError(errno.EINVAL, "not a regular file", str(path))
        digest = hashlib.sha256()
        for offset in _offsets(st.st_size):
            digest.update(os.pread(fd, BLOCK, offset))
        return FileIdentity(st.st_size, st.st_mtime_ns, st.st_ino, st.st_dev, digest.hexdigest())
    finally:
        os.close(fd)
