"""The daemon's persistent queue: jobs, their options, order, priority, states and results, in SQLite.

WAL with `synchronous=FULL` and one transaction per change, so a SIGKILL or a power cut at any instant
leaves the last committed queue. Per-file encode progress is not here: it lives in the spec's state
files beside the media (the job engine writes them).

The database carries its version in `PRAGMA user_version`; opening it runs the migrations it lacks, all
in one transaction, and refuses (touching nothing) a version newer than this code knows.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import sqlite3
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lazy_transcode.protocol import FINAL_STATES, JobState

log = logging.getLogger(__name__)

# A change into one of these states clears the last error unless it brings its own.
_CLEARS_ERROR = frozenset({JobState.QUEUED, JobState.RUNNING, JobState.COMPLETED, JobState.SKIPPED})

# What a failed read or write of the queue raises: SQLite's errors (disk full, I/O error, read-only file)
# and the OSError of a file it could not open.
STORE_ERRORS: tuple[type[Exception], ...] = (sqlite3.Error, OSError)


def describe(exc: BaseException) -> str:
    """A store error in one line: SQLite's own words (`database or disk is full`), or the OS's."""
    if isinstance(exc, OSError) and exc.strerror:
        text = exc.strerror + (f": {exc.filename}" if exc.filename else "")
    else:
        text = str(exc) or type(exc).__name__
    return " ".join(text.split())[:300]


_SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    input TEXT NOT NULL,
    options TEXT NOT NULL,
    priority INTEGER NOT NULL DEFAULT 0,
    state TEXT NOT NULL,
    result TEXT,
    error TEXT,
    progress TEXT,
    created REAL NOT NULL,
    updated REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS jobs_pending ON jobs (state, priority DESC, id);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
"""
_HISTORY_SCHEMA = """
CREATE TABLE IF NOT EXISTS history (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    job_id INTEGER NOT NULL,
    source TEXT NOT NULL,
    library TEXT,
    state TEXT NOT NULL,
    reason TEXT,
    output TEXT,
    source_size INTEGER,
    output_size INTEGER,
    mode TEXT,
    encoder TEXT,
    preset TEXT,
    quality INTEGER,
    bitrate_kbps INTEGER,
    vmaf REAL,
    options TEXT NOT NULL,
    wall_seconds REAL,
    cpu_seconds REAL,
    finished REAL NOT NULL
)
"""
HISTORY_FIELDS = (
    "job_id", "source", "library", "state", "reason", "output", "source_size", "output_size", "mode", "encoder",
    "preset", "quality", "bitrate_kbps", "vmaf", "options", "wall_seconds", "cpu_seconds", "finished",
)  # fmt: skip
_COLUMNS = "id, input, options, priority, state, result, error, progress, created, updated"


# --- versions of the database -------------------------------------------------------------------------
# Version 0 is a database of lazy-transcode 0.1.0, which set no user_version (or a new, empty file).
# MIGRATIONS[n] takes a database from version n to n + 1. Steps are only ever appended: a database that
# went through one must never meet a changed one.


def _v1_versioned(db: sqlite3.Connection) -> None:
    """Version 1: the tables of 0.1.0, unchanged (created in a new file, already there in an old one)."""
    for statement in _SCHEMA.split(";"):
        if statement.strip():
            db.execute(statement)


def _v2_history(db: sqlite3.Connection) -> None:
    """Version 2: every finished job also goes into `history`, which `clean` (removing jobs) leaves alone."""
    db.execute(_HISTORY_SCHEMA)
    db.execute("CREATE INDEX IF NOT EXISTS history_finished ON history (finished)")


MIGRATIONS: tuple[Callable[[sqlite3.Connection], None], ...] = (_v1_versioned, _v2_history)
SCHEMA_VERSION = len(MIGRATIONS)


class QueueVersionError(Exception):
    """The database has a version this code does not know: it is refused and left as it is."""


def _user_version(db: sqlite3.Connection) -> int:
    return int(db.execute("PRAGMA user_version").fetchone()[0])


def _check_version(version: int) -> None:
    if version > SCHEMA_VERSION:
        raise QueueVersionError(
            f"it is version {version}, written by a newer lazy-transcode (this one knows up to {SCHEMA_VERSION});"
            " left untouched"
        )
    if version < 0:
        raise QueueVersionError(f"it is version {version}, which no lazy-transcode writes; left untouched")


def _fail_unknown_states(db: sqlite3.Connection) -> list[tuple[int, str]]:
    """Every row whose state this code does not know becomes failed, its error saying so; returns them."""
    known = tuple(JobState)
    marks = ",".join("?" * len(known))
    rows = [(r[0], str(r[1])) for r in db.execute(f"SELECT id, state FROM jobs WHERE state NOT IN ({marks})", known)]
    for job_id, state in rows:
        db.execute(
            "UPDATE jobs SET state = ?, error = ?, updated = ? WHERE id = ?",
            (JobState.FAILED, f"the queue held an unknown state {state[:64]!r} for this job", time.time(), job_id),
        )
    return rows


@dataclass
class Job:
    id: int
    input: str
    options: dict[str, Any]
    priority: int
    state: JobState
    result: dict[str, Any] | None = None
    error: str | None = None
    progress: dict[str, Any] | None = None
    created: float = 0.0
    updated: float = 0.0
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "input": self.input,
            "options": self.options,
            "priority": self.priority,
            "state": self.state,
            "result": self.result,
            "error": self.error,
            "progress": self.progress,
            "created": self.created,
            "updated": self.updated,
        }


@dataclass(frozen=True)
class Change:
    """One change of a job's row, as the fields it sets (Job's names); unset fields are left as they are.

    `earlier | later` is the one change that leaves the row as the two would in turn, so a change that
    cannot be committed yet can be kept, and later ones folded into it, until the queue can be written.
    """

    values: dict[str, Any]
    history: dict[str, Any] | None = None  # the history row a job's end adds, in the same transaction

    def __or__(self, later: Change) -> Change:
        return Change({**self.values, **later.values}, later.history or self.history)

    @property
    def state(self) -> JobState | None:
        state = self.values.get("state")
        return None if state is None else JobState(state)

    def over(self, job: Job) -> Job:
        """The job as it is once this change is committed."""
        return dataclasses.replace(job, **self.values)


def state_change(
    state: JobState | str,
    *,
    result: dict[str, Any] | None = None,
    error: str | None = None,
    progress: dict[str, Any] | None = None,
    keep_progress: bool = True,
) -> Change:
    """A change of state, as it is (the scheduler checks that it is allowed); ValueError for an unknown state.

    `result` and `progress` are kept unless given (`keep_progress=False` clears the progress); the error
    is replaced when given and cleared by a state that starts or ends well.
    """
    try:
        state = JobState(state)
    except ValueError:
        raise ValueError(f"unknown job state {state!r}") from None
    values: dict[str, Any] = {"state": state, "updated": time.time()}
    if result is not None:
        values["result"] = result
    if error is not None or state in _CLEARS_ERROR:
        values["error"] = error
    if progress is not None or not keep_progress:
        values["progress"] = progress
    return Change(values)


def progress_change(progress: dict[str, Any]) -> Change:
    """A job's last progress, its state unchanged."""
    return Change({"progress": progress, "updated": time.time()})


_JSON_FIELDS = frozenset({"result", "progress"})
_CHANGEABLE = frozenset({"state", "result", "error", "progress", "updated"})


def _column(name: str, value: Any) -> Any:
    """A field's value as its column holds it (results and progress as JSON)."""
    return json.dumps(value) if name in _JSON_FIELDS and value is not None else value


def _loads(text: str | None) -> Any:
    return None if text is None else json.loads(text)


def _insert_history(db: sqlite3.Connection, history: dict[str, Any]) -> None:
    values = [json.dumps(history.get(n) or {}) if n == "options" else history.get(n) for n in HISTORY_FIELDS]
    marks = ",".join("?" * len(HISTORY_FIELDS))
    db.execute(f"INSERT INTO history ({', '.join(HISTORY_FIELDS)}) VALUES ({marks})", values)


def _history_filter(since: float | None, states: Iterable[str]) -> tuple[str, list[Any]]:
    clauses, params = [], []
    if since is not None:
        clauses.append("finished >= ?")
        params.append(since)
    wanted = list(states)
    if wanted:
        clauses.append(f"state IN ({','.join('?' * len(wanted))})")
        params.extend(wanted)
    return (" WHERE " + " AND ".join(clauses)) if clauses else "", params


def _row(row: tuple[Any, ...]) -> Job:
    return Job(
        id=row[0],
        input=row[1],
        options=json.loads(row[2]),
        priority=row[3],
        state=JobState(row[4]),
        result=_loads(row[5]),
        error=row[6],
        progress=_loads(row[7]),
        created=row[8],
        updated=row[9],
    )


class QueueStore:
    """All queue reads and writes; each method that changes something commits before it returns."""

    def __init__(self, path: Path) -> None:
        """Open (or create) the queue and bring it to SCHEMA_VERSION; QueueVersionError if it is newer."""
        self.path = path
        self.db = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False)
        try:
            self.db.execute("PRAGMA busy_timeout=5000")
            _check_version(_user_version(self.db))  # before the journal mode, which writes to the file
            self.db.execute("PRAGMA journal_mode=WAL")
            self.db.execute("PRAGMA synchronous=FULL")
            self._migrate()
        except BaseException:
            self.db.close()
            raise

    def _migrate(self) -> None:
        """The missing migrations, the new version and the check of every state: one transaction, all or nothing.

        The states are checked at every open, so a hand-edited file is caught too; otherwise nothing changes.
        """
        with self._tx() as db:
            version = _user_version(db)
            _check_version(version)  # again, inside the transaction: the version that counts
            new = db.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'jobs'").fetchone() is None
            for step in MIGRATIONS[version:]:
                step(db)
            if version != SCHEMA_VERSION:
                db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
                if new:
                    log.info("queue %s created at version %d", self.path, SCHEMA_VERSION)
                else:
                    log.info("queue %s migrated from version %d to %d", self.path, version, SCHEMA_VERSION)
            for job_id, state in _fail_unknown_states(db):
                log.warning("job %d had an unknown state %r in the queue: it is now failed", job_id, state[:64])

    def close(self) -> None:
        self.db.close()

    class _Tx:
        def __init__(self, db: sqlite3.Connection) -> None:
            self.db = db

        def __enter__(self) -> sqlite3.Connection:
            self.db.execute("BEGIN IMMEDIATE")
            return self.db

        def __exit__(self, exc_type: object, *_: object) -> None:
            if exc_type is None:
                try:
                    self.db.execute("COMMIT")
                except BaseException:
                    self._rollback()  # a COMMIT that failed (disk full) must not leave the transaction open
                    raise
            else:
                self._rollback()

        def _rollback(self) -> None:
            """Roll back if SQLite has not already (it does after SQLITE_FULL), never hiding the first error."""
            if self.db.in_transaction:
                try:
                    self.db.execute("ROLLBACK")
                except sqlite3.Error as exc:
                    log.debug("rollback failed: %s", exc)

    def _tx(self) -> QueueStore._Tx:
        return QueueStore._Tx(self.db)

    # --- writes ----------------------------------------------------------------------------------
    def add(self, items: Iterable[tuple[str, dict[str, Any]]], priority: int = 0, paused: bool = False) -> list[int]:
        """Queue jobs (input path, options) in one transaction; returns their ids in order."""
        now = time.time()
        state = JobState.PAUSED if paused else JobState.QUEUED
        ids = []
        with self._tx() as db:
            for input_file, options in items:
                cur = db.execute(
                    "INSERT INTO jobs (input, options, priority, state, created, updated) VALUES (?, ?, ?, ?, ?, ?)",
                    (input_file, json.dumps(options), priority, state, now, now),
                )
                ids.append(int(cur.lastrowid or 0))
        return ids

    def set_state(
        self,
        job_id: int,
        state: JobState | str,
        *,
        result: dict[str, Any] | None = None,
        error: str | None = None,
        progress: dict[str, Any] | None = None,
        keep_progress: bool = True,
    ) -> None:
        """Commit a state change as it is; `lazy_transcode.daemon.scheduler` checks that it is allowed."""
        change = state_change(state, result=result, error=error, progress=progress, keep_progress=keep_progress)
        self.apply(job_id, change)

    def set_progress(self, job_id: int, progress: dict[str, Any]) -> None:
        """Keep a job's last progress without changing its state."""
        self.apply(job_id, progress_change(progress))

    def apply(self, job_id: int, change: Change) -> None:
        """Commit one change of a job's row, in one transaction."""
        unknown = set(change.values) - _CHANGEABLE
        if unknown:
            raise ValueError(f"a change cannot set {sorted(unknown)[0]!r}")
        names = sorted(change.values)
        values = [_column(name, change.values[name]) for name in names]
        with self._tx() as db:
            db.execute(f"UPDATE jobs SET {', '.join(f'{n} = ?' for n in names)} WHERE id = ?", (*values, job_id))
            if change.history is not None:
                _insert_history(db, change.history)

    def clean(self, states: Iterable[str]) -> list[int]:
        """Remove finished jobs in these states from the queue (their history stays); returns their ids."""
        wanted = [s for s in states if s in FINAL_STATES]
        if not wanted:
            return []
        marks = ",".join("?" * len(wanted))
        with self._tx() as db:
            ids = [r[0] for r in db.execute(f"SELECT id FROM jobs WHERE state IN ({marks}) ORDER BY id", wanted)]
            db.execute(f"DELETE FROM jobs WHERE state IN ({marks})", wanted)
        return ids

    def requeue_interrupted(self) -> list[int]:
        """At start: every job that was running goes back to the queue (it resumes from its checkpoint)."""
        with self._tx() as db:
            ids = [r[0] for r in db.execute("SELECT id FROM jobs WHERE state = 'running' ORDER BY id")]
            db.execute("UPDATE jobs SET state = 'queued', updated = ? WHERE state = 'running'", (time.time(),))
        return ids

    def set_meta(self, key: str, value: str) -> None:
        with self._tx() as db:
            db.execute("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", (key, value))

    def probe(self) -> None:
        """A write that changes nothing that matters: whether the queue can be written again."""
        self.set_meta("probed", repr(time.time()))

    def get_meta(self, key: str, default: str = "") -> str:
        row = self.db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return default if row is None else str(row[0])

    # --- reads -----------------------------------------------------------------------------------
    def get(self, job_id: int) -> Job | None:
        row = self.db.execute(f"SELECT {_COLUMNS} FROM jobs WHERE id = ?", (job_id,)).fetchone()
        return None if row is None else _row(row)

    def all(self) -> Iterator[Job]:
        """Every job in queue order: pending ones by priority then id, then the finished ones by id."""
        query = (
            f"SELECT {_COLUMNS} FROM jobs ORDER BY "
            "CASE state WHEN 'running' THEN 0 WHEN 'paused' THEN 1 WHEN 'queued' THEN 1 ELSE 2 END, "
            "CASE WHEN state IN ('queued', 'paused', 'running') THEN -priority ELSE 0 END, id"
        )
        for row in self.db.execute(query):
            yield _row(row)

    def next_queued(self, exclude: Iterable[int] = ()) -> Job | None:
        skip = list(exclude)
        marks = ",".join("?" * len(skip))
        where = f" AND id NOT IN ({marks})" if skip else ""
        row = self.db.execute(
            f"SELECT {_COLUMNS} FROM jobs WHERE state = 'queued'{where} ORDER BY priority DESC, id LIMIT 1", skip
        ).fetchone()
        return None if row is None else _row(row)

    def ids_in_state(self, *states: str) -> list[int]:
        marks = ",".join("?" * len(states))
        return [r[0] for r in self.db.execute(f"SELECT id FROM jobs WHERE state IN ({marks}) ORDER BY id", states)]

    def history(
        self, *, since: float | None = None, states: Iterable[str] = (), limit: int = 0
    ) -> list[dict[str, Any]]:
        """Finished jobs, oldest first (`limit`: the newest that many), from `since` (a time) on."""
        where, params = _history_filter(since, states)
        query = f"SELECT id, {', '.join(HISTORY_FIELDS)} FROM history{where} ORDER BY finished DESC, id DESC"
        if limit > 0:
            query += f" LIMIT {int(limit)}"
        rows = []
        for row in self.db.execute(query, params):
            item = dict(zip(("id", *HISTORY_FIELDS), row, strict=True))
            item["options"] = json.loads(item["options"])
            rows.append(item)
        return rows[::-1]

    def history_totals(self, *, since: float | None = None) -> list[dict[str, Any]]:
        """Totals per library (None: outside every library) and state: files, bytes in and out, time."""
        where, params = _history_filter(since, ())
        query = (
            "SELECT library, state, COUNT(*), COALESCE(SUM(source_size), 0), COALESCE(SUM(output_size), 0),"
            f" COALESCE(SUM(wall_seconds), 0), COALESCE(SUM(cpu_seconds), 0) FROM history{where}"
            " GROUP BY library, state ORDER BY library, state"
        )
        names = ("library", "state", "files", "bytes_in", "bytes_out", "wall_seconds", "cpu_seconds")
        return [dict(zip(names, row, strict=True)) for row in self.db.execute(query, params)]

    def counts(self) -> dict[str, int]:
        counts = dict.fromkeys(JobState, 0)
        for state, count in self.db.execute("SELECT state, COUNT(*) FROM jobs GROUP BY state"):
            counts[state] = count
        return counts
