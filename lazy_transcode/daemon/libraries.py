"""The daemon's side of `[[library]]`: each library's monitor, and queueing its settled files by the rules
of `ltctl add` (the add handler's checks and `plan`: the record is the truth, outputs are never sources,
a file with a pending job is not queued twice), with the library's job defaults.
"""

from __future__ import annotations

import asyncio
import logging
import os
from pathlib import Path
from typing import Any

from lazy_transcode import protocol
from lazy_transcode.daemon.context import Context
from lazy_transcode.daemon.handlers.add import PROBE_LIMIT, _left_out, plan
from lazy_transcode.daemon.queue_store import Job
from lazy_transcode.jobs.api import JobOptions
from lazy_transcode.library.done import output_of
from lazy_transcode.library.monitor import LibraryMonitor, Verdict
from lazy_transcode.library.settings import LibrarySettings
from lazy_transcode.protocol import JobState

log = logging.getLogger(__name__)

NO_FLAGS = {"restart": False, "again": False}


class Libraries:
    """Every configured library's monitor; their decisions go one at a time (no file is queued twice)."""

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self.monitors = [LibraryMonitor(settings, self.submit) for settings in ctx.config.libraries]
        self._lock = asyncio.Lock()
        self._tasks: list[asyncio.Task[None]] = []

    def start(self) -> None:
        for monitor in self.monitors:
            self._tasks.append(asyncio.create_task(monitor.run(), name=f"library {monitor.root}"))

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    def views(self) -> list[dict[str, Any]]:
        return [monitor.view() for monitor in self.monitors]

    async def submit(self, settings: LibrarySettings, files: list[Path]) -> dict[Path, tuple[Verdict, str | None]]:
        """Queue what `ltctl add FILE...` would queue, with the library's defaults; each file's verdict."""
        async with self._lock:
            verdicts: dict[Path, tuple[Verdict, str | None]] = {}
            for start in range(0, len(files), PROBE_LIMIT):  # each file probed before it is queued
                verdicts.update(await self._submit(settings, files[start : start + PROBE_LIMIT]))
            return verdicts

    async def _submit(self, settings: LibrarySettings, files: list[Path]) -> dict[Path, tuple[Verdict, str | None]]:
        ctx = self.ctx
        ctx.scheduler.ensure_writable("added")
        verdicts: dict[Path, tuple[Verdict, str | None]] = {}
        defaults = settings.job_defaults(ctx.config.defaults)
        resolved = await asyncio.to_thread(self._resolve, files, verdicts)
        for file, reason in (await asyncio.to_thread(self._given_up, list(resolved))).items():
            verdicts[resolved.pop(file)] = (Verdict.SKIPPED, reason)
        outputs = await asyncio.to_thread(_outputs, list(resolved), JobOptions.from_dict(defaults))
        for file, output in outputs.items():
            verdicts[resolved.pop(file)] = (Verdict.DONE, f"done before -> {output}")
        decided = await asyncio.to_thread(plan, ctx, list(resolved), {}, NO_FLAGS, defaults)
        for skipped in decided.skipped:
            name = resolved[Path(skipped["file"])]
            reason = str(skipped.get("reason"))
            if "job" in skipped:
                verdicts[name] = (Verdict.QUEUED, f"job {skipped['job']}")
            else:
                verdicts[name] = (Verdict.DONE if reason.startswith("done before") else Verdict.SKIPPED, reason)
        for file, reason in decided.refused_files.items():
            verdicts[resolved[Path(file)]] = (Verdict.SKIPPED, reason)
            log.warning("library %s: %s not queued: %s", settings.path, file, reason)
        pending = {job.input for job in ctx.store.all() if job.state in protocol.ACTIVE_STATES}
        queue = [(file, options) for file, options in decided.queue if file not in pending]  # added meanwhile
        ids = ctx.scheduler.add(queue) if queue else []
        for (file, _options), job_id in zip(queue, ids, strict=True):
            verdicts[resolved[Path(file)]] = (Verdict.QUEUED, f"job {job_id}")
        for file, _options in decided.queue:
            verdicts.setdefault(resolved[Path(file)], (Verdict.QUEUED, "queued meanwhile"))
        return verdicts

    def _given_up(self, files: list[Path]) -> dict[Path, str]:
        """Files whose last job failed or was cancelled and that have not changed since it was queued: not
        queued again by themselves (a restart would retry a broken file for ever); `ltctl add` still can."""
        last: dict[str, Job] = {}  # each file's last ended job
        for job in self.ctx.store.all():
            if job.state in protocol.FINAL_STATES and job.id >= last.get(job.input, job).id:
                last[job.input] = job
        found = {}
        for file in files:
            job = last.get(str(file))
            if job is None or job.state not in (JobState.FAILED, JobState.CANCELLED):
                continue
            try:
                changed = file.stat().st_mtime > job.created
            except OSError:
                continue
            if not changed:
                why = f": {job.error}" if job.error else ""
                found[file] = f"job {job.id} {job.state}{why} (ltctl add queues it again)"
        return found

    def _resolve(self, files: list[Path], verdicts: dict[Path, tuple[Verdict, str | None]]) -> dict[Path, Path]:
        """Each file by its real path (as jobs are kept), when it is a readable regular file inside the roots."""
        resolved: dict[Path, Path] = {}
        for name in files:
            file, reason = _left_out(name, self.ctx.config.library_roots)
            if file is not None and not os.access(file, os.R_OK):
                file, reason = None, "skipped: the daemon cannot read it"
            if file is None or file in resolved:
                verdicts[name] = (Verdict.SKIPPED, reason or "the same file as another name")
                continue
            resolved[file] = name
        return resolved


def _outputs(files: list[Path], options: JobOptions) -> dict[Path, Path]:
    """The files whose output is already there (their records may have been cleaned up): done."""
    found = {}
    for file in files:
        output = output_of(file, options)
        if output is not None:
            found[file] = output
    return found
