"""The held state folder: opened without following links, checked on its fd, and still itself after a swap."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from lazy_transcode.state.held import HeldFolder, UnsafeFolderError, ensure_subfolder, shown
from tests.security.support import snapshot


def test_a_linked_folder_is_refused_and_its_target_untouched(tmp_path: Path) -> None:
    target = tmp_path / "target"
    target.mkdir()
    (target / "keep").write_text("x")
    (tmp_path / ".lazy_transcode_state").symlink_to(target)
    before = snapshot(target)
    folder = HeldFolder(tmp_path / ".lazy_transcode_state")
    with pytest.raises(UnsafeFolderError, match="is a symbolic link: refusing to follow it"):
        folder.open(create=True, writable=True)
    assert snapshot(target) == before and folder.fd is None


@pytest.mark.skipif(os.geteuid() != 0, reason="chown to another uid needs root")
def test_someone_elses_folder_is_refused_for_writing(tmp_path: Path) -> None:
    state = tmp_path / ".lazy_transcode_state"
    state.mkdir(mode=0o755)
    os.chown(state, 65534, 65534)
    folder = HeldFolder(state)
    assert folder.open(create=False, writable=False) is not None  # reading (listing) is fine
    with pytest.raises(UnsafeFolderError, match="belongs to uid 65534 \\(mode 0755\\)"):
        folder.open(create=False, writable=True)


def test_a_folder_writable_by_others_is_refused(tmp_path: Path) -> None:
    state = tmp_path / ".lazy_transcode_state"
    state.mkdir()
    state.chmod(0o775)
    with pytest.raises(UnsafeFolderError, match=r"is writable by others .*mode 0775"):
        HeldFolder(state).open(create=False, writable=True)


def test_the_held_folder_stays_itself_when_its_name_is_swapped_for_a_link(tmp_path: Path) -> None:
    state = tmp_path / ".lazy_transcode_state"
    victim = tmp_path / "victim"
    victim.mkdir()
    folder = HeldFolder(state)
    held = folder.open(create=True, writable=True)
    assert held is not None and os.stat(state).st_mode & 0o777 == 0o755
    state.rename(tmp_path / "moved")
    state.symlink_to(victim)  # the attacker's swap, after the check
    (held / "film.mkv_qp.state.json").write_text("{}")
    assert (tmp_path / "moved" / "film.mkv_qp.state.json").is_file()
    assert list(victim.iterdir()) == []
    assert shown(held / "x") == str(state / "x")  # messages name the folder, not /proc
    folder.remove_if_empty()  # the name is a link now, not the held folder: nothing is removed
    assert state.is_symlink() and (tmp_path / "moved").is_dir()
    folder.close()


def test_a_subfolder_that_is_a_link_is_refused(tmp_path: Path) -> None:
    folder = HeldFolder(tmp_path / ".lazy_transcode_state")
    held = folder.open(create=True, writable=True)
    assert held is not None
    (tmp_path / "victim").mkdir()
    (held / "film.mkv_qp.work").symlink_to(tmp_path / "victim")
    with pytest.raises(UnsafeFolderError, match=r"work folder .*film\.mkv_qp\.work is a symbolic link"):
        ensure_subfolder(held / "film.mkv_qp.work", "work folder")
    assert ensure_subfolder(held / "pieces", "pieces folder").is_dir()
    folder.close()
