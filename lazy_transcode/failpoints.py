"""Named crash points for crash-recovery tests (like etcd's gofail or SQLite's crash tests).

When `LAZY_TRANSCODE_FAILPOINT` names a point, the process SIGKILLs itself there: a real, abrupt
death at an exact place (assembly, placement) that a timer could only hit by luck. `NAME@N` dies at
the N-th time the point is reached (`piece-recorded@3`: right after the third piece is recorded).
Unset, each point costs one dictionary lookup.
"""

from __future__ import annotations

import os
import signal
from collections import Counter

ENV = "LAZY_TRANSCODE_FAILPOINT"
_hits: Counter[str] = Counter()


def failpoint(name: str) -> None:
    wanted = os.environ.get(ENV)
    if wanted is None:
        return
    point, _, count = wanted.partition("@")
    if point != name:
        return
    _hits[name] += 1
    if _hits[name] >= (int(count) if count.isdigit() else 1):
        os.kill(os.getpid(), signal.SIGKILL)
