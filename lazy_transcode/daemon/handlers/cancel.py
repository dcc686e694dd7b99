"""`cancel JOB... | --all`: stop the jobs and remove their partial files and state; sources are never touched.

Each job that can be cancelled is; the others (finished, unknown) are named in `refused` with why, so
`cancel A B C` does what it can and says what it could not. A request of which nothing could be
cancelled (`cancel 7` of a finished job) is an error reply, as it always was: `not_found` when no job
it names exists, else `bad_state`.
"""

from __future__ import annotations

from typing import Any

from lazy_transcode import protocol
from lazy_transcode.daemon.context import Context

NO_SUCH_JOB = "no such job"


async def handle(ctx: Context, args: dict[str, Any]) -> dict[str, Any]:
    refused: dict[int, str] = {}
    done = await ctx.scheduler.cancel(args["ids"], args["all"], refused)
    if refused and not done:
        code = protocol.NOT_FOUND if set(refused.values()) == {NO_SUCH_JOB} else protocol.BAD_STATE
        if len(refused) == 1:
            [(job_id, why)] = refused.items()
            message = f"no job {job_id}" if why == NO_SUCH_JOB else f"job {job_id} is {why}"
        else:
            message = "nothing cancelled: " + "; ".join(f"job {job_id}: {why}" for job_id, why in refused.items())
        raise protocol.ProtocolError(code, message[:2000])
    return {"cancelled": done, "refused": [{"id": job_id, "reason": why} for job_id, why in refused.items()]}
