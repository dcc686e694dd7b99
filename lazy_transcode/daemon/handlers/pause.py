"""`pause [JOB...] [--all]`: SIGSTOP the job's ffmpeg (no CPU while paused); `--all` also holds the queue."""

from __future__ import annotations

from typing import Any

from lazy_transcode import protocol
from lazy_transcode.daemon.context import Context


async def handle(ctx: Context, args: dict[str, Any]) -> dict[str, Any]:
    protocol.reject_unknown(args, ("ids", "all"))
    ids = protocol.take_ids(args)
    all_jobs = protocol.take(args, "all", bool, False)
    if not ids and not all_jobs:
        raise protocol.ProtocolError(protocol.BAD_ARGS, "give job ids or all")
    return {"paused": ctx.scheduler.pause(ids, all_jobs), "held": ctx.scheduler.held}
