"""The `[farm]` table of ltd's configuration, checked into a `FarmConfig` (ValueError names the key)."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

KEYS = ("scheduler", "tls_ca_file", "tls_cert", "tls_key", "insecure", "path_map", "local_pieces")


@dataclass(frozen=True)
class PathMap:
    """Where workers find the library: a path under `local` is under `worker` there."""

    pairs: tuple[tuple[str, str], ...] = ()

    def to_worker(self, path: str | os.PathLike[str]) -> str:
        text = os.fspath(path)
        for local, worker in sorted(self.pairs, key=lambda p: -len(p[0])):
            if text == local or text.startswith(local.rstrip("/") + "/"):
                return worker.rstrip("/") + text[len(local.rstrip("/")) :]
        return text


@dataclass(frozen=True)
class FarmConfig:
    scheduler: str = ""  # empty: no farm
    tls_ca_file: str = ""
    tls_cert: str = ""
    tls_key: str = ""
    insecure: bool = False
    path_map: PathMap = field(default_factory=PathMap)
    local_pieces: int | None = None  # None: as piece_workers

    @property
    def enabled(self) -> bool:
        return bool(self.scheduler)

    @property
    def tls(self) -> bool:
        return bool(self.tls_ca_file)


def parse_farm(data: Any) -> FarmConfig:
    """Check the `[farm]` table. A farm without mutual TLS is refused unless `insecure = true`."""
    if not isinstance(data, dict):
        raise ValueError("farm: must be a table")
    for key in data:
        if key not in KEYS:
            raise ValueError(f"farm: unknown key {key!r} (known: {', '.join(KEYS)})")
    text = {}
    for key in ("scheduler", "tls_ca_file", "tls_cert", "tls_key"):
        value = data.get(key, "")
        if not isinstance(value, str):
            raise ValueError(f"farm.{key}: must be a string, not {value!r}")
        text[key] = os.path.expanduser(value) if key != "scheduler" else value
    scheduler = text["scheduler"]
    if scheduler and not scheduler.startswith(("tcp://", "tls://")):
        raise ValueError(f"farm.scheduler: must look like tls://HOST:8786 or tcp://HOST:8786, not {scheduler!r}")
    insecure = data.get("insecure", False)
    if not isinstance(insecure, bool):
        raise ValueError(f"farm.insecure: must be true or false, not {insecure!r}")
    tls = [text[k] for k in ("tls_ca_file", "tls_cert", "tls_key")]
    if any(tls) and not all(tls):
        raise ValueError("farm: tls_ca_file, tls_cert and tls_key go together (mutual TLS)")
    for key in ("tls_ca_file", "tls_cert", "tls_key"):
        if text[key] and not Path(text[key]).is_file():
            raise ValueError(f"farm.{key}: {text[key]} is not a readable file")
    if scheduler and all(tls) and scheduler.startswith("tcp://"):
        scheduler = "tls://" + scheduler.removeprefix("tcp://")
    if scheduler and not all(tls) and not insecure:
        raise ValueError("farm: without tls_ca_file, tls_cert and tls_key anyone on the network could join; "
                         "set them, or insecure = true on a network you trust")  # fmt: skip
    if scheduler.startswith("tls://") and not all(tls):
        raise ValueError("farm.scheduler: a tls:// scheduler needs tls_ca_file, tls_cert and tls_key")
    return FarmConfig(
        scheduler=scheduler, tls_ca_file=text["tls_ca_file"], tls_cert=text["tls_cert"], tls_key=text["tls_key"],
        insecure=insecure, path_map=_path_map(data.get("path_map", [])), local_pieces=_local(data),
    )  # fmt: skip


def _path_map(value: Any) -> PathMap:
    if not isinstance(value, list):
        raise ValueError("farm.path_map: must be a list of { local = ..., worker = ... }")
    pairs = []
    for entry in value:
        if not isinstance(entry, dict) or set(entry) != {"local", "worker"}:
            raise ValueError('farm.path_map: each entry must be { local = "/path", worker = "/path" }')
        local, worker = entry["local"], entry["worker"]
        if not all(isinstance(p, str) and PurePosixPath(p).is_absolute() for p in (local, worker)):
            raise ValueError(f"farm.path_map: {entry!r} must map an absolute path to an absolute path")
        pairs.append((os.path.normpath(local), os.path.normpath(worker)))
    return PathMap(tuple(pairs))


def _local(data: dict[str, Any]) -> int | None:
    value = data.get("local_pieces")
    if value is None or value == "auto":
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 64:
        raise ValueError(f'farm.local_pieces: must be "auto" or an integer from 0 to 64, not {value!r}')
    return value
