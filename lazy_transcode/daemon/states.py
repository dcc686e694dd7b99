"""Which job state may follow which: the table the scheduler checks every state change against.

A change that is not in the table is a bug of the daemon, never a user error: a user asking for
something the job's state does not allow (cancelling a finished job) is refused earlier, with
`protocol.BAD_STATE`. Final states have no way out.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

from lazy_transcode.protocol import FINAL_STATES, JobState

QUEUED, RUNNING, PAUSED = JobState.QUEUED, JobState.RUNNING, JobState.PAUSED
COMPLETED, FAILED, CANCELLED, SKIPPED = JobState.COMPLETED, JobState.FAILED, JobState.CANCELLED, JobState.SKIPPED

# The states a new job is added in (`add` and `add --paused`).
ENTRY_STATES: frozenset[JobState] = frozenset({QUEUED, PAUSED})

TRANSITIONS: Mapping[JobState, frozenset[JobState]] = MappingProxyType(
    {
        # started by a free worker; paused or cancelled while waiting; failed when its stored options are invalid
        QUEUED: frozenset({RUNNING, PAUSED, CANCELLED, FAILED}),
        # paused (SIGSTOP), back to the queue when the daemon stops it at a checkpoint, or ended by its engine
        RUNNING: frozenset({PAUSED, QUEUED, COMPLETED, FAILED, SKIPPED, CANCELLED}),
        # resumed: SIGCONT of a held ffmpeg (running) or back to the queue; a job paused in a step that runs
        # no ffmpeg (verifying, placing the output) still ends when that step does
        PAUSED: frozenset({QUEUED, RUNNING, CANCELLED, COMPLETED, FAILED, SKIPPED}),
        **{state: frozenset() for state in FINAL_STATES},
    }
)


class IllegalTransition(RuntimeError):
    """A state change the table does not allow; nothing was committed or announced."""

    def __init__(self, job_id: int | None, old: JobState | None, new: JobState) -> None:
        self.job_id = job_id
        self.old = old
        self.new = new
        if old is None:
            super().__init__(f"a new job cannot be added as {new}")
        else:
            super().__init__(f"job {job_id}: {old} -> {new} is not an allowed transition")


def allowed(old: JobState | None, new: JobState) -> bool:
    """Whether a job in `old` (None: a job being added) may go to `new`."""
    return new in (ENTRY_STATES if old is None else TRANSITIONS[old])


def check(job_id: int | None, old: JobState | None, new: JobState) -> None:
    """Raise IllegalTransition unless `old` -> `new` is in the table (`job_id` None: a job being added)."""
    if not allowed(old, new):
        raise IllegalTransition(job_id, old, new)
