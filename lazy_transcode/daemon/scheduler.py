"""The scheduler: starts queued jobs up to `workers`, and carries out pause, resume, cancel and shutdown.

Every state change goes through `Scheduler.transition`: checked against the table of
`lazy_transcode.daemon.states`, committed to the queue store, then announced, so what a client was told
is what a restart finds. A paused running job keeps its (SIGSTOPped) ffmpeg and does not count against
`workers`; `pause --all` also holds the queue (persisted), so nothing new starts until `resume --all`;
`pause --after-current` holds it too (persisted) but lets running jobs finish.

Outside the `[schedule]` windows nothing starts, and a window that closes asks every running job to stop
at its checkpoint (its ffmpeg ends; a day-long SIGSTOP would hold its memory): it goes back to the queue
and continues from its pieces in the next window. `resume --now` runs chosen jobs past the schedule and
the holds.

When the queue cannot be written (its disk is full, an I/O error, a read-only file), the daemon says so
loudly (one error line per distinct failure, the systemd status, `ltctl status`) and holds the queue:
nothing new starts, and `add`, `pause`, `resume` and `cancel` are refused with one line, changing
nothing. Running jobs go on (what they make is recorded beside the media); how each ends is kept in
memory (`daemon.unsaved`), shown as not saved, and committed at the first write that succeeds again:
the next request or job end, or a retry every `retry_interval` seconds. Then the queue resumes by itself.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Any

from lazy_transcode import protocol
from lazy_transcode.daemon.events import EventBus
from lazy_transcode.daemon.queue_store import (
    STORE_ERRORS,
    Change,
    Job,
    QueueStore,
    describe,
    progress_change,
    state_change,
)
from lazy_transcode.daemon.states import IllegalTransition, check
from lazy_transcode.daemon.timetable import Timetable, describe_next
from lazy_transcode.daemon.unsaved import Kept, Unsaved
from lazy_transcode.daemon.worker import ActiveJob, FileRemover, JobRunner, Outcome, execute, one_line
from lazy_transcode.jobs.api import JobControl, JobOptions, OptionError, Progress
from lazy_transcode.protocol import FINAL_STATES, JobState

log = logging.getLogger(__name__)

HELD_KEY = "held"
AFTER_CURRENT_KEY = "after_current"  # `pause --after-current`: running jobs finish, no new one starts
WINDOW_TICK = 1.0  # seconds between two looks at the schedule's clock
RETRY_INTERVAL = 5.0  # seconds between two tries to write a queue that could not be written


class QueueWriteError(protocol.ProtocolError):
    """A request's change could not be committed: the client is told in one line, and nothing changed."""

    def __init__(self, message: str) -> None:
        super().__init__(protocol.QUEUE_ERROR, message)


class _StillFailing(Exception):
    """The queue still cannot be written (a retry failed just now, and recorded why)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


# What a commit raises when the queue cannot be written.
_NOT_COMMITTED = (*STORE_ERRORS, _StillFailing)


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
        retry_interval: float = RETRY_INTERVAL,
        timetable: Timetable | None = None,
        now: Callable[[], float] = time.time,
    ) -> None:
        self.store = store
        self.events = events
        self.runner = runner
        self.remover = remover
        self.workers = workers
        self.checkpoint_interval = checkpoint_interval
        self.on_change = on_change or (lambda: None)
        self.retry_interval = retry_interval
        self.unsaved = Unsaved()
        self.active: dict[int, ActiveJob] = {}
        self.cancelling: set[int] = set()  # idle jobs a `cancel` is removing the files of: not to be started
        self.held = store.get_meta(HELD_KEY) == "1"
        self.after_current = store.get_meta(AFTER_CURRENT_KEY) == "1"
        self.timetable = timetable or Timetable()
        self.now = now  # the schedule's clock (epoch seconds), injectable for tests
        self.window_open = self.timetable.is_open(self._local_now())
        self.forced: set[int] = set()  # `resume --now`: jobs that run outside the schedule and the holds
        self.closing = False
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
        keep: bool = False,
    ) -> bool:
        """The one way a job changes state: checked, committed, announced, logged, reported to systemd.

        An illegal change is a bug: it is logged and raised, and nothing is committed or announced. When
        the queue cannot be written, the change is not announced: with `keep` (a change the daemon made on
        its own) it is kept until the queue can be written and False is returned; without, QueueWriteError.
        """
        change = state_change(new, result=result, error=error, progress=progress, keep_progress=keep_progress)
        job: Job | None = None
        try:
            job = self._job(job_id)
            self._check(job_id, job.state, new)
            self._commit(job_id, change)
        except _NOT_COMMITTED as exc:
            self._write_failed(exc)
            if not keep:
                raise self._refusal(f"job {job_id} is not {new}") from None
            self._keep(job_id, change, job)
            return False
        self._announce(job_id, job.state, new, job.input, error)
        return True

    def _commit(self, job_id: int, change: Change) -> None:
        """Commit one change; when the queue has failed, first what it holds back (all in order, or nothing)."""
        if self.unsaved.error is not None and not self.retry():
            raise _StillFailing(self.unsaved.error)
        self.store.apply(job_id, change)

    def _keep(self, job_id: int, change: Change, job: Job | None) -> None:
        saved = self._saved_state(job)
        self.unsaved.keep(job_id, change, job.input if job else None, saved)
        log.warning(
            "job %d %s -> %s not saved: kept in memory until the queue can be written",
            job_id,
            job.state if job else "?",
            change.state or "(progress)",
        )
        self.on_change()

    def _saved_state(self, job: Job | None) -> JobState | None:
        """The state the queue holds for a job the scheduler sees (its kept change left out)."""
        if job is None:
            return None
        kept = self.unsaved.kept.get(job.id)
        return kept.saved_state if kept is not None else job.state

    def _announce(self, job_id: int, old: JobState | None, new: JobState, file: str, error: str | None) -> None:
        self.events.job_state(job_id, new, file=file, **({"error": error} if error else {}))
        self._log(job_id, old, new, error or (file if new is JobState.RUNNING else ""))
        self.on_change()

    def add(self, items: Iterable[tuple[str, dict[str, Any]]], priority: int = 0, paused: bool = False) -> list[int]:
        """Queue new jobs (input path, options) in one transaction, then announce each; returns their ids."""
        state = JobState.PAUSED if paused else JobState.QUEUED
        self._check(None, None, state)
        jobs = list(items)
        self.ensure_writable("added")
        try:
            ids = self.store.add(jobs, priority=priority, paused=paused)
        except STORE_ERRORS as exc:
            self._write_failed(exc)
            raise self._refusal("no job was added") from None
        for job_id, (input_file, _options) in zip(ids, jobs, strict=True):
            self.events.job_state(job_id, state, file=input_file)
            self._log(job_id, None, state, input_file)
        if ids:
            self.on_change()
            self.wake()
        return ids

    # --- a queue that cannot be written ------------------------------------------------------------
    @property
    def queue_error(self) -> str | None:
        """Why the last write of the queue failed; None while it can be written."""
        return self.unsaved.error

    def _write_failed(self, exc: Exception) -> None:
        """Record a failed write (or read) of the queue: hold the queue, and say so once per distinct error."""
        reason = exc.reason if isinstance(exc, _StillFailing) else describe(exc)
        if not self.unsaved.fail(reason):
            return
        log.error(
            "queue %s cannot be written: %s; no new job starts and add, pause, resume and cancel are refused"
            " until it can (retried every %g s)",
            self.store.path,
            reason,
            self.retry_interval,
        )
        self.events.daemon("queue_error", error=reason)
        self.on_change()
        self.wake()  # the loop now retries every retry_interval

    def _refusal(self, what: str) -> QueueWriteError:
        return QueueWriteError(f"the queue cannot be written ({self.unsaved.error}): {what}; ltd retries by itself")

    def ensure_writable(self, what: str, probe: bool = False) -> None:
        """Before a request's change: commit what the queue holds back, or refuse (`what`: nothing was ...).

        `probe` tries a write even when the last one succeeded, for a change that cannot be undone.
        """
        if probe and self.unsaved.error is None:
            try:
                self.store.probe()
            except STORE_ERRORS as exc:
                self._write_failed(exc)
        if not self.retry():
            raise self._refusal(f"nothing was {what}")

    def retry(self) -> bool:
        """Commit every kept change (or probe); True when the queue can be written, and it resumes."""
        if self.unsaved.error is None:
            return True
        try:
            self.unsaved.flush(self.store, self._announce_late)
        except STORE_ERRORS as exc:
            self._write_failed(exc)
            return False
        log.warning("queue %s can be written again: every change is saved; new jobs start again", self.store.path)
        self.events.daemon("queue_error", error=None)
        self.on_change()
        self.wake()
        return True

    def _announce_late(self, job_id: int, kept: Kept) -> None:
        """A kept change is committed now: announced and logged as any other."""
        state = kept.change.state
        if state is None:
            log.info("job %d: its last progress is saved", job_id)
            return
        error = kept.change.values.get("error")
        self._announce(job_id, kept.saved_state, state, kept.file or "", error)

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
            if self.unsaved.error is None:
                await self._wake.wait()
            else:  # every request and job end tries to write too; this is for a queue nobody touches
                try:
                    await asyncio.wait_for(self._wake.wait(), self.retry_interval)
                except TimeoutError:
                    self.retry()
            self._wake.clear()

    def fill(self) -> None:
        """Start queued jobs while a worker is free and the queue is neither held nor failing to be written;
        outside the schedule's windows (or held) only the jobs `resume --now` asked for."""
        if self.closing or self.unsaved.error is not None:
            return
        try:
            while self.running_count() < self.workers:
                job = self._next_forced() or self._next_queued()
                if job is None:
                    return
                self._start(job)
        except QueueWriteError:
            return  # the job was not started: it waits in the queue for the queue to be written again
        except STORE_ERRORS as exc:  # the queue could not even be read
            self._write_failed(exc)

    def _may_start(self) -> bool:
        held = self.held or self.after_current or not self.window_open or self.closing or self.unsaved.error is not None
        return not held and self.running_count() < self.workers

    def _next_queued(self) -> Job | None:
        if not self._may_start():
            return None
        return self.store.next_queued(exclude=[*self.active, *self.cancelling, *self.unsaved.kept])

    def _next_forced(self) -> Job | None:
        for job_id in sorted(self.forced):
            if job_id in self.active or job_id in self.cancelling or job_id in self.unsaved.kept:
                continue
            job = self.store.get(job_id)
            if job is None or job.state in FINAL_STATES:
                self.forced.discard(job_id)
            elif job.state is JobState.QUEUED:
                return job
        return None

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
        self.transition(job.id, JobState.RUNNING)  # QueueWriteError: not started
        active = ActiveJob(job_id=job.id, input=job.input, options=options, control=control)
        self.active[job.id] = active
        active.task = asyncio.create_task(self._run(active), name=f"job-{job.id}")

    async def _run(self, active: ActiveJob) -> Outcome:
        outcome = Outcome(state=None, stopped=True)
        try:
            outcome = await execute(active, self.runner)
        finally:
            self.active.pop(active.job_id, None)
            if not outcome.stopped or active.stopping == "cancel":
                self.forced.discard(active.job_id)
            try:
                if outcome.stopped:
                    if active.stopping != "cancel":
                        self._set_interrupted(active)
                else:
                    self._finish(active.job_id, outcome)
            except STORE_ERRORS as exc:  # the queue could not be read: the job's record beside the media says
                self._write_failed(exc)
                log.error(
                    "job %d ended but the queue cannot be read; its record beside the media keeps how", active.job_id
                )
            self.wake()
        return outcome

    def _set_interrupted(self, active: ActiveJob) -> None:
        """A job stopped by shutdown (or unexpectedly): back to the queue, or still paused, with its progress."""
        progress = active.progress_dict()
        job = self._job(active.job_id)
        if job.state is not JobState.PAUSED:
            self.transition(active.job_id, JobState.QUEUED, progress=progress, keep=True)
            return
        if progress is not None:  # no state change: the last progress is kept for `list` after a restart
            change = progress_change(progress)
            try:
                self._commit(job.id, change)
            except _NOT_COMMITTED as exc:
                self._write_failed(exc)
                self._keep(job.id, change, job)
        log.info("job %d checkpointed and still paused", active.job_id)

    def _finish(self, job_id: int, outcome: Outcome) -> None:
        state = outcome.state or JobState.FAILED
        progress = {"step": "done", "percent": 100.0} if state in (JobState.COMPLETED, JobState.SKIPPED) else None
        self.transition(job_id, state, result=outcome.result, error=outcome.error, progress=progress, keep=True)

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
        """The job as the daemon means it to be: what the queue holds, with any change not saved yet."""
        job = self.store.get(job_id)
        if job is None:
            raise protocol.ProtocolError(protocol.NOT_FOUND, f"no job {job_id}")
        return self.unsaved.over(job)

    def _ended(self, job_id: int) -> bool:
        job = self.store.get(job_id)
        return job is None or self.unsaved.over(job).state in FINAL_STATES

    def _unfinished_jobs(self, ids: list[int]) -> list[Job]:
        """The jobs a command acts on, each once: all of them must exist and none may have ended."""
        jobs = [self._job(job_id) for job_id in dict.fromkeys(ids)]
        for job in jobs:
            if job.state in FINAL_STATES:
                raise protocol.ProtocolError(protocol.BAD_STATE, f"job {job.id} is already {job.state}")
        return jobs

    def pause(self, ids: list[int], all_jobs: bool = False) -> list[int]:
        """Pause jobs (SIGSTOP for running ones); `all_jobs` pauses every running job and holds the queue.

        Each change is committed before it is carried out, so a refused one changed nothing.
        """
        self.ensure_writable("paused")
        if all_jobs:
            self._set_held(True, "nothing was paused")
            ids = [*ids, *(i for i, a in self.active.items() if not a.control.paused)]
        jobs = self._unfinished_jobs(ids)
        done: list[int] = []
        for job in jobs:
            active = self.active.get(job.id)
            if job.state is not JobState.PAUSED:
                progress = active.progress_dict() if active else None
                self._requested(done, "paused", job.id, JobState.PAUSED, progress=progress)
                done.append(job.id)
            if active is not None and not active.control.paused:
                active.control.pause()
        self.wake()
        return done

    def pause_after_current(self) -> None:
        """Let the running jobs finish and start no new one (until `resume --all`)."""
        self.ensure_writable("paused")
        self._set_after_current(True, "nothing was paused")
        self.wake()

    def resume_now(self, ids: list[int]) -> list[int]:
        """Run these jobs now, outside the schedule and the holds: paused ones are resumed, queued ones start."""
        self.ensure_writable("resumed")
        jobs = self._unfinished_jobs(ids)
        done: list[int] = []
        for job in jobs:
            active = self.active.get(job.id)
            if job.state is JobState.PAUSED:
                self._requested(done, "resumed", job.id, JobState.RUNNING if active else JobState.QUEUED)
                if active is not None:
                    active.control.resume()
            self.forced.add(job.id)
            done.append(job.id)
        self.wake()
        return done

    def resume(self, ids: list[int], all_jobs: bool = False) -> list[int]:
        """Resume paused jobs (SIGCONT for held ffmpegs, else back to the queue); `all_jobs` also releases the queue."""
        self.ensure_writable("resumed")
        if all_jobs:
            if self.after_current:
                self._set_after_current(False, "nothing was resumed")
            self._set_held(False, "nothing was resumed")
            ids = [*ids, *self.store.ids_in_state(JobState.PAUSED)]
        jobs = self._unfinished_jobs(ids)
        done: list[int] = []
        for job in jobs:
            if job.state is not JobState.PAUSED:
                continue
            active = self.active.get(job.id)
            if active is not None:
                self._requested(done, "resumed", job.id, JobState.RUNNING)
                active.control.resume()
                if not self.window_open and job.id not in self.forced:  # it goes on in the next window
                    active.stopping = "schedule"
                    active.control.request_stop()
            else:
                self._requested(done, "resumed", job.id, JobState.QUEUED)
            done.append(job.id)
        self.wake()
        return done

    def _set_held(self, held: bool, refused: str) -> None:
        """Hold or release the queue: committed, then done and announced."""
        try:
            self.store.set_meta(HELD_KEY, "1" if held else "0")
        except STORE_ERRORS as exc:
            self._write_failed(exc)
            raise self._refusal(refused) from None
        self.held = held
        self.events.daemon("held", held=held)
        self.on_change()

    def _set_after_current(self, value: bool, refused: str) -> None:
        try:
            self.store.set_meta(AFTER_CURRENT_KEY, "1" if value else "0")
        except STORE_ERRORS as exc:
            self._write_failed(exc)
            raise self._refusal(refused) from None
        self.after_current = value
        self.events.daemon("after_current", after_current=value)
        log.info("pause --after-current %s", "set: running jobs finish, no new one starts" if value else "released")
        self.on_change()

    # --- the schedule ------------------------------------------------------------------------------
    def _local_now(self) -> datetime:
        return datetime.fromtimestamp(self.now())

    async def follow_timetable(self, tick: float = WINDOW_TICK) -> None:
        """Open and close the schedule's windows as the clock passes them (polled: the clock may jump)."""
        while not self.closing:
            self.check_window()
            await asyncio.sleep(tick)

    def check_window(self) -> None:
        """A window that closed checkpoints and ends every running job (they wait in the queue); one that
        opened starts them again from their checkpoints."""
        is_open = self.timetable.is_open(self._local_now())
        if is_open == self.window_open:
            return
        self.window_open = is_open
        if is_open:
            log.info("schedule: a window is open; queued jobs start")
        else:
            log.info("schedule: outside the windows (next %s); running jobs are checkpointed", self.next_window())
            for active in list(self.active.values()):
                if active.job_id in self.forced or active.stopping is not None or active.control.paused:
                    continue
                active.stopping = "schedule"
                active.control.request_stop()
        self.events.daemon("schedule", open=is_open, next_window=self.next_window())
        self.on_change()
        self.wake()

    def next_window(self) -> str:
        """When the next window opens (`01:00`), empty when one is open or there are none."""
        at = self._local_now()
        return describe_next(at, self.timetable.next_open(at))

    def schedule_view(self) -> dict[str, Any]:
        return {
            "windows": [window.text for window in self.timetable.windows],
            "open": self.window_open,
            "next_window": self.next_window() or None,
            "after_current": self.after_current,
            "forced": sorted(self.forced),
        }

    def _requested(self, done: list[int], verb: str, job_id: int, new: JobState, **fields: Any) -> None:
        """A change a request asked for; refused, it says which jobs were `verb` before the refusal."""
        try:
            self.transition(job_id, new, **fields)
        except QueueWriteError as exc:
            if done:
                raise QueueWriteError(f"{exc.message}; {verb} before that: {' '.join(map(str, done))}") from None
            raise

    async def cancel(self, ids: list[int]) -> list[int]:
        """Stop each job, remove its partial files and state (never the source), mark it cancelled.

        If the queue fails after a job was stopped and its files removed, its cancellation is kept and saved
        when the queue can be written (it never starts again), and the request is refused saying so.
        """
        self.ensure_writable("cancelled", probe=True)  # stopping a job and removing its files cannot be undone
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
            unsaved = []
            for job in jobs:
                if self._ended(job.id):
                    continue  # it ended on its own before it could stop (or another cancel won): keep that
                error = await self._remove_files(job)
                if self._ended(job.id):
                    continue
                if self.transition(job.id, JobState.CANCELLED, error=error, keep_progress=False, keep=True):
                    done.append(job.id)
                else:
                    unsaved.append(job.id)
        finally:
            self.cancelling.difference_update(idle)
        self.wake()
        if unsaved:
            listed = " ".join(map(str, unsaved))
            saved = f" (cancelled: {' '.join(map(str, done))})" if done else ""
            raise self._refusal(f"job {listed} stopped, its files removed, saved as cancelled once it can{saved}")
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
        if tasks:
            _done, pending = await asyncio.wait(tasks, timeout=timeout)
            for task in pending:
                log.warning("%s did not stop in %.0f s; cancelling it", task.get_name(), timeout)
                task.cancel()
            if pending:
                await asyncio.wait(pending, timeout=2.0)
        if not self.retry() and self.unsaved.kept:
            jobs = ", ".join(f"job {i} {k.change.state or 'progress'}" for i, k in sorted(self.unsaved.kept.items()))
            log.error(
                "stopping with changes not saved (%s): a restart finds these jobs as the queue last saved them;"
                " one saved as running runs again, from its record beside the media",
                jobs,
            )

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
            "unsaved": self.unsaved.wanted_state(job.id),
        }

    def detail(self, job: Job) -> dict[str, Any]:
        """The `status JOB` view: everything, including the last error and the ffmpeg process groups."""
        active = self.active.get(job.id)
        data = job.to_dict()
        data["row"] = self.row(job)
        data["process_groups"] = sorted(active.control.process_groups) if active else []
        data["started"] = active.started if active else None
        data["unsaved"] = self.unsaved.wanted_state(job.id)
        return data
