"""What a farm worker runs: one piece, encoded with `encode_run` exactly as ltd would encode it.

The task writes the piece under a temporary name beside the job's `.part` file and renames it to the
`.part` name only when its encoder is done, so ltd (or ltd after a restart) only ever finds finished
pieces there, and checks them. A watcher thread ends the piece's ffmpeg as soon as the task is
cancelled (pause, cancel, ltd gone) or the worker is closing. Failures come back as a result, not an
exception, so ltd knows which worker failed which piece.
"""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import threading
import time
from pathlib import Path
from typing import Any

from lazy_transcode.control import JobControl, JobStopped
from lazy_transcode.farm.build import ffmpeg_build
from lazy_transcode.jobs.remote_lanes import REMOTE_TEMP
from lazy_transcode.media.piece_runs import RunFailed, encode_run
from lazy_transcode.media.pieces import PiecePlan

CHECKS_ENV = "LAZY_TRANSCODE_WORKER"  # ltworker's checks, as JSON, for the worker processes it starts
RUNNING = ("executing", "long-running")


def worker_checks() -> dict[str, Any] | None:
    """What ltworker checked before starting this worker (None: not started by ltworker)."""
    raw = os.environ.get(CHECKS_ENV)
    return json.loads(raw) if raw else None


def worker_report(paths: list[str]) -> dict[str, Any]:
    """Run on a worker when it joins: its checks and which of ltd's library paths it cannot read."""
    checks = worker_checks()
    unreadable = [p for p in paths if not (os.path.isdir(p) and os.access(p, os.R_OK | os.X_OK))]
    return {"checks": checks, "unreadable": unreadable}


def encode_piece(spec: dict[str, Any]) -> dict[str, Any]:
    """Encode one piece on this worker (paths already as the worker names them)."""
    from distributed import get_worker
    from distributed.worker import thread_state

    worker = get_worker()
    key = getattr(thread_state, "key", None)
    started = time.monotonic()
    cpu = os.times()
    result: dict[str, Any] = {"worker": worker.address, "piece": spec["plan"].index, "ok": False}
    checks = worker_checks()
    if checks is None:
        return {**result, "error": "not started by ltworker"}
    control = JobControl(checkpoint_interval=1e9)
    done = threading.Event()

    def watch() -> None:  # the task's ffmpeg ends when dask lets go of the task
        while not done.wait(0.2):
            task = worker.state.tasks.get(key) if key is not None else None
            closing = str(getattr(worker.status, "name", worker.status)) not in ("running", "paused")
            if closing or (key is not None and (task is None or task.state not in RUNNING)):
                control.request_stop()
                return

    threading.Thread(target=watch, name=f"watch-{key}", daemon=True).start()
    try:
        source = Path(spec["source"])
        if not os.access(source, os.R_OK):
            return {**result, "error": f"cannot read {source}", "path": True}
        part = Path(spec["part"])
        if not os.access(part.parent, os.W_OK | os.X_OK):
            return {**result, "error": f"cannot write into {part.parent}", "path": True}
        build = ffmpeg_build(checks["ffmpeg"])
        if build != checks["build"]:
            return {**result, "error": "its ffmpeg changed since ltworker started"}
        asyncio.run(_encode(spec, source, part, checks.get("run") or checks["ffmpeg"], control))
    except JobStopped:
        return {**result, "error": "cancelled"}
    except RunFailed as exc:
        return {**result, "error": str(exc)}
    finally:
        done.set()
    after = os.times()
    return {**result, "ok": True, "build": build, "seconds": time.monotonic() - started,
            "cpu": after.children_user + after.children_system - cpu.children_user - cpu.children_system}  # fmt: skip


async def _encode(spec: dict[str, Any], source: Path, part: Path, ffmpeg: str, control: JobControl) -> None:
    plan: PiecePlan = spec["plan"]
    temp = part.with_name(f"{part.name.split('.')[0]}{REMOTE_TEMP}{secrets.token_hex(4)}.mp4")

    async def finished(_plan: PiecePlan) -> None:
        control.check_stop()
        os.replace(temp, part)

    try:
        await encode_run(
            [plan], source=source, info=spec["info"], time_base=spec["time_base"], ffmpeg=ffmpeg, control=control,
            part_path=lambda _index: temp, encoder_for=lambda _plan: spec["args"], on_frames=lambda _p, _n: None,
            on_piece=finished, name=source.name, timing=spec.get("timing"),
            decode_threads=1,  # the piece's encoder has one core's budget; its decode is far quicker on one too
        )  # fmt: skip
    finally:
        temp.unlink(missing_ok=True)
