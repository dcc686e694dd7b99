"""`resume [JOB...] [--all]`: SIGCONT a held job or put it back in the queue; `--all` releases the queue."""

from __future__ import annotations

from typing import Any

from lazy_transcode.daemon.context import Context


async def handle(ctx: Context, args: dict[str, Any]) -> dict[str, Any]:
    return {"resumed": ctx.scheduler.resume(args["ids"], args["all"]), "held": ctx.scheduler.held}
