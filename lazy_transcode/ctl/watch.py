"""`ltctl watch`: live progress bars from ltd's events socket.

It subscribes first, then asks for the current state (so nothing falls between the two), then follows
events; a periodic re-read of the state covers events a PUB socket dropped and notices a daemon that
went away.

`watch JOB` ends when that job has ended. `watch` follows the queue: the jobs queued or running when
it starts, those added or resumed while it runs; it ends when none of them is queued, running or paused,
so a pause (or `pause --all`) in another shell does not end it. Jobs that were already paused when it
started are shown but not waited for (they may stay paused for days). Exit codes: 0 every job followed
completed or was skipped (or there was nothing to follow), 1 one of them failed (`watch JOB`: failed or
was cancelled), 69 the daemon cannot be reached or went away.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from lazy_transcode.ctl.client import Unreachable, check_endpoint

FINAL_STATES = ("completed", "failed", "cancelled", "skipped")
RESYNC_SECONDS = 2.0


def _fetch(settings: Any, job_id: int | None, call: Callable[..., Any]) -> tuple[dict[int, dict[str, Any]], bool]:
    if job_id is not None:
        row = call(settings, "status", {"id": job_id})["job"]["row"]
        return {row["id"]: row}, False
    result = call(settings, "list", {"states": ["queued", "running", "paused"]})
    return {row["id"]: row for row in result["jobs"]}, bool(result.get("held"))


MOVING = ("queued", "running")  # a job in these states is followed from then on
PENDING = ("queued", "running", "paused")


def follow(rows: dict[int, dict[str, Any]], followed: set[int]) -> None:
    """Follow every job shown as queued or running (a paused one only once it was seen moving)."""
    followed.update(jid for jid, row in rows.items() if row["state"] in MOVING)


def finished(rows: dict[int, dict[str, Any]], job_id: int | None, followed: set[int] | None = None) -> bool:
    """Whether the watch is over: the job ended, or no followed job is queued, running or paused."""
    if job_id is not None:
        return job_id in rows and rows[job_id]["state"] in FINAL_STATES
    ids = set(rows) if followed is None else followed
    return not any(rows[jid]["state"] in PENDING for jid in ids if jid in rows)


def apply_event(
    rows: dict[int, dict[str, Any]], event: dict[str, Any], job_id: int | None, followed: set[int] | None = None
) -> None:
    """Fold one job event into the rows being shown (and the jobs followed)."""
    jid = event.get("job")
    if not isinstance(jid, int) or (job_id is not None and jid != job_id):
        return
    row = rows.setdefault(jid, {"id": jid, "state": "queued", "file": event.get("file", "")})
    if event.get("type") == "state":
        row["state"] = event.get("state", row["state"])
        if followed is not None and row["state"] in MOVING:
            followed.add(jid)
        if row["state"] == "paused":
            row["fps"] = row["eta"] = None
        if event.get("file"):
            row["file"] = event["file"]
        if event.get("error"):
            row["error"] = event["error"]
        if row["state"] in ("completed", "skipped"):
            row["step"], row["percent"] = "done", 100.0
    elif event.get("type") == "progress":
        row["state"] = "running" if row["state"] == "queued" else row["state"]
        if followed is not None and row["state"] in MOVING:
            followed.add(jid)
        row["step"] = event.get("step")
        row["percent"] = event.get("percent")
        row["fps"] = event.get("fps")
        row["eta"] = event.get("eta_seconds")


def run_watch(settings: Any, job_id: int | None, call: Callable[..., Any]) -> int:
    import zmq

    from lazy_transcode import protocol

    events_endpoint = call(settings, "status")["daemon"]["events_socket"]
    try:
        check_endpoint(events_endpoint)
    except Unreachable as exc:
        print(f"ltctl: {exc}", file=sys.stderr)
        return 69
    sub = zmq.Context.instance().socket(zmq.SUB)
    sub.setsockopt(zmq.LINGER, 0)
    sub.setsockopt(zmq.SUBSCRIBE, b"job")
    sub.connect(events_endpoint)
    try:
        rows, _held = _fetch(settings, job_id, call)
        followed: set[int] = set()
        follow(rows, followed)
        if settings.json:
            return _follow_json(sub, settings, job_id, call, rows, followed, protocol)
        return _follow_bars(sub, settings, job_id, call, rows, followed, protocol)
    finally:
        sub.close(linger=0)


def _events(sub: Any, protocol: Any, wait: float) -> list[dict[str, Any]]:
    out = []
    if sub.poll(int(wait * 1000)):
        while True:
            try:
                frames = sub.recv_multipart(flags=1)  # zmq.NOBLOCK
            except Exception:
                break
            try:
                event = protocol.unpack(frames[-1], limit=protocol.MAX_REQUEST_BYTES)
            except protocol.ProtocolError:
                continue
            if isinstance(event, dict):
                out.append(event)
    return out


def exit_code(rows: dict[int, dict[str, Any]], job_id: int | None, followed: set[int]) -> int:
    """1 when the watched job failed or was cancelled, or a followed job failed; else 0."""
    if job_id is not None:
        return 1 if rows.get(job_id, {}).get("state") in ("failed", "cancelled") else 0
    return 1 if any(rows.get(jid, {}).get("state") == "failed" for jid in followed) else 0


def _resync(settings: Any, job_id: int | None, call: Any, rows: Any, followed: set[int]) -> None:
    fresh, _held = _fetch(settings, job_id, call)
    gone = [jid for jid in followed if jid not in fresh and rows.get(jid, {}).get("state") not in FINAL_STATES]
    if job_id is None and gone:  # ended between two events we missed: how, the daemon says
        ended = call(settings, "list", {"states": list(FINAL_STATES)})["jobs"]
        fresh.update({row["id"]: row for row in ended if row["id"] in gone})
    _merge(rows, fresh, job_id)
    follow(fresh, followed)


def _follow_json(
    sub: Any, settings: Any, job_id: int | None, call: Any, rows: Any, followed: set[int], protocol: Any
) -> int:
    for row in rows.values():
        sys.stdout.write(json.dumps({"type": "row", **row}) + "\n")
    sys.stdout.flush()
    last_sync = time.monotonic()
    while not finished(rows, job_id, followed):
        for event in _events(sub, protocol, 0.5):
            apply_event(rows, event, job_id, followed)
            if job_id is None or event.get("job") == job_id:
                sys.stdout.write(json.dumps(event) + "\n")
        sys.stdout.flush()
        if time.monotonic() - last_sync > RESYNC_SECONDS:
            states = {jid: row["state"] for jid, row in rows.items()}
            _resync(settings, job_id, call, rows, followed)
            for jid, row in rows.items():  # ended before its event was read (or the event was dropped): say so
                if row["state"] in FINAL_STATES and states.get(jid) != row["state"] and job_id in (None, jid):
                    sys.stdout.write(json.dumps({"type": "row", **row}) + "\n")
            sys.stdout.flush()
            last_sync = time.monotonic()
    return exit_code(rows, job_id, followed)


def _merge(rows: dict[int, dict[str, Any]], fresh: dict[int, dict[str, Any]], job_id: int | None) -> None:
    """A re-read: pending jobs come from the daemon; jobs gone from the pending list have ended."""
    for jid, row in list(rows.items()):
        if jid not in fresh and row["state"] not in FINAL_STATES and job_id is None:
            row["state"] = "completed" if row.get("percent") == 100 else row["state"]
            if row["state"] not in FINAL_STATES:
                row["state"] = "ended"
    rows.update(fresh)


def _follow_bars(
    sub: Any, settings: Any, job_id: int | None, call: Any, rows: Any, followed: set[int], protocol: Any
) -> int:
    from rich.progress import BarColumn, Progress, TaskID, TextColumn

    bars: dict[int, TaskID] = {}
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("{task.percentage:>5.1f}%"),
        TextColumn("{task.fields[extra]}"),
    ) as progress:

        def draw() -> None:
            for jid, row in rows.items():
                name = Path(str(row.get("file", ""))).name
                desc = f"#{jid} {row['state']:<9} {(row.get('step') or '')[:14]:<14} {name[:40]}"
                fps = f"{row['fps']:.1f} fps" if row.get("fps") else ""
                eta = row.get("eta")
                extra = f"{fps} ETA {int(eta) // 60}:{int(eta) % 60:02d}" if eta is not None else fps
                done = 100.0 if row["state"] in ("completed", "skipped") else float(row.get("percent") or 0.0)
                if jid not in bars:
                    bars[jid] = progress.add_task(desc, total=100.0, completed=done, extra=extra)
                else:
                    progress.update(bars[jid], description=desc, completed=done, extra=extra)

        draw()
        last_sync = time.monotonic()
        while not finished(rows, job_id, followed):
            for event in _events(sub, protocol, 0.5):
                apply_event(rows, event, job_id, followed)
            if time.monotonic() - last_sync > RESYNC_SECONDS:
                _resync(settings, job_id, call, rows, followed)
                last_sync = time.monotonic()
            draw()
    return exit_code(rows, job_id, followed)
