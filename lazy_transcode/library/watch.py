"""inotify through `watchdog`: the paths that change under a library, handed to the event loop.

Events only say where to look: the monitor stats what they name and waits for it to settle, so a lost or
repeated event costs nothing but a later find by the periodic scan (which NFS and SMB rely on alone).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)


class Watcher:
    """One recursive watch of a library's folder; `changed(path)` runs on the loop for each named path."""

    def __init__(self, root: Path, changed: Callable[[Path], None], loop: asyncio.AbstractEventLoop) -> None:
        self.root = root
        self.changed = changed
        self.loop = loop
        self._observer: Any = None

    @property
    def alive(self) -> bool:
        return self._observer is not None and self._observer.is_alive()

    def start(self) -> str | None:
        """Start watching; None, or why not (one line: the folder is gone, no inotify watches are left)."""
        from watchdog.events import FileSystemEvent, FileSystemEventHandler
        from watchdog.observers import Observer

        watcher = self

        class Handler(FileSystemEventHandler):
            def on_any_event(self, event: FileSystemEvent) -> None:
                if event.event_type in ("opened", "closed_no_write"):
                    return
                for raw in (event.src_path, getattr(event, "dest_path", "")):
                    if raw:
                        path = Path(raw.decode() if isinstance(raw, bytes) else raw)
                        try:
                            watcher.loop.call_soon_threadsafe(watcher.changed, path)
                        except RuntimeError:  # the loop is closed: ltd is stopping
                            return

        self.stop()
        observer = Observer()
        try:
            observer.schedule(Handler(), str(self.root), recursive=True)
            observer.start()
        except (OSError, RuntimeError) as exc:
            observer.stop()
            return f"cannot watch {self.root}: {getattr(exc, 'strerror', None) or exc}"
        self._observer = observer
        return None

    def stop(self) -> None:
        observer, self._observer = self._observer, None
        if observer is not None:
            observer.stop()
            observer.join(timeout=5)
