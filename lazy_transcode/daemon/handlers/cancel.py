"""`cancel JOB...`: stop the job and remove its partial files and state; the source is never touched."""

from __future__ import annotations

from typing import Any

from lazy_transcode.daemon.context import Context


async def handle(ctx: Context, args: dict[str, Any]) -> dict[str, Any]:
    return {"cancelled": await ctx.scheduler.cancel(args["ids"])}
