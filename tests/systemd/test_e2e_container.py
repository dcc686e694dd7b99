"""End to end under a real systemd: the .deb in a booted Debian bookworm container (systemd-nspawn -b).

One long test in phases, because each phase needs the state the previous one left (a boot costs
seconds, an install tens of seconds):
  install   dpkg -i enables and starts the service; it is active only after READY=1; the unit as
            installed verifies clean; the user and group exist.
  access    a member of the group uses ltctl.
  power cut a job is added; mid-encode (pieces checkpointed, more to go) the container's PID 1 is
            killed with SIGKILL; the next boot starts the service, which finishes the job without
            encoding the checkpointed pieces again; the output has every source frame.
  stop      `systemctl stop` mid-encode returns within TimeoutStopSec, the daemon exits 0, no ffmpeg
            is left, the job is checkpointed and completes after `systemctl start`.
  watchdog  a SIGSTOPped daemon is killed by the watchdog and restarted (NRestarts=1).
  reboot    `systemctl reboot`: the service comes back by itself with the same queue.
  purge     dpkg --purge stops the service and removes its state; the media stay.
A second, shorter test boots its own container: a bad config stops the daemon with 78 and no restart
loop; a user without the group cannot connect to the socket and gets one clear line from ltctl; a user
runs the user unit under their own systemd --user, socket and queue in their XDG folders.
"""

from __future__ import annotations

import json
import re
import shutil
import time
from pathlib import Path
from typing import Any

import av
import pytest

from tests.conftest import run_ffmpeg
from tests.systemd.container import REPO, Container

pytestmark = [pytest.mark.systemd, pytest.mark.slow, pytest.mark.timeout(1200)]

UNIT = "lazy-transcode.service"
MEDIA = "/srv/media"
CLIP_SECONDS = 90
ENCODE = ["--mode", "qp", "--qp", "30", "--encoder", "libx265", "--preset", "ultrafast"]
CONFIG = f"""# written by the end-to-end test
library_roots = ["{MEDIA}"]
checkpoint_interval = 2
"""


def count_frames(path: Path) -> int:
    """Decoded video frames (not the container's claim)."""
    with av.open(str(path)) as media:
        return sum(1 for _ in media.decode(video=0))


def make_clip(path: Path, seconds: int) -> None:
    """A real clip: moving test pattern + tone, 320x180 25 fps, H.264 + AAC."""
    path.parent.mkdir(parents=True, exist_ok=True)
    run_ffmpeg(
        "-f", "lavfi", "-i", f"testsrc2=size=320x180:rate=25:duration={seconds}",
        "-f", "lavfi", "-i", f"sine=frequency=440:duration={seconds}",
        "-c:v", "libx264", "-preset", "ultrafast", "-crf", "23", "-c:a", "aac", "-b:a", "64k", "-shortest",
        str(path),
    )  # fmt: skip


def ltctl(box: Container, *args: str, user: str = "alice", check: bool = True) -> Any:
    done = box.run("ltctl", "--json", *args, user=user, check=check, timeout=60)
    return json.loads(done.stdout) if done.returncode == 0 else done


def state_file(box: Container, clip: str) -> Path | None:
    found = sorted(box.path(MEDIA).joinpath(".lazy_transcode_state").glob(f"{clip}_*.state.json"))
    return found[0] if found else None


def checkpoint(box: Container, clip: str) -> dict[str, Any]:
    """The encode checkpoint of a clip's state file, read from the host ({} until there is one)."""
    path = state_file(box, clip)
    if path is None:
        return {}
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}  # replaced between listing and reading
    return data.get("checkpoint", {}).get("encode") or {}


def wait_mid_encode(box: Container, clip: str, timeout: float = 180.0) -> dict[str, Any]:
    """Until at least one piece is checkpointed and more are still to encode."""

    def probe() -> dict[str, Any] | None:
        cp = checkpoint(box, clip)
        plan, pieces = cp.get("plan") or [], cp.get("pieces") or {}
        if plan and len(pieces) >= len(plan):
            pytest.fail(f"{clip}: the encode finished before the test could interrupt it (clip too short)")
        return cp if plan and pieces else None

    return box.wait_for(f"{clip} mid-encode", probe, timeout, interval=0.1)


def wait_job(box: Container, job: int, timeout: float = 300.0) -> dict[str, Any]:
    def probe() -> dict[str, Any] | None:
        job_info = ltctl(box, "status", str(job))["job"]
        return job_info if job_info["state"] not in ("queued", "running") else None

    return box.wait_for(f"job {job} to end", probe, timeout, interval=1.0)


def wait_active(box: Container, timeout: float = 60.0) -> dict[str, str]:
    def probe() -> dict[str, str] | None:
        s = box.show(UNIT, "ActiveState", "SubState", "MainPID", "NRestarts", "StatusText", "Result")
        if s["ActiveState"] == "failed":
            journal = box.run("journalctl", "-b", "-u", UNIT, "-o", "cat", "-n", "30", check=False).stdout
            pytest.fail(f"{UNIT} failed ({s['Result']}):\n{journal}")
        return s if s["ActiveState"] == "active" else None

    return box.wait_for(f"{UNIT} active", probe, timeout)


def pieces_encoded_this_boot(box: Container, clip: str) -> list[int]:
    journal = box.run("journalctl", "-b", "-u", UNIT, "-o", "cat", "--no-pager").stdout
    return [int(n) for n in re.findall(rf"{re.escape(clip)}: encoding piece (\d+) ", journal)]


def add_clip(box: Container, clip: str, source: Path) -> int:
    shutil.copy2(source, box.path(f"{MEDIA}/{clip}"))
    box.run("chgrp", "lazy-transcode", f"{MEDIA}/{clip}")
    box.run("chmod", "0664", f"{MEDIA}/{clip}")
    added = ltctl(box, "add", f"{MEDIA}/{clip}", *ENCODE)
    assert len(added["ids"]) == 1, added
    return int(added["ids"][0])


def assert_complete(box: Container, job: int, source_frames: int) -> Path:
    info = wait_job(box, job)
    assert info["state"] == "completed", info
    output = (info.get("result") or {}).get("output_file")
    assert output, info
    frames = count_frames(box.path(output))
    print(f"  job {job}: {output} has {frames} frames (source {source_frames})")
    assert frames == source_frames
    return box.path(output)


def install(box: Container, deb: Path) -> None:
    box.run("dpkg", "-i", f"/var/tmp/{deb.name}", timeout=300)


def test_deb_under_systemd_survives_power_cut_stop_and_watchdog(
    container: Container, lazy_transcode_deb: Path, tmp_path: Path
) -> None:
    box = container
    timings: dict[str, float] = {}

    # --- install ----------------------------------------------------------------------------------
    t = time.monotonic()
    install(box, lazy_transcode_deb)
    timings["dpkg -i (incl. first start)"] = time.monotonic() - t
    assert box.run("readlink", "-f", "/usr/bin/ltd").stdout.strip() == "/opt/venvs/lazy-transcode/bin/ltd"
    assert box.run("getent", "group", "lazy-transcode").stdout.startswith("lazy-transcode:")
    s = box.show(UNIT, "UnitFileState", "ActiveState", "SubState", "Type", "NotifyAccess", "StatusText")
    assert s["UnitFileState"] == "enabled", s
    assert s["ActiveState"] == "active" and s["SubState"] == "running", s
    # Type=notify: active means READY=1 arrived; STATUS= lines arrive too.
    assert s["Type"] == "notify" and s["StatusText"], s
    verify = box.run("systemd-analyze", "verify", UNIT, check=False)
    assert verify.returncode == 0 and verify.stderr.strip() == "", verify.stderr
    security = box.run("systemd-analyze", "security", "--no-pager", UNIT, check=False).stdout
    print("\n  installed unit, live: " + security.strip().splitlines()[-1])

    # --- configure a library: config + the documented drop-in --------------------------------------
    media = box.path(MEDIA)
    media.mkdir(parents=True)
    box.run("chgrp", "lazy-transcode", MEDIA)
    box.run("chmod", "2775", MEDIA)
    box.path("/etc/lazy-transcode/config.toml").write_text(CONFIG)
    dropin = box.path(f"/etc/systemd/system/{UNIT}.d/library.conf")
    dropin.parent.mkdir(parents=True)
    shutil.copy2(REPO / "systemd" / f"{UNIT}.d" / "library.conf", dropin)
    box.run("systemctl", "daemon-reload")
    t = time.monotonic()
    box.run("systemctl", "restart", UNIT)
    timings["systemctl restart (until READY=1)"] = time.monotonic() - t
    first = wait_active(box)

    # --- access through the group ------------------------------------------------------------------
    box.run("useradd", "--create-home", "--groups", "lazy-transcode", "alice")
    assert "version" in ltctl(box, "ping")

    # --- power cut mid-encode ----------------------------------------------------------------------
    source = tmp_path / "clip.mp4"
    make_clip(source, CLIP_SECONDS)
    source_frames = count_frames(source)
    job = add_clip(box, "clip.mp4", source)
    cp = wait_mid_encode(box, "clip.mp4")
    box.power_cut()
    done_before = {int(i) for i in cp["pieces"]}
    print(f"  power cut with pieces {sorted(done_before)} of {len(cp['plan'])} checkpointed")
    t = time.monotonic()
    box.boot()
    after_boot = wait_active(box)
    timings["boot after power cut (until active)"] = time.monotonic() - t
    assert after_boot["NRestarts"] == "0"
    assert_complete(box, job, source_frames)
    again = pieces_encoded_this_boot(box, "clip.mp4")
    print(f"  after the boot, pieces encoded: {again}")
    assert again, "the journal shows no piece encoded after the boot"
    assert not done_before & set(again), "checkpointed pieces were encoded again"
    # Pieces recorded after the checkpoint was read, or finished and adopted after the boot, are neither.
    assert set(again) <= set(range(len(cp["plan"]))) - done_before

    # --- systemctl stop mid-encode -----------------------------------------------------------------
    job2 = add_clip(box, "clip2.mp4", source)
    wait_mid_encode(box, "clip2.mp4")
    timeout_stop = int(box.show(UNIT, "TimeoutStopUSec")["TimeoutStopUSec"].rstrip("s") or 0)
    t = time.monotonic()
    box.run("systemctl", "stop", UNIT, timeout=120)
    timings["systemctl stop mid-encode"] = stop_took = time.monotonic() - t
    stopped = box.show(UNIT, "ActiveState", "Result", "ExecMainStatus", "ExecMainCode")
    print(f"  systemctl stop took {stop_took:.1f} s (TimeoutStopSec {timeout_stop} s): {stopped}")
    assert stop_took < timeout_stop
    assert stopped["ActiveState"] == "inactive" and stopped["Result"] == "success", stopped
    assert stopped["ExecMainStatus"] == "0", stopped
    assert box.run("pgrep", "-f", "ffmpeg", check=False).returncode == 1, "an ffmpeg outlived the stop"
    cp2 = checkpoint(box, "clip2.mp4")
    assert cp2.get("pieces"), "no checkpoint after the stop"
    print(f"  stopped with pieces {sorted(int(i) for i in cp2['pieces'])} of {len(cp2['plan'])} checkpointed")
    box.run("systemctl", "start", UNIT)
    wait_active(box)
    assert_complete(box, job2, source_frames)

    # --- watchdog ----------------------------------------------------------------------------------
    before = wait_active(box)
    restarts = int(before["NRestarts"])
    box.run("kill", "-STOP", before["MainPID"])
    t = time.monotonic()

    def restarted() -> dict[str, str] | None:
        s = box.show(UNIT, "ActiveState", "MainPID", "NRestarts")
        return s if int(s["NRestarts"]) == restarts + 1 and s["ActiveState"] == "active" else None

    after = box.wait_for("the watchdog restart", restarted, 120.0, interval=0.5)
    timings["SIGSTOP -> restarted by the watchdog"] = time.monotonic() - t
    assert after["MainPID"] != before["MainPID"]
    journal = box.run("journalctl", "-b", "-u", UNIT, "-o", "cat", "--no-pager").stdout
    assert "Watchdog timeout" in journal, journal[-3000:]

    # --- reboot ------------------------------------------------------------------------------------
    t = time.monotonic()
    box.reboot()
    wait_active(box)
    timings["systemctl reboot (until active)"] = time.monotonic() - t
    states = {row["id"]: row["state"] for row in ltctl(box, "list")["jobs"]}
    assert states == {job: "completed", job2: "completed"}, states

    # --- purge -------------------------------------------------------------------------------------
    box.run("dpkg", "--purge", "lazy-transcode", timeout=120)
    assert box.run("systemctl", "is-active", UNIT, check=False).stdout.strip() in ("inactive", "unknown")
    assert not box.path("/var/lib/lazy-transcode").exists()
    assert not box.path("/usr/bin/ltd").exists() and not box.path("/opt/venvs/lazy-transcode").exists()
    assert box.path(f"{MEDIA}/clip.mp4").exists() and box.path(f"{MEDIA}/clip2.mp4").exists()

    print("  timings: " + ", ".join(f"{k} {v:.1f} s" for k, v in timings.items()))
    assert first["StatusText"]


def test_bad_config_is_not_restarted_and_outsider_is_refused(container: Container, lazy_transcode_deb: Path) -> None:
    box = container
    install(box, lazy_transcode_deb)
    wait_active(box)
    box.run("useradd", "--create-home", "--groups", "lazy-transcode", "alice")
    box.run("useradd", "--create-home", "bob")
    assert "version" in ltctl(box, "ping")

    # A bad key: exit 78 with one line naming it, and RestartPreventExitStatus=78 stops the loop.
    box.path("/etc/lazy-transcode/config.toml").write_text("workers = 1\nwrokers = 2\n")
    box.run("systemctl", "restart", UNIT, check=False)
    time.sleep(4)  # longer than RestartSec: a restart would have happened by now
    s = box.show(UNIT, "ActiveState", "Result", "ExecMainStatus", "NRestarts")
    assert s["ActiveState"] == "failed" and s["ExecMainStatus"] == "78", s
    assert s["NRestarts"] == "0", s
    journal = box.run("journalctl", "-b", "-u", UNIT, "-o", "cat", "--no-pager").stdout
    assert "wrokers" in journal, journal[-2000:]
    # Fixed config: the daemon starts again.
    box.path("/etc/lazy-transcode/config.toml").write_text("workers = 1\n")
    box.run("systemctl", "restart", UNIT)
    wait_active(box)

    # A user without the group cannot connect to the socket, whatever client he uses ...
    raw = box.run(
        "python3", "-c",
        "import socket; s = socket.socket(socket.AF_UNIX); s.connect('/run/lazy-transcode/ltd.sock')",
        user="bob", check=False,
    )  # fmt: skip
    assert raw.returncode != 0 and "PermissionError" in raw.stderr, raw.stderr

    # ... and ltctl tells him so in one clear line naming the socket and the cause, no traceback.
    denied = box.run("ltctl", "ping", user="bob", check=False)
    print(f"\n  bob: ltctl ping -> exit {denied.returncode}: {denied.stderr.strip()}")
    assert denied.returncode != 0 and denied.stdout == ""
    lines = denied.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("ltctl: "), denied.stderr
    assert "permission" in lines[0].lower() and "/run/lazy-transcode" in lines[0], lines[0]

    # The user unit, under alice's own manager. Minbase has no logind, which would set XDG_RUNTIME_DIR
    # for user@.service: a drop-in stands in for it.
    uid = box.run("id", "-u", "alice").stdout.strip()
    runtime = f"/run/user/{uid}"
    standin = box.path(f"/etc/systemd/system/user@{uid}.service.d/runtime-dir.conf")
    standin.parent.mkdir(parents=True)
    standin.write_text(f"[Service]\nEnvironment=XDG_RUNTIME_DIR={runtime}\n")
    box.run("systemctl", "daemon-reload")
    box.run("systemctl", "start", f"user-runtime-dir@{uid}.service", f"user@{uid}.service")
    as_alice = ("env", f"XDG_RUNTIME_DIR={runtime}")
    box.run(*as_alice, "systemctl", "--user", "enable", "--now", UNIT, user="alice")
    user_unit = box.run(
        *as_alice, "systemctl", "--user", "show", UNIT, "-p", "ActiveState,StatusText", user="alice"
    ).stdout
    assert "ActiveState=active" in user_unit, user_unit
    own = json.loads(box.run(*as_alice, "ltctl", "--json", "status", user="alice").stdout)["daemon"]
    print(f"  user unit: socket {own['socket']}, state {own['state_dir']}")
    assert own["socket"] == f"ipc://{runtime}/lazy-transcode/ltd.sock"
    assert own["state_dir"] == "/home/alice/.local/state/lazy-transcode"
    assert own["pid"] != int(box.show(UNIT, "MainPID")["MainPID"]), "ltctl reached the system daemon"
