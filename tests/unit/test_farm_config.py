"""The `[farm]` table: TLS or an explicit `insecure`, path maps, and one-line errors naming the key."""

from __future__ import annotations

from pathlib import Path

import pytest

from lazy_transcode.daemon.config import ConfigError, build_config
from lazy_transcode.farm.config import PathMap, parse_farm


def test_no_farm_by_default() -> None:
    assert not parse_farm({}).enabled


def test_a_farm_without_tls_is_refused_unless_insecure() -> None:
    with pytest.raises(ValueError, match="insecure = true"):
        parse_farm({"scheduler": "tcp://host:8786"})
    cfg = parse_farm({"scheduler": "tcp://host:8786", "insecure": True})
    assert cfg.enabled and not cfg.tls


def test_tls_files_go_together_and_make_the_address_tls(tmp_path: Path) -> None:
    files = {k: str(tmp_path / k) for k in ("tls_ca_file", "tls_cert", "tls_key")}
    for path in files.values():
        Path(path).write_text("x")
    assert parse_farm({"scheduler": "tcp://h:8786", **files}).scheduler == "tls://h:8786"
    with pytest.raises(ValueError, match="go together"):
        parse_farm({"scheduler": "tls://h:8786", "tls_ca_file": files["tls_ca_file"]})
    with pytest.raises(ValueError, match="not a readable file"):
        parse_farm({"scheduler": "tls://h:8786", **files, "tls_key": str(tmp_path / "missing")})


def test_path_map_maps_the_longest_prefix_only_at_a_path_boundary() -> None:
    pm = PathMap((("/srv/media", "/mnt/media"), ("/srv/media/films", "/films")))
    assert pm.to_worker("/srv/media/tv/a.mkv") == "/mnt/media/tv/a.mkv"
    assert pm.to_worker("/srv/media/films/b.mkv") == "/films/b.mkv"
    assert pm.to_worker("/srv/mediax/c.mkv") == "/srv/mediax/c.mkv"


@pytest.mark.parametrize(
    ("table", "message"),
    [
        ({"schedular": "x"}, "unknown key 'schedular'"),
        ({"scheduler": "http://h"}, "farm.scheduler"),
        ({"scheduler": "tcp://h:1", "insecure": "yes"}, "farm.insecure"),
        ({"path_map": [{"local": "rel", "worker": "/w"}]}, "farm.path_map"),
        ({"local_pieces": -1}, "farm.local_pieces"),
    ],
)
def test_bad_values_name_the_key(table: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        build_config({"farm": table}, env={"XDG_RUNTIME_DIR": "/run/user/0"})


def test_the_daemon_config_carries_the_farm() -> None:
    cfg = build_config({"farm": {"scheduler": "tcp://h:8786", "insecure": True, "local_pieces": 0}}, env={})
    assert cfg.farm.scheduler == "tcp://h:8786" and cfg.farm.local_pieces == 0


def test_a_worker_that_fails_the_same_piece_twice_is_refused_with_why() -> None:
    from lazy_transcode.farm.client import FarmClient, Worker

    farm = FarmClient(parse_farm({"scheduler": "tcp://h:1", "insecure": True}), None, [])
    farm.client, farm.error = object(), None
    farm.workers["tcp://w:1"] = Worker(name="w1", address="tcp://w:1", cores=2)
    assert farm.slots() == 2
    failed = {"worker": "tcp://w:1", "source": "/srv/film.mkv", "piece": 7}
    farm._failed(failed, "cancelled")  # a cancel is no failure
    farm._failed(failed, "piece 7 failed: exit 1")
    assert farm.slots() == 2
    farm._failed({**failed, "piece": 8}, "piece 8 failed: exit 1")  # another piece: still one each
    assert farm.slots() == 2
    farm._failed(failed, "piece 7 failed: exit 1")
    assert farm.slots() == 0
    assert farm.status()["refused_workers"] == [
        {"name": "w1", "address": "tcp://w:1", "reason": "failed piece 7 of film.mkv twice: piece 7 failed: exit 1"}
    ]


def test_ltctl_and_a_daemon_without_a_farm_never_import_dask() -> None:
    import subprocess
    import sys

    code = (
        "import sys, lazy_transcode.ctl.app, lazy_transcode.daemon.service, lazy_transcode.daemon.config; "
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('dask', 'distributed')))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"
