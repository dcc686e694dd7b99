"""`ping`: proves the daemon answers; returns its version."""

from __future__ import annotations

from typing import Any

from lazy_transcode.daemon.context import Context
from lazy_transcode.protocol import reject_unknown


async def handle(ctx: Context, args: dict[str, Any]) -> dict[str, Any]:
    reject_unknown(args, ())
    return {"pong": True, "version": ctx.version, "pid": ctx.pid}
