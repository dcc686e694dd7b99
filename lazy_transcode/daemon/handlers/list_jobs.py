"""`list`: one row per job (id, state, mode, step, %, fps, ETA, file), in queue order."""

from __future__ import annotations

from typing import Any

from lazy_transcode import protocol
from lazy_transcode.daemon.context import Context


async def handle(ctx: Context, args: dict[str, Any]) -> dict[str, Any]:
    protocol.reject_unknown(args, ("states",))
    states = protocol.take(args, "states", list, [], max_len=len(protocol.JobState))
    for state in states:
        if state not in tuple(protocol.JobState):  # a tuple: a peer may send unhashable values
            raise protocol.ProtocolError(protocol.BAD_ARGS, f"unknown state {str(state)[:32]!r}")
    rows = [ctx.scheduler.row(job) for job in ctx.store.all() if not states or job.state in states]
    return {"jobs": rows, "held": ctx.scheduler.held}
