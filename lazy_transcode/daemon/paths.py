"""ltd's own folders and config files (the contract's defaults); its endpoints are in `lazy_transcode.endpoints`."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

SYSTEM_CONFIG = Path("/etc/lazy-transcode/config.toml")


def default_state_dir(env: Mapping[str, str] | None = None) -> Path:
    """`$STATE_DIRECTORY` (systemd), else `$XDG_STATE_HOME/lazy-transcode`, else `~/.local/state/lazy-transcode`."""
    env = os.environ if env is None else env
    state = env.get("STATE_DIRECTORY", "").split(":")[0]
    if state:
        return Path(state)
    xdg = env.get("XDG_STATE_HOME", "")
    if xdg:
        return Path(xdg) / "lazy-transcode"
    home = env.get("HOME") or os.path.expanduser("~")
    return Path(home) / ".local" / "state" / "lazy-transcode"


def user_config_file(env: Mapping[str, str] | None = None) -> Path:
    env = os.environ if env is None else env
    xdg = env.get("XDG_CONFIG_HOME", "")
    base = Path(xdg) if xdg else Path(env.get("HOME") or os.path.expanduser("~")) / ".config"
    return base / "lazy-transcode" / "config.toml"
