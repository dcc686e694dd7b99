"""`pause [JOB...] [--all] [--after-current]`: SIGSTOP the job's ffmpeg (no CPU while paused); `--all` also
holds the queue; `--after-current` lets the running jobs finish and starts no new one."""

from __future__ import annotations

from typing import Any

from lazy_transcode.daemon.context import Context


async def handle(ctx: Context, args: dict[str, Any]) -> dict[str, Any]:
    if args["after_current"]:
        ctx.scheduler.pause_after_current()
    paused = ctx.scheduler.pause(args["ids"], args["all"]) if args["ids"] or args["all"] else []
    return {"paused": paused, "held": ctx.scheduler.held, "after_current": ctx.scheduler.after_current}
