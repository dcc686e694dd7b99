"""`add PATH... [options]`: queue one job per video file; folders expand recursively.

Paths are resolved (symlinks too) and checked against `library_roots` before anything is queued, and a
file that already has a pending job is left out (two jobs must never write the same state files). The
whole request is one transaction: either every job is queued or none.
"""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
from typing import Any

from lazy_transcode import protocol
from lazy_transcode.daemon.context import Context
from lazy_transcode.jobs.api import JobOptions, OptionError
from lazy_transcode.media.discover import video_files


def _inside(path: Path, roots: list[Path]) -> bool:
    return not roots or any(path == root or path.is_relative_to(root) for root in roots)


def _resolve(raw: str, roots: list[Path]) -> Path:
    if not os.path.isabs(raw):
        raise protocol.ProtocolError(protocol.BAD_ARGS, f"paths must be absolute: {raw[:300]!r}")
    try:
        path = Path(raw).resolve(strict=True)
    except (FileNotFoundError, NotADirectoryError):
        raise protocol.ProtocolError(protocol.NOT_FOUND, f"no such file or folder: {raw[:300]}") from None
    except (OSError, RuntimeError) as exc:
        raise protocol.ProtocolError(protocol.REFUSED, f"cannot resolve {raw[:300]}: {exc}") from None
    if not _inside(path, roots):
        raise protocol.ProtocolError(protocol.REFUSED, f"{raw[:300]} is outside library_roots")
    return path


def collect(raws: list[str], roots: list[Path]) -> list[Path]:
    """The video files to queue, resolved and checked (runs in a thread: folders may be large)."""
    found: dict[Path, None] = {}
    for raw in raws:
        path = _resolve(raw, roots)
        if path.is_dir():
            files = [_resolve(str(f), roots) for f in video_files(path)]
            if not files:
                raise protocol.ProtocolError(protocol.NOT_FOUND, f"no video files under {raw[:300]}")
        elif path.is_file():
            files = [path]
        else:
            raise protocol.ProtocolError(protocol.REFUSED, f"not a regular file: {raw[:300]}")
        for file in files:
            if not os.access(file, os.R_OK):
                raise protocol.ProtocolError(protocol.REFUSED, f"the daemon cannot read {file}")
            found[file] = None
    return list(found)


def _options(ctx: Context, given: dict[str, Any]) -> JobOptions:
    """The request's options over the daemon's `[defaults]` (each was checked; together they must agree too)."""
    try:
        options = JobOptions.from_dict({**ctx.config.defaults, **given})
    except OptionError as exc:
        raise protocol.ProtocolError(protocol.BAD_ARGS, str(exc)) from None
    if options.output_dir is not None:
        out = _resolve_dir(options.output_dir, ctx.config.library_roots)
        options.output_dir = str(out)
    return options


def _resolve_dir(raw: str, roots: list[Path]) -> Path:
    if not os.path.isabs(raw):
        raise protocol.ProtocolError(protocol.BAD_ARGS, f"output_dir must be absolute: {raw[:300]!r}")
    path = Path(raw).resolve()
    if not _inside(path, roots):
        raise protocol.ProtocolError(protocol.REFUSED, f"output_dir {raw[:300]} is outside library_roots")
    return path


async def handle(ctx: Context, args: dict[str, Any]) -> dict[str, Any]:
    raws = args["paths"]
    options = _options(ctx, args["options"])
    paused = args["paused"]
    priority = args["priority"]
    ctx.scheduler.ensure_writable("added")  # before reading which files have a job: what it holds back counts
    files = await asyncio.to_thread(collect, raws, ctx.config.library_roots)
    pending = {job.input: job.id for job in ctx.store.all() if job.state in protocol.ACTIVE_STATES}
    skipped = [{"file": str(f), "job": pending[str(f)]} for f in files if str(f) in pending]
    new = [str(f) for f in files if str(f) not in pending]
    ids = ctx.scheduler.add([(f, options.to_dict()) for f in new], priority=priority, paused=paused)
    return {"ids": ids, "files": new, "skipped": skipped}
