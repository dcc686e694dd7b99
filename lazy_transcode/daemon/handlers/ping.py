"""`ping`: proves the daemon answers; returns its version."""

from __future__ import annotations

from typing import Any

from lazy_transcode.daemon.context import Context


async def handle(ctx: Context, args: dict[str, Any]) -> dict[str, Any]:
    return {"pong": True, "version": ctx.version, "pid": ctx.pid}
