"""`library`: each configured library: last scan, files seen, queued, done, skipped, reachable or not."""

from __future__ import annotations

from typing import Any

from lazy_transcode.daemon.context import Context


async def handle(ctx: Context, args: dict[str, Any]) -> dict[str, Any]:
    return {"libraries": ctx.libraries.views() if ctx.libraries is not None else []}
