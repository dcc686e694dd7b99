"""Running the program as an installed copy runs it: byte-compiled."""

from __future__ import annotations

import compileall
import sys
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "lazy_transcode"


def byte_compile() -> None:
    """Write the package's bytecode, as installing a wheel does, before anything is timed.

    A Python that writes no bytecode itself (PYTHONDONTWRITEBYTECODE, as on this machine, or a
    read-only checkout) compiles every module of ours again in every run of the program: about 65
    modules and 0.1-0.2 s of each job's start, 3 % of a 5 s encode, which an installed copy never pays.
    """
    if not compileall.compile_dir(str(PACKAGE), quiet=1):
        print(f"warning: {PACKAGE} could not be byte-compiled; its start-up costs more", file=sys.stderr)
