"""The quick path of `ltctl ping`/`pause`/`resume`: what it parses, what it leaves to Typer, what it loads."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from lazy_transcode.ctl.fast import Quick, parse


@pytest.mark.parametrize(
    ("argv", "quick"),
    [
        (["ping"], Quick("ping")),
        (["--json", "ping"], Quick("ping", json=True)),
        (["ping", "--json"], Quick("ping", json=True)),
        (["--socket", "ipc:///x/s", "--timeout=2", "ping"], Quick("ping", socket="ipc:///x/s", timeout=2.0)),
        (["--socket=ipc:///x/s", "pause", "3", "4"], Quick("pause", socket="ipc:///x/s", ids=[3, 4])),
        (["resume", "--all", "--json"], Quick("resume", json=True, all_jobs=True)),
    ],
)
def test_the_quick_forms(argv: list[str], quick: Quick) -> None:
    assert parse(argv) == quick


@pytest.mark.parametrize(
    "argv",
    [
        [],
        ["--help"],
        ["ping", "--help"],
        ["pause"],  # nothing to pause: Typer says so
        ["pause", "0"],
        ["pause", "x"],
        ["ping", "3"],
        ["--timeout", "0.01", "ping"],  # below Typer's minimum: Typer says so
        ["--timeout", "nan", "ping"],
        ["--socket"],
        ["--verbose", "ping"],
        ["list"],
        ["pause", "--after-current"],
    ],
)
def test_everything_else_goes_to_typer(argv: list[str]) -> None:
    assert parse(argv) is None


def run_main(tmp_path: Path, *argv: str) -> tuple[int, str, list[str]]:
    """ltctl's main() with these words, in a fresh interpreter: exit code, stderr, heavy modules it loaded."""
    code = (
        "import sys\n"
        f"sys.argv = ['ltctl', *{list(argv)!r}]\n"
        "from lazy_transcode.ctl.app import main\n"
        "try:\n    main()\nexcept SystemExit as exc:\n    code = exc.code\n"
        "heavy = ('pydantic', 'rich', 'lazy_transcode.options', 'av')\n"
        "print(code, sorted(m for m in heavy if m in sys.modules))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    exit_code, _, loaded = done.stdout.strip().partition(" ")
    return int(exit_code), done.stderr, eval(loaded)


def test_quick_ping_loads_no_pydantic_nor_job_options_and_fails_like_typer(tmp_path: Path) -> None:
    endpoint = f"ipc://{tmp_path}/none/ltd.sock"
    quick = run_main(tmp_path, "--socket", endpoint, "ping")
    typer_path = run_main(tmp_path, "--socket", endpoint, "--timeout", "5.0", "ping", "--json", "--json", "x")
    assert quick[0] == 69 and quick[2] == [] and quick[1].startswith(f"ltctl: cannot reach ltd at {endpoint}")
    assert typer_path[0] == 2  # `x` is no argument of ping: Typer's usage error
    slow = run_main(tmp_path, "--socket", endpoint, "list")
    assert slow[0] == 69 and slow[1] == quick[1]  # the same one line through Typer
    refused = run_main(tmp_path, "--socket", "tcp://127.0.0.1:1", "pause", "1")
    assert refused[0] == 2 and "only ipc:// endpoints" in refused[1]
