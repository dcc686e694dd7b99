"""Which ffmpeg build encodes: pieces of two builds are never joined, so workers must match ltd."""

from __future__ import annotations

import functools
import hashlib
import subprocess


@functools.cache
def ffmpeg_build(exe: str) -> dict[str, str]:
    """The first line of `ffmpeg -version` and a digest of its encoder list (equal builds, equal bytes)."""

    def run(arg: str) -> str:
        done = subprocess.run([exe, "-hide_banner", arg], capture_output=True, text=True, timeout=60, check=False)
        return done.stdout

    version = (run("-version").splitlines() or ["?"])[0].strip()
    encoders = sorted(line.split()[1] for line in run("-encoders").splitlines() if len(line.split()) > 1
                      and len(line.split()[0]) == 6 and line.split()[0] != "------")  # fmt: skip
    digest = hashlib.sha256("\n".join(encoders).encode()).hexdigest()[:12]
    return {"version": version, "encoders": digest, "count": str(len(encoders))}
