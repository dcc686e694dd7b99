"""`cancel JOB...`: stop the job and remove its partial files and state; the source is never touched."""

from __future__ import annotations

from typing import Any

from lazy_transcode import protocol
from lazy_transcode.daemon.context import Context


async def handle(ctx: Context, args: dict[str, Any]) -> dict[str, Any]:
    protocol.reject_unknown(args, ("ids",))
    ids = protocol.take_ids(args)
    if not ids:
        raise protocol.ProtocolError(protocol.BAD_ARGS, "give job ids")
    return {"cancelled": await ctx.scheduler.cancel(ids)}
