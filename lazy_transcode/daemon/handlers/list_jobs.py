"""`list`: one row per job (id, state, mode, step, %, fps, ETA, file), in queue order."""

from __future__ import annotations

from typing import Any

from lazy_transcode.daemon.context import Context


async def handle(ctx: Context, args: dict[str, Any]) -> dict[str, Any]:
    states = args["states"]
    rows = [ctx.scheduler.row(job) for job in ctx.store.all() if not states or job.state in states]
    return {
        "jobs": rows,
        "held": ctx.scheduler.held,
        "queue_error": ctx.scheduler.queue_error,
        "schedule": ctx.scheduler.schedule_view(),
    }
