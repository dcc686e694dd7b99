"""ltctl talks to the daemon only through protocol, endpoints and options: no module of ctl/ imports
lazy_transcode.daemon or lazy_transcode.jobs (not even inside a function), and starting it loads neither."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import lazy_transcode.ctl

CTL = Path(lazy_transcode.ctl.__file__).parent
FORBIDDEN = ("lazy_transcode.daemon", "lazy_transcode.jobs")


def imported_modules(source: str, package: str) -> list[str]:
    """Every module an import statement of `source` (a module of `package`) names, relative ones resolved."""
    found: list[str] = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found.extend(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parent = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                base = f"{parent}.{base}" if base else parent
            found.append(base)
            found.extend(f"{base}.{alias.name}" for alias in node.names)  # `from lazy_transcode import daemon`
    return found


def forbidden_imports(source: str, package: str = "lazy_transcode.ctl") -> list[str]:
    return [name for name in imported_modules(source, package) if name.startswith(FORBIDDEN)]


def test_the_check_sees_every_spelling() -> None:
    for source in (
        "from lazy_transcode.daemon.paths import ipc_path",
        "import lazy_transcode.jobs.api",
        "from lazy_transcode import daemon",
        "from ..jobs import api",
        "from .. import daemon",
        "def f():\n    from lazy_transcode.jobs.runner import run_job",
    ):
        assert forbidden_imports(source), source
    assert not forbidden_imports("from lazy_transcode import protocol\nfrom ..endpoints import ipc_path")


def test_no_ctl_module_imports_the_daemon_or_the_jobs() -> None:
    modules = sorted(CTL.rglob("*.py"))
    assert len(modules) >= 4
    for module in modules:
        package = ".".join(("lazy_transcode", "ctl", *module.relative_to(CTL).parent.parts))
        assert forbidden_imports(module.read_text(), package) == [], module


def test_starting_ltctl_loads_neither() -> None:
    code = (
        "import sys; import lazy_transcode.ctl.app; "
        "print(sorted(m for m in sys.modules if m.startswith(('lazy_transcode.daemon', 'lazy_transcode.jobs'))))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
