"""A small disk for ltd's state_dir that a test can fill up and free: a tmpfs in a mount namespace of its
own, so it needs no root on a developer machine (a user namespace maps us to root in it) and the host's
mounts never see it. As root without user namespaces, a mount namespace alone does the same.

A holder process keeps the namespace (and so the disk and the queue on it) alive across ltd restarts;
ltd enters it with nsenter, which execs ltd (same pid); the test reaches the disk through the holder's
/proc/PID/root.
"""

from __future__ import annotations

import errno
import os
import select
import subprocess
from pathlib import Path

MOUNT = 'mount -t tmpfs -o size="$1" tmpfs "$0" && echo mounted && exec sleep infinity'
VARIANTS = (  # (unshare flags, nsenter flags): a user namespace first, a mount namespace as root after
    (["--user", "--map-root-user", "--mount"], ["--user", "--mount"]),
    (["--mount"], ["--mount"]),
)


class SmallDisk:
    def __init__(self, where: Path, size: str = "1m") -> None:
        self.where = where
        self.size = size
        self.holder: subprocess.Popen[str] | None = None
        self.enter: list[str] = []  # the command that runs a program on this disk: put it before ltd
        self.filler = self.path("filler")

    def mount(self) -> SmallDisk:
        self.where.mkdir(parents=True, exist_ok=True)
        failures = []
        for unshare, nsenter in VARIANTS:
            if unshare[0] != "--user" and os.geteuid() != 0:
                continue
            proc = subprocess.Popen(
                ["unshare", *unshare, "sh", "-c", MOUNT, str(self.where), self.size],
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
                start_new_session=True,
            )
            assert proc.stdout is not None
            ready, _, _ = select.select([proc.stdout], [], [], 10)
            if ready and proc.stdout.readline().strip() == "mounted":
                self.holder = proc
                self.enter = ["nsenter", f"--target={proc.pid}", *nsenter]
                self.filler = self.path("filler")
                return self
            proc.kill()
            _, err = proc.communicate(timeout=5)
            failures.append(f"unshare {' '.join(unshare)}: {err.strip() or proc.returncode}")
        raise AssertionError("cannot make a small disk: " + "; ".join(failures))

    def path(self, name: str) -> Path:
        """A file on the disk as this process reaches it (through the holder's view of the file system)."""
        pid = self.holder.pid if self.holder is not None else os.getpid()
        return Path(f"/proc/{pid}/root") / self.where.relative_to("/") / name

    def fill(self) -> int:
        """Write a file until the disk is full; returns its size."""
        fd = os.open(self.filler, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        try:
            while True:
                os.write(fd, b"\0" * 4096)
        except OSError as exc:
            if exc.errno != errno.ENOSPC:
                raise
        finally:
            os.close(fd)
        return self.filler.stat().st_size

    def free(self) -> None:
        self.filler.unlink()

    def close(self) -> None:
        if self.holder is not None and self.holder.poll() is None:
            self.holder.kill()
            self.holder.wait(10)
