"""Checks before the work, not after it: what would make a job fail hours in is refused at once.

- the source is a readable regular file holding a video stream (`probe=True`);
- the encoder is in this ffmpeg;
- the output folder exists or can be created, is a folder, is writable, and its file system has room
  for at least the source's size (an output larger than its source is never kept);
- the output's destination is free: no file there that the job did not make, and no other job of the
  same request or queue writes the same name (`claim`).
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from lazy_transcode.jobs.api import JobOptions
from lazy_transcode.jobs.encode import destination
from lazy_transcode.media.binary import FFmpegError, capabilities
from lazy_transcode.media.place import output_name
from lazy_transcode.media.probe import ProbeError, probe
from lazy_transcode.media.tags import output_source_id


def problem(source: Path, options: JobOptions, ffmpeg: str, *, probe_it: bool = True) -> str | None:
    """Why a job of `source` with `options` cannot succeed here (one line), or None."""
    try:
        st = os.stat(source)
    except OSError as exc:
        return f"{source}: {exc.strerror}"
    if not stat.S_ISREG(st.st_mode):
        return f"{source}: not a regular file"
    if not os.access(source, os.R_OK):
        return f"{source}: cannot be read"
    try:
        capabilities(ffmpeg).require_encoder(options.encoder)
    except FFmpegError as exc:
        return str(exc).splitlines()[0]
    if probe_it:
        try:
            info = probe(source)
        except ProbeError as exc:
            return str(exc)
        if info.video is None:
            return f"{source}: no video stream"
    return _folder_problem(destination_folder(source, options), st.st_size) or _existing_problem(source, options)


def destination_folder(source: Path, options: JobOptions) -> Path:
    return source.parent if options.replace or not options.output_dir else Path(options.output_dir)


def _folder_problem(folder: Path, needed: int) -> str | None:
    existing = folder
    while not os.path.lexists(existing) and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        return f"output folder {folder}: {existing} is not a folder"
    if not os.access(existing, os.W_OK | os.X_OK):
        return f"output folder {folder}: {existing} is not writable"
    try:
        vfs = os.statvfs(existing)
    except OSError as exc:
        return f"output folder {folder}: {exc.strerror}"
    if vfs.f_flag & os.ST_RDONLY:
        return f"output folder {folder}: on a read-only file system"
    free = vfs.f_bavail * vfs.f_frsize
    if free < needed:
        return f"output folder {folder}: {free // 2**20} MiB free, the source needs up to {needed // 2**20} MiB"
    return None


def _existing_problem(source: Path, options: JobOptions) -> str | None:
    """A file already at the destination that the job did not make (known now only for a fixed QP or
    `--replace`; a searched setting's name is checked again before placement)."""
    if options.replace:
        dest = source.with_suffix(f".{options.container}")
    elif options.mode == "qp" and options.qp is not None:
        dest = destination(source, options, f"q{options.qp}")
    else:
        return None
    if dest == source or not os.path.lexists(dest) or output_source_id(dest) is not None:
        return None  # free, the source itself, or an output (of this source: the job's earlier output)
    return f"{source.name}: {dest} exists and is not an output of lazy-transcode; move it away first"


def claim(source: Path, options: JobOptions) -> tuple[str, str, str, bool]:
    """What a job writes, as far as it is known before its setting is chosen: two jobs with the same
    claim could write the same file (folder, stem and container; `--replace` writes `stem.container`)."""
    folder = destination_folder(source, options)
    return (os.fspath(folder), source.stem, options.container, options.replace)


def describe_claim(claim_key: tuple[str, str, str, bool]) -> str:
    folder, stem, container, replace = claim_key
    name = f"{stem}.{container}" if replace else output_name(Path(stem + ".x"), "*", container)
    return os.path.join(folder, name)
