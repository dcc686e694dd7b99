"""`add PATH... [options]`: queue one job per video file; folders expand recursively.

Paths are resolved (symlinks too) and checked against `library_roots` before anything is queued, and a
file that already has a pending job is left out (two jobs must never write the same state files). The
whole request is one transaction: either every job is queued or none.

Only regular files are sources. Each is opened with O_NONBLOCK to check it (a FIFO, device or socket
answers at once and is refused, never read). A path given by name that is refused fails the request;
inside a given folder, a file that is not regular, or a link that leads outside the roots, is left out
with one warning in the reply (`warnings`) and the rest of the folder is queued. The job checks its
source again when it opens it (`media.source`): the roots hold at use, not only here.
"""

from __future__ import annotations

import asyncio
import logging
import os
from pathlib import Path
from typing import Any

from lazy_transcode import protocol
from lazy_transcode.daemon.context import Context
from lazy_transcode.jobs.api import JobOptions, OptionError
from lazy_transcode.media.discover import video_files
from lazy_transcode.media.source import SourceRefused, check_regular

log = logging.getLogger(__name__)


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


MAX_WARNINGS = 100  # a folder of a million FIFOs must not make a reply of a million lines


def _refusal(path: Path) -> str | None:
    """Why `path` (resolved) cannot be a source: not a regular file, or not readable by the daemon."""
    try:
        check_regular(path)
    except SourceRefused as exc:
        return str(exc)
    return None


def collect(raws: list[str], roots: list[Path], warnings: list[str] | None = None) -> list[Path]:
    """The video files to queue, resolved and checked (runs in a thread: folders may be large). What
    is left out of a folder is described in `warnings`, one line each."""
    warnings = [] if warnings is None else warnings
    found: dict[Path, None] = {}
    for raw in raws:
        path = _resolve(raw, roots)
        if path.is_dir():
            files = []
            left_out = 0
            for name in video_files(path):
                try:
                    file = _resolve(str(name), roots)
                    refusal = _refusal(file)
                except protocol.ProtocolError as exc:
                    refusal = exc.message
                if refusal is None:
                    files.append(file)
                    continue
                left_out += 1
                if len(warnings) < MAX_WARNINGS:
                    warnings.append(f"skipped {name}: {refusal}"[:600])
                log.warning("add: skipped %s: %s", name, refusal)
            if not files:
                raise protocol.ProtocolError(protocol.NOT_FOUND, f"no video files under {raw[:300]}")
            if left_out > MAX_WARNINGS:
                warnings.append(f"{left_out - MAX_WARNINGS} more file(s) skipped under {raw[:300]}")
        else:
            refusal = _refusal(path)
            if refusal is not None:
                raise protocol.ProtocolError(protocol.REFUSED, refusal[:600])
            files = [path]
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
    warnings: list[str] = []
    files = await asyncio.to_thread(collect, raws, ctx.config.library_roots, warnings)
    pending = {job.input: job.id for job in ctx.store.all() if job.state in protocol.ACTIVE_STATES}
    skipped = [{"file": str(f), "job": pending[str(f)]} for f in files if str(f) in pending]
    new = [str(f) for f in files if str(f) not in pending]
    ids = ctx.scheduler.add([(f, options.to_dict()) for f in new], priority=priority, paused=paused)
    return {"ids": ids, "files": new, "skipped": skipped, "warnings": warnings}
