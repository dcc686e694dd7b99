"""`add PATH... [options]`: queue one job per video file; folders expand recursively.

Paths are resolved (symlinks too) and checked against `library_roots` before anything is queued, and a
file that already has a pending job is left out (two jobs must never write the same state files). Each
file is decided as the CLI decides (`jobs.recorded.decide`: a recorded job goes on with its recorded
options, a file done before is skipped) and checked before the work (`jobs.preflight`). The whole
request is one transaction: either every job is queued or none (a refused file refuses the request).

Only regular files are sources. Each is opened with O_NONBLOCK to check it (a FIFO, device or socket
answers at once and is refused, never read). A path given by name that is refused fails the request;
inside a given folder, a file that is not regular, or a link that leads outside the roots, is left out
(in `skipped`, with its reason) and the rest of the folder is queued. The job checks its source again
when it opens it (`media.source`): the roots hold at use, not only here.
"""

from __future__ import annotations

import asyncio
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lazy_transcode import protocol
from lazy_transcode.daemon.context import Context
from lazy_transcode.jobs.api import JobOptions, OptionError
from lazy_transcode.jobs.preflight import claim, describe_claim, problem
from lazy_transcode.jobs.recorded import decide
from lazy_transcode.media.binary import ffmpeg_exe
from lazy_transcode.media.discover import video_files
from lazy_transcode.media.source import SourceRefused, check_regular

log = logging.getLogger(__name__)

PROBE_LIMIT = 20  # an add of more files is not probed file by file (each job checks its file as it starts)


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


MAX_LEFT_OUT = 100  # a folder of a million FIFOs must not make a reply of a million lines


def _left_out(name: Path, roots: list[Path]) -> tuple[Path | None, str | None]:
    """A file found in a folder: its resolved path, or why it is left out (one line, without its name)."""
    try:
        file = name.resolve(strict=True)
    except (OSError, RuntimeError) as exc:
        return None, f"skipped: it cannot be resolved ({getattr(exc, 'strerror', None) or exc})"
    if not _inside(file, roots):
        return None, f"skipped: it leads outside library_roots (to {file})"
    try:
        check_regular(file)
    except SourceRefused as exc:
        return None, f"skipped: {exc}".replace(f"{file} ", "it ", 1)
    return file, None


def collect(raws: list[str], roots: list[Path], left_out: list[dict[str, Any]] | None = None) -> list[Path]:
    """The video files to queue, resolved and checked (runs in a thread: folders may be large). What is
    left out of a folder goes into `left_out` as `{"file", "reason"}` (at most MAX_LEFT_OUT of them)."""
    left_out = [] if left_out is None else left_out
    found: dict[Path, None] = {}
    for raw in raws:
        path = _resolve(raw, roots)
        if path.is_dir():
            files = []
            skipped = 0
            for name in video_files(path):
                file, reason = _left_out(name, roots)
                if file is not None:
                    files.append(file)
                    continue
                skipped += 1
                if len(left_out) < MAX_LEFT_OUT:
                    left_out.append({"file": str(name), "reason": reason})
                log.warning("add: %s: %s", name, reason)
            if not files:
                raise protocol.ProtocolError(protocol.NOT_FOUND, f"no video files under {raw[:300]}")
            if skipped > MAX_LEFT_OUT:
                left_out.append({"file": raw[:300], "reason": f"{skipped - MAX_LEFT_OUT} more file(s) skipped"})
        else:
            try:
                check_regular(path)
            except SourceRefused as exc:
                raise protocol.ProtocolError(protocol.REFUSED, str(exc)[:600]) from None
            files = [path]
        for file in files:
            if not os.access(file, os.R_OK):
                raise protocol.ProtocolError(protocol.REFUSED, f"the daemon cannot read {file}")
            found[file] = None
    return list(found)


def _given(ctx: Context, given: dict[str, Any]) -> dict[str, Any]:
    """The request's options (each checked already), with its output folder resolved inside the roots;
    together with the daemon's `[defaults]` they must agree too."""
    given = dict(given)
    if given.get("output_dir") is not None:
        given["output_dir"] = str(_resolve_dir(given["output_dir"], ctx.config.library_roots))
    try:
        JobOptions.from_dict({**ctx.config.defaults, **given})
    except OptionError as exc:
        raise protocol.ProtocolError(protocol.BAD_ARGS, str(exc)) from None
    return given


def _resolve_dir(raw: str, roots: list[Path]) -> Path:
    if not os.path.isabs(raw):
        raise protocol.ProtocolError(protocol.BAD_ARGS, f"output_dir must be absolute: {raw[:300]!r}")
    path = Path(raw).resolve()
    if not _inside(path, roots):
        raise protocol.ProtocolError(protocol.REFUSED, f"output_dir {raw[:300]} is outside library_roots")
    return path


@dataclass
class Plan:
    queue: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    skipped: list[dict[str, Any]] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)
    refused_files: dict[str, str] = field(default_factory=dict)  # the same refusals, by file


def plan(
    ctx: Context,
    files: list[Path],
    given: dict[str, Any],
    args: dict[str, Any],
    defaults: dict[str, Any] | None = None,
) -> Plan:
    """Decide every file as the CLI does (the record is the truth; checks before the work; no two jobs
    write one file); runs in a thread. `defaults`: those of the daemon unless given (a library's)."""
    defaults = ctx.config.defaults if defaults is None else defaults
    result = Plan()
    pending: dict[str, int] = {}
    claimed: dict[tuple[str, str, str, bool], str] = {}
    for job in ctx.store.all():
        if job.state in protocol.ACTIVE_STATES:
            pending[job.input] = job.id
            try:
                claimed[claim(Path(job.input), JobOptions.from_dict(job.options))] = f"job {job.id}"
            except (OptionError, TypeError):
                pass
    exe = ffmpeg_exe(ctx.config.ffmpeg or None)
    probe_each = len(files) <= PROBE_LIMIT
    for file in files:
        if str(file) in pending:
            result.skipped.append({"file": str(file), "job": pending[str(file)], "reason": "already queued"})
            continue
        decision = decide(file, given, defaults, restart=args["restart"], again=args["again"])
        if decision.done is not None:
            result.skipped.append({"file": str(file), "reason": decision.done})
            continue
        reason = decision.refused
        if reason is None and decision.options is not None:
            reason = problem(file, decision.options, exe, probe_it=probe_each)
        if reason is None and decision.options is not None:
            key = claim(file, decision.options)
            if key in claimed:
                reason = f"{claimed[key]} writes {describe_claim(key)} too; give one of them another --output-dir"
            claimed[key] = file.name
        if reason is not None or decision.options is None:
            result.refused.append(str(reason).removeprefix(f"{file}: "))
            result.refused_files[str(file)] = result.refused[-1]
            continue
        result.queue.append((str(file), decision.options.to_dict()))
    return result


async def handle(ctx: Context, args: dict[str, Any]) -> dict[str, Any]:
    raws = args["paths"]
    given = _given(ctx, args["options"])
    ctx.scheduler.ensure_writable("added")  # before reading which files have a job: what it holds back counts
    left_out: list[dict[str, Any]] = []
    files = await asyncio.to_thread(collect, raws, ctx.config.library_roots, left_out)
    decided = await asyncio.to_thread(plan, ctx, files, given, args)
    if decided.refused:
        more = f" (and {len(decided.refused) - 1} more)" if len(decided.refused) > 1 else ""
        raise protocol.ProtocolError(protocol.REFUSED, f"{decided.refused[0]}{more}; nothing was queued")
    ids = ctx.scheduler.add(decided.queue, priority=args["priority"], paused=args["paused"])
    return {"ids": ids, "files": [f for f, _ in decided.queue], "skipped": left_out + decided.skipped}
