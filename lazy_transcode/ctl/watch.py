"""`ltctl watch`: live progress bars from ltd's events socket.

It subscribes first, then asks for the current state (so nothing falls between the two), then follows
events; a periodic re-read of the state covers events a PUB socket dropped and notices a daemon that
went away. It ends when the job (or every job) has ended: exit 0, or 1 when the watched job failed.
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


def finished(rows: dict[int, dict[str, Any]], job_id: int | None, held: bool) -> bool:
    if job_id is not None:
        return job_id in rows and rows[job_id]["state"] in FINAL_STATES
    waiting = ("running",) if held else ("running", "queued")
    return not any(row["state"] in waiting for row in rows.values())


def apply_event(rows: dict[int, dict[str, Any]], event: dict[str, Any], job_id: int | None) -> None:
    """Fold one job event into the rows being shown."""
    jid = event.get("job")
    if not isinstance(jid, int) or (job_id is not None and jid != job_id):
        return
    row = rows.setdefault(jid, {"id": jid, "state": "queued", "file": event.get("file", "")})
    if event.get("type") == "state":
        row["state"] = event.get("state", row["state"])
        if event.get("file"):
            row["file"] = event["file"]
        if event.get("error"):
            row["error"] = event["error"]
        if row["state"] in ("completed", "skipped"):
            row["step"], row["percent"] = "done", 100.0
    elif event.get("type") == "progress":
        row["state"] = "running" if row["state"] == "queued" else row["state"]
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
        rows, held = _fetch(settings, job_id, call)
        if settings.json:
            return _follow_json(sub, settings, job_id, call, rows, held, protocol)
        return _follow_bars(sub, settings, job_id, call, rows, held, protocol)
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


def _exit_code(rows: dict[int, dict[str, Any]], job_id: int | None) -> int:
    if job_id is not None and rows.get(job_id, {}).get("state") in ("failed", "cancelled"):
        return 1
    return 0


def _follow_json(sub: Any, settings: Any, job_id: int | None, call: Any, rows: Any, held: bool, protocol: Any) -> int:
    for row in rows.values():
        sys.stdout.write(json.dumps({"type": "row", **row}) + "\n")
    last_sync = time.monotonic()
    while not finished(rows, job_id, held):
        for event in _events(sub, protocol, 0.5):
            apply_event(rows, event, job_id)
            if job_id is None or event.get("job") == job_id:
                sys.stdout.write(json.dumps(event) + "\n")
        sys.stdout.flush()
        if time.monotonic() - last_sync > RESYNC_SECONDS:
            fresh, held = _fetch(settings, job_id, call)
            _merge(rows, fresh, job_id)
            last_sync = time.monotonic()
    return _exit_code(rows, job_id)


def _merge(rows: dict[int, dict[str, Any]], fresh: dict[int, dict[str, Any]], job_id: int | None) -> None:
    """A re-read: pending jobs come from the daemon; jobs gone from the pending list have ended."""
    for jid, row in list(rows.items()):
        if jid not in fresh and row["state"] not in FINAL_STATES and job_id is None:
            row["state"] = "completed" if row.get("percent") == 100 else row["state"]
            if row["state"] not in FINAL_STATES:
                row["state"] = "ended"
    rows.update(fresh)


def _follow_bars(sub: Any, settings: Any, job_id: int | None, call: Any, rows: Any, held: bool, protocol: Any) -> int:
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
        while not finished(rows, job_id, held):
            for event in _events(sub, protocol, 0.5):
                apply_event(rows, event, job_id)
            if time.monotonic() - last_sync > RESYNC_SECONDS:
                fresh, held = _fetch(settings, job_id, call)
                _merge(rows, fresh, job_id)
                last_sync = time.monotonic()
            draw()
    return _exit_code(rows, job_id)
