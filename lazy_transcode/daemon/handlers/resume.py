"""`resume [JOB...] [--all] [--now]`: SIGCONT a held job or put it back in the queue; `--all` releases the
queue (and `pause --after-current`); `--now` runs the jobs at once, outside the schedule too."""

from __future__ import annotations

from typing import Any

from lazy_transcode import protocol
from lazy_transcode.daemon.context import Context


async def handle(ctx: Context, args: dict[str, Any]) -> dict[str, Any]:
    if args["now"]:
        if not args["ids"] or args["all"]:
            raise protocol.ProtocolError(protocol.BAD_ARGS, "resume --now takes job ids (not --all)")
        resumed = ctx.scheduler.resume_now(args["ids"])
    else:
        resumed = ctx.scheduler.resume(args["ids"], args["all"])
    return {"resumed": resumed, "held": ctx.scheduler.held, "after_current": ctx.scheduler.after_current}
