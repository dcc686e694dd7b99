"""Real processes: a writer SIGKILLed at random moments (>= 200 times), and processes racing for a lease."""

from __future__ import annotations

import json
import os
import random
import signal
import time
from pathlib import Path

import pytest

from lazy_transcode.state import StateLockedError, TranscodeOperation, UniversalStateManager
from lazy_transcode.state.schema import TranscodeState

KILLS = 220
PIECES = 300


def _writer(video: Path) -> None:
    """Child process body: resume from the saved generation and write new generations until killed."""
    manager = UniversalStateManager(TranscodeOperation("vbr", str(video)))
    manager.load_state()  # also removes the temp file a killed predecessor left behind
    gen = manager.state.checkpoint.get("gen", 0)
    while True:
        gen += 1
        pieces = {str(i): {"gen": gen, "crf": 18 + i % 12, "vmaf": 95.0 + i / 1000} for i in range(PIECES)}
        manager.state.checkpoint = {"gen": gen, "pieces": pieces}
        manager.state.current_step = f"gen-{gen}"
        manager.state.progress_percent = float(gen % 100)
        manager.save_state()


def _fork(body, *args) -> int:
    pid = os.fork()
    if pid == 0:
        code = 0
        try:
            body(*args)
        except BaseException:
            code = 1
        finally:
            os._exit(code)
    return pid


@pytest.mark.timeout(120)
def test_sigkill_at_random_moments_never_damages_the_state(tmp_path: Path) -> None:
    video = tmp_path / "video.mkv"
    video.write_bytes(b"x")
    state_file = tmp_path / ".lazy_transcode_state" / "video.mkv_vbr.state.json"
    rng = random.Random(1234)
    last_gen = 0
    kills_mid_write = 0
    checked = 0
    started = time.monotonic()
    for _ in range(KILLS):
        pid = _fork(_writer, video)
        time.sleep(rng.uniform(0.0, 0.025))
        os.kill(pid, signal.SIGKILL)
        _, status = os.waitpid(pid, 0)
        assert os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGKILL  # killed, never exited by itself
        temps = [n for n in os.listdir(state_file.parent)] if state_file.parent.exists() else []
        temps = [n for n in temps if n.endswith(".tmp")]
        assert len(temps) <= 1, temps  # at most the killed writer's own: its successor removes it
        kills_mid_write += len(temps)
        if not state_file.exists():
            assert last_gen == 0
            continue
        data = json.loads(state_file.read_bytes())  # always parses
        state = TranscodeState.from_dict(data)  # and validates
        gen = state.checkpoint["gen"]
        assert state.current_step == f"gen-{gen}" and state.progress_percent == float(gen % 100)
        assert len(state.checkpoint["pieces"]) == PIECES
        assert {p["gen"] for p in state.checkpoint["pieces"].values()} == {gen}  # one complete generation
        assert gen >= last_gen  # never goes back
        last_gen = gen
        checked += 1
    elapsed = time.monotonic() - started
    assert UniversalStateManager(TranscodeOperation("vbr", str(video))).load_state()
    assert [n for n in os.listdir(state_file.parent) if n.endswith(".tmp")] == []
    assert checked >= KILLS - 10 and last_gen >= KILLS // 4  # the writers really wrote between the kills
    assert kills_mid_write > 10  # and many kills landed in the middle of a write
    print(f"\n{KILLS} SIGKILLs in {elapsed:.1f} s: {last_gen} generations, {kills_mid_write} kills mid-write")


def _racer(video: Path, go_fd: int, release_fd: int, result_fd: int, parent_ends: list[int]) -> None:
    for fd in parent_ends:  # else our own copies of the write ends would keep the reads below from ending
        os.close(fd)
    os.read(go_fd, 1)  # returns when the parent closes the write end: all racers start together
    manager = UniversalStateManager(TranscodeOperation("qp", str(video)))
    try:
        manager.acquire_lease()
        message = "won"
    except StateLockedError as exc:
        message = f"locked:{exc}"
    os.write(result_fd, (json.dumps([os.getpid(), message]) + "\n").encode())
    if message == "won":
        os.read(release_fd, 1)  # hold the lease until every racer has tried; then die without releasing


@pytest.mark.timeout(60)
def test_processes_racing_for_one_operation_exactly_one_wins(tmp_path: Path) -> None:
    video = tmp_path / "race.mkv"
    video.write_bytes(b"x")
    rounds, racers = 15, 4
    for _ in range(rounds):
        go_r, go_w = os.pipe()
        rel_r, rel_w = os.pipe()
        res_r, res_w = os.pipe()
        pids = [_fork(_racer, video, go_r, rel_r, res_w, [go_w, rel_w, res_r]) for _ in range(racers)]
        os.close(go_r)
        os.close(rel_r)
        os.close(res_w)
        os.close(go_w)  # go
        with os.fdopen(res_r) as results:
            outcome = [json.loads(results.readline()) for _ in range(racers)]
            os.close(rel_w)  # let the winner go (it exits without releasing: a stale lease for the next round)
            for pid in pids:
                os.waitpid(pid, 0)
        winners = [pid for pid, message in outcome if message == "won"]
        assert len(winners) == 1, outcome
        for pid, message in outcome:
            if pid != winners[0]:
                assert message.endswith(f"is in progress by pid {winners[0]} on {os.uname().nodename}"), message
