"""`stats [--since DAYS]`: what the finished jobs did: files, bytes in and out, saved, time; per library.

Bytes in, out and saved count completed jobs only (a skipped or failed job wrote nothing that stays);
time counts every finished job, since each cost it.
"""

from __future__ import annotations

import time
from typing import Any

from lazy_transcode.daemon.context import Context


def _empty() -> dict[str, Any]:
    return {
        "files": 0, "completed": 0, "skipped": 0, "failed": 0, "cancelled": 0, "bytes_in": 0, "bytes_out": 0,
        "saved": 0, "saved_percent": None, "wall_seconds": 0.0, "cpu_seconds": 0.0,
    }  # fmt: skip


def _add(total: dict[str, Any], group: dict[str, Any]) -> None:
    state = group["state"]
    total[state] = total.get(state, 0) + group["files"]
    total["wall_seconds"] = round(total["wall_seconds"] + group["wall_seconds"], 3)
    total["cpu_seconds"] = round(total["cpu_seconds"] + group["cpu_seconds"], 3)
    if state == "completed":
        total["files"] += group["files"]
        total["bytes_in"] += group["bytes_in"]
        total["bytes_out"] += group["bytes_out"]
        total["saved"] = total["bytes_in"] - total["bytes_out"]
        total["saved_percent"] = round(100.0 * total["saved"] / total["bytes_in"], 2) if total["bytes_in"] else None


async def handle(ctx: Context, args: dict[str, Any]) -> dict[str, Any]:
    since = None if args["since"] is None else time.time() - args["since"] * 86400
    total = _empty()
    libraries: dict[str | None, dict[str, Any]] = {}
    for group in ctx.store.history_totals(since=since):
        _add(total, group)
        _add(libraries.setdefault(group["library"], {"library": group["library"], **_empty()}), group)
    return {"since": since, "total": total, "libraries": list(libraries.values())}
