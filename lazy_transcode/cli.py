"""`lazy-transcode`: the one-shot foreground program (no daemon).

Same job options as `ltctl add`, plus the spec's state-management flags. Ctrl+C pauses (ffmpeg is
stopped at once and the job waits at its pause point) and asks whether to resume or quit; a second
Ctrl+C, or SIGTERM, saves the checkpoint and quits. Any later run continues from the checkpoint.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
import sys
import threading
import time
from pathlib import Path
from typing import Any

from lazy_transcode import __version__
from lazy_transcode.jobs.api import JobControl, JobOptions, JobResult, JobStopped, OptionError, Progress
from lazy_transcode.media.discover import expand
from lazy_transcode.options import OPTIONS
from lazy_transcode.state.integration import add_state_management_args, handle_state_cli

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130


def add_job_options(parser: argparse.ArgumentParser) -> None:
    """The job options of `lazy_transcode.options` (the same as `ltctl add`'s) as flags."""
    group = parser.add_argument_group("Job options")
    exclusive: dict[str, argparse._MutuallyExclusiveGroup] = {}
    for option in OPTIONS:
        if option.excludes:
            exclusive[option.name] = exclusive[option.excludes] = group.add_mutually_exclusive_group()
    for option in OPTIONS:
        if option.flag is None:
            continue
        where = exclusive.get(option.name, group)
        text = argparse.SUPPRESS if option.hidden else option.help_text.replace("%", "%%")
        # Only the options given appear in the namespace: a recorded job goes on with its own options.
        if option.type is bool:
            where.add_argument(option.flag, action="store_true", default=argparse.SUPPRESS, help=text)
            continue
        where.add_argument(
            option.flag, type=option.type, choices=option.choices, default=argparse.SUPPRESS,
            metavar=option.metavar, help=text,
        )  # fmt: skip
    group.add_argument(
        "--restart", action="store_true", help="discard an unfinished operation recorded with other encode options"
    )
    group.add_argument("--again", action="store_true", help="encode a file that was done before once more")


def given_options(args: argparse.Namespace) -> dict[str, Any]:
    """The job options given on the command line (folders made absolute); the rest are the defaults'."""
    given = {option.name: getattr(args, option.name) for option in OPTIONS if hasattr(args, option.name)}
    for option in OPTIONS:
        if option.path and given.get(option.name):
            given[option.name] = str(Path(given[option.name]).absolute())
    return given


def options_from_args(args: argparse.Namespace) -> JobOptions:
    return JobOptions.from_dict(given_options(args))


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="lazy-transcode",
        description=(
            "Transcode video files to a target quality in the foreground, resumably. By default: --mode qp, which"
            " searches the highest CRF/QP whose VMAF reaches --vmaf-target 95 on sample clips and encodes the file"
            " with it, with libx265 at its default preset (medium), into {stem}_q{N}.mkv beside the source."
        ),
        epilog="Exit codes: 0 all done or skipped, 1 a file failed or was refused (or no video file was found),"
        " 2 usage, 130 interrupted (the checkpoint is saved).",
    )
    parser.add_argument("paths", nargs="+", metavar="PATH", help="video files or folders (searched recursively)")
    add_job_options(parser)
    add_state_management_args(parser)
    parser.add_argument("--ffmpeg", default=None, metavar="PATH", help="ffmpeg binary (default: the bundled one)")
    parser.add_argument("--plain", action="store_true", help="plain progress lines even on a terminal")
    parser.add_argument("-v", "--verbose", action="store_true")
    parser.add_argument("--version", action="version", version=f"lazy-transcode {__version__}")
    return parser


class Reporter:
    """Progress on stderr: a rich bar on a terminal, plain lines (at most every 2 s) otherwise."""

    def __init__(self, plain: bool) -> None:
        self.plain = plain or not sys.stderr.isatty()
        self._last = 0.0
        self._progress = None
        self._task = None
        self._name = ""

    def start(self, name: str) -> None:
        self._name = name
        if not self.plain:
            from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn, TimeRemainingColumn

            self._progress = Progress(
                TextColumn("[bold]{task.description}"), BarColumn(), TaskProgressColumn(),
                TextColumn("{task.fields[step]} {task.fields[rate]}"), TimeRemainingColumn(),
                transient=True,
            )  # fmt: skip
            self._progress.start()
            self._task = self._progress.add_task(name, total=100, step="", rate="")

    def update(self, p: Progress) -> None:
        rate = f"{p.fps:.1f} fps" if p.fps else ""
        if p.speed:
            rate += f" {p.speed:.2f}x"
        if self._progress is not None:
            self._progress.update(self._task, completed=p.percent, step=p.step, rate=rate)
            return
        now = time.monotonic()
        if now - self._last >= 2.0 or p.percent >= 100.0:
            self._last = now
            eta = f" ETA {p.eta_seconds:.0f}s" if p.eta_seconds else ""
            print(f"{self._name}: {p.step} {p.percent:5.1f}% {rate}{eta}", file=sys.stderr, flush=True)

    def stop(self) -> None:
        if self._progress is not None:
            self._progress.stop()
            self._progress = None


class Interrupts:
    """Ctrl+C: pause and ask; Ctrl+C again or 'q': save and quit; SIGTERM: save and quit."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.control: JobControl | None = None
        self.stopping = False
        loop.add_signal_handler(signal.SIGINT, self.on_sigint)
        loop.add_signal_handler(signal.SIGTERM, self.on_sigterm)

    def on_sigint(self) -> None:
        control = self.control
        if control is None or control.paused or self.stopping:
            self.stop()
            return
        control.pause()
        print("\nPaused. Press Enter to resume, q + Enter (or Ctrl+C) to save and quit.", file=sys.stderr)
        threading.Thread(target=self._ask, args=(control,), daemon=True).start()

    def _ask(self, control: JobControl) -> None:
        line = sys.stdin.readline() if sys.stdin and not sys.stdin.closed else ""
        if not line or line.strip().lower().startswith("q"):
            self.loop.call_soon_threadsafe(self.stop)
        else:
            self.loop.call_soon_threadsafe(control.resume)

    def on_sigterm(self) -> None:
        self.stop()

    def stop(self) -> None:
        self.stopping = True
        if self.control is not None:
            self.control.request_stop()


Plans = list[tuple[Path, JobOptions]]


async def run_files(plans: Plans, args: argparse.Namespace) -> int:
    from lazy_transcode.jobs.runner import run_job

    interrupts = Interrupts(asyncio.get_running_loop())
    failed = 0
    for path, options in plans:
        if interrupts.stopping:
            return EXIT_INTERRUPTED
        reporter = Reporter(args.plain)
        reporter.start(path.name)
        control = JobControl(on_progress=reporter.update)
        interrupts.control = control
        try:
            result = await run_job(path, options, control, ffmpeg=args.ffmpeg)
        except JobStopped:
            reporter.stop()
            print(f"{path}: stopped; checkpoint saved (run again to resume)", file=sys.stderr)
            return EXIT_INTERRUPTED
        finally:
            reporter.stop()
        failed += _print_result(result)
    return EXIT_FAILED if failed else EXIT_OK


def plan_files(
    files: list[Path], given: dict[str, Any], args: argparse.Namespace
) -> tuple[list[tuple[Path, JobOptions]], int]:
    """Decide every file before any is encoded: what to run with which options, what was done before,
    what is refused (one line each, on stderr). Returns the plans and the number refused."""
    from lazy_transcode.jobs.preflight import claim, describe_claim, problem
    from lazy_transcode.jobs.recorded import decide, recorded_managers
    from lazy_transcode.media.binary import ffmpeg_exe

    exe = ffmpeg_exe(args.ffmpeg)
    plans: Plans = []
    claimed: dict[tuple[str, str, str, bool], Path] = {}
    refused = 0
    for path in files:
        present = os.path.lexists(path)
        if not present and not recorded_managers(path):
            print(f"{path}: no such file", file=sys.stderr)
            refused += 1
            continue
        decision = decide(path, given, {}, restart=args.restart, again=args.again)
        if decision.done is not None:
            print(f"{path}: {decision.done}")
            continue
        reason = decision.refused
        options = decision.options
        if reason is None and options is not None and present:
            reason = problem(path, options, exe)
        if reason is None and options is not None:
            key = claim(path, options)
            if key in claimed:
                reason = f"{claimed[key].name} writes {describe_claim(key)} too; give one of them another --output-dir"
            claimed[key] = path
        if reason is not None or options is None:
            reason = str(reason).removeprefix(f"{path}: ")
            print(f"{path}: refused: {reason}", file=sys.stderr)
            refused += 1
            continue
        plans.append((path, options))
    return plans, refused


def _print_result(result: JobResult) -> int:
    if result.status == "completed":
        saved = ""
        if result.source_size and result.output_size:
            saved = f" ({100.0 * (1 - result.output_size / result.source_size):.0f}% smaller)"
        print(f"{result.input_file}: done -> {result.output_file}{saved}")
        return 0
    if result.status == "skipped":
        print(f"{result.input_file}: skipped: {result.reason}")
        return 0
    print(f"{result.input_file}: failed: {result.reason}", file=sys.stderr)
    return 1


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING, format="%(levelname)s: %(message)s", stream=sys.stderr
    )
    handled = False
    for path in args.paths:
        handled = handle_state_cli(args, path) or handled
    if handled:
        return EXIT_OK
    try:
        given = given_options(args)
        JobOptions.from_dict(given)
    except OptionError as exc:
        parser.error(str(exc))
    files = list(expand(args.paths))
    if not files:
        print("no video files under " + ", ".join(args.paths), file=sys.stderr)
        return EXIT_FAILED
    if args.resume:
        files = [f for f in files if _has_unfinished_work(f)]
        if not files:
            print("nothing to resume", file=sys.stderr)
            return EXIT_OK
    plans, refused = plan_files(files, given, args)
    code = asyncio.run(run_files(plans, args)) if plans else EXIT_OK
    return EXIT_FAILED if refused and code == EXIT_OK else code


def _has_unfinished_work(file: Path) -> bool:
    """--resume: whether the file has an unfinished operation recorded, of any mode."""
    from lazy_transcode.jobs.recorded import recorded_managers

    return any(m.record.checkpoint.result is None for m in recorded_managers(file))


if __name__ == "__main__":
    sys.exit(main())
