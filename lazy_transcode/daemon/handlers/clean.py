"""`clean [--state S]`: remove finished jobs from the list (as pueue's `clean`); their history stays."""

from __future__ import annotations

from typing import Any

from lazy_transcode.daemon.context import Context
from lazy_transcode.protocol import FINAL_STATES


async def handle(ctx: Context, args: dict[str, Any]) -> dict[str, Any]:
    return {"removed": ctx.scheduler.clean(args["states"] or sorted(FINAL_STATES))}
