"""Checks before the work, not after it: what would make a job fail hours in is refused at once.

- the source is a readable regular file holding a video stream (`probe=True`);
- the options go together (`options_problem`: a known encoder, one of its presets, a QP only where one is
  used) and the encoder is in this ffmpeg and, for a hardware encoder, works on this machine;
- the output folder exists or can be created, is a folder, is writable, and its file system has room
  for at least the source's size (an output larger than its source is never kept);
- the output's destination is free: no file there that the job did not make, and no other job of the
  same request or queue writes the same name (`claim`).
"""

from __future__ import annotations

import functools
import os
import stat
import subprocess
from pathlib import Path

from lazy_transcode.jobs.api import JobOptions
from lazy_transcode.jobs.encode import destination
from lazy_transcode.media.binary import FFmpegError, capabilities
from lazy_transcode.media.encoders import EncodeSettings, get_profile
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
    why = options_problem(options)
    if why:
        return why
    try:
        capabilities(ffmpeg).require_encoder(options.encoder)
    except FFmpegError as exc:
        return str(exc).splitlines()[0]
    if get_profile(options.encoder).hardware:
        why = encoder_problem(ffmpeg, options.encoder)
        if why:
            return why
    if probe_it:
        try:
            info = probe(source)
        except ProbeError as exc:
            return str(exc)
        if info.video is None:
            return f"{source}: no video stream"
    return _folder_problem(destination_folder(source, options), st.st_size) or _existing_problem(source, options)


def options_problem(options: JobOptions) -> str | None:
    """Options that cannot go together (one line), or None: a known encoder, one of its presets, a QP in its
    range and only where a QP is used (a fixed QP with `--mode vbr` or a hardware encoder's `auto`)."""
    try:
        profile = get_profile(options.encoder)
    except ValueError as exc:
        return str(exc)
    if options.preset is not None and options.preset not in profile.presets:
        return f"{profile.name} has no preset {options.preset!r} (its presets: {', '.join(profile.presets)})"
    if options.qp is not None:
        mode = options.mode if options.mode != "auto" else ("vbr" if profile.hardware else "qp")
        if mode == "vbr":
            why = "--mode vbr" if options.mode == "vbr" else f"--mode auto with {profile.name} (a hardware encoder)"
            return f"--qp {options.qp} is a fixed CRF/QP, but {why} searches a bitrate: give one of them"
        low, high = profile.quality_range
        if not low <= options.qp <= high:
            return f"--qp {options.qp} is outside {profile.name}'s range {low}..{high}"
    return None


@functools.cache
def encoder_problem(ffmpeg: str, encoder: str) -> str | None:
    """Why this ffmpeg cannot encode with `encoder` on this machine (one line), None when it can.

    A hardware encoder is listed by any ffmpeg built with it, GPU or not: one frame of a test pattern is
    encoded with the encoder's own arguments (device, upload filter, rate control), once per binary and
    encoder, so a job is refused at `add` rather than failed when it starts.
    """
    profile = get_profile(encoder)
    low, high = profile.quality_range
    built = profile.build(EncodeSettings(quality=(low + high) // 2))
    args = [ffmpeg, "-hide_banner", "-loglevel", "error", *built.global_args]
    args += ["-f", "lavfi", "-i", "testsrc2=s=256x144:r=25:d=0.04", "-frames:v", "1"]
    if built.filters:
        args += ["-vf", ",".join(built.filters)]
    for key, value in built.output.items():
        args += [f"-{key}", str(value)]
    args += ["-f", "null", "-"]
    try:
        done = subprocess.run(args, capture_output=True, text=True, timeout=30, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"encoder {encoder!r} could not be tried: {exc}"
    if done.returncode == 0:
        return None
    lines = [line.strip() for line in done.stderr.splitlines() if line.strip()]
    return f"encoder {encoder!r} does not work here: {lines[0] if lines else f'exit status {done.returncode}'}"[:300]


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
