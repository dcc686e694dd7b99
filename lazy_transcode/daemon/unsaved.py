"""What the queue could not commit: the write error that holds the queue, and the changes kept until then.

When a write of the queue fails (disk full, I/O error, read-only file), a change the daemon made on its
own (a job ended, or was interrupted) cannot be refused to anyone, so it is kept here, one per job (later
ones folded into it), and committed as soon as a write succeeds again. Nothing here is announced as
committed before it is: a restart finds the queue as it was last committed.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from lazy_transcode.daemon.queue_store import Change, Job, QueueStore
from lazy_transcode.protocol import JobState


@dataclass
class Kept:
    """A job's changes not committed yet, with what announcing them needs once they are."""

    change: Change
    file: str | None
    saved_state: JobState | None  # the state the queue holds (None: it could not be read)


class Unsaved:
    def __init__(self) -> None:
        self.error: str | None = None  # why the last write failed; None while the queue can be written
        self.kept: dict[int, Kept] = {}

    def fail(self, reason: str) -> bool:
        """Record a failed write; True when it is news (the queue was writable, or failed otherwise)."""
        news = reason != self.error
        self.error = reason
        return news

    def keep(self, job_id: int, change: Change, file: str | None, saved_state: JobState | None) -> None:
        """Keep a change to commit later, over any kept before it for the same job."""
        before = self.kept.get(job_id)
        if before is not None:
            before.change = before.change | change
            before.file = before.file or file
        else:
            self.kept[job_id] = Kept(change, file, saved_state)

    def over(self, job: Job) -> Job:
        """The job as the daemon means it to be: the committed row with its kept change applied."""
        kept = self.kept.get(job.id)
        return job if kept is None else kept.change.over(job)

    def wanted_state(self, job_id: int) -> JobState | None:
        """The state a kept change gives the job (None when nothing is kept or it changes no state)."""
        kept = self.kept.get(job_id)
        return None if kept is None else kept.change.state

    def flush(self, store: QueueStore, committed: Callable[[int, Kept], None]) -> None:
        """Commit every kept change, in job order, each in its own transaction; with nothing kept, a probe.

        A change is forgotten (and `committed` told) once its transaction committed; the store's error of
        the first one that fails is raised, the others stay kept.
        """
        if not self.kept:
            store.probe()
        for job_id in sorted(self.kept):
            kept = self.kept[job_id]
            store.apply(job_id, kept.change)
            del self.kept[job_id]
            committed(job_id, kept)
        self.error = None
