"""`ltctl`: the thin client of ltd (Typer). Exit 0 done, 1 the daemon said no, 2 usage, 69 unreachable.

Only typer and the stdlib load at start: zmq, msgpack and rich are imported inside the commands that
use them. The commands run most often from scripts (`ping`, `pause`, `resume`) are parsed by
`ctl.fast` without building Typer's command tree (whose value checks load pydantic, ~60 ms), so
`ltctl ping` costs little more than importing typer, zmq and msgpack; anything else, `--help` included,
goes through Typer.
"""

from __future__ import annotations

import json
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import Annotated, Any

import typer

from lazy_transcode.ctl.client import BadArguments, DaemonError, Unreachable, request
from lazy_transcode.ctl.farm_view import farm_line, farm_lines
from lazy_transcode.ctl.fast import Quick
from lazy_transcode.ctl.fast import parse as parse_quick
from lazy_transcode.ctl.job_options import given_options, with_job_options

EX_DAEMON_ERROR = 1
EX_USAGE = 2
EX_UNAVAILABLE = 69
FINAL_STATES = ("completed", "failed", "cancelled", "skipped")

app = typer.Typer(
    name="ltctl",
    help=(
        "Control ltd, the lazy-transcode daemon. Exit codes: 0 done, 1 the daemon answered with an error"
        " (or a job could not be cancelled), 2 usage, 69 the daemon cannot be reached."
    ),
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)


@dataclass
class Settings:
    socket: str | None = None
    json: bool = False
    timeout: float = 5.0

    @property
    def endpoint(self) -> str:
        from lazy_transcode.endpoints import client_endpoint

        endpoint = client_endpoint(self.socket)
        if not endpoint.startswith("ipc://"):
            where = "--socket" if self.socket else "$LAZY_TRANSCODE_SOCKET"
            raise _fail(
                f"{where}: only ipc:// endpoints are supported (ltd listens on a local socket), not {endpoint[:80]!r}",
                EX_USAGE,
            )
        return endpoint


JsonOpt = Annotated[bool, typer.Option("--json", help="Machine output (JSON) on stdout.")]


@app.callback()
def main_options(
    ctx: typer.Context,
    socket: Annotated[
        str | None,
        typer.Option(
            "--socket",
            metavar="ENDPOINT",
            help="Daemon endpoint, ipc://PATH (default: $LAZY_TRANSCODE_SOCKET, then the per-user and system sockets).",
        ),
    ] = None,
    json_out: JsonOpt = False,
    timeout: Annotated[
        float, typer.Option("--timeout", min=0.1, metavar="SECONDS", help="Seconds to wait for the daemon.")
    ] = 5.0,
) -> None:
    settings = Settings(socket=socket, json=json_out, timeout=timeout)
    if socket is not None:
        _ = settings.endpoint  # a tcp:// endpoint is refused at once, not after the timeout
    ctx.obj = settings


def _settings(ctx: typer.Context, json_out: bool) -> Settings:
    settings: Settings = ctx.obj
    if json_out:
        settings.json = True
    return settings


def _fail(message: str, code: int) -> typer.Exit:
    print(f"ltctl: {message}", file=sys.stderr)
    return typer.Exit(code)


def call(settings: Settings, cmd: str, args: dict[str, Any] | None = None) -> Any:
    """One request; the exit codes of the contract on failure."""
    try:
        return request(settings.endpoint, cmd, args, timeout=settings.timeout)
    except BadArguments as exc:
        raise _fail(str(exc), EX_USAGE) from None
    except Unreachable as exc:
        raise _fail(str(exc), EX_UNAVAILABLE) from None
    except DaemonError as exc:
        raise _fail(exc.message, EX_DAEMON_ERROR) from None


def emit_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, default=str) + "\n")


def fmt_eta(seconds: float | None) -> str:
    if seconds is None:
        return ""
    seconds = max(0, int(seconds))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def fmt_num(value: float | None, digits: int = 1) -> str:
    return "" if value is None else f"{value:.{digits}f}"


# --- commands ---------------------------------------------------------------------------------------


@app.command()
def ping(ctx: typer.Context, json_out: JsonOpt = False) -> None:
    """Check that ltd answers; print its version."""
    settings = _settings(ctx, json_out)
    result = call(settings, "ping")
    if settings.json:
        emit_json(result)
    else:
        print(f"pong (ltd {result.get('version')}, pid {result.get('pid')})")


@app.command()
@with_job_options
def add(
    ctx: typer.Context,
    paths: Annotated[list[Path], typer.Argument(metavar="PATH", help="Video files or folders (expanded recursively).")],
    paused: Annotated[bool, typer.Option("--paused", help="Queue the jobs paused.")] = False,
    priority: Annotated[int, typer.Option(metavar="N", help="Higher runs first.")] = 0,
    restart: Annotated[
        bool, typer.Option("--restart", help="Discard an unfinished operation recorded with other encode options.")
    ] = False,
    again: Annotated[bool, typer.Option("--again", help="Encode a file that was done before once more.")] = False,
    json_out: JsonOpt = False,
    **options: Any,
) -> None:
    """Queue one job per video file; print the new job ids.

    By default (the daemon's [defaults] may change it): --mode qp, which searches the highest CRF/QP whose
    VMAF reaches --vmaf-target 95 on sample clips, then encodes the file with it; --encoder libx265 with
    its own default preset (medium); --container mkv; the output beside the source, named
    {stem}_q{N}.mkv. Options that cannot go together, an unknown preset or an encoder this machine cannot
    run are refused before anything is queued (exit 1), as is a file already queued with other options.
    """
    settings = _settings(ctx, json_out)
    args: dict[str, Any] = {
        "paths": [os.path.abspath(p) for p in paths],
        "options": given_options(options),
        "paused": paused,
        "priority": priority,
    }
    args.update({k: True for k, v in (("restart", restart), ("again", again)) if v})
    result = call(settings, "add", args)
    if settings.json:
        emit_json(result)
        return
    for job_id in result.get("ids", []):
        print(job_id)
    for skipped in result.get("skipped", []):
        if "job" in skipped:
            print(f"ltctl: {skipped['file']} is already queued as job {skipped['job']}", file=sys.stderr)
        else:
            print(f"ltctl: {skipped['file']}: {skipped.get('reason')}", file=sys.stderr)


@app.command("list")
def list_jobs(
    ctx: typer.Context,
    state: Annotated[
        list[str] | None, typer.Option(metavar="STATE", help="Only jobs in this state (repeatable).")
    ] = None,
    json_out: JsonOpt = False,
) -> None:
    """One row per job: id, state, mode, step, progress, fps, ETA, file."""
    settings = _settings(ctx, json_out)
    result = call(settings, "list", {"states": state} if state else {})
    if settings.json:
        emit_json(result)
        return
    rows = [
        (
            str(row["id"]),
            shown_state(row),
            row.get("mode") or "",
            row.get("step") or "",
            fmt_num(row.get("percent")),
            fmt_num(row.get("fps")),
            fmt_eta(row.get("eta")),
            short(row.get("reason")),
            row["file"],
        )
        for row in result.get("jobs", [])
    ]
    headers = ("ID", "STATE", "MODE", "STEP", "%", "FPS", "ETA", "REASON", "FILE")
    sys.stdout.write(render_table(headers, rows, right=(0, 4, 5, 6), bold=sys.stdout.isatty()))
    if result.get("held"):
        print("queue held (ltctl resume --all releases it)")
    for line in schedule_lines(result.get("schedule") or {}, inside=False):
        print(line)
    unsaved = sum(1 for row in result.get("jobs", []) if shown_state(row) != row["state"])
    if unsaved:
        print("* not saved in the queue yet: after a restart ltd has the job as it last saved it")
    if result.get("queue_error"):
        print(f"queue error: {queue_error_line(result['queue_error'], unsaved)}")


def short(text: str | None, width: int = 40) -> str:
    """A reason cut to fit a column (the whole of it is in `status JOB` and `--json`)."""
    line = " ".join(str(text or "").split())
    return line if len(line) <= width else line[: width - 1] + "…"


def shown_state(row: dict[str, Any]) -> str:
    """A job's state; one the daemon could not save yet is shown with a star (the saved one is in --json)."""
    unsaved = row.get("unsaved")
    return f"{unsaved}*" if unsaved and unsaved != row["state"] else str(row["state"])


def render_table(
    headers: tuple[str, ...], rows: list[tuple[str, ...]], right: tuple[int, ...] = (), bold: bool = False
) -> str:
    """An aligned text table; linear in the rows (rich's Table needs ~2 ms a row: 20 s for 10,000 jobs)."""
    widths = [max([len(h), *(len(r[i]) for r in rows)]) for i, h in enumerate(headers)]
    last = len(headers) - 1

    def line(cells: tuple[str, ...]) -> str:
        out = []
        for i, cell in enumerate(cells):
            if i == last:
                out.append(cell)
            elif i in right:
                out.append(cell.rjust(widths[i]))
            else:
                out.append(cell.ljust(widths[i]))
        return "  ".join(out).rstrip()

    head = line(headers)
    lines = [f"\033[1m{head}\033[0m" if bold else head, *map(line, rows)]
    return "\n".join(lines) + "\n"


@app.command()
def status(
    ctx: typer.Context,
    job: Annotated[int | None, typer.Argument(metavar="JOB", help="A job id; without it, the daemon.")] = None,
    json_out: JsonOpt = False,
) -> None:
    """The daemon (version, uptime, workers, job counts) or one job in full."""
    settings = _settings(ctx, json_out)
    result = call(settings, "status", {"id": job} if job is not None else {})
    if settings.json:
        emit_json(result)
        return
    if "daemon" in result:
        d = result["daemon"]
        counts = ", ".join(f"{n} {s}" for s, n in d["counts"].items() if n) or "no jobs"
        print(f"ltd {d['version']} (pid {d['pid']}), up {fmt_eta(d['uptime'])}")
        print(f"workers: {d['workers']} ({d['running']} running){'; queue held' if d['held'] else ''}")
        print(f"jobs: {counts}")
        for line in schedule_lines(d.get("schedule") or {}):
            print(line)
        for lib in d.get("libraries") or []:
            if not lib.get("reachable", True):
                print(f"library {lib['path']}: unreachable ({lib.get('error')}); nothing is queued from it")
        if d.get("queue_error"):
            print(f"queue error: {queue_error_line(d['queue_error'], d.get('unsaved', 0))}")
        if d.get("farm"):
            print(farm_line(d["farm"]))
        print(f"socket: {d['socket']}  events: {d['events_socket']}")
        print(f"state_dir: {d['state_dir']}")
        return
    j = result["job"]
    row = j.get("row", {})
    unsaved = j.get("unsaved")
    if unsaved and unsaved != j["state"]:
        print(f"job {j['id']}: {unsaved}, not saved in the queue yet (saved as {j['state']})")
    else:
        print(f"job {j['id']}: {j['state']}")
    from lazy_transcode.ctl.words import describe_result, describe_settings

    print(f"file: {j['input']}")
    print(f"priority: {j['priority']}")
    print(f"settings: {describe_settings(j['options'])}")
    if row.get("step"):
        speed = f", {fmt_num(row.get('fps'))} fps, ETA {fmt_eta(row.get('eta'))}" if row.get("fps") else ""
        print(f"step: {row['step']} {fmt_num(row.get('percent'))}%{speed}")
    if j.get("result"):
        print(f"result: {describe_result(j['result'])}")
    if j.get("error"):
        print(f"last error: {j['error']}")


def schedule_lines(schedule: dict[str, Any], inside: bool = True) -> list[str]:
    """`outside schedule, next window 01:00` (`inside`: also that a window is open), and the holds of
    `pause --after-current` and `resume --now`."""
    lines = []
    if schedule.get("windows"):
        windows = ", ".join(schedule["windows"])
        if schedule.get("open"):
            if inside:
                lines.append(f"schedule: inside a window ({windows})")
        else:
            lines.append(f"schedule: outside schedule, next window {schedule.get('next_window')} ({windows})")
    if schedule.get("after_current"):
        lines.append("after current: running jobs finish, no new one starts (ltctl resume --all releases it)")
    if schedule.get("forced"):
        lines.append(f"run now (resume --now): {' '.join(map(str, schedule['forced']))}")
    return lines


@app.command()
def farm(ctx: typer.Context, json_out: JsonOpt = False) -> None:
    """The farm's workers: cores, pieces done, current piece; refused workers and why."""
    settings = _settings(ctx, json_out)
    result = call(settings, "farm")
    if settings.json:
        emit_json(result)
        return
    print("\n".join(farm_lines(result)))


def queue_error_line(error: str, unsaved: int) -> str:
    """Why the daemon cannot write its queue, and what that holds back."""
    kept = f"; {unsaved} job change(s) not saved yet, kept until it can be written" if unsaved else ""
    return f"{error}; no new job starts{kept} (ltd retries by itself)"


@app.command()
def pause(
    ctx: typer.Context,
    jobs: Annotated[list[int] | None, typer.Argument(metavar="JOB", help="Job ids.")] = None,
    all_jobs: Annotated[bool, typer.Option("--all", help="Every job, and hold the queue.")] = False,
    after_current: Annotated[
        bool, typer.Option("--after-current", help="Let running jobs finish; start no new one (until resume --all).")
    ] = False,
    json_out: JsonOpt = False,
) -> None:
    """Pause jobs at once (their ffmpeg is stopped; no CPU while paused)."""
    _pause_resume(ctx, "pause", jobs, all_jobs, json_out, {"after_current": True} if after_current else {})


@app.command()
def resume(
    ctx: typer.Context,
    jobs: Annotated[list[int] | None, typer.Argument(metavar="JOB", help="Job ids.")] = None,
    all_jobs: Annotated[bool, typer.Option("--all", help="Every paused job, and release the queue.")] = False,
    now: Annotated[bool, typer.Option("--now", help="Run these jobs at once, outside the schedule too.")] = False,
    json_out: JsonOpt = False,
) -> None:
    """Resume paused jobs."""
    if now and (all_jobs or not jobs):
        raise typer.BadParameter("resume --now takes job ids (not --all)")
    _pause_resume(ctx, "resume", jobs, all_jobs, json_out, {"now": True} if now else {})


def _pause_resume(
    ctx: typer.Context, cmd: str, jobs: list[int] | None, all_jobs: bool, json_out: bool, extra: dict[str, bool]
) -> None:
    settings = _settings(ctx, json_out)
    if not jobs and not all_jobs and not extra.get("after_current"):
        raise typer.BadParameter("give job ids or --all" + (" or --after-current" if cmd == "pause" else ""))
    result = call(settings, cmd, {"ids": jobs or [], "all": all_jobs, **extra})
    if settings.json:
        emit_json(result)
        return
    done = result.get("paused" if cmd == "pause" else "resumed", [])
    verb = "paused" if cmd == "pause" else "resumed"
    if done or not extra.get("after_current"):
        print(f"{verb}: {' '.join(map(str, done))}" if done else f"nothing to {cmd}")
    if extra.get("after_current"):
        print("after current: running jobs finish, no new one starts (ltctl resume --all releases it)")
    if all_jobs:
        print("queue held" if result.get("held") else "queue released")


@app.command()
def cancel(
    ctx: typer.Context,
    jobs: Annotated[list[int] | None, typer.Argument(metavar="JOB", help="Job ids.")] = None,
    all_jobs: Annotated[bool, typer.Option("--all", help="Every queued, running and paused job.")] = False,
    json_out: JsonOpt = False,
) -> None:
    """Stop and forget jobs; their partial files are removed, the sources untouched.

    Cancels each job it can and names those it cannot (finished, unknown): exit 1 if any.
    """
    settings = _settings(ctx, json_out)
    if not jobs and not all_jobs:
        raise typer.BadParameter("give job ids or --all")
    result = call(settings, "cancel", {"ids": jobs or [], "all": all_jobs})
    refused = result.get("refused", [])
    if settings.json:
        emit_json(result)
    else:
        done = result.get("cancelled", [])
        print(f"cancelled: {' '.join(map(str, done))}" if done else "nothing cancelled")
        for item in refused:
            print(f"ltctl: job {item['id']}: {item['reason']}", file=sys.stderr)
    if refused:
        raise typer.Exit(EX_DAEMON_ERROR)


@app.command()
def clean(
    ctx: typer.Context,
    state: Annotated[
        list[str] | None,
        typer.Option(
            "--state",
            metavar="STATE",
            help="Only jobs in this state: completed, failed, cancelled or skipped (repeatable).",
        ),
    ] = None,
    json_out: JsonOpt = False,
) -> None:
    """Remove finished jobs (completed, failed, cancelled, skipped) from the list; they stay in the history."""
    settings = _settings(ctx, json_out)
    result = call(settings, "clean", {"states": list(state)} if state else {})
    if settings.json:
        emit_json(result)
        return
    removed = result.get("removed", [])
    print(
        f"removed {len(removed)} finished job(s) from the list"
        + (f": {' '.join(map(str, removed))}" if removed else "")
    )


SinceOpt = Annotated[
    float | None, typer.Option("--since", min=0, metavar="DAYS", help="Only jobs finished in the last DAYS days.")
]


@app.command()
def history(
    ctx: typer.Context,
    failed: Annotated[bool, typer.Option("--failed", help="Only failed jobs.")] = False,
    since: SinceOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Finished jobs, oldest first: state, when, sizes, setting, VMAF, time, file, reason."""
    from lazy_transcode.ctl.words import history_rows

    settings = _settings(ctx, json_out)
    args: dict[str, Any] = {"states": ["failed"]} if failed else {}
    if since is not None:
        args["since"] = since
    result = call(settings, "history", args)
    if settings.json:
        emit_json(result)
        return
    headers = ("JOB", "STATE", "FINISHED", "IN", "OUT", "SAVED", "SETTING", "VMAF", "TIME", "REASON", "FILE")
    rows = history_rows(result.get("jobs", []))
    sys.stdout.write(render_table(headers, rows, right=(0, 3, 4, 5, 7, 8), bold=sys.stdout.isatty()))


@app.command()
def stats(
    ctx: typer.Context,
    since: SinceOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Totals of the finished jobs: files done, bytes in, bytes out, saved (and %), time spent; per library."""
    from lazy_transcode.ctl.words import stats_lines

    settings = _settings(ctx, json_out)
    result = call(settings, "stats", {"since": since} if since is not None else {})
    if settings.json:
        emit_json(result)
        return
    for line in stats_lines(result):
        print(line)


@app.command()
def library(ctx: typer.Context, json_out: JsonOpt = False) -> None:
    """The libraries ltd looks after: last scan, files seen, queued, done, skipped, reachable or not."""
    settings = _settings(ctx, json_out)
    result = call(settings, "library")
    if settings.json:
        emit_json(result)
        return
    libraries = result.get("libraries", [])
    if not libraries:
        print("no libraries configured ([[library]] in ltd's config)")
        return
    rows = [
        (
            lib["path"],
            "yes" if lib["reachable"] else "NO",
            "inotify" if lib.get("watching") else f"every {fmt_eta(lib.get('scan_interval'))}",
            fmt_time(lib.get("last_scan")),
            *(str(lib.get(k, 0)) for k in ("seen", "queued", "done", "skipped", "pending")),
        )
        for lib in libraries
    ]
    headers = ("LIBRARY", "REACHABLE", "WATCH", "LAST SCAN", "SEEN", "QUEUED", "DONE", "SKIPPED", "SETTLING")
    # the path goes last: render_table leaves the last column unpadded
    rows = [(*row[1:], row[0]) for row in rows]
    sys.stdout.write(render_table((*headers[1:], headers[0]), rows, right=(3, 4, 5, 6, 7), bold=sys.stdout.isatty()))
    for lib in libraries:
        if lib.get("error"):
            print(f"{lib['path']}: {lib['error']}")
        elif lib.get("watch_error"):
            print(f"{lib['path']}: {lib['watch_error']}")


def fmt_time(epoch: float | None) -> str:
    if epoch is None:
        return "never"
    import time

    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(epoch))


@app.command()
def watch(
    ctx: typer.Context,
    job: Annotated[int | None, typer.Argument(metavar="JOB", help="A job id; without it, the queue.")] = None,
    json_out: JsonOpt = False,
) -> None:
    """Live progress until the job ends, or (without JOB) until no job is queued, running or paused.

    Without JOB it follows the jobs queued or running when it starts and those added or resumed since; a
    pause in another shell does not end it (jobs already paused at its start are not waited for). Exit 0
    when every job followed completed or was skipped, 1 when one failed (or JOB failed or was
    cancelled), 69 when the daemon cannot be reached.
    """
    from lazy_transcode.ctl.watch import run_watch

    settings = _settings(ctx, json_out)
    code = run_watch(settings, job, call)
    raise typer.Exit(code)


@app.command()
def resumable(
    ctx: typer.Context,
    path: Annotated[Path, typer.Argument(exists=True, metavar="PATH", help="Folder (or file) to search.")],
    op_type: Annotated[
        str | None, typer.Option("--type", metavar="TYPE", help="Only this operation type (qp, vbr, auto).")
    ] = None,
    json_out: JsonOpt = False,
) -> None:
    """Incomplete operations found under PATH (no daemon needed)."""
    from lazy_transcode.state import find_resumable_operations

    ops = find_resumable_operations(path, operation_type=op_type)
    if json_out or ctx.obj.json:
        emit_json(ops)
        return
    if not ops:
        print("no resumable operations")
        return
    for op in ops:
        percent = op.get("progress_percent") or 0.0
        kind, step = op.get("operation_type", "?"), op.get("current_step", "?")
        running = f"  [running: {op['in_progress_by']}]" if op.get("in_progress_by") else ""
        print(f"{kind:5} {percent:5.1f}%  {step:20} {op.get('input_file')}{running}")


@app.command()
def cleanup(
    ctx: typer.Context,
    path: Annotated[Path, typer.Argument(exists=True, metavar="PATH", help="Folder to clean.")],
    days: Annotated[
        int, typer.Option("--days", min=0, metavar="DAYS", help="Remove completed states older than this.")
    ],
    json_out: JsonOpt = False,
) -> None:
    """Remove completed state files older than DAYS under PATH (no daemon needed)."""
    from lazy_transcode.state import cleanup_completed_states

    removed = cleanup_completed_states(path, days)
    count = removed if isinstance(removed, int) else len(removed or [])
    if json_out or ctx.obj.json:
        emit_json({"removed": removed if not isinstance(removed, int) else count, "count": count})
    else:
        print(f"removed {count} completed state file(s)")


def run_quick(quick: Quick) -> int:
    """Run a command parsed by `ctl.fast` through the same function Typer would call; its exit code."""
    ctx: Any = SimpleNamespace(obj=Settings(socket=quick.socket, json=quick.json, timeout=quick.timeout))
    try:
        if quick.socket is not None:
            _ = ctx.obj.endpoint  # refuses a tcp:// endpoint as the Typer path does
        if quick.cmd == "ping":
            ping(ctx, quick.json)
        else:
            _pause_resume(ctx, quick.cmd, quick.ids, quick.all_jobs, quick.json, {})
    except typer.Exit as exc:
        return exc.exit_code
    return 0


def main() -> None:
    quick = parse_quick(sys.argv[1:])
    if quick is not None:
        sys.stdout.flush()
        sys.exit(run_quick(quick))
    app(prog_name="ltctl")


if __name__ == "__main__":
    main()
