"""Config of `[[library]]` and `[schedule]`: defaults, the libraries as roots, and one-line errors naming the key."""

from __future__ import annotations

from pathlib import Path

import pytest

from lazy_transcode.daemon.config import ConfigError, load_config
from lazy_transcode.daemon.main import main


def load(tmp_path: Path, text: str):  # type: ignore[no-untyped-def]
    file = tmp_path / "c.toml"
    file.write_text(text)
    return load_config(str(file), None, {"HOME": str(tmp_path / "home")})


def test_library_defaults_and_roots(tmp_path: Path) -> None:
    cfg = load(
        tmp_path,
        f"""
library_roots = ["{tmp_path}/other"]
[defaults]
qp = 30
mode = "qp"
[[library]]
path = "{tmp_path}/films"
[[library]]
path = "{tmp_path}/shows"
watch = true
scan_interval = 60
settle_seconds = 5
[library.defaults]
qp = 34
[schedule]
windows = ["01:00-07:00", "sat 00:00-24:00"]
""",
    )
    films, shows = cfg.libraries
    assert (films.path, films.watch, films.scan_interval, films.settle_seconds) == (tmp_path / "films", False, 3600, 60)
    assert (shows.watch, shows.scan_interval, shows.settle_seconds, shows.defaults) == (True, 60, 5, {"qp": 34})
    assert shows.job_defaults(cfg.defaults) == {"qp": 34, "mode": "qp"}
    assert films.job_defaults(cfg.defaults) == {"qp": 30, "mode": "qp"}
    assert cfg.library_roots == [tmp_path / "other", tmp_path / "films", tmp_path / "shows"]
    assert [w.text for w in cfg.timetable.windows] == ["01:00-07:00", "sat 00:00-24:00"]


def test_no_roots_stays_any_path(tmp_path: Path) -> None:
    cfg = load(tmp_path, f'[[library]]\npath = "{tmp_path}/films"\n')
    assert cfg.library_roots == [] and cfg.libraries[0].path == tmp_path / "films"
    assert not cfg.timetable.windows


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ('library = "x"', "library"),
        ("[[library]]\nwatch = true", "library[0].path"),
        ('[[library]]\npath = "relative"', "library[0].path"),
        ('[[library]]\npath = "/a"\nwatch = "yes"', "library[0].watch"),
        ('[[library]]\npath = "/a"\nscan_interval = 0', "library[0].scan_interval"),
        ('[[library]]\npath = "/a"\nscan_interval = "1h"', "library[0].scan_interval"),
        ('[[library]]\npath = "/a"\nsettle_seconds = -1', "library[0].settle_seconds"),
        ('[[library]]\npath = "/a"\nsettle_seconds = true', "library[0].settle_seconds"),
        ('[[library]]\npath = "/a"\ncolour = 1', "colour"),
        ('[[library]]\npath = "/a"\n[library.defaults]\nqp = "30"', "library[0].defaults"),
        ('[[library]]\npath = "/a"\n[library.defaults]\nbogus = 1', "bogus"),
        ('[[library]]\npath = "/a"\n[[library]]\npath = "/a/b"', "library[1].path"),
        ('[schedule]\nwindows = "01:00-07:00"', "schedule.windows"),
        ('[schedule]\nwindows = ["1-7"]', "schedule.windows"),
        ('[schedule]\nwindows = ["25:00-26:00"]', "schedule.windows"),
        ('[schedule]\nwindows = ["fun 01:00-02:00"]', "fun"),
        ('[schedule]\nwindows = ["01:00-01:00"]', "schedule.windows"),
        ("[schedule]\nwindows = [1]", "schedule.windows"),
        ("[schedule]\nwhen = []", "when"),
        ('schedule = "always"', "schedule"),
    ],
)
def test_bad_values_name_the_key(tmp_path: Path, text: str, key: str) -> None:
    with pytest.raises(ConfigError) as info:
        load(tmp_path, text + "\n")
    message = str(info.value)
    assert key in message and str(tmp_path / "c.toml") in message and "\n" not in message


def test_a_library_default_that_clashes_with_the_daemon_defaults(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"library\[0\]\.defaults"):
        load(tmp_path, '[defaults]\nreplace = true\n[[library]]\npath = "/a"\n[library.defaults]\noutput_dir = "/o"\n')


def test_ltd_exits_78(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    file = tmp_path / "c.toml"
    file.write_text('[[library]]\npath = "/a"\nsettle_seconds = "soon"\n')
    assert main(["--config", str(file), "--state-dir", str(tmp_path / "st")]) == 78
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "library[0].settle_seconds" in err[0]
