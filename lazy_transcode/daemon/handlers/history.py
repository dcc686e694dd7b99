"""`history [--failed] [--since DAYS]`: the finished jobs, oldest first, from the history table."""

from __future__ import annotations

import time
from typing import Any

from lazy_transcode.daemon.context import Context


async def handle(ctx: Context, args: dict[str, Any]) -> dict[str, Any]:
    since = None if args["since"] is None else time.time() - args["since"] * 86400
    return {"jobs": ctx.store.history(since=since, states=args["states"], limit=args["limit"])}
