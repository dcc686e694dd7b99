"""ltctl refuses a socket folder whose owner or mode would let someone else stand in for the daemon."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from lazy_transcode.ctl.client import Unreachable, check_endpoint
from lazy_transcode.endpoints import expected_owners, folder_problem


def test_a_folder_writable_by_others_is_refused_with_owner_and_mode(tmp_path: Path) -> None:
    run = tmp_path / "run"
    run.mkdir()
    run.chmod(0o777)
    with pytest.raises(Unreachable) as info:
        check_endpoint(f"ipc://{run}/ltd.sock")
    assert f"socket folder {run}" in str(info.value) and "mode 0777" in str(info.value)
    assert "writable by others" in str(info.value) and "\n" not in str(info.value)


def test_a_linked_folder_is_refused(tmp_path: Path) -> None:
    (tmp_path / "real").mkdir(mode=0o700)
    (tmp_path / "run").symlink_to(tmp_path / "real")
    assert "is a symbolic link" in (folder_problem(tmp_path / "run", None) or "")


@pytest.mark.skipif(os.geteuid() != 0, reason="chown to another uid needs root")
def test_a_per_user_default_folder_must_be_ours_or_roots(tmp_path: Path) -> None:
    env = {"XDG_RUNTIME_DIR": str(tmp_path)}
    folder = tmp_path / "lazy-transcode"
    folder.mkdir(mode=0o700)
    endpoint = f"ipc://{folder}/ltd.sock"
    assert expected_owners(endpoint, env, uid=1000) == {1000, 0}
    assert expected_owners("ipc:///run/lazy-transcode/ltd.sock", env, uid=1000) is None
    os.chown(folder, 4343, 4343)
    problem = folder_problem(folder, expected_owners(endpoint, env, uid=1000))
    assert problem is not None and "uid 4343" in problem and "0700" in problem and "not owned by" in problem
    os.chown(folder, 1000, 1000)
    assert folder_problem(folder, expected_owners(endpoint, env, uid=1000)) is None
