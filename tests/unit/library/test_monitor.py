"""A library's monitor on real files with its clock in the test's hands: a file is decided once it has
settled and once per content, hidden and state files are not library files, a missing folder forgets
nothing, and a refusal of the daemon leaves the files to be decided later."""

from __future__ import annotations

import asyncio
import shutil
from pathlib import Path

from lazy_transcode import protocol
from lazy_transcode.library.monitor import LibraryMonitor, Verdict
from lazy_transcode.library.settings import LibrarySettings


class Daemon:
    """Stands in for ltd's queue: records what it was asked to decide; `refuse` answers as a full disk."""

    def __init__(self) -> None:
        self.asked: list[list[Path]] = []
        self.refuse = False

    async def submit(self, settings: LibrarySettings, files: list[Path]) -> dict[Path, tuple[Verdict, str | None]]:
        if self.refuse:
            raise protocol.ProtocolError(protocol.QUEUE_ERROR, "the queue cannot be written")
        self.asked.append(sorted(files))
        return {f: (Verdict.DONE if f.name.startswith("done") else Verdict.QUEUED, None) for f in files}


def test_files_are_decided_once_settled_and_once_per_content(tmp_path: Path) -> None:
    lib = tmp_path / "lib"
    (lib / ".lazy_transcode_state").mkdir(parents=True)
    (lib / ".lazy_transcode_state" / "piece.mkv").write_bytes(b"p")
    (lib / ".partial.mkv").write_bytes(b"h")
    (lib / "notes.txt").write_bytes(b"t")
    (lib / "a.mkv").write_bytes(b"a")
    (lib / "sub").mkdir()
    (lib / "sub" / "done.mp4").write_bytes(b"d")
    now = [0.0]
    daemon = Daemon()
    monitor = LibraryMonitor(LibrarySettings(lib, settle_seconds=10), daemon.submit, clock=lambda: now[0])

    async def scenario() -> None:
        await monitor.scan()
        assert monitor.view()["seen"] == 2 and monitor.view()["pending"] == 2 and not daemon.asked
        now[0] = 5.0
        (lib / "a.mkv").write_bytes(b"aa")  # still being written: it settles anew
        await monitor.look()
        now[0] = 10.0
        await monitor.look()
        assert daemon.asked == [[lib / "sub" / "done.mp4"]]
        now[0] = 14.9
        await monitor.look()
        assert len(daemon.asked) == 1
        now[0] = 15.0
        await monitor.look()
        assert daemon.asked[-1] == [lib / "a.mkv"]
        view = monitor.view()
        assert (view["seen"], view["queued"], view["done"], view["pending"]) == (2, 1, 1, 0)
        await monitor.scan()
        now[0] = 100.0
        await monitor.look()
        assert len(daemon.asked) == 2  # unchanged files are not decided again

        (lib / "a.mkv").write_bytes(b"new content")  # changed: decided again, once settled
        daemon.refuse = True
        await monitor.scan()
        now[0] = 200.0
        await monitor.look()
        assert monitor.view()["pending"] == 1 and len(daemon.asked) == 2  # refused: it waits
        daemon.refuse = False
        await monitor.look()
        assert daemon.asked[-1] == [lib / "a.mkv"] and monitor.view()["pending"] == 0

        shutil.rmtree(lib)  # unmounted: nothing forgotten
        await monitor.scan()
        view = monitor.view()
        assert view["reachable"] is False and "missing" in view["error"] and view["seen"] == 2
        lib.mkdir()  # back, empty: now the files are gone
        await monitor.scan()
        assert monitor.view()["reachable"] is True and monitor.view()["seen"] == 0

    asyncio.run(scenario())


def test_events_inside_state_folders_and_hidden_names_are_ignored(tmp_path: Path) -> None:
    daemon = Daemon()

    async def scenario() -> None:
        monitor = LibraryMonitor(LibrarySettings(tmp_path), daemon.submit)
        monitor.changed(tmp_path / ".lazy_transcode_state" / "film.mkv_qp.work" / "piece_0001.mp4")
        monitor.changed(tmp_path / ".film.mkv.tmp")
        monitor.changed(tmp_path.parent / "elsewhere.mkv")
        assert monitor.dirty == set()
        monitor.changed(tmp_path / "film.mkv")
        assert monitor.dirty == {tmp_path / "film.mkv"}

    asyncio.run(scenario())
