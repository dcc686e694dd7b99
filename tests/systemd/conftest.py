"""Fixtures of the systemd tests: the host tools, the .deb of this tree, and a booted Debian container."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.systemd.container import Container, ContainerError, cached_deb, cached_rootfs, ensure_host_tools

_PREPARING: list[threading.Thread] = []


def _prepare() -> None:
    try:
        ensure_host_tools()
        cached_rootfs()
        cached_deb()
    except (ContainerError, OSError, subprocess.SubprocessError):
        pass  # the fixtures call each step again and fail with its reason


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Build the container's root and the .deb while the other tests run: on a fresh machine they take
    minutes of mostly network and disk, and the e2e test comes late in the session. A daemon thread, so
    that a session that ends early does not wait for it (a partial root is swept by the next build)."""
    if _PREPARING or config.getoption("collectonly") or os.geteuid() != 0:
        return
    if any(item.nodeid.startswith("tests/systemd/test_e2e_container.py") for item in items):
        thread = threading.Thread(target=_prepare, name="e2e-container-prep", daemon=True)
        thread.start()
        _PREPARING.append(thread)


def _prepared() -> None:
    for thread in _PREPARING:
        thread.join()


def _or_fail(step: str, fn):  # type: ignore[no-untyped-def]
    """A harness step that cannot be done is a failure with its reason, never a skip."""
    try:
        return fn()
    except ContainerError as exc:
        pytest.fail(f"{step}: {exc}", pytrace=False)


@pytest.fixture(scope="session")
def lazy_transcode_deb() -> Path:
    """The .deb built from this work tree (cached under /var/cache/lazy-transcode-ci by its inputs' hash)."""
    _prepared()
    _or_fail("host tools", ensure_host_tools)
    return _or_fail("building the .deb", cached_deb)


@pytest.fixture(scope="session")
def bookworm_root() -> Path:
    """The cached minbase root (read-only by convention: tests copy it)."""
    _prepared()
    _or_fail("host tools", ensure_host_tools)
    return _or_fail("debootstrap", cached_rootfs)


@pytest.fixture
def container(bookworm_root: Path, lazy_transcode_deb: Path) -> Iterator[Container]:
    """A booted container on a private copy of the cached root, with the .deb at /var/tmp/; removed after."""
    if os.geteuid() != 0:
        pytest.fail("the systemd container test needs root (systemd-nspawn, nsenter)", pytrace=False)
    work = Path(tempfile.mkdtemp(prefix="lt-nspawn-", dir="/var/tmp"))
    root = work / "root"
    subprocess.run(["cp", "-a", "--reflink=auto", str(bookworm_root), str(root)], check=True)
    shutil.copy2(lazy_transcode_deb, root / "var/tmp" / lazy_transcode_deb.name)
    box = Container(root, f"lt-e2e-{os.getpid()}", work / "console.log")
    try:
        _or_fail("booting the container", box.boot)
        yield box
    finally:
        try:
            box.shutdown()
        finally:
            shutil.rmtree(work, ignore_errors=True)
