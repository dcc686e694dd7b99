"""One module per command (as pueue does); each has `async def handle(ctx, args) -> result`.

`args` were checked against the command's declaration in `lazy_transcode.protocol` before the handler
runs: every declared argument is there (defaults filled in), of its declared type and within its limits.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from lazy_transcode.daemon.context import Context
from lazy_transcode.daemon.handlers import (
    add,
    cancel,
    clean,
    farm,
    history,
    library,
    list_jobs,
    pause,
    ping,
    resume,
    stats,
    status,
)

Handler = Callable[[Context, dict[str, Any]], Awaitable[Any]]

HANDLERS: dict[str, Handler] = {
    "add": add.handle,
    "list": list_jobs.handle,
    "status": status.handle,
    "pause": pause.handle,
    "resume": resume.handle,
    "cancel": cancel.handle,
    "ping": ping.handle,
    "library": library.handle,
    "clean": clean.handle,
    "history": history.handle,
    "stats": stats.handle,
    "farm": farm.handle,
}
