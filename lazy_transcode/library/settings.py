"""`[[library]]` tables of ltd's configuration, checked into `LibrarySettings`.

Each table has `path` (an absolute folder; it need not exist yet: a library on a NAS may be unmounted when
ltd starts), `watch` (inotify, for local file systems), `scan_interval` and `settle_seconds` (seconds), and
an optional `[library.defaults]` of job options over the daemon's `[defaults]`. A bad value raises
`LibraryConfigError` naming the key (`library[0].scan_interval: ...`).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lazy_transcode.options import JobOptions, OptionError

KEYS = ("path", "watch", "scan_interval", "settle_seconds", "defaults")
SCAN_INTERVAL = 3600.0
SETTLE_SECONDS = 60.0


class LibraryConfigError(ValueError):
    """A `[[library]]` value that cannot be used; the message names the key."""


@dataclass(frozen=True)
class LibrarySettings:
    path: Path
    watch: bool = False
    scan_interval: float = SCAN_INTERVAL
    settle_seconds: float = SETTLE_SECONDS
    defaults: dict[str, Any] = field(default_factory=dict)  # the library's own, over the daemon's [defaults]

    def job_defaults(self, daemon_defaults: Mapping[str, Any]) -> dict[str, Any]:
        """The options of a job this library queues: its own defaults, then the daemon's."""
        return {**daemon_defaults, **self.defaults}


def _seconds(key: str, value: Any, low: float, high: float) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise LibraryConfigError(f"{key}: must be a number of seconds, not {value!r}")
    if not low <= value <= high:
        raise LibraryConfigError(f"{key}: must be between {low:g} and {high:g} seconds, not {value!r}")
    return float(value)


def parse_library(index: int, table: Any, daemon_defaults: Mapping[str, Any]) -> LibrarySettings:
    where = f"library[{index}]"
    if not isinstance(table, dict):
        raise LibraryConfigError(f"{where}: must be a table ([[library]]) with a path")
    for key in table:
        if key not in KEYS:
            raise LibraryConfigError(f"{where}: unknown key {key!r} (known: {', '.join(KEYS)})")
    raw = table.get("path")
    if not isinstance(raw, str) or not raw:
        raise LibraryConfigError(f"{where}.path: must be a folder path string, not {raw!r}")
    expanded = os.path.expanduser(raw)
    if not os.path.isabs(expanded):
        raise LibraryConfigError(f"{where}.path: {raw!r} is not an absolute path")
    watch = table.get("watch", False)
    if not isinstance(watch, bool):
        raise LibraryConfigError(f"{where}.watch: must be true or false, not {watch!r}")
    scan = _seconds(f"{where}.scan_interval", table.get("scan_interval", SCAN_INTERVAL), 1, 366 * 86400)
    settle = _seconds(f"{where}.settle_seconds", table.get("settle_seconds", SETTLE_SECONDS), 0, 86400)
    defaults = table.get("defaults", {})
    if not isinstance(defaults, dict):
        raise LibraryConfigError(f"{where}.defaults: must be a table of job options")
    try:
        JobOptions.from_dict(defaults)
        JobOptions.from_dict({**daemon_defaults, **defaults})
    except OptionError as exc:
        raise LibraryConfigError(f"{where}.defaults: {exc}") from None
    return LibrarySettings(Path(expanded).resolve(), watch, scan, settle, dict(defaults))


def parse_libraries(value: Any, daemon_defaults: Mapping[str, Any]) -> list[LibrarySettings]:
    """Every `[[library]]` table, checked; two libraries may not share a folder or nest."""
    if not isinstance(value, list):
        raise LibraryConfigError("library: must be [[library]] tables, each with a path")
    libraries = [parse_library(i, table, daemon_defaults) for i, table in enumerate(value)]
    for i, one in enumerate(libraries):
        for j, other in enumerate(libraries):
            if i != j and (one.path == other.path or one.path.is_relative_to(other.path)):
                raise LibraryConfigError(f"library[{i}].path: {one.path} is inside library[{j}] ({other.path})")
    return libraries
