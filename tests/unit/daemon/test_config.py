"""Config: the contract's lookup order, defaults, flags over file, one-line errors and exit 78."""

from __future__ import annotations

from pathlib import Path

import pytest

from lazy_transcode import endpoints
from lazy_transcode.daemon import paths
from lazy_transcode.daemon.config import ConfigError, build_config, find_config_file, load_config
from lazy_transcode.daemon.main import main


def env_for(tmp_path: Path, **extra: str) -> dict[str, str]:
    return {"HOME": str(tmp_path / "home"), **extra}


def test_defaults_without_any_file(tmp_path: Path) -> None:
    cfg = build_config({}, env=env_for(tmp_path, XDG_RUNTIME_DIR="/run/user/1000"))
    assert cfg.socket == "ipc:///run/user/1000/lazy-transcode/ltd.sock"
    assert cfg.events_socket == "ipc:///run/user/1000/lazy-transcode/ltd-events.sock"
    assert cfg.state_dir == tmp_path / "home/.local/state/lazy-transcode"
    assert (cfg.workers, cfg.checkpoint_interval, cfg.library_roots, cfg.ffmpeg, cfg.defaults) == (1, 10.0, [], "", {})


def test_systemd_directories_win(tmp_path: Path) -> None:
    env = env_for(tmp_path, RUNTIME_DIRECTORY="/run/lazy-transcode", STATE_DIRECTORY="/var/lib/lazy-transcode",
                  XDG_RUNTIME_DIR="/run/user/1", XDG_STATE_HOME="/x")  # fmt: skip
    cfg = build_config({}, env=env)
    assert cfg.socket == "ipc:///run/lazy-transcode/ltd.sock"
    assert cfg.state_dir == Path("/var/lib/lazy-transcode")


def test_fallbacks(tmp_path: Path) -> None:
    assert endpoints.default_socket({}, uid=42) == "ipc:///tmp/lazy-transcode-42/ltd.sock"
    assert endpoints.default_socket({}, uid=42, tmp_dir=str(tmp_path)) == f"ipc://{tmp_path}/lazy-transcode-42/ltd.sock"
    assert paths.default_state_dir({"XDG_STATE_HOME": "/s"}) == Path("/s/lazy-transcode")


def test_lookup_order(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    user = tmp_path / "xdg" / "lazy-transcode" / "config.toml"
    user.parent.mkdir(parents=True)
    user.write_text("workers = 3\n")
    env = env_for(tmp_path, XDG_CONFIG_HOME=str(tmp_path / "xdg"))
    assert find_config_file(None, env) == (user, False)
    assert find_config_file(None, {**env, "LAZY_TRANSCODE_CONFIG": "/e.toml"}) == (Path("/e.toml"), True)
    assert find_config_file("/c.toml", {**env, "LAZY_TRANSCODE_CONFIG": "/e.toml"}) == (Path("/c.toml"), True)
    assert load_config(None, None, env).workers == 3
    assert load_config(None, {"workers": 2}, env).workers == 2  # a flag wins over the file


def test_full_file(tmp_path: Path) -> None:
    root = tmp_path / "lib"
    root.mkdir()
    (tmp_path / "link").symlink_to(root)
    file = tmp_path / "c.toml"
    file.write_text(
        f'socket = "ipc://{tmp_path}/s/a.sock"\nworkers = 2\ncheckpoint_interval = 2.5\n'
        f'library_roots = ["{tmp_path}/link"]\n[defaults]\nmode = "qp"\nqp = 28\npreset = "ultrafast"\n'
    )
    cfg = load_config(str(file), None, env_for(tmp_path))
    assert cfg.events_socket == f"ipc://{tmp_path}/s/ltd-events.sock"
    assert cfg.library_roots == [root.resolve()]
    assert cfg.defaults == {"mode": "qp", "qp": 28, "preset": "ultrafast"}
    assert cfg.checkpoint_interval == 2.5 and cfg.source == file


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ("wrokers = 2", "wrokers"),
        ("workers = 0", "workers"),
        ("workers = 1.5", "workers"),
        ("workers = true", "workers"),
        ('checkpoint_interval = "x"', "checkpoint_interval"),
        ('socket = "tcp://127.0.0.1:5"', "socket"),
        ('socket = "ipc://relative.sock"', "socket"),
        ('library_roots = "/x"', "library_roots"),
        ('library_roots = ["rel"]', "library_roots"),
        ("ffmpeg = 3", "ffmpeg"),
        ('[defaults]\nmode = "fast"', "defaults"),
        ("[defaults]\nbogus = 1", "defaults"),
        ('[defaults]\nqp = "30"', "defaults"),
        ("state_dir = 5", "state_dir"),
        ("piece_workers = 0", "piece_workers"),
        ('piece_workers = "many"', "piece_workers"),
        ("piece_workers = 2.5", "piece_workers"),
    ],
)
def test_bad_values_name_the_key(tmp_path: Path, text: str, key: str) -> None:
    file = tmp_path / "c.toml"
    file.write_text(text + "\n")
    with pytest.raises(ConfigError) as info:
        load_config(str(file), None, env_for(tmp_path))
    message = str(info.value)
    assert key in message and str(file) in message and "\n" not in message


@pytest.mark.parametrize(
    ("text", "option"),
    [
        ("qp = 300", "qp"),
        ('qp = "30"', "qp"),
        ('mode = "fast"', "mode"),
        ("bogus = 1", "bogus"),
        ("vmaf_target = 0", "vmaf_target"),
        ("samples = true", "samples"),
        ('replace = true\noutput_dir = "/o"', "output_dir"),
    ],
)
def test_bad_defaults_name_the_option(tmp_path: Path, text: str, option: str) -> None:
    file = tmp_path / "c.toml"
    file.write_text("[defaults]\n" + text + "\n")
    with pytest.raises(ConfigError) as info:
        load_config(str(file), None, env_for(tmp_path))
    message = str(info.value)
    assert "defaults: " in message and option in message and "\n" not in message


def test_ltd_exits_78_with_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    file = tmp_path / "c.toml"
    file.write_text("colour = 'blue'\n")
    assert main(["--config", str(file), "--state-dir", str(tmp_path / "st")]) == 78
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "colour" in err[0]
    assert main(["--config", str(tmp_path / "missing.toml")]) == 78
    file.write_text("workers = [\n")
    assert main(["--config", str(file)]) == 78
    file.write_text("")
    assert main(["--config", str(file), "--workers", "0"]) == 78
    assert main(["--config", str(file), "--ffmpeg", str(tmp_path / "no-ffmpeg")]) == 78
    assert not (tmp_path / "st").exists()  # nothing was created for a bad config


@pytest.mark.parametrize(("text", "value"), [("", None), ('piece_workers = "auto"', None), ("piece_workers = 3", 3)])
def test_piece_workers(tmp_path: Path, text: str, value: int | None) -> None:
    file = tmp_path / "c.toml"
    file.write_text(text + "\n")
    assert load_config(str(file), None, env_for(tmp_path)).piece_workers == value
