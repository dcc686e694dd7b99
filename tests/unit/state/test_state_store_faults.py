"""Injected faults (EIO on fsync, ENOSPC on write, ESTALE on open) and a real read-only folder."""

from __future__ import annotations

import errno
import json
import os
import tempfile
from collections.abc import Callable
from pathlib import Path

import pytest

from lazy_transcode.state import StateError, StateWriteError, TranscodeOperation, UniversalStateManager, store


@pytest.fixture
def sleeps(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """Record the backoff instead of sleeping it."""
    recorded: list[float] = []
    monkeypatch.setattr(store.RETRY, "sleep", recorded.append)
    return recorded


def _saved(manager: UniversalStateManager) -> dict:
    return json.loads(manager.state_file.read_bytes())


def _temps(manager: UniversalStateManager) -> list[str]:
    return [n for n in os.listdir(manager.state_dir) if n.endswith(".tmp")]


def _failing(real: Callable, err: int, times: int | None, only: Callable[..., bool] = lambda *a: True) -> Callable:
    """`real`, raising OSError(err) the first `times` calls that match `only` (None: always)."""
    count = {"n": 0}

    def wrapper(*args, **kwargs):
        if only(*args) and (times is None or count["n"] < times):
            count["n"] += 1
            raise OSError(err, os.strerror(err))
        return real(*args, **kwargs)

    wrapper.count = count  # type: ignore[attr-defined]
    return wrapper


@pytest.fixture
def saved_manager(manager: UniversalStateManager) -> UniversalStateManager:
    manager.update_step("generation_1", progress=10.0)
    manager.state.checkpoint["pieces"] = {str(i): {"crf": 20 + i} for i in range(50)}
    manager.save_state()
    return manager


def test_eio_on_fsync_keeps_previous_state_and_gives_clear_error(
    saved_manager: UniversalStateManager, monkeypatch: pytest.MonkeyPatch, sleeps: list[float]
) -> None:
    before = saved_manager.state_file.read_bytes()
    fsync = _failing(os.fsync, errno.EIO, None)
    monkeypatch.setattr(os, "fsync", fsync)
    saved_manager.state.current_step = "generation_2"
    with pytest.raises(StateWriteError) as info:
        saved_manager.save_state()
    message = str(info.value)
    assert "\n" not in message
    assert "video.mkv_vbr.state.json" in message and "EIO" in message
    assert info.value.errno == errno.EIO
    assert saved_manager.state_file.read_bytes() == before
    assert _temps(saved_manager) == []
    assert fsync.count["n"] == store.RETRY.attempts  # retried, then given up
    assert len(sleeps) == store.RETRY.attempts - 1 and max(sleeps) <= store.RETRY.max_delay


def test_enospc_on_write_is_not_retried(
    saved_manager: UniversalStateManager, monkeypatch: pytest.MonkeyPatch, sleeps: list[float]
) -> None:
    before = saved_manager.state_file.read_bytes()
    monkeypatch.setattr(os, "write", _failing(os.write, errno.ENOSPC, None))
    saved_manager.state.current_step = "generation_2"
    with pytest.raises(StateWriteError, match=r"ENOSPC \(No space left on device\)"):
        saved_manager.save_state()
    monkeypatch.undo()
    assert saved_manager.state_file.read_bytes() == before
    assert _temps(saved_manager) == []
    assert sleeps == []


def _is_state_path(path: object, *rest: object) -> bool:
    # files in the state folder, reached by name or through the held folder (/proc/PID/fd/N/...)
    name = os.path.basename(os.fsdecode(path))  # type: ignore[arg-type]
    return ".lazy_transcode_state" in os.fsdecode(path) or name.startswith(".ltstate.") or ".state.json" in name


def test_estale_on_open_beyond_the_budget_is_one_clear_error(
    saved_manager: UniversalStateManager, monkeypatch: pytest.MonkeyPatch, sleeps: list[float]
) -> None:
    before = saved_manager.state_file.read_bytes()
    monkeypatch.setattr(os, "open", _failing(os.open, errno.ESTALE, None, _is_state_path))
    saved_manager.state.current_step = "generation_2"
    with pytest.raises(StateWriteError, match="ESTALE"):
        saved_manager.save_state()
    monkeypatch.undo()
    assert saved_manager.state_file.read_bytes() == before


@pytest.mark.parametrize(
    ("name", "err"),
    [("open", errno.ESTALE), ("fsync", errno.EIO), ("write", errno.EAGAIN), ("replace", errno.EBUSY)],
)
def test_transient_faults_within_the_budget_are_invisible(
    saved_manager: UniversalStateManager, monkeypatch: pytest.MonkeyPatch, sleeps: list[float], name: str, err: int
) -> None:
    times = store.RETRY.attempts - 1
    only = _is_state_path if name == "open" else (lambda *a: True)
    monkeypatch.setattr(os, name, _failing(getattr(os, name), err, times, only))
    saved_manager.state.current_step = "generation_2"
    saved_manager.save_state()  # no exception
    monkeypatch.undo()
    assert _saved(saved_manager)["current_step"] == "generation_2"
    assert len(sleeps) == times
    assert _temps(saved_manager) == []


def test_transient_estale_on_load_is_invisible(
    saved_manager: UniversalStateManager, op: TranscodeOperation, monkeypatch: pytest.MonkeyPatch, sleeps: list[float]
) -> None:
    monkeypatch.setattr(os, "open", _failing(os.open, errno.ESTALE, 3, _is_state_path))
    fresh = UniversalStateManager(op)
    assert fresh.load_state() is True
    assert fresh.state.current_step == "generation_1"
    assert len(fresh.state.checkpoint["pieces"]) == 50


def _run_unprivileged(action: Callable[[], str]) -> str:
    """Run `action` in a child process as user nobody when we are root (else as ourselves); its result."""
    read_fd, write_fd = os.pipe()
    pid = os.fork()
    if pid == 0:  # child
        try:
            os.close(read_fd)
            if os.geteuid() == 0:
                os.setgid(65534)
                os.setuid(65534)
            result = action()
        except BaseException as exc:
            result = f"UNEXPECTED {type(exc).__name__}: {exc}"
        os.write(write_fd, result.encode())
        os._exit(0)
    os.close(write_fd)
    with os.fdopen(read_fd, "rb") as pipe:
        out = pipe.read().decode()
    os.waitpid(pid, 0)
    return out


@pytest.fixture
def shared_dir() -> Path:
    """A folder user nobody can reach (pytest's tmp_path is private to root)."""
    folder = Path(tempfile.mkdtemp(prefix="lt-state-ro-"))
    folder.chmod(0o755)
    yield folder
    for root, dirs, _files in os.walk(folder):
        for d in dirs:
            os.chmod(os.path.join(root, d), 0o755)
    import shutil

    shutil.rmtree(folder)


def _try_save(video: Path) -> str:
    manager = UniversalStateManager(TranscodeOperation("qp", str(video)))
    try:
        manager.update_step("x")
    except StateError as exc:
        return f"{type(exc).__name__}: {exc}"
    return "saved"


def test_read_only_state_folder_gives_one_clear_error(shared_dir: Path) -> None:
    video = shared_dir / "movie.mkv"
    video.write_bytes(b"x")
    state_dir = shared_dir / ".lazy_transcode_state"
    state_dir.mkdir(mode=0o555)
    state_dir.chmod(0o555)
    if os.geteuid() == 0:  # the unprivileged user's own folder (someone else's is refused before any write)
        os.chown(state_dir, 65534, 65534)
    message = _run_unprivileged(lambda: _try_save(video))
    assert message.startswith("StateWriteError: cannot write state file"), message
    assert "movie.mkv_qp.state.json" in message and "EACCES" in message and "\n" not in message
    assert os.listdir(state_dir) == []


def test_read_only_media_folder_gives_one_clear_error(shared_dir: Path) -> None:
    media = shared_dir / "media"
    media.mkdir()
    video = media / "movie.mkv"
    video.write_bytes(b"x")
    media.chmod(0o555)
    message = _run_unprivileged(lambda: _try_save(video))
    assert message.startswith("StateWriteError: cannot create state folder"), message
    assert "media/.lazy_transcode_state" in message
    assert "EACCES" in message
