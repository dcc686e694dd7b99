"""ltd's configuration: a TOML file found in the contract's order, merged with command-line flags.

Every key is optional; an unknown key or a bad value raises `ConfigError` with one line naming the key
(ltd exits 78, EX_CONFIG). Flags of the same name win over the file.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lazy_transcode import endpoints
from lazy_transcode.daemon import paths
from lazy_transcode.daemon.timetable import Timetable, WindowError
from lazy_transcode.farm.config import FarmConfig, parse_farm
from lazy_transcode.library.settings import LibraryConfigError, LibrarySettings, parse_libraries
from lazy_transcode.options import JobOptions, OptionError

EX_CONFIG = 78
KEYS = (
    "socket",
    "events_socket",
    "state_dir",
    "workers",
    "checkpoint_interval",
    "library_roots",
    "ffmpeg",
    "defaults",
    "piece_workers",
    "library",
    "schedule",
    "notify",
    "farm",
)
SCHEDULE_KEYS = ("windows",)
NOTIFY_KEYS = ("urls", "events")
NOTIFY_EVENTS = ("completed", "failed", "queue_empty")


class ConfigError(Exception):
    """A bad configuration: the message is one line naming the file and key."""


@dataclass
class Config:
    socket: str
    events_socket: str
    state_dir: Path
    workers: int = 1
    checkpoint_interval: float = 10.0
    library_roots: list[Path] = field(default_factory=list)
    ffmpeg: str = ""
    defaults: dict[str, Any] = field(default_factory=dict)
    piece_workers: int | None = None  # None: auto
    libraries: list[LibrarySettings] = field(default_factory=list)
    timetable: Timetable = field(default_factory=Timetable)
    notify_urls: list[str] = field(default_factory=list)
    notify_events: list[str] = field(default_factory=lambda: list(NOTIFY_EVENTS))
    farm: FarmConfig = field(default_factory=FarmConfig)
    source: Path | None = None


def find_config_file(cli: str | None, env: Mapping[str, str]) -> tuple[Path | None, bool]:
    """The file to read and whether it was asked for explicitly (then it must exist)."""
    if cli:
        return Path(cli), True
    if env.get("LAZY_TRANSCODE_CONFIG"):
        return Path(env["LAZY_TRANSCODE_CONFIG"]), True
    user = paths.user_config_file(env)
    if user.is_file():
        return user, False
    if paths.SYSTEM_CONFIG.is_file():
        return paths.SYSTEM_CONFIG, False
    return None, False


def read_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as handle:
            return tomllib.load(handle)
    except FileNotFoundError:
        raise ConfigError(f"config file {path} does not exist") from None
    except OSError as exc:
        raise ConfigError(f"config file {path} cannot be read: {exc.strerror}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"config file {path} is not valid TOML: {exc}") from None


def _endpoint(key: str, value: Any) -> str:
    if not isinstance(value, str) or not value:
        raise ConfigError(f"{key}: must be a non-empty string like ipc:///path/ltd.sock")
    if not value.startswith("ipc://"):
        raise ConfigError(f"{key}: only ipc:// endpoints are allowed, not {value!r}")
    if endpoints.ipc_path(value) is None or not endpoints.ipc_path(value).is_absolute():  # type: ignore[union-attr]
        raise ConfigError(f"{key}: {value!r} must name an absolute socket path")
    return value


def _number(key: str, value: Any, kind: type, low: float, high: float) -> Any:
    if isinstance(value, bool) or not isinstance(value, int | float) or (kind is int and not isinstance(value, int)):
        raise ConfigError(f"{key}: must be {'an integer' if kind is int else 'a number'}, not {value!r}")
    if not low <= value <= high:
        raise ConfigError(f"{key}: must be between {low:g} and {high:g}, not {value!r}")
    return kind(value)


def build_config(
    data: Mapping[str, Any],
    overrides: Mapping[str, Any] | None = None,
    env: Mapping[str, str] | None = None,
    source: Path | None = None,
) -> Config:
    """Validate file values and flags (flags win) into a Config with every default filled in."""
    env = os.environ if env is None else env
    where = f"config {source}: " if source else ""
    for key in data:
        if key not in KEYS:
            raise ConfigError(f"{where}unknown key {key!r} (known: {', '.join(KEYS)})")
    merged: dict[str, Any] = dict(data)
    for key, value in (overrides or {}).items():
        if value is not None:
            merged[key] = value
    try:
        socket = _endpoint("socket", merged.get("socket", endpoints.default_socket(env)))
        events = _endpoint("events_socket", merged.get("events_socket", endpoints.events_beside(socket)))
        if events == socket:
            raise ConfigError("events_socket: must differ from socket")
        state_dir = merged.get("state_dir", str(paths.default_state_dir(env)))
        if not isinstance(state_dir, str) or not state_dir:
            raise ConfigError(f"state_dir: must be a non-empty path string, not {state_dir!r}")
        workers = _number("workers", merged.get("workers", 1), int, 1, 64)
        interval = _number("checkpoint_interval", merged.get("checkpoint_interval", 10), float, 1, 3600)
        roots = merged.get("library_roots", [])
        if not isinstance(roots, list) or not all(isinstance(r, str) and r for r in roots):
            raise ConfigError("library_roots: must be a list of folder paths")
        resolved_roots = []
        for root in roots:
            if not os.path.isabs(os.path.expanduser(root)):
                raise ConfigError(f"library_roots: {root!r} is not an absolute path")
            resolved_roots.append(Path(os.path.expanduser(root)).resolve())
        ffmpeg = merged.get("ffmpeg", "")
        if not isinstance(ffmpeg, str):
            raise ConfigError(f"ffmpeg: must be a path string, not {ffmpeg!r}")
        defaults = merged.get("defaults", {})
        if not isinstance(defaults, dict):
            raise ConfigError("defaults: must be a table of job options")
        _check_defaults(defaults)
        piece_workers = merged.get("piece_workers", "auto")
        if piece_workers != "auto" and (
            isinstance(piece_workers, bool) or not isinstance(piece_workers, int) or not 1 <= piece_workers <= 64
        ):
            raise ConfigError(f'piece_workers: must be "auto" or an integer from 1 to 64, not {piece_workers!r}')
        try:
            libraries = parse_libraries(merged.get("library", []), defaults)
        except LibraryConfigError as exc:
            raise ConfigError(str(exc)) from None
        if resolved_roots:  # restricted roots: the libraries are roots too (none: any path already is)
            resolved_roots += [lib.path for lib in libraries if lib.path not in resolved_roots]
        timetable = _timetable(merged.get("schedule", {}))
        notify_urls, notify_events = _notify(merged.get("notify", {}))
        try:
            farm = parse_farm(merged.get("farm", {}))
        except ValueError as exc:
            raise ConfigError(str(exc)) from None
    except ConfigError as exc:
        raise ConfigError(f"{where}{exc}") from None
    return Config(
        socket=socket,
        events_socket=events,
        state_dir=Path(os.path.expanduser(state_dir)),
        workers=workers,
        checkpoint_interval=interval,
        library_roots=resolved_roots,
        ffmpeg=ffmpeg,
        defaults=dict(defaults),
        piece_workers=None if piece_workers == "auto" else piece_workers,
        libraries=libraries,
        timetable=timetable,
        notify_urls=notify_urls,
        notify_events=notify_events,
        farm=farm,
        source=source,
    )


def _check_defaults(defaults: dict[str, Any]) -> None:
    """Every key and value of `[defaults]`, as the job options declare them; the message names the key."""
    try:
        JobOptions.from_dict(defaults)
    except OptionError as exc:
        raise ConfigError(f"defaults: {exc}") from None


def _timetable(schedule: Any) -> Timetable:
    """`[schedule] windows`, each checked; the message names the key and the window."""
    if not isinstance(schedule, dict):
        raise ConfigError("schedule: must be a table ([schedule] windows = [...])")
    for key in schedule:
        if key not in SCHEDULE_KEYS:
            raise ConfigError(f"schedule: unknown key {key!r} (known: {', '.join(SCHEDULE_KEYS)})")
    windows = schedule.get("windows", [])
    if not isinstance(windows, list):
        raise ConfigError('schedule.windows: must be a list like ["01:00-07:00", "sat 00:00-24:00"]')
    try:
        return Timetable.parse(windows)
    except WindowError as exc:
        raise ConfigError(f"schedule.windows: {exc}") from None


def _notify(table: Any) -> tuple[list[str], list[str]]:
    """`[notify]`: Apprise URLs (each must be one Apprise can send to) and the events to send."""
    if not isinstance(table, dict):
        raise ConfigError("notify: must be a table with urls and events")
    for key in table:
        if key not in NOTIFY_KEYS:
            raise ConfigError(f"notify: unknown key {key!r} (known: {', '.join(NOTIFY_KEYS)})")
    urls = table.get("urls", [])
    if not isinstance(urls, list) or not all(isinstance(u, str) and u for u in urls):
        raise ConfigError("notify.urls: must be a list of Apprise URLs (strings)")
    events = table.get("events", list(NOTIFY_EVENTS))
    if not isinstance(events, list) or not all(isinstance(e, str) for e in events):
        raise ConfigError(f"notify.events: must be a list of {', '.join(NOTIFY_EVENTS)}")
    for event in events:
        if event not in NOTIFY_EVENTS:
            raise ConfigError(f"notify.events: unknown event {event!r} (known: {', '.join(NOTIFY_EVENTS)})")
    if urls:
        from lazy_transcode.daemon.notifications import bad_url  # Apprise, only when it is configured

        for url in urls:
            why = bad_url(url)
            if why:
                raise ConfigError(f"notify.urls: {why}")
    return list(urls), list(dict.fromkeys(events))


def load_config(
    cli_path: str | None = None, overrides: Mapping[str, Any] | None = None, env: Mapping[str, str] | None = None
) -> Config:
    env = os.environ if env is None else env
    path, _explicit = find_config_file(cli_path, env)
    data = read_toml(path) if path is not None else {}
    return build_config(data, overrides, env, source=path)
