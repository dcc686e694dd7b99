"""Which ffmpeg we run and what it can do.

The default is the static ffmpeg shipped in the imageio-ffmpeg wheel (it has libvmaf, libx265,
libsvtav1 and the hardware encoders); a configured path overrides it. Capabilities are detected once
per binary and cached, since `ffmpeg -encoders` costs ~50 ms.
"""

from __future__ import annotations

import functools
import os
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path


class FFmpegError(RuntimeError):
    """ffmpeg is missing, unusable, or lacks something a job asked for."""


def ffmpeg_exe(configured: str | os.PathLike[str] | None = None) -> str:
    """Path of the ffmpeg to run: the configured one, else imageio-ffmpeg's bundled binary."""
    if configured:
        path = Path(configured)
        if path.is_file() and os.access(path, os.X_OK):
            return str(path)
        found = shutil.which(str(configured))
        if found:
            return found
        raise FFmpegError(f"ffmpeg not found or not executable: {configured}")
    try:
        import imageio_ffmpeg
    except ImportError as exc:  # pragma: no cover - a required dependency
        raise FFmpegError("imageio-ffmpeg is not installed and no ffmpeg path is configured") from exc
    return imageio_ffmpeg.get_ffmpeg_exe()


@dataclass(frozen=True)
class Capabilities:
    """What one ffmpeg binary offers."""

    exe: str
    version: str
    encoders: frozenset[str]
    filters: frozenset[str]

    @property
    def has_libvmaf(self) -> bool:
        return "libvmaf" in self.filters

    @property
    def scores_beside_encode(self) -> bool:
        """libvmaf, loopback decoders and a filter graph feeding another: ffmpeg 7.1 on (a build whose
        version is not a release number is not trusted with it)."""
        release = re.match(r"n?(\d+)\.(\d+)", self.version)
        return self.has_libvmaf and release is not None and (int(release[1]), int(release[2])) >= (7, 1)

    def require_encoder(self, name: str) -> None:
        if name not in self.encoders:
            raise FFmpegError(f"encoder {name!r} is not available in {self.exe}")

    def require_libvmaf(self) -> None:
        if not self.has_libvmaf:
            raise FFmpegError(f"{self.exe} has no libvmaf filter; set `ffmpeg` to a build with libvmaf")


_LIST_LINE = re.compile(r"^\s*[A-Z.]{6}\s+(\S+)\s", re.MULTILINE)
_FILTER_LINE = re.compile(r"^\s*[TSC.]{2,3}\s+(\S+)\s", re.MULTILINE)


@functools.cache
def capabilities(exe: str | None = None) -> Capabilities:
    """Detect (once per binary) the encoders and filters of an ffmpeg: its three listings are asked for
    at once (one after the other, they were a tenth of a second of every job's start)."""
    exe = exe or ffmpeg_exe()
    procs: list[subprocess.Popen[str]] = []
    try:
        for what in ("-version", "-encoders", "-filters"):
            proc = subprocess.Popen(
                [exe, "-hide_banner", what], stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                stderr=subprocess.DEVNULL, text=True,
            )  # fmt: skip
            procs.append(proc)
        listed = [proc.communicate(timeout=60)[0] for proc in procs]
    except OSError as exc:
        raise FFmpegError(f"cannot run {exe}: {exc}") from exc
    except subprocess.TimeoutExpired:
        raise FFmpegError(f"{exe} did not list its encoders and filters within 60 s") from None
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
            if proc.stdout is not None:
                proc.stdout.close()
    version_line = listed[0].splitlines()[:1]
    version = version_line[0].split()[2] if version_line and len(version_line[0].split()) > 2 else "?"
    encoders = frozenset(_LIST_LINE.findall(listed[1]))
    filters = frozenset(_FILTER_LINE.findall(listed[2]))
    if not encoders:
        raise FFmpegError(f"{exe} lists no encoders; is it an ffmpeg binary?")
    return Capabilities(exe=exe, version=version, encoders=encoders, filters=filters)
