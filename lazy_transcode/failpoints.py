"""Named crash points for crash-recovery tests (like etcd's gofail or SQLite's crash tests).

When `LAZY_TRANSCODE_FAILPOINT` names a point, the process SIGKILLs itself there: a real, abrupt
death at an exact place (assembly, placement) that a timer could only hit by luck. Unset, each point
costs one dictionary lookup.
"""

from __future__ import annotations

import os
import signal

ENV = "LAZY_TRANSCODE_FAILPOINT"


def failpoint(name: str) -> None:
    if os.environ.get(ENV) == name:
        os.kill(os.getpid(), signal.SIGKILL)
