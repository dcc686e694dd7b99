"""Layers point one way: what each part of the package (and the benchmarks) may import."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "lazy_transcode"
ABOVE_THE_BOTTOM = ("jobs", "daemon", "ctl", "cli", "library", "farm")
FORBIDDEN = {
    "state": ABOVE_THE_BOTTOM,
    "media": ABOVE_THE_BOTTOM,
    "control.py": (*ABOVE_THE_BOTTOM, "state", "media"),
    "options.py": (*ABOVE_THE_BOTTOM, "state", "media"),
    "jobs": ("daemon", "ctl", "cli", "library", "farm"),
    "library": ("daemon", "ctl", "cli", "farm"),
}


def imported(path: Path) -> set[str]:
    """Every module a file imports (at any depth of the file: lazy imports count too)."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


@pytest.mark.parametrize("part", sorted(FORBIDDEN))
def test_a_layer_imports_nothing_above_it(part: str) -> None:
    target = PACKAGE / part
    files = [target] if target.is_file() else sorted(target.rglob("*.py"))
    assert files
    bad = [
        f"{path.relative_to(ROOT)} imports {name}"
        for path in files
        for name in imported(path)
        if any(name == f"lazy_transcode.{up}" or name.startswith(f"lazy_transcode.{up}.") for up in FORBIDDEN[part])
    ]
    assert not bad, bad


def test_benchmarks_do_not_import_the_tests() -> None:
    bad = [
        f"{path.name} imports {name}"
        for path in sorted((ROOT / "bench").glob("*.py"))
        for name in imported(path)
        if name == "tests" or name.startswith("tests.")
    ]
    assert not bad, bad
