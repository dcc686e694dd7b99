"""What is recorded beside a source, and what a new request for it therefore means: the record is the truth.

- An unfinished operation continues with its recorded options. Options given now that would change
  the encode are refused with one line naming the recorded settings (`--restart` discards the record);
  options that only change where the output goes (`PLACEMENT_OPTIONS`) are taken, the finished work kept.
- A file done before (a completed record of the same content) is not done again: "done before -> OUTPUT",
  unless `--again`.
- A file that is an output of lazy-transcode (its container tag) is never a source.

The CLI and ltd's `add` both decide with `decide()`, before anything is queued or encoded.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any

from lazy_transcode.jobs.api import JobOptions, OptionError
from lazy_transcode.jobs.record import JobStateManager
from lazy_transcode.media.fingerprint import identify
from lazy_transcode.media.tags import output_source_id
from lazy_transcode.options import BY_NAME, MODES, PLACEMENT_OPTIONS
from lazy_transcode.state import lease
from lazy_transcode.state.errors import StateError


@dataclass
class Decision:
    """Run with `options`, or skip (`done`: why there is nothing to do), or refuse (`refused`: one line)."""

    options: JobOptions | None = None
    done: str | None = None
    refused: str | None = None


def recorded_managers(source: Path) -> list[JobStateManager]:
    """The loaded state of every operation recorded for `source` (one per mode at most)."""
    from lazy_transcode.jobs.runner import state_manager_for

    found = []
    for mode in MODES:
        manager = state_manager_for(source, JobOptions(mode=mode))
        if manager.state_file.exists() and manager.load_state():
            found.append(manager)
    return found


def decide(
    source: Path, given: Mapping[str, Any], defaults: Mapping[str, Any], *, restart: bool = False, again: bool = False
) -> Decision:
    """What to do with `source` when asked with the options `given` (the rest from `defaults`)."""
    try:
        requested = JobOptions.from_dict({**defaults, **given})
    except OptionError as exc:
        return Decision(refused=str(exc))
    if output_source_id(source) is not None:
        return Decision(done=f"{source.name} is an output of lazy-transcode, not a source")
    try:
        managers = recorded_managers(source)
    except StateError as exc:  # a state folder that is a link, someone else's, unreadable: one line
        return Decision(refused=str(exc))
    finished = [m for m in managers if m.record.checkpoint.result is not None]
    try:  # only a finished record is compared with the content (10 MiB read): none, no read
        identity = identify(source) if finished and os.path.lexists(source) else None
    except OSError as exc:
        return Decision(refused=f"{source}: cannot read it ({exc.strerror or exc})")
    busy = next((m for m in managers if _held_elsewhere(m)), None)
    if busy is not None and (restart or again):
        return Decision(refused=f"{source.name} is being encoded right now ({_holder(busy)}); stop that first")
    unfinished: list[JobStateManager] = []
    for manager in managers:
        result = manager.record.checkpoint.result
        if result is None:
            unfinished.append(manager)
            continue
        recorded = manager.record.checkpoint.source
        same = identity is None or (recorded is not None and recorded.differs(identity) is None)
        if same and not again and result.status == "completed":
            if manager.record.checkpoint.encode is not None and not _held_elsewhere(manager):
                manager.acquire_lease()  # it died between finishing and clearing its pieces
                try:
                    manager.finish_completed()
                finally:
                    manager.release_lease()
            return Decision(done=f"done before -> {result.output_file}")
        if same and not again and result.status == "skipped" and manager.recorded_options() == requested:
            return Decision(done=f"done before: skipped ({result.reason})")
        manager.cleanup_state()  # a record of other content, of other options, or to do again (--again)
    if restart:
        for manager in unfinished:
            manager.cleanup_state()
        return Decision(options=requested)
    if not unfinished:
        return Decision(options=requested)
    chosen = next((m for m in unfinished if m.operation.operation_type == requested.mode), None)
    if chosen is None:
        chosen = max(unfinished, key=lambda m: m.state.updated_time)
    return _continue(source, chosen.recorded_options(), given, requested)


def _lease_of(manager: JobStateManager) -> lease.LeaseInfo | None:
    """The operation's lease, read through the held state folder (never through a link)."""
    folder = manager.open_folder(create=False)
    return None if folder is None else lease.read(folder / manager.state_file.name)


def _held_elsewhere(manager: JobStateManager) -> bool:
    held = _lease_of(manager)
    return held is not None and not held.is_mine() and held.stale_reason() is None


def _holder(manager: JobStateManager) -> str:
    held = _lease_of(manager)
    return f"pid {held.pid} on {held.host}" if held is not None else "another process"


def _continue(source: Path, recorded: JobOptions, given: Mapping[str, Any], requested: JobOptions) -> Decision:
    changed = [
        name for name in (f.name for f in fields(JobOptions))
        if name not in PLACEMENT_OPTIONS and name in given and getattr(requested, name) != getattr(recorded, name)
    ]  # fmt: skip
    if changed:
        flags = ", ".join(BY_NAME[name].flag or name for name in changed)
        return Decision(
            refused=f"{source.name}: an unfinished encode is recorded ({describe(recorded)}); {flags} would change "
            "it: give it without them to continue, or add --restart to discard it"
        )
    taken = {name: getattr(requested, name) for name in PLACEMENT_OPTIONS if name in given}
    if taken.get("replace"):
        taken["output_dir"] = None
    if taken.get("output_dir"):
        taken["replace"] = False
    try:
        return Decision(options=replace(recorded, **taken).validate())
    except OptionError as exc:
        return Decision(refused=str(exc))


def describe(options: JobOptions) -> str:
    """The encode settings of a job, as words: `mode qp, encoder libx265, preset ultrafast, qp 30`."""
    default = JobOptions()
    parts = [f"mode {options.mode}", f"encoder {options.encoder}"]
    for f in fields(JobOptions):
        value = getattr(options, f.name)
        if f.name in ("mode", "encoder") or f.name in PLACEMENT_OPTIONS or value == getattr(default, f.name):
            continue
        if isinstance(value, bool):
            parts.append(f.name if value else f"no {f.name}")
        else:
            parts.append(f"{f.name.replace('_', ' ')} {value:g}" if isinstance(value, float) else f"{f.name} {value}")
    return ", ".join(parts)
