"""`resume [JOB...] [--all]`: SIGCONT a held job or put it back in the queue; `--all` releases the queue."""

from __future__ import annotations

from typing import Any

from lazy_transcode import protocol
from lazy_transcode.daemon.context import Context


async def handle(ctx: Context, args: dict[str, Any]) -> dict[str, Any]:
    ids, all_jobs = protocol.take_selection(args)
    return {"resumed": ctx.scheduler.resume(ids, all_jobs), "held": ctx.scheduler.held}
