"""One library looked after: scanned at start and every `scan_interval`, watched where asked, and each
new or changed video file handed to `submit` once it has settled.

A file is decided once per signature: `submit` (the daemon's, with the same rules as `ltctl add`) says
for each whether it was queued, is done (a finished record, or an output of lazy-transcode) or was
skipped (refused, with the reason). A file whose signature changes is decided again. A folder that is
missing or cannot be read changes nothing: no file is forgotten and none is queued until it is back.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any

from lazy_transcode.library import files
from lazy_transcode.library.settings import LibrarySettings
from lazy_transcode.library.watch import Watcher
from lazy_transcode.protocol import ProtocolError

log = logging.getLogger(__name__)


class Verdict(StrEnum):
    PENDING = "pending"  # not settled yet, or not decided yet
    QUEUED = "queued"
    DONE = "done"
    SKIPPED = "skipped"


@dataclass
class Entry:
    signature: files.Signature
    since: float  # monotonic time the signature was first seen
    verdict: Verdict = Verdict.PENDING
    reason: str | None = None


# The daemon's decision on settled files: each file's verdict and reason. ProtocolError: not now (the queue
# cannot be written), try again later.
Submit = Callable[[LibrarySettings, list[Path]], Awaitable[dict[Path, tuple[Verdict, str | None]]]]


class LibraryMonitor:
    def __init__(self, settings: LibrarySettings, submit: Submit, clock: Callable[[], float] = time.monotonic) -> None:
        self.settings = settings
        self.submit = submit
        self.clock = clock
        self.entries: dict[Path, Entry] = {}
        self.dirty: set[Path] = set()  # paths named by inotify events, to be looked at
        self.last_scan: float | None = None  # wall time of the last complete scan
        self.error: str | None = None  # why the folder cannot be reached (None: it can)
        self.watch_error: str | None = None
        self.watcher: Watcher | None = None

    @property
    def root(self) -> Path:
        return self.settings.path

    @property
    def tick(self) -> float:
        """Seconds between two looks at the files that have not settled yet."""
        return min(max(self.settings.settle_seconds / 4, 0.2), 5.0)

    # --- the loop ---------------------------------------------------------------------------------------
    async def run(self) -> None:
        try:
            while True:
                await self._guarded(self.scan)
                next_scan = self.clock() + self.settings.scan_interval
                while (left := next_scan - self.clock()) > 0:
                    await asyncio.sleep(min(left, self.tick))  # events wait for this too: a copy sends thousands
                    await self._guarded(self.look)
        finally:
            if self.watcher is not None:
                await asyncio.to_thread(self.watcher.stop)

    async def _guarded(self, step: Callable[[], Awaitable[None]]) -> None:
        """A bug in one look must not end the library's watch: it is logged, and the next look tries again."""
        try:
            await step()
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("library %s: looking at it failed; trying again later", self.root)
            await asyncio.sleep(self.tick)

    def changed(self, path: Path) -> None:
        """An inotify event named `path` (on the loop's thread)."""
        if not files.in_library(self.root, path):
            return  # the job's own pieces and records, temporary names
        self.dirty.add(path)

    async def scan(self) -> None:
        """List the whole library: new and changed files start settling, vanished ones are forgotten."""
        try:
            found = await asyncio.to_thread(files.scan, self.root)
        except files.Unreachable as exc:
            self._unreachable(str(exc))
            return
        self._reachable()
        for path in [p for p in self.entries if p not in found]:
            del self.entries[path]
        for path, sig in found.items():
            self._observe(path, sig)
        self.last_scan = time.time()
        self._ensure_watch()
        await self.look()

    async def look(self) -> None:
        """Stat what events named and what has not settled; submit what has."""
        if not self.dirty and all(e.verdict is not Verdict.PENDING for e in self.entries.values()):
            return
        dirty, self.dirty = self.dirty, set()
        pending = [p for p, e in self.entries.items() if e.verdict is Verdict.PENDING]
        try:
            seen = await asyncio.to_thread(self._stat_all, dirty, pending)
        except files.Unreachable as exc:
            self.dirty |= dirty
            self._unreachable(str(exc))
            return
        self._reachable()
        for path, sig in seen.items():
            if sig is None:
                self.entries.pop(path, None)
            else:
                self._observe(path, sig)
        now = self.clock()
        ready = [
            p
            for p, e in self.entries.items()
            if e.verdict is Verdict.PENDING and now - e.since >= self.settings.settle_seconds
        ]
        if ready:
            await self._decide(ready)

    def _stat_all(self, dirty: set[Path], pending: list[Path]) -> dict[Path, files.Signature | None]:
        files.check_root(self.root)
        seen: dict[Path, files.Signature | None] = {}
        for path in dirty:
            if path.is_dir() and not path.is_symlink():
                for found in files.under(self.root, path):
                    seen[found] = files.signature(found)
            elif files.is_library_file(self.root, path):
                seen[path] = files.signature(path)
        for path in pending:
            if path not in seen:
                seen[path] = files.signature(path)
        return seen

    def _observe(self, path: Path, sig: files.Signature) -> None:
        entry = self.entries.get(path)
        if entry is None or entry.signature != sig:
            self.entries[path] = Entry(sig, self.clock())

    async def _decide(self, ready: list[Path]) -> None:
        signatures = {p: self.entries[p].signature for p in ready}
        try:
            verdicts = await self.submit(self.settings, ready)
        except ProtocolError as exc:
            log.warning("library %s: %d settled file(s) wait: %s", self.root, len(ready), exc.message)
            return
        for path, (verdict, reason) in verdicts.items():
            entry = self.entries.get(path)
            if entry is not None and entry.signature == signatures.get(path):  # unchanged while it was decided
                entry.verdict, entry.reason = verdict, reason
                if verdict is Verdict.QUEUED:
                    log.info("library %s: queued %s", self.root, path)

    # --- reachability and the watch ---------------------------------------------------------------------
    def _unreachable(self, reason: str) -> None:
        if self.error != reason:
            log.warning("library %s: %s; nothing queued, nothing forgotten, until it is back", self.root, reason)
        self.error = reason

    def _reachable(self) -> None:
        if self.error is not None:
            log.info("library %s can be read again", self.root)
        self.error = None

    def _ensure_watch(self) -> None:
        if not self.settings.watch or (self.watcher is not None and self.watcher.alive):
            return
        if self.watcher is None:
            self.watcher = Watcher(self.root, self.changed, asyncio.get_running_loop())
        problem = self.watcher.start()
        if problem != self.watch_error and problem:
            log.warning("library %s: %s; scanned every %g s instead", self.root, problem, self.settings.scan_interval)
        self.watch_error = problem

    # --- views ------------------------------------------------------------------------------------------
    def view(self) -> dict[str, Any]:
        counts = dict.fromkeys(Verdict, 0)
        for entry in self.entries.values():
            counts[entry.verdict] += 1
        return {
            "path": str(self.root),
            "reachable": self.error is None,
            "error": self.error,
            "watch": self.settings.watch,
            "watching": self.watcher is not None and self.watcher.alive,
            "watch_error": self.watch_error,
            "scan_interval": self.settings.scan_interval,
            "settle_seconds": self.settings.settle_seconds,
            "last_scan": self.last_scan,
            "seen": len(self.entries),
            **{str(verdict): count for verdict, count in counts.items()},
        }
