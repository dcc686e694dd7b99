"""The shipped units, sysusers/tmpfiles entries and config, checked by systemd's own tools on the host.

Fast (a few seconds): no container. `systemd-analyze verify` needs the unit's ExecStart to exist, so the
unit is verified with ExecStart pointed at the real `ltd` of the development venv (the only change);
the container test verifies the installed unit as it is.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tomllib
from dataclasses import fields
from pathlib import Path

import pytest

from tests.systemd.container import REPO, ContainerError, ensure_host_tools

SYSTEMD = REPO / "systemd"
SYSTEM_UNIT = SYSTEMD / "lazy-transcode.service"
USER_UNIT = SYSTEMD / "user" / "lazy-transcode.service"
DROPINS = sorted((SYSTEMD / "lazy-transcode.service.d").glob("*.conf"))
DEV_LTD = Path(sys.executable).parent / "ltd"
MAX_EXPOSURE = 3.0


@pytest.fixture(scope="module", autouse=True)
def _host_tools() -> None:
    try:
        ensure_host_tools()
    except ContainerError as exc:
        pytest.fail(f"host tools: {exc}", pytrace=False)


def _unit_dir(tmp_path: Path, unit: Path, with_dropins: bool) -> Path:
    """A unit search folder holding the unit (ExecStart -> the dev venv's real ltd) and its drop-ins."""
    assert DEV_LTD.exists(), f"{DEV_LTD} is missing: install the project into its venv first"
    folder = tmp_path / "units"
    folder.mkdir()
    text = unit.read_text()
    assert text.count("\nExecStart=/usr/bin/ltd\n") == 1, "ExecStart must be exactly /usr/bin/ltd, with no flags"
    (folder / unit.name).write_text(text.replace("\nExecStart=/usr/bin/ltd\n", f"\nExecStart={DEV_LTD}\n"))
    if with_dropins:
        dropin_dir = folder / f"{unit.name}.d"
        dropin_dir.mkdir()
        for dropin in DROPINS:
            (dropin_dir / dropin.name).write_text(dropin.read_text())
    return folder


def _analyze(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    full = {**os.environ, "SYSTEMD_LOG_COLOR": "0", "SYSTEMD_PAGER": "", **(env or {})}
    return subprocess.run(["systemd-analyze", *args], capture_output=True, text=True, env=full, timeout=60)


def test_system_unit_and_example_dropins_verify_clean(tmp_path: Path) -> None:
    folder = _unit_dir(tmp_path, SYSTEM_UNIT, with_dropins=True)
    assert DROPINS, "the documented drop-in examples are missing"
    done = _analyze("verify", "lazy-transcode.service", env={"SYSTEMD_UNIT_PATH": f"{folder}:"})
    assert done.returncode == 0, done.stderr
    assert done.stderr.strip() == "", done.stderr


def test_user_unit_verifies_clean(tmp_path: Path) -> None:
    folder = _unit_dir(tmp_path, USER_UNIT, with_dropins=False)
    runtime = tmp_path / "run"
    runtime.mkdir(mode=0o700)
    done = _analyze("--user", "verify", str(folder / USER_UNIT.name), env={"XDG_RUNTIME_DIR": str(runtime)})
    assert done.returncode == 0, done.stderr
    assert done.stderr.strip() == "", done.stderr


def _exposure(output: str) -> float:
    match = re.search(r"Overall exposure level for lazy-transcode\.service: ([0-9.]+)", output)
    assert match, output[-2000:]
    return float(match.group(1))


def test_system_unit_security_exposure(tmp_path: Path) -> None:
    folder = _unit_dir(tmp_path, SYSTEM_UNIT, with_dropins=False)
    done = _analyze("security", "--offline=true", "--no-pager", str(folder / SYSTEM_UNIT.name))
    exposure = _exposure(done.stdout)
    failing = [line.strip() for line in done.stdout.splitlines() if line.startswith("✗")]
    print(f"\nsystemd-analyze security --offline=true lazy-transcode.service: exposure {exposure}")
    print("not satisfied:\n  " + "\n  ".join(failing))
    assert exposure <= MAX_EXPOSURE, done.stdout


def test_user_unit_security_exposure_is_printed(tmp_path: Path) -> None:
    """A user manager cannot sandbox much (no capabilities to drop): the figure is reported, not bounded."""
    folder = _unit_dir(tmp_path, USER_UNIT, with_dropins=False)
    runtime = tmp_path / "run"
    runtime.mkdir(mode=0o700)
    done = _analyze(
        "security", "--user", "--offline=true", "--no-pager", str(folder / USER_UNIT.name),
        env={"XDG_RUNTIME_DIR": str(runtime)},
    )  # fmt: skip
    print(f"\nsystemd-analyze security --user --offline=true lazy-transcode.service: exposure {_exposure(done.stdout)}")


def _settings(unit: Path) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for line in unit.read_text().splitlines():
        if "=" in line and not line.lstrip().startswith(("#", ";", "[")):
            key, value = line.split("=", 1)
            found.setdefault(key.strip(), []).append(value.strip())
    return found


def test_system_unit_has_the_contracts_settings() -> None:
    s = _settings(SYSTEM_UNIT)
    one = {key: values[-1] for key, values in s.items()}
    assert one["Type"] == "notify" and one["NotifyAccess"] == "main"
    assert s["ExecStart"] == ["/usr/bin/ltd"]
    assert one["User"] == one["Group"] == "lazy-transcode"
    assert one["RuntimeDirectory"] == "lazy-transcode" and one["RuntimeDirectoryMode"] == "0750"
    assert one["StateDirectory"] == "lazy-transcode"
    assert one["Restart"] == "on-failure" and one["RestartPreventExitStatus"] == "78"
    assert one["KillMode"] == "mixed"
    # The daemon checkpoints within 10 s of SIGTERM: the stop timeout leaves room for that.
    assert int(one["TimeoutStopSec"].rstrip("s")) >= 20
    assert int(one["WatchdogSec"].rstrip("s")) >= 10
    assert one["ProtectSystem"] == "strict" and one["CapabilityBoundingSet"] == ""
    assert one["WantedBy"] == "multi-user.target"
    assert "ReadWritePaths" not in s, "library roots belong in a drop-in, not in the shipped unit"
    library = _settings(SYSTEMD / "lazy-transcode.service.d" / "library.conf")
    assert library["ReadWritePaths"], "the library drop-in example must set ReadWritePaths="


def test_sysusers_creates_the_user_and_group(tmp_path: Path) -> None:
    conf = SYSTEMD / "sysusers.d" / "lazy-transcode.conf"
    (tmp_path / "etc").mkdir()
    done = subprocess.run(
        ["systemd-sysusers", f"--root={tmp_path}", str(conf)], capture_output=True, text=True, timeout=30
    )
    assert done.returncode == 0, done.stderr
    passwd = (tmp_path / "etc/passwd").read_text()
    group = (tmp_path / "etc/group").read_text()
    user = next(line for line in passwd.splitlines() if line.startswith("lazy-transcode:"))
    fields_ = user.split(":")
    assert int(fields_[2]) < 1000, "a system user"
    assert fields_[5] == "/var/lib/lazy-transcode"
    assert fields_[6] in ("/usr/sbin/nologin", "/sbin/nologin"), fields_[6]
    assert any(line.startswith("lazy-transcode:") for line in group.splitlines())


def test_tmpfiles_creates_the_state_folder_owned_by_the_daemon(tmp_path: Path) -> None:
    conf = SYSTEMD / "tmpfiles.d" / "lazy-transcode.conf"
    (tmp_path / "etc").mkdir()
    sysusers = SYSTEMD / "sysusers.d" / "lazy-transcode.conf"
    subprocess.run(["systemd-sysusers", f"--root={tmp_path}", str(sysusers)], check=True, capture_output=True)
    done = subprocess.run(
        ["systemd-tmpfiles", f"--root={tmp_path}", "--create", str(conf)], capture_output=True, text=True, timeout=30
    )
    assert done.returncode == 0, done.stderr
    state = tmp_path / "var/lib/lazy-transcode"
    assert state.is_dir()
    assert oct(state.stat().st_mode & 0o7777) == "0o750"
    uid = next(
        int(line.split(":")[2])
        for line in (tmp_path / "etc/passwd").read_text().splitlines()
        if line.startswith("lazy-transcode:")
    )
    assert state.stat().st_uid == uid


def _uncommented_config() -> tuple[dict, set[str]]:
    """The shipped config with every `# key = value` line uncommented, and the keys marked as examples."""
    lines, examples = [], set()
    for line in (REPO / "packaging" / "config.toml").read_text().splitlines():
        match = re.match(r"^# ?(\[[a-z_]+\]|[a-z_]+ = .*)$", line)
        if match:
            lines.append(match.group(1))
            if re.search(r"# example; default: unset$", line):
                examples.add(match.group(1).split(" = ")[0])
    return tomllib.loads("\n".join(lines)), examples


def test_shipped_config_lists_every_key_with_its_default() -> None:
    from lazy_transcode.daemon.config import KEYS, build_config
    from lazy_transcode.jobs.api import JobOptions

    data, examples = _uncommented_config()
    assert set(data) == set(KEYS), "the shipped config must show every key of the contract"
    option_names = {f.name for f in fields(JobOptions)}
    assert set(data["defaults"]) == option_names, "[defaults] must show every job option"
    # The documented values are the defaults the daemon uses under systemd (example-only keys aside).
    env = {"RUNTIME_DIRECTORY": "/run/lazy-transcode", "STATE_DIRECTORY": "/var/lib/lazy-transcode"}
    shown = build_config(data, env=env)
    default = build_config({}, env=env)
    for key in ("socket", "events_socket", "state_dir", "workers", "checkpoint_interval", "library_roots", "ffmpeg"):
        assert getattr(shown, key) == getattr(default, key), key
    baseline = JobOptions()
    for name, value in data["defaults"].items():
        if name in examples:
            assert getattr(baseline, name) is None, f"{name} is marked 'default: unset' but has a default"
        else:
            assert getattr(baseline, name) == value, f"[defaults] {name} = {value!r}, but the default is"
    # As shipped (everything commented) it is a valid, empty configuration.
    assert tomllib.loads((REPO / "packaging" / "config.toml").read_text()) == {}
