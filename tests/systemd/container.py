"""A Debian container booted by a real systemd (debootstrap + systemd-nspawn -b) for the end-to-end tests.

Made for hosts without systemd as PID 1 and without a host D-Bus (CI and the developers' machines):
nspawn runs with `--register=no --keep-unit`, in a cgroup of its own so that two containers never
share one, and commands run inside through `nsenter` into the container's PID 1. A hard power cut is
`kill -9` of that PID 1 (killing nspawn instead would orphan the container).
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import shutil
import signal
import subprocess
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import TypeVar

T = TypeVar("T")

REPO = Path(__file__).resolve().parents[2]
CACHE = Path(os.environ.get("LAZY_TRANSCODE_CI_CACHE", "/var/cache/lazy-transcode-ci"))
MIRROR = "http://deb.debian.org/debian"
SUITE = "bookworm"
# What the package needs at run time (python3.11, systemd) plus the tools the tests use inside.
INCLUDE = ("systemd", "systemd-sysv", "dbus", "python3", "procps", "passwd", "util-linux")
DEBOOTSTRAP_ARGS = ("--variant=minbase", "--include=" + ",".join(INCLUDE), SUITE)
INSIDE_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
# The host tools the harness and the .deb build need, and a file that shows each is there.
HOST_TOOLS = {
    "systemd-nspawn": "/usr/bin/systemd-nspawn",
    "debootstrap": "/usr/sbin/debootstrap",
    "dh_virtualenv": "/usr/bin/dh_virtualenv",
    "dpkg-buildpackage": "/usr/bin/dpkg-buildpackage",
    "systemd-analyze": "/usr/bin/systemd-analyze",
    "nsenter": "/usr/bin/nsenter",
    "Debian's python3 with venv": "/usr/lib/python3.11/venv/scripts/common/activate",
}


class ContainerError(Exception):
    """The container did not boot, did not answer or did not stop: the message says which and why."""


def missing_host_tools() -> list[str]:
    return [name for name, path in HOST_TOOLS.items() if not Path(path).exists()]


def ensure_host_tools() -> None:
    """Install what is missing with packaging/ci/host-deps.sh (root only); raise with a clear message if not."""
    missing = missing_host_tools()
    if not missing:
        return
    if os.geteuid() != 0:
        raise ContainerError(
            f"missing host tools ({', '.join(missing)}) and not root: run `sudo packaging/ci/host-deps.sh` first"
        )
    subprocess.run(["bash", str(REPO / "packaging" / "ci" / "host-deps.sh")], check=True)
    still = missing_host_tools()
    if still:
        raise ContainerError(f"packaging/ci/host-deps.sh ran but these are still missing: {', '.join(still)}")


@contextlib.contextmanager
def _locked(name: str) -> Iterator[None]:
    """A lock file under the cache, so that two test runs never build the same thing at once."""
    CACHE.mkdir(parents=True, exist_ok=True)
    with open(CACHE / f".{name}.lock", "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _sweep_partial(prefix: Path) -> None:
    for stale in prefix.parent.glob(prefix.name + ".partial-*"):
        shutil.rmtree(stale, ignore_errors=True)


def cached_rootfs() -> Path:
    """A minbase bookworm root, built once per set of debootstrap arguments and never changed afterwards."""
    key = hashlib.sha256(json.dumps([MIRROR, *DEBOOTSTRAP_ARGS]).encode()).hexdigest()[:16]
    root = CACHE / f"{SUITE}-root-{key}"
    with _locked("rootfs"):
        if (root / ".complete").exists():
            return root
        _sweep_partial(root)
        partial = root.with_name(f"{root.name}.partial-{os.getpid()}")
        log = CACHE / f"{root.name}.debootstrap.log"
        with open(log, "w") as out:
            done = subprocess.run(
                ["debootstrap", *DEBOOTSTRAP_ARGS, str(partial), MIRROR], stdout=out, stderr=subprocess.STDOUT
            )
        if done.returncode != 0:
            shutil.rmtree(partial, ignore_errors=True)
            tail = log.read_text(errors="replace").splitlines()[-15:]
            raise ContainerError(f"debootstrap failed ({done.returncode}):\n" + "\n".join(tail))
        # Clean the package cache: it is half the size and never used offline.
        shutil.rmtree(partial / "var/cache/apt/archives", ignore_errors=True)
        (partial / "var/cache/apt/archives/partial").mkdir(parents=True)
        (partial / ".complete").write_text(" ".join(DEBOOTSTRAP_ARGS) + "\n")
        if root.exists():
            shutil.rmtree(root)
        partial.rename(root)
    return root


def deb_inputs() -> list[Path]:
    """Every file the .deb is made of (what packaging/build-deb.sh copies)."""
    files = [REPO / "pyproject.toml", REPO / "README.md", REPO / "packaging/config.toml"]
    for folder in ("lazy_transcode", "systemd", "packaging/debian"):
        files += [
            p
            for p in (REPO / folder).rglob("*")
            if p.is_file() and "__pycache__" not in p.parts and ".debhelper" not in p.parts
        ]
    return sorted(files)


def cached_deb() -> Path:
    """The .deb of the current sources: built by packaging/build-deb.sh, cached by a hash of its inputs."""
    digest = hashlib.sha256()
    for path in deb_inputs():
        digest.update(str(path.relative_to(REPO)).encode() + b"\0")
        digest.update(path.read_bytes() + b"\0")
    folder = CACHE / "deb" / digest.hexdigest()[:16]
    with _locked("deb"):
        found = sorted(folder.glob("lazy-transcode_*.deb"))
        if found:
            return found[0]
        folder.mkdir(parents=True, exist_ok=True)
        done = subprocess.run(
            ["bash", str(REPO / "packaging" / "build-deb.sh"), str(folder)], capture_output=True, text=True
        )
        if done.returncode != 0:
            shutil.rmtree(folder, ignore_errors=True)
            raise ContainerError(f"packaging/build-deb.sh failed:\n{done.stderr[-3000:]}")
        _prune(folder.parent, keep=3)
        return Path(done.stdout.strip().splitlines()[-1])


def _prune(parent: Path, keep: int) -> None:
    """Keep the `keep` newest cached builds (each is ~120 MB; every source change makes a new one)."""
    builds = sorted((p for p in parent.iterdir() if p.is_dir()), key=lambda p: p.stat().st_mtime, reverse=True)
    for old in builds[keep:]:
        shutil.rmtree(old, ignore_errors=True)


def _cgroup_roots() -> list[Path]:
    """The hierarchies a container's cgroup must be made in: name=systemd + unified (hybrid), or the v2 root."""
    base = Path("/sys/fs/cgroup")
    if (base / "cgroup.controllers").exists():
        return [base]
    return [base / h for h in ("systemd", "unified") if (base / h / "cgroup.procs").exists()]


def _children(pid: int) -> list[tuple[int, str]]:
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        comm = stat[stat.index("(") + 1 : stat.rindex(")")]
        ppid = int(stat[stat.rindex(")") + 2 :].split()[1])
        if ppid == pid:
            found.append((int(entry.name), comm))
    return found


class Container:
    """One booted container over `root` (a private copy: the container writes to it)."""

    def __init__(self, root: Path, name: str, log: Path) -> None:
        self.root = root
        self.name = name
        self.log = log
        self.boots = 0
        self.nspawn: subprocess.Popen[bytes] | None = None
        self.leader = 0

    # --- life cycle -------------------------------------------------------------------------------
    def boot(self, timeout: float = 90.0) -> None:
        """Boot systemd in the container and wait until the system is up (running or degraded)."""
        if self.nspawn is not None and self.nspawn.poll() is None:
            raise ContainerError(f"{self.name} is already running")
        self._remove_cgroups()
        cgroups = [root / self.name for root in _cgroup_roots()]
        for cg in cgroups:
            cg.mkdir(exist_ok=True)
        # The shell moves itself into the new cgroups, then becomes nspawn. --private-network: no
        # traffic leaves the container, and the unit's PrivateNetwork= can bring up loopback as on a host.
        joins = "".join(f"echo $$ > {cg}/cgroup.procs; " for cg in cgroups)
        nspawn = (
            f"exec systemd-nspawn -D {self.root} -M {self.name} --register=no --keep-unit "
            "--private-network --console=read-only -b"
        )
        self.boots += 1
        with open(self.log, "ab") as out:
            out.write(f"\n===== boot {self.boots} =====\n".encode())
            out.flush()
            self.nspawn = subprocess.Popen(
                ["sh", "-c", joins + nspawn], stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL
            )
        deadline = time.monotonic() + timeout
        while True:
            if self.nspawn.poll() is not None:
                raise ContainerError(f"systemd-nspawn exited with {self.nspawn.returncode}: {self.console_tail()}")
            leaders = [pid for pid, comm in _children(self.nspawn.pid) if comm == "systemd"]
            if leaders:
                self.leader = leaders[0]
                break
            if time.monotonic() > deadline:
                raise ContainerError(f"no systemd under nspawn after {timeout:.0f} s: {self.console_tail()}")
            time.sleep(0.1)
        while True:
            state = self.run("systemctl", "is-system-running", check=False, timeout=10).stdout.strip()
            if state in ("running", "degraded"):
                return
            if time.monotonic() > deadline:
                raise ContainerError(f"system state {state!r} after {timeout:.0f} s: {self.console_tail()}")
            time.sleep(0.2)

    def power_cut(self) -> None:
        """Kill the container's PID 1 with SIGKILL: no unit is stopped, nothing is flushed by systemd."""
        assert self.nspawn is not None
        os.kill(self.leader, signal.SIGKILL)
        self._wait_nspawn(30.0)

    def reboot(self, timeout: float = 90.0) -> None:
        """`systemctl reboot` inside: nspawn exits with 133 and the harness boots the same root again."""
        self.run("systemctl", "reboot", check=False)
        code = self._wait_nspawn(timeout)
        if code != 133:
            raise ContainerError(f"systemctl reboot: nspawn exited with {code}, not 133")
        self.boot(timeout)

    def shutdown(self, timeout: float = 60.0) -> None:
        """A clean poweroff; a container that does not stop in time gets the power cut."""
        if self.nspawn is None or self.nspawn.poll() is not None:
            self._remove_cgroups()
            return
        self.run("systemctl", "poweroff", check=False, timeout=10)
        try:
            self._wait_nspawn(timeout)
        except ContainerError:
            self.power_cut()
        self._remove_cgroups()

    def _wait_nspawn(self, timeout: float) -> int:
        assert self.nspawn is not None
        try:
            code = self.nspawn.wait(timeout)
        except subprocess.TimeoutExpired:
            raise ContainerError(f"systemd-nspawn still running {timeout:.0f} s after the stop") from None
        self.leader = 0
        return code

    def _remove_cgroups(self) -> None:
        for root in _cgroup_roots():
            top = root / self.name
            if not top.exists():
                continue
            for folder in sorted((p for p in top.rglob("*") if p.is_dir()), key=lambda p: -len(p.parts)):
                with contextlib.suppress(OSError):
                    folder.rmdir()
            with contextlib.suppress(OSError):
                top.rmdir()

    def console_tail(self, lines: int = 20) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no console log)"

    # --- commands inside --------------------------------------------------------------------------
    def run(
        self,
        *cmd: str,
        user: str | None = None,
        check: bool = True,
        timeout: float = 60.0,
        input: str | None = None,
    ) -> subprocess.CompletedProcess[str]:
        """Run a command inside (as root, or as `user` with that user's groups), capturing its output."""
        if not self.leader:
            raise ContainerError(f"{self.name} is not running")
        env = {"PATH": INSIDE_PATH, "LANG": "C.UTF-8", "TERM": "dumb", "HOME": "/root", "SYSTEMD_PAGER": ""}
        prefix: Sequence[str] = ["nsenter", "-t", str(self.leader), "-a", "--"]
        if user is not None:
            prefix = [*prefix, "setpriv", f"--reuid={user}", f"--regid={user}", "--init-groups", "--reset-env", "--"]
        done = subprocess.run(
            [*prefix, *cmd], capture_output=True, text=True, timeout=timeout, env=env, input=input, check=False
        )
        if check and done.returncode != 0:
            raise ContainerError(
                f"{' '.join(cmd)} (as {user or 'root'}) exited {done.returncode}: {done.stderr.strip()[-2000:]}"
            )
        return done

    def show(self, unit: str, *props: str) -> dict[str, str]:
        out = self.run("systemctl", "show", unit, "-p", ",".join(props)).stdout
        return dict(line.split("=", 1) for line in out.splitlines() if "=" in line)

    def wait_for(self, what: str, predicate: Callable[[], T], timeout: float, interval: float = 0.25) -> T:
        """Poll `predicate()` until it returns something true; its last value goes into the error."""
        deadline = time.monotonic() + timeout
        last = None
        while time.monotonic() < deadline:
            last = predicate()
            if last:
                return last
            time.sleep(interval)
        raise ContainerError(f"timed out after {timeout:.0f} s waiting for {what} (last: {last!r})")

    def path(self, inside: str) -> Path:
        """The host path of a file inside the container's root."""
        return self.root / inside.lstrip("/")
