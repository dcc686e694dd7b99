"""A real farm on this machine: a `dask scheduler`, two `ltworker` processes, real ltd and ffmpeg.

Every piece a worker encodes is checked and recorded by ltd exactly like a local one, so the output's
video is byte-identical to a local encode whatever happens to the workers, the scheduler or ltd.
"""

from __future__ import annotations

import contextlib
import os
import shlex
import shutil
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import run_ffmpeg, video_digest
from tests.system.farm_support import Farm, descendants
from tests.system.support import FAST_DEFAULTS, Ltd, ffmpeg_pids, state_checkpoint, wait_until

pytestmark = pytest.mark.timeout(240)


@pytest.fixture(scope="session")
def clip_30s(media_dir: Path) -> Path:
    """30 s of 320x180 (15 pieces of 2 s): enough pieces for two workers and ltd's own lane."""
    out = media_dir / "testsrc_30s.mp4"
    if not out.exists():
        run_ffmpeg(
            "-f", "lavfi", "-i", "testsrc2=size=320x180:rate=25", "-t", "30", "-c:v", "libx264",
            "-preset", "ultrafast", "-g", "50", str(out),
        )  # fmt: skip
    return out


_LOCAL: dict[str, str] = {}


@pytest.fixture
def local_digest(clip_30s: Path, ltd_factory: Callable[..., Ltd], tmp_path: Path) -> str:
    """The video of the same encode by an ltd without a farm (made once per test session)."""
    if "digest" not in _LOCAL:
        folder = tmp_path / "local-library"
        folder.mkdir()
        shutil.copy(clip_30s, folder / "film.mp4")
        ltd = ltd_factory(FAST_DEFAULTS.replace("[defaults]", "piece_workers = 1\n[defaults]"), name="local").start()
        job = done(ltd, add(ltd, folder / "film.mp4"))
        assert job["state"] == "completed", job
        _LOCAL["digest"] = video_digest(output_of(folder))
    return _LOCAL["digest"]


def output_of(folder: Path) -> Path:
    outs = [p for p in folder.iterdir() if p.is_file() and p.name != "film.mp4"]
    assert len(outs) == 1, list(folder.iterdir())
    return outs[0]


@pytest.fixture
def farm(tmp_path: Path) -> Iterator[Farm]:
    made = Farm(tmp_path / "farm")
    made.root.mkdir()
    yield made
    made.cleanup()
    for pid in ffmpeg_pids(tmp_path):  # a killed worker's pieces
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


def farm_config(farm: Farm, extra: str = "", local_pieces: int = 1) -> str:
    return FAST_DEFAULTS.replace("[defaults]", "piece_workers = 1\n[defaults]") + (
        f'\n[farm]\nscheduler = "{farm.address}"\ninsecure = true\nlocal_pieces = {local_pieces}\n{extra}'
    )


@pytest.fixture
def film(tmp_path: Path, clip_30s: Path) -> Path:
    lib = tmp_path / "library"
    lib.mkdir()
    shutil.copy(clip_30s, lib / "film.mp4")
    return lib / "film.mp4"


def wait_members(ltd: Ltd, n: int, refused: int = 0, timeout: float = 60) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        state = ltd.request("farm")
        if len(state.get("members", [])) >= n and len(state.get("refused_workers", [])) >= refused:
            return state
        time.sleep(0.2)
    raise AssertionError(f"the farm never had {n} workers: {ltd.request('farm')}\n{ltd.log.read_text()}")


def add(ltd: Ltd, film: Path) -> int:
    return ltd.request("add", {"paths": [str(film)]})["ids"][0]


def done(ltd: Ltd, job_id: int, timeout: float = 180) -> dict[str, Any]:
    return ltd.wait_job(job_id, lambda j: j["state"] in ("completed", "failed"), timeout=timeout)


def two_worker_ltd(farm: Farm, ltd_factory: Callable[..., Ltd]) -> Ltd:
    """The farm's scheduler, workers w1 and w2, and a started ltd that counts both as members."""
    farm.start_scheduler()
    farm.start_worker("w1")
    farm.start_worker("w2")
    ltd = ltd_factory(farm_config(farm)).start()
    wait_members(ltd, 2)
    return ltd


def test_two_workers_share_a_film_and_the_output_is_the_local_encode(
    farm: Farm, ltd_factory: Callable[..., Ltd], film: Path, local_digest: str
) -> None:
    ltd = two_worker_ltd(farm, ltd_factory)
    job = done(ltd, add(ltd, film))
    assert job["state"] == "completed", job
    state = ltd.request("farm")
    assert all(m["done"] >= 1 for m in state["members"]), state
    assert video_digest(output_of(film.parent)) == local_digest
    status = ltd.ctl("status").stdout
    assert "farm: tcp://127.0.0.1" in status and "2 worker(s)" in status, status
    shown = ltd.ctl("farm").stdout
    assert "w1" in shown and "w2" in shown and "pieces done" in shown, shown


def remote_done(ltd: Ltd) -> int:
    return sum(m["done"] for m in ltd.request("farm").get("members", []))


def test_a_worker_killed_mid_piece_loses_nothing(
    farm: Farm, ltd_factory: Callable[..., Ltd], film: Path, local_digest: str
) -> None:
    ltd = two_worker_ltd(farm, ltd_factory)
    job_id = add(ltd, film)

    def w1_encoding() -> bool:
        return any(b"ffmpeg" in _comm(pid) for pid in _alive(descendants(farm.workers["w1"].pid)))

    wait_until(w1_encoding, 60, "a piece on w1")
    encoding = [p for p in _alive(descendants(farm.workers["w1"].pid)) if b"ffmpeg" in _comm(p)]
    killed = farm.dask_worker_pids("w1")
    assert killed
    for pid in killed:
        os.kill(pid, signal.SIGKILL)
    wait_until(lambda: not _alive(encoding), 10, "the dead worker's ffmpeg to end")  # no orphan
    job = done(ltd, job_id)
    assert job["state"] == "completed", job
    assert video_digest(output_of(film.parent)) == local_digest  # every frame, as a local encode


def test_with_no_local_pieces_a_job_whose_only_worker_dies_encodes_here(
    farm: Farm, ltd_factory: Callable[..., Ltd], film: Path, local_digest: str
) -> None:
    """`local_pieces = 0`: every piece goes to the farm while it has a slot. Its only worker is killed
    mid-piece, nanny and all: the piece it had comes back as failed (it could run on that worker only),
    and with no slot left and no lane of its own the job encodes the rest here, in one lane."""
    farm.start_scheduler()
    farm.start_worker("w1")
    ltd = ltd_factory(farm_config(farm, local_pieces=0)).start()
    wait_members(ltd, 1)
    job_id = add(ltd, film)

    def w1_encoding() -> bool:
        return any(b"ffmpeg" in _comm(pid) for pid in _alive(descendants(farm.workers["w1"].pid)))

    wait_until(w1_encoding, 60, "a piece on w1")
    killed = farm.dask_worker_pids("w1")
    assert killed
    os.killpg(farm.workers["w1"].pid, signal.SIGKILL)  # its nanny too: no worker comes back
    for pid in killed:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    job = done(ltd, job_id)
    assert job["state"] == "completed", (job, ltd.log.read_text()[-3000:])
    assert "encoding it elsewhere" in ltd.log.read_text()
    assert video_digest(output_of(film.parent)) == local_digest


def _alive(pids: list[int]) -> list[int]:
    return [pid for pid in pids if Path(f"/proc/{pid}/comm").exists()]


def test_ltd_killed_mid_job_reuses_the_pieces_workers_finished(
    farm: Farm, ltd_factory: Callable[..., Ltd], film: Path, local_digest: str
) -> None:
    ltd = two_worker_ltd(farm, ltd_factory)
    job_id = add(ltd, film)
    wait_until(lambda: remote_done(ltd) >= 2, 60, "two remote pieces")
    ltd.kill_group()
    recorded = state_checkpoint(film.parent).get("pieces", {})
    assert len(recorded) >= 2
    ltd.start()
    job = done(ltd, job_id)
    assert job["state"] == "completed", job
    log = ltd.log.read_text()
    left = [int(line.split(": ")[-1].split()[0]) for line in log.splitlines() if "pieces to encode" in line][-1]
    assert left <= 15 - len(recorded), log  # the recorded ones (remote ones among them) were not encoded again
    assert video_digest(output_of(film.parent)) == local_digest


def test_scheduler_gone_mid_job_encodes_here_then_the_farm_again(
    farm: Farm, ltd_factory: Callable[..., Ltd], film: Path, local_digest: str
) -> None:
    ltd = two_worker_ltd(farm, ltd_factory)
    job_id = add(ltd, film)
    wait_until(lambda: remote_done(ltd) >= 1, 60, "a remote piece")
    farm.stop_scheduler()
    before = len(state_checkpoint(film.parent).get("pieces", {}))
    wait_until(lambda: "encoding here meanwhile" in ltd.ctl("status").stdout, 30, "status to say so")
    wait_until(lambda: len(state_checkpoint(film.parent).get("pieces", {})) >= before + 1, 60, "a piece encoded here")
    ltd.request("pause", {"ids": [job_id]})
    farm_done = remote_done(ltd)
    farm.start_scheduler()
    wait_members(ltd, 2, timeout=90)
    ltd.request("resume", {"ids": [job_id]})
    job = done(ltd, job_id)
    assert job["state"] == "completed", job
    assert remote_done(ltd) > farm_done  # the workers got pieces again
    assert video_digest(output_of(film.parent)) == local_digest


def _ffmpeg_on_workers(farm: Farm) -> list[int]:
    pids = [p for proc in farm.workers.values() for p in _alive(descendants(proc.pid))]
    return [p for p in pids if b"ffmpeg" in _comm(p)]


def _comm(pid: int) -> bytes:
    try:
        return Path(f"/proc/{pid}/comm").read_bytes()
    except OSError:
        return b""


def test_scheduler_gone_for_good_mid_job_ltd_encodes_the_rest_here(
    farm: Farm, ltd_factory: Callable[..., Ltd], film: Path, local_digest: str
) -> None:
    ltd = two_worker_ltd(farm, ltd_factory)
    job_id = add(ltd, film)
    wait_until(lambda: remote_done(ltd) >= 1, 60, "a remote piece")
    assert farm.scheduler is not None
    os.killpg(farm.scheduler.pid, signal.SIGTERM)  # stopped, and never started again
    farm.scheduler.wait(30)
    assert len(state_checkpoint(film.parent).get("pieces", {})) < 15  # pieces were left for ltd alone
    wait_until(lambda: "encoding here meanwhile" in ltd.ctl("status").stdout, 30, "status to say so")
    job = done(ltd, job_id, timeout=150)  # raises if the job hangs without its scheduler
    assert job["state"] == "completed", job
    status = ltd.ctl("status").stdout
    assert "scheduler unreachable" in status and "encoding here meanwhile" in status, status
    assert "lost the scheduler" in ltd.log.read_text()
    wait_until(lambda: not _ffmpeg_on_workers(farm), 30, "no ffmpeg left on the workers")
    assert video_digest(output_of(film.parent)) == local_digest


def _can_unshare() -> bool:
    return subprocess.run(["unshare", "-m", "true"], capture_output=True, check=False).returncode == 0


@pytest.mark.skipif(shutil.which("unshare") is None or not _can_unshare(), reason="needs mount namespaces (root)")
def test_mismatched_workers_are_refused_and_the_job_completes(
    farm: Farm, ltd_factory: Callable[..., Ltd], film: Path, tmp_path: Path, ffmpeg: str
) -> None:
    other = tmp_path / "other-ffmpeg"
    other.write_text(f'#!/bin/sh\nif [ "$2" = -version ]; then echo "ffmpeg version 0.0-other"; exit 0; fi\n'
                     f'exec {ffmpeg} "$@"\n')  # fmt: skip
    other.chmod(0o755)
    farm.start_scheduler()
    farm.start_worker("good")
    farm.start_worker("otherbuild", "--ffmpeg", str(other))
    hide = f'mount -t tmpfs none {shlex.quote(str(film.parent.parent))} && exec "$@"'  # no library there
    farm.start_worker("blind", user=["unshare", "-m", "--propagation", "private", "sh", "-c", hide, "sh"])
    config = farm_config(farm).replace("piece_workers = 1", f'piece_workers = 1\nlibrary_roots = ["{film.parent}"]')
    ltd = ltd_factory(config).start()
    state = wait_members(ltd, 1, refused=2)
    job = done(ltd, add(ltd, film))
    assert job["state"] == "completed", job
    state = ltd.request("farm")
    assert [m["name"] for m in state["members"]] == ["good"] and state["members"][0]["done"] >= 1, state
    why = {r["name"]: r["reason"] for r in state["refused_workers"]}
    assert "another ffmpeg build" in why["otherbuild"] and "cannot read" in why["blind"], why
    shown = ltd.ctl("farm").stdout
    assert "refused otherbuild" in shown and "refused blind" in shown, shown


def make_certs(folder: Path, name: str) -> dict[str, str]:
    """A CA of its own and one certificate it signed (for 127.0.0.1), with the openssl CLI."""
    folder.mkdir()
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
    ext = folder / "ext.cnf"
    ext.write_text("subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth,clientAuth\n")
    for cmd in (
        ["req", "-x509", *ec, "-keyout", "ca.key", "-out", "ca.pem", "-days", "2", "-subj", f"/CN={name}-ca"],
        ["req", *ec, "-keyout", "node.key", "-out", "node.csr", "-subj", f"/CN={name}-node"],
        ["x509", "-req", "-in", "node.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial", "-out",
         "node.pem", "-days", "2", "-extfile", "ext.cnf"],
    ):  # fmt: skip
        subprocess.run(["openssl", *cmd], cwd=folder, check=True, capture_output=True)
    return {"ca": str(folder / "ca.pem"), "cert": str(folder / "node.pem"), "key": str(folder / "node.key")}


def tls_flags(certs: dict[str, str]) -> list[str]:
    return ["--tls-ca-file", certs["ca"], "--tls-cert", certs["cert"], "--tls-key", certs["key"]]


@pytest.mark.skipif(shutil.which("openssl") is None, reason="makes its certificates with the openssl CLI")
def test_with_tls_a_worker_without_the_farms_certificate_cannot_join(
    farm: Farm, ltd_factory: Callable[..., Ltd], tmp_path: Path
) -> None:
    good = make_certs(tmp_path / "good", "farm")
    rogue = make_certs(tmp_path / "rogue", "rogue")
    farm.tls = tls_flags(good)
    farm.start_scheduler()
    farm.start_worker("member", *tls_flags(good))
    farm.start_worker("intruder", *tls_flags(rogue))
    config = FAST_DEFAULTS + (
        f'\n[farm]\nscheduler = "{farm.address}"\ntls_ca_file = "{good["ca"]}"\ntls_cert = "{good["cert"]}"\n'
        f'tls_key = "{good["key"]}"\n'
    )
    ltd = ltd_factory(config).start()
    state = wait_members(ltd, 1)
    wait_until(lambda: "certificate" in farm.log("intruder").lower() or "ssl" in farm.log("intruder").lower(), 30,
               "the intruder's TLS failure")  # fmt: skip
    state = ltd.request("farm")
    assert [m["name"] for m in state["members"]] == ["member"] and not state["refused_workers"], state
    assert state["tls"] and "(no TLS)" not in ltd.ctl("status").stdout


def test_cancel_ends_the_pieces_running_on_workers(farm: Farm, ltd_factory: Callable[..., Ltd], film: Path) -> None:
    ltd = two_worker_ltd(farm, ltd_factory)
    job_id = add(ltd, film)

    def on_workers() -> list[int]:
        pids = [p for name in ("w1", "w2") for p in _alive(descendants(farm.workers[name].pid))]
        return [p for p in pids if b"ffmpeg" in _comm(p)]

    wait_until(lambda: bool(on_workers()), 60, "a piece on a worker")
    ltd.request("cancel", {"ids": [job_id]})
    wait_until(lambda: not on_workers(), 10, "no ffmpeg left on the workers")
    ltd.wait_job(job_id, lambda j: j["state"] == "cancelled", timeout=20)
    assert not list(film.parent.glob(".lazy_transcode_state/*.work/pieces/*"))
