"""`farm`: the farm's workers (cores, pieces done, current pieces) and the refused ones with why."""

from __future__ import annotations

from typing import Any

from lazy_transcode.daemon.context import Context


async def handle(ctx: Context, args: dict[str, Any]) -> dict[str, Any]:
    if ctx.farm is None:
        return {"configured": False}
    return {"configured": True, **ctx.farm.status()}
