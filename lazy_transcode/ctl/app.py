"""`ltctl`: the thin client of ltd (Typer). Exit 0 done, 1 the daemon said no, 2 usage, 69 unreachable.

Only typer and the stdlib load at start: zmq, msgpack and rich are imported inside the commands that
use them, so `ltctl ping` costs little more than starting Python.
"""

from __future__ import annotations

import json
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import typer

from lazy_transcode.ctl.client import BadArguments, DaemonError, Unreachable, request
from lazy_transcode.ctl.farm_view import farm_line, farm_lines
from lazy_transcode.ctl.job_options import given_options, with_job_options

EX_DAEMON_ERROR = 1
EX_USAGE = 2
EX_UNAVAILABLE = 69
FINAL_STATES = ("completed", "failed", "cancelled", "skipped")

app = typer.Typer(
    name="ltctl",
    help="Control ltd, the lazy-transcode daemon.",
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

        return client_endpoint(self.socket)


JsonOpt = Annotated[bool, typer.Option("--json", help="Machine output (JSON) on stdout.")]


@app.callback()
def main_options(
    ctx: typer.Context,
    socket: Annotated[
        str | None, typer.Option("--socket", metavar="ENDPOINT", help="Daemon endpoint (ipc://PATH).")
    ] = None,
    json_out: JsonOpt = False,
    timeout: Annotated[float, typer.Option("--timeout", min=0.1, help="Seconds to wait for the daemon.")] = 5.0,
) -> None:
    ctx.obj = Settings(socket=socket, json=json_out, timeout=timeout)


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
    paths: Annotated[list[Path], typer.Argument(help="Video files or folders (expanded recursively).")],
    paused: Annotated[bool, typer.Option("--paused", help="Queue the jobs paused.")] = False,
    priority: Annotated[int, typer.Option(help="Higher runs first.")] = 0,
    restart: Annotated[
        bool, typer.Option("--restart", help="Discard an unfinished operation recorded with other encode options.")
    ] = False,
    again: Annotated[bool, typer.Option("--again", help="Encode a file that was done before once more.")] = False,
    json_out: JsonOpt = False,
    **options: Any,
) -> None:
    """Queue one job per video file; print the new job ids."""
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
    state: Annotated[list[str] | None, typer.Option(help="Only jobs in this state (repeatable).")] = None,
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
            row["file"],
        )
        for row in result.get("jobs", [])
    ]
    headers = ("ID", "STATE", "MODE", "STEP", "%", "FPS", "ETA", "FILE")
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
    job: Annotated[int | None, typer.Argument(help="A job id; without it, the daemon.")] = None,
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
    print(f"file: {j['input']}")
    print(f"priority: {j['priority']}")
    print("options: " + ", ".join(f"{k}={v}" for k, v in sorted(j["options"].items()) if v is not None))
    if row.get("step"):
        speed = f"fps {fmt_num(row.get('fps'))} eta {fmt_eta(row.get('eta'))}"
        print(f"step: {row['step']} {fmt_num(row.get('percent'))}% {speed}")
    if j.get("result"):
        print("result: " + ", ".join(f"{k}={v}" for k, v in j["result"].items() if v not in (None, {}, [])))
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
    jobs: Annotated[list[int] | None, typer.Argument(help="Job ids.")] = None,
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
    jobs: Annotated[list[int] | None, typer.Argument(help="Job ids.")] = None,
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
    jobs: Annotated[list[int], typer.Argument(help="Job ids.")],
    json_out: JsonOpt = False,
) -> None:
    """Stop and forget jobs; their partial files are removed, the sources untouched."""
    settings = _settings(ctx, json_out)
    result = call(settings, "cancel", {"ids": jobs})
    if settings.json:
        emit_json(result)
    else:
        done = result.get("cancelled", [])
        print(f"cancelled: {' '.join(map(str, done))}" if done else "nothing cancelled")


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
    job: Annotated[int | None, typer.Argument(help="A job id; without it, every job.")] = None,
    json_out: JsonOpt = False,
) -> None:
    """Live progress bars until the job (or every job) ends."""
    from lazy_transcode.ctl.watch import run_watch

    settings = _settings(ctx, json_out)
    code = run_watch(settings, job, call)
    raise typer.Exit(code)


@app.command()
def resumable(
    ctx: typer.Context,
    path: Annotated[Path, typer.Argument(exists=True, help="Folder (or file) to search.")],
    op_type: Annotated[str | None, typer.Option("--type", help="Only this operation type (qp, vbr, auto).")] = None,
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
    path: Annotated[Path, typer.Argument(exists=True, help="Folder to clean.")],
    days: Annotated[int, typer.Option("--days", min=0, help="Remove completed states older than this.")],
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


def main() -> None:
    app(prog_name="ltctl")


if __name__ == "__main__":
    main()
