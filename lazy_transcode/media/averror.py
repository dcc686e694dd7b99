"""FFmpeg's errors in words: PyAV raises them as `[Errno 1094995529] Invalid data found when processing
input: 'x.mkv'`, where the number is an AVERROR code (a tag packed into an int) that means nothing to a
user. Stdlib only: the daemon and the CLI use it on every message they show."""

from __future__ import annotations

import re

_ERRNO = re.compile(r"\[Errno -?\d+\]\s*")


def plain(text: str) -> str:
    """The text without any `[Errno N]` code."""
    return _ERRNO.sub("", text)


def describe(exc: BaseException) -> str:
    """An FFmpeg/PyAV (or OS) error as one line of words, without its code and without the file name
    PyAV appends (the caller names the file)."""
    if isinstance(exc, OSError) and exc.strerror:
        return plain(str(exc.strerror))
    lines = str(exc).strip().splitlines()
    return plain(lines[-1]) if lines else type(exc).__name__
