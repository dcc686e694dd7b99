"""`list`: one row per job (id, state, mode, step, %, fps, ETA, file), in queue order."""

from __future__ import annotations

from typing import Any

from lazy_transcode import protocol
from lazy_transcode.daemon.context import Context
from lazy_transcode.jobs.api import JOB_STATES


async def handle(ctx: Context, args: dict[str, Any]) -> dict[str, Any]:
    states = args["states"]
    for state in states:
        if state not in JOB_STATES:
            raise protocol.ProtocolError(protocol.BAD_ARGS, f"unknown state {str(state)[:32]!r}")
    rows = [ctx.scheduler.row(job) for job in ctx.store.all() if not states or job.state in states]
    return {"jobs": rows, "held": ctx.scheduler.held}
