"""The scheduler: starts queued jobs up to `workers`, and carries out pause, resume, cancel and shutdown.

Every state change goes through `Scheduler.transition`: checked against the table of
`lazy_transcode.daemon.states`, committed to the queue store, then announced, so what a client was told
is what a restart finds. A paused running job keeps its (SIGSTOPped) ffmpeg and does not count against
`workers`; `pause --all` also holds the queue (persisted), so nothing new starts until `resume --all`.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import threading
from collections.abc import Callable, Iterable
from typing import Any

from lazy_transcode import protocol
from lazy_transcode.daemon.events import EventBus
from lazy_transcode.daemon.queue_store import Job, QueueStore
from lazy_transcode.daemon.states import IllegalTransition, check
from lazy_transcode.daemon.worker import ActiveJob, FileRemover, JobRunner, Outcome, execute, one_line
from lazy_transcode.jobs.api import JobControl, JobOptions, OptionError, Progress
from lazy_transcode.protocol import FINAL_STATES, JobState

log = logging.getLogger(__name__)

HELD_KEY = "held"
RETRY_SECONDS = 5.0


class QueueWriteError(protocol.ProtocolError):
    """The queue database cannot be written (a full or failing disk): an error reply, the queue held."""

    def __init__(self, message: str) -> None:
        super().__init__(protocol.INTERNAL, message)


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
        self.cancelling: set[int] = set()  # idle jobs a `cancel` is removing the files of: not to be started
        self.held = store.get_meta(HELD_KEY) == "1"
        self.closing = False
        self.queue_error: str | None = None  # why the queue cannot be written now (the queue is held meanwhile)
        # job id -> (old state, new state, fields): how jobs ended while the queue could not be written
        self.uncommitted: dict[int, tuple[JobState, JobState, dict[str, Any]]] = {}
        self._wake = asyncio.Event()
        self._loop = asyncio.get_running_loop()
        self._loop_thread = threading.get_ident()  # the PUB socket and the store belong to the loop's thread

    # --- state changes ----------------------------------------------------------------------------
    def transition(
        self,
        job_id: int,
        new: JobState,
        *,
        result: dict[str, Any] | None = None,
        error: str | None = None,
        progress: dict[str, Any] | None = None,
        keep_progress: bool = True,
    ) -> None:
        """The one way a job changes state: checked, committed, announced, logged, reported to systemd.

        An illegal change is a bug: it is logged and raised, and nothing is committed or announced.
        """
        job = self._job(job_id)
        self._check(job_id, job.state, new)
        change = {"result": result, "error": error, "progress": progress, "keep_progress": keep_progress}
        try:
            self.store.set_state(job_id, new, **change)
        except (sqlite3.Error, OSError) as exc:
            self._queue_failed(exc)
            if (
                new in protocol.FINAL_STATES
            ):  # the job's own record beside the media says how it ended: keep it for later
                self.uncommitted[job_id] = (job.state, new, change)
            raise QueueWriteError(self.queue_error or "the queue database cannot be written") from None
        self._announce(job_id, job.input, job.state, new, error)

    def _announce(self, job_id: int, input_file: str, old: JobState, new: JobState, error: str | None) -> None:
        self.events.job_state(job_id, new, file=input_file, **({"error": error} if error else {}))
        self._log(job_id, old, new, error or (input_file if new is JobState.RUNNING else ""))
        self.on_change()

    def _queue_failed(self, exc: BaseException) -> None:
        """A write of the queue failed (a full or failing disk): hold the queue and say so, loudly, once."""
        reason = f"the queue database cannot be written ({exc}); no new job starts until it can"
        if reason != self.queue_error:
            log.error("%s", reason)
        self.queue_error = reason
        self.on_change()

    def retry_queue(self) -> bool:
        """Commit what could not be committed; True (and the queue goes on) once the database takes writes."""
        if self.queue_error is None:
            return True
        try:
            self.store.set_meta(HELD_KEY, "1" if self.held else "0")  # a write that proves the disk is back
            for job_id, (old, new, change) in list(self.uncommitted.items()):
                self.store.set_state(job_id, new, **change)
                del self.uncommitted[job_id]
                job = self.store.get(job_id)
                self._announce(job_id, job.input if job else "", old, new, change.get("error"))
        except (sqlite3.Error, OSError) as exc:
            self._queue_failed(exc)
            return False
        log.info("the queue database takes writes again; the queue goes on")
        self.queue_error = None
        self.on_change()
        return True

    def add(self, items: Iterable[tuple[str, dict[str, Any]]], priority: int = 0, paused: bool = False) -> list[int]:
        """Queue new jobs (input path, options) in one transaction, then announce each; returns their ids."""
        state = JobState.PAUSED if paused else JobState.QUEUED
        self._check(None, None, state)
        jobs = list(items)
        if not self.retry_queue():
            raise QueueWriteError(self.queue_error or "the queue database cannot be written")
        try:
            ids = self.store.add(jobs, priority=priority, paused=paused)
        except (sqlite3.Error, OSError) as exc:
            self._queue_failed(exc)
            raise QueueWriteError(self.queue_error or "the queue database cannot be written") from None
        for job_id, (input_file, _options) in zip(ids, jobs, strict=True):
            self.events.job_state(job_id, state, file=input_file)
            self._log(job_id, None, state, input_file)
        if ids:
            self.on_change()
            self.wake()
        return ids

    @staticmethod
    def _check(job_id: int | None, old: JobState | None, new: JobState) -> None:
        try:
            check(job_id, old, new)
        except IllegalTransition as exc:
            log.error("refused, a bug of the daemon: %s", exc)
            raise

    @staticmethod
    def _log(job_id: int, old: JobState | None, new: JobState, detail: str) -> None:
        log.info("job %d %s -> %s%s", job_id, old or "new", new, f": {detail}" if detail else "")

    # --- the loop ----------------------------------------------------------------------------------
    def running_count(self) -> int:
        return sum(1 for a in self.active.values() if not a.control.paused)

    def wake(self) -> None:
        self._wake.set()

    async def run(self) -> None:
        while not self.closing:
            self.fill()
            try:  # while the queue cannot be written, try again every few seconds
                await asyncio.wait_for(self._wake.wait(), RETRY_SECONDS if self.queue_error else None)
            except TimeoutError:
                pass
            self._wake.clear()

    def fill(self) -> None:
        """Start queued jobs while a worker is free and the queue is not held (nor failing to be written)."""
        if not self.retry_queue():
            return
        while not self.held and not self.closing and self.running_count() < self.workers:
            job = self.store.next_queued(exclude=[*self.active, *self.cancelling])
            if job is None:
                return
            self._start(job)

    def _start(self, job: Job) -> None:
        try:
            options = JobOptions.from_dict(job.options)
        except (OptionError, TypeError) as exc:
            self._finish(job.id, Outcome(state=JobState.FAILED, error=one_line(str(exc))))
            return
        control = JobControl(
            on_progress=lambda p, job_id=job.id: self._on_progress(job_id, p),
            checkpoint_interval=self.checkpoint_interval,
        )
        self.transition(job.id, JobState.RUNNING)
        active = ActiveJob(job_id=job.id, input=job.input, options=options, control=control)
        self.active[job.id] = active
        active.task = asyncio.create_task(self._run(active), name=f"job-{job.id}")

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
        """A job stopped by shutdown (or unexpectedly): back to the queue, or still paused, with its progress."""
        progress = active.progress_dict()
        if self._job(active.job_id).state is not JobState.PAUSED:
            self.transition(active.job_id, JobState.QUEUED, progress=progress)
            return
        if progress is not None:  # no state change: the last progress is kept for `list` after a restart
            self.store.set_progress(active.job_id, progress)
        log.info("job %d checkpointed and still paused", active.job_id)

    def _finish(self, job_id: int, outcome: Outcome) -> None:
        state = outcome.state or JobState.FAILED
        progress = {"step": "done", "percent": 100.0} if state in (JobState.COMPLETED, JobState.SKIPPED) else None
        try:
            self.transition(job_id, state, result=outcome.result, error=outcome.error, progress=progress)
        except QueueWriteError:
            pass  # kept in `uncommitted` and retried; its record beside the media already says it ended

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

    def _ended(self, job_id: int) -> bool:
        job = self.store.get(job_id)
        return job is None or job.state in FINAL_STATES

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
            self.on_change()
            ids = [*ids, *(i for i, a in self.active.items() if not a.control.paused)]
        jobs = self._unfinished_jobs(ids)
        done = []
        for job in jobs:
            active = self.active.get(job.id)
            if active is not None and not active.control.paused:
                active.control.pause()
            if job.state is not JobState.PAUSED:
                self.transition(job.id, JobState.PAUSED, progress=active.progress_dict() if active else None)
                done.append(job.id)
        self.wake()
        return done

    def resume(self, ids: list[int], all_jobs: bool = False) -> list[int]:
        """Resume paused jobs (SIGCONT for held ffmpegs, else back to the queue); `all_jobs` also releases the queue."""
        if all_jobs:
            self.held = False
            self.store.set_meta(HELD_KEY, "0")
            self.events.daemon("held", held=False)
            self.on_change()
            ids = [*ids, *self.store.ids_in_state(JobState.PAUSED)]
        jobs = self._unfinished_jobs(ids)
        done = []
        for job in jobs:
            if job.state is not JobState.PAUSED:
                continue
            active = self.active.get(job.id)
            if active is not None:
                self.transition(job.id, JobState.RUNNING)
                active.control.resume()
            else:
                self.transition(job.id, JobState.QUEUED)
            done.append(job.id)
        self.wake()
        return done

    async def cancel(self, ids: list[int]) -> list[int]:
        """Stop each job, remove its partial files and state (never the source), mark it cancelled."""
        jobs = self._unfinished_jobs(ids)
        stopping: list[asyncio.Task[Outcome]] = []
        idle = [job.id for job in jobs if job.id not in self.active]
        self.cancelling.update(idle)  # none of them may start while we wait
        try:
            for job in jobs:
                active = self.active.get(job.id)
                if active is not None and active.task is not None:
                    active.stopping = "cancel"
                    active.control.request_stop()
                    stopping.append(active.task)
            await asyncio.gather(*(asyncio.shield(task) for task in stopping))
            done = []
            for job in jobs:
                if self._ended(job.id):
                    continue  # it ended on its own before it could stop (or another cancel won): keep that
                error = await self._remove_files(job)
                if self._ended(job.id):
                    continue
                self.transition(job.id, JobState.CANCELLED, error=error, keep_progress=False)
                done.append(job.id)
        finally:
            self.cancelling.difference_update(idle)
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
        """The `list` view of one job (an end the queue could not yet record is shown as it is)."""
        if job.id in self.uncommitted:
            job.state = self.uncommitted[job.id][1]
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
