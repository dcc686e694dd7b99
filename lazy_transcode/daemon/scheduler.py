"""The scheduler: starts queued jobs up to `workers`, and carries out pause, resume, cancel and shutdown.

Every state change is committed to the queue store before it is announced, so what a client was told
is what a restart finds. A paused running job keeps its (SIGSTOPped) ffmpeg and does not count against
`workers`; `pause --all` also holds the queue (persisted), so nothing new starts until `resume --all`.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable
from typing import Any

from lazy_transcode import protocol
from lazy_transcode.daemon.events import EventBus
from lazy_transcode.daemon.queue_store import Job, QueueStore
from lazy_transcode.daemon.worker import ActiveJob, FileRemover, JobRunner, Outcome, execute, one_line
from lazy_transcode.jobs.api import JobControl, JobOptions, OptionError, Progress
from lazy_transcode.protocol import FINAL_STATES

log = logging.getLogger(__name__)

HELD_KEY = "held"


class Scheduler:
    def __init__(
        self,
        store: QueueStore,
        events: EventBus,
        runner: JobRunner,
        remover: FileRemover,
        *,
        workers: int = 1,
        checkpoint_interval: float = 10.0,
        on_change: Callable[[], None] | None = None,
    ) -> None:
        self.store = store
        self.events = events
        self.runner = runner
        self.remover = remover
        self.workers = workers
        self.checkpoint_interval = checkpoint_interval
        self.on_change = on_change or (lambda: None)
        self.active: dict[int, ActiveJob] = {}
        self.held = store.get_meta(HELD_KEY) == "1"
        self.closing = False
        self._wake = asyncio.Event()
        self._loop = asyncio.get_running_loop()
        self._loop_thread = threading.get_ident()  # the PUB socket and the store belong to the loop's thread

    # --- the loop ----------------------------------------------------------------------------------
    def running_count(self) -> int:
        return sum(1 for a in self.active.values() if not a.control.paused)

    def wake(self) -> None:
        self._wake.set()

    async def run(self) -> None:
        while not self.closing:
            self.fill()
            await self._wake.wait()
            self._wake.clear()

    def fill(self) -> None:
        """Start queued jobs while a worker is free and the queue is not held."""
        while not self.held and not self.closing and self.running_count() < self.workers:
            job = self.store.next_queued(exclude=self.active.keys())
            if job is None:
                return
            self._start(job)

    def _start(self, job: Job) -> None:
        try:
            options = JobOptions.from_dict(job.options)
        except (OptionError, TypeError) as exc:
            self._finish(job.id, Outcome(state="failed", error=one_line(str(exc))))
            return
        control = JobControl(
            on_progress=lambda p, job_id=job.id: self._on_progress(job_id, p),
            checkpoint_interval=self.checkpoint_interval,
        )
        active = ActiveJob(job_id=job.id, input=job.input, options=options, control=control)
        self.active[job.id] = active
        self.store.set_state(job.id, "running")
        log.info("job %d started: %s", job.id, job.input)
        self.events.job_state(job.id, "running", file=job.input)
        active.task = asyncio.create_task(self._run(active), name=f"job-{job.id}")
        self.on_change()

    async def _run(self, active: ActiveJob) -> Outcome:
        outcome = Outcome(state=None, stopped=True)
        try:
            outcome = await execute(active, self.runner)
        finally:
            self.active.pop(active.job_id, None)
            if outcome.stopped:
                if active.stopping != "cancel":
                    self._set_interrupted(active)
            else:
                self._finish(active.job_id, outcome)
            self.wake()
        return outcome

    def _set_interrupted(self, active: ActiveJob) -> None:
        """A job stopped by shutdown (or unexpectedly): back to the queue, or still paused."""
        state = "paused" if active.control.paused else "queued"
        self.store.set_state(active.job_id, state, progress=active.progress_dict())
        self.events.job_state(active.job_id, state)
        log.info("job %d checkpointed and %s", active.job_id, state)
        self.on_change()

    def _finish(self, job_id: int, outcome: Outcome) -> None:
        state = outcome.state or "failed"
        progress = {"step": "done", "percent": 100.0} if state in ("completed", "skipped") else None
        self.store.set_state(job_id, state, result=outcome.result, error=outcome.error, progress=progress)
        self.events.job_state(job_id, state, error=outcome.error)
        log.info("job %d %s%s", job_id, state, f": {outcome.error}" if outcome.error else "")
        self.on_change()

    def _on_progress(self, job_id: int, progress: Progress) -> None:
        if threading.get_ident() != self._loop_thread:  # reported from a worker thread: hop onto the loop
            self._loop.call_soon_threadsafe(self._on_progress, job_id, progress)
            return
        active = self.active.get(job_id)
        if active is not None:
            active.progress = progress
        self.events.job_progress(job_id, progress.to_dict())

    # --- commands ----------------------------------------------------------------------------------
    def _job(self, job_id: int) -> Job:
        job = self.store.get(job_id)
        if job is None:
            raise protocol.ProtocolError(protocol.NOT_FOUND, f"no job {job_id}")
        return job

    def _unfinished_jobs(self, ids: list[int]) -> list[Job]:
        """The jobs a command acts on, each once: all of them must exist and none may have ended."""
        jobs = [self._job(job_id) for job_id in dict.fromkeys(ids)]
        for job in jobs:
            if job.state in FINAL_STATES:
                raise protocol.ProtocolError(protocol.BAD_STATE, f"job {job.id} is already {job.state}")
        return jobs

    def pause(self, ids: list[int], all_jobs: bool = False) -> list[int]:
        """Pause jobs (SIGSTOP for running ones); `all_jobs` pauses every running job and holds the queue."""
        if all_jobs:
            self.held = True
            self.store.set_meta(HELD_KEY, "1")
            self.events.daemon("held", held=True)
            ids = [*ids, *(i for i, a in self.active.items() if not a.control.paused)]
        jobs = self._unfinished_jobs(ids)
        done = []
        for job in jobs:
            active = self.active.get(job.id)
            if active is not None and not active.control.paused:
                active.control.pause()
            if job.state != "paused":
                progress = active.progress_dict() if active else None
                self.store.set_state(job.id, "paused", progress=progress)
                self.events.job_state(job.id, "paused")
                done.append(job.id)
        self.on_change()
        self.wake()
        return done

    def resume(self, ids: list[int], all_jobs: bool = False) -> list[int]:
        """Resume paused jobs (SIGCONT for held ffmpegs, else back to the queue); `all_jobs` also releases the queue."""
        if all_jobs:
            self.held = False
            self.store.set_meta(HELD_KEY, "0")
            self.events.daemon("held", held=False)
            ids = [*ids, *self.store.ids_in_state("paused")]
        jobs = self._unfinished_jobs(ids)
        done = []
        for job in jobs:
            if job.state != "paused":
                continue
            active = self.active.get(job.id)
            if active is not None:
                self.store.set_state(job.id, "running")
                active.control.resume()
                self.events.job_state(job.id, "running")
            else:
                self.store.set_state(job.id, "queued")
                self.events.job_state(job.id, "queued")
            done.append(job.id)
        self.on_change()
        self.wake()
        return done

    async def cancel(self, ids: list[int]) -> list[int]:
        """Stop each job, remove its partial files and state (never the source), mark it cancelled."""
        jobs = self._unfinished_jobs(ids)
        stopping: list[tuple[int, asyncio.Task[Outcome]]] = []
        for job in jobs:  # first mark the idle ones, so none of them starts while we wait
            active = self.active.get(job.id)
            if active is not None and active.task is not None:
                active.stopping = "cancel"
                active.control.request_stop()
                stopping.append((job.id, active.task))
            else:
                self.store.set_state(job.id, "cancelled", keep_progress=False)
        outcomes = await asyncio.gather(*(asyncio.shield(task) for _, task in stopping))
        finished_alone = {
            job_id for (job_id, _), outcome in zip(stopping, outcomes, strict=True) if not outcome.stopped
        }
        done = []
        for job in jobs:
            if job.id in finished_alone:
                continue  # it ended on its own before it could stop: keep that result
            error = await self._remove_files(job)
            self.store.set_state(job.id, "cancelled", error=error, keep_progress=False)
            self.events.job_state(job.id, "cancelled")
            done.append(job.id)
        self.on_change()
        self.wake()
        return done

    async def _remove_files(self, job: Job) -> str | None:
        try:
            options = JobOptions.from_dict(job.options)
        except (OptionError, TypeError):
            return None
        try:
            await asyncio.to_thread(self.remover, job.input, options)
        except Exception as exc:
            log.warning("job %d: partial files not removed: %s", job.id, exc)
            return one_line(f"partial files not removed: {exc}")
        return None

    async def shutdown(self, timeout: float) -> None:
        """Ask every job to checkpoint and stop; after `timeout` cancel what is left (it resumes next start)."""
        self.closing = True
        self.wake()
        tasks = []
        for active in list(self.active.values()):
            if active.stopping is None:
                active.stopping = "shutdown"
            active.control.request_stop()
            if active.task is not None:
                tasks.append(active.task)
        if not tasks:
            return
        _done, pending = await asyncio.wait(tasks, timeout=timeout)
        for task in pending:
            log.warning("%s did not stop in %.0f s; cancelling it", task.get_name(), timeout)
            task.cancel()
        if pending:
            await asyncio.wait(pending, timeout=2.0)

    # --- views -------------------------------------------------------------------------------------
    def row(self, job: Job) -> dict[str, Any]:
        """The `list` view of one job."""
        active = self.active.get(job.id)
        progress = active.progress_dict() if active and active.progress else job.progress
        progress = progress or {}
        return {
            "id": job.id,
            "state": job.state,
            "mode": job.options.get("mode"),
            "step": progress.get("step"),
            "percent": progress.get("percent"),
            "fps": progress.get("fps") if active else None,
            "eta": progress.get("eta_seconds") if active else None,
            "file": job.input,
            "priority": job.priority,
        }

    def detail(self, job: Job) -> dict[str, Any]:
        """The `status JOB` view: everything, including the last error and the ffmpeg process groups."""
        active = self.active.get(job.id)
        data = job.to_dict()
        data["row"] = self.row(job)
        data["process_groups"] = sorted(active.control.process_groups) if active else []
        data["started"] = active.started if active else None
        return data
