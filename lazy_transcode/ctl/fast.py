"""The quick path of `ltctl ping`, `pause` and `resume`: their command lines parsed without Typer.

Typer checks each value through pydantic, whose import costs more than the rest of ltctl together. These
commands are the ones scripts and status bars run over and over, and their words are few: the global
options (`--socket EP`, `--json`, `--timeout S`), the command, job ids, `--all`, `--json`. A command
line made only of those is parsed here and runs the very same command function; anything else (`--help`,
a typo, a value out of range) returns None and goes to Typer, which says what is wrong. Stdlib only.
"""

from __future__ import annotations

from dataclasses import dataclass, field

COMMANDS = ("ping", "pause", "resume")
MIN_TIMEOUT = 0.1  # as Typer's `--timeout` declares it


@dataclass
class Quick:
    cmd: str
    socket: str | None = None
    json: bool = False
    timeout: float = 5.0
    ids: list[int] = field(default_factory=list)
    all_jobs: bool = False


def _global(words: list[str], quick: Quick) -> int | None:
    """Consume one global option at the front; how many words it took, None if it is no global option."""
    word = words[0]
    name, eq, value = word.partition("=")
    if name in ("--socket", "--timeout"):
        if not eq:
            if len(words) < 2:
                return None
            value = words[1]
        if name == "--socket":
            if not value:
                return None
            quick.socket = value
        else:
            try:
                quick.timeout = float(value)
            except ValueError:
                return None
            if not quick.timeout >= MIN_TIMEOUT or quick.timeout == float("inf"):
                return None
        return 1 if eq else 2
    if word == "--json":
        quick.json = True
        return 1
    return None


def parse(argv: list[str]) -> Quick | None:
    """The quick form of a command line, or None when Typer must parse it."""
    quick = Quick(cmd="")
    words = list(argv)
    while words and words[0].startswith("-"):
        taken = _global(words, quick)
        if taken is None:
            return None
        del words[:taken]
    if not words or words[0] not in COMMANDS:
        return None
    quick.cmd = words.pop(0)
    for word in words:
        if word == "--json":
            quick.json = True
        elif word == "--all" and quick.cmd != "ping":
            quick.all_jobs = True
        elif word.isdigit() and quick.cmd != "ping" and 1 <= int(word) < 2**63:
            quick.ids.append(int(word))
        else:
            return None
    if quick.cmd != "ping" and not quick.ids and not quick.all_jobs:
        return None  # Typer says what is missing
    return quick
