"""`status [JOB]`: the daemon (version, uptime, workers, job counts) or one job in full."""

from __future__ import annotations

from typing import Any

from lazy_transcode import protocol
from lazy_transcode.daemon.context import Context


async def handle(ctx: Context, args: dict[str, Any]) -> dict[str, Any]:
    job_id = args["id"]
    if job_id is not None:
        job = ctx.store.get(job_id)
        if job is None:
            raise protocol.ProtocolError(protocol.NOT_FOUND, f"no job {job_id}")
        return {"job": ctx.scheduler.detail(job)}
    cfg = ctx.config
    return {
        "daemon": {
            "version": ctx.version,
            "pid": ctx.pid,
            "uptime": round(ctx.uptime(), 3),
            "started": ctx.started_wall,
            "workers": cfg.workers,
            "running": ctx.scheduler.running_count(),
            "held": ctx.scheduler.held,
            "queue_error": ctx.scheduler.queue_error,
            "unsaved": len(ctx.scheduler.unsaved.kept),
            "counts": ctx.store.counts(),
            "socket": cfg.socket,
            "events_socket": cfg.events_socket,
            "state_dir": str(cfg.state_dir),
            "checkpoint_interval": cfg.checkpoint_interval,
            "library_roots": [str(root) for root in cfg.library_roots],
            "schedule": ctx.scheduler.schedule_view(),
            "libraries": [
                {"path": view["path"], "reachable": view["reachable"], "error": view["error"]}
                for view in (ctx.libraries.views() if ctx.libraries is not None else [])
            ],
            "farm": ctx.farm.summary() if ctx.farm is not None else None,
        }
    }
