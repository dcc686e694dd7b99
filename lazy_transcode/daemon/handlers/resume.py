"""`resume [JOB...] [--all]`: SIGCONT a held job or put it back in the queue; `--all` releases the queue."""

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
    return {"resumed": ctx.scheduler.resume(ids, all_jobs), "held": ctx.scheduler.held}
