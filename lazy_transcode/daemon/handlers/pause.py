"""`pause [JOB...] [--all]`: SIGSTOP the job's ffmpeg (no CPU while paused); `--all` also holds the queue."""

from __future__ import annotations

from typing import Any

from lazy_transcode.daemon.context import Context


async def handle(ctx: Context, args: dict[str, Any]) -> dict[str, Any]:
    return {"paused": ctx.scheduler.pause(args["ids"], args["all"]), "held": ctx.scheduler.held}
