"""`cancel JOB... | --all`: stop the jobs and remove their partial files and state; sources are never touched.

Each job that can be cancelled is; the others (finished, unknown) are named in `refused` with why, so
`cancel A B C` does what it can and says what it could not.
"""

from __future__ import annotations

from typing import Any

from lazy_transcode.daemon.context import Context


async def handle(ctx: Context, args: dict[str, Any]) -> dict[str, Any]:
    refused: dict[int, str] = {}
    done = await ctx.scheduler.cancel(args["ids"], args["all"], refused)
    return {"cancelled": done, "refused": [{"id": job_id, "reason": why} for job_id, why in refused.items()]}
