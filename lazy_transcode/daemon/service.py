"""The daemon's life: bind the sockets, recover the queue, notify systemd, serve, and stop cleanly.

Order matters for systemd: READY=1 goes out only after both sockets are bound and every interrupted
job is back in the queue; on SIGTERM/SIGINT every job checkpoints and stops before the process exits.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import sqlite3
from typing import Any

import zmq
import zmq.asyncio

from lazy_transcode.daemon.config import Config
from lazy_transcode.daemon.context import Context
from lazy_transcode.daemon.events import EventBus
from lazy_transcode.daemon.libraries import Libraries
from lazy_transcode.daemon.notifications import Notifications
from lazy_transcode.daemon.notify import Notifier, status_line
from lazy_transcode.daemon.queue_store import STORE_ERRORS, QueueStore, QueueVersionError
from lazy_transcode.daemon.scheduler import Scheduler
from lazy_transcode.daemon.server import Access, Server, StartupError, bind, prepare_socket_dir, secure
from lazy_transcode.daemon.timetable import clock
from lazy_transcode.daemon.worker import FileRemover, JobRunner, engine_remover, engine_runner
from lazy_transcode.endpoints import ipc_path

log = logging.getLogger("ltd")

STOP_TIMEOUT = 7.0  # jobs get this long to checkpoint; the whole stop stays under 10 s


async def serve(
    cfg: Config,
    notifier: Notifier,
    runner: JobRunner | None = None,
    remover: FileRemover | None = None,
) -> None:
    locks = [prepare_socket_dir(cfg.socket)]  # held until we exit: one daemon per socket
    try:
        locks.append(prepare_socket_dir(cfg.events_socket))
        await _serve_locked(cfg, notifier, runner, remover)
    finally:
        for lock in locks:
            lock.close()


async def _serve_locked(cfg: Config, notifier: Notifier, runner: JobRunner | None, remover: FileRemover | None) -> None:
    try:
        store = QueueStore(cfg.state_dir / "queue.sqlite3")
        requeued = store.requeue_interrupted()
    except (sqlite3.Error, OSError, QueueVersionError) as exc:
        raise StartupError(f"cannot open the queue {cfg.state_dir / 'queue.sqlite3'}: {exc}") from None
    if requeued:
        log.info("resuming %d interrupted job(s): %s", len(requeued), ", ".join(map(str, requeued)))
    for job_id in requeued:  # the scheduler does not exist yet: the store did this change, in one transaction
        log.info("job %d running -> queued: interrupted, it resumes from its last checkpoint", job_id)

    zctx = zmq.asyncio.Context()
    pub_ctx = zmq.Context()
    router = zctx.socket(zmq.ROUTER)
    pub = pub_ctx.socket(zmq.PUB)
    secure(router, cfg.socket)
    secure(pub, cfg.events_socket)
    pub.setsockopt(zmq.SNDHWM, 10_000)  # events: a watcher that falls this far behind loses the oldest
    bound: list[tuple[str, int]] = []
    try:
        bind(router, cfg.socket)
        bound.append(_identity(cfg.socket))
        bind(pub, cfg.events_socket)
        bound.append(_identity(cfg.events_socket))

        last_status: list[str] = [""]
        scheduler: Scheduler

        def on_change() -> None:
            try:
                counts = store.counts()
            except STORE_ERRORS:  # the queue cannot be read: the status says why, without the counts
                counts = {}
            text = status_line(counts, scheduler.held, scheduler.queue_error) + _schedule_note(scheduler)
            if text != last_status[0]:
                last_status[0] = text
                notifier.status(text)

        alerts = Notifications(cfg.notify_urls, cfg.notify_events).start()
        farm = _farm_client(cfg)
        scheduler = Scheduler(
            store,
            EventBus(pub),
            runner
            or engine_runner(
                cfg.ffmpeg or None,
                cfg.library_roots,
                piece_workers=cfg.piece_workers,
                jobs_at_once=cfg.workers,
                remote=farm,
            ),
            remover or engine_remover,
            workers=cfg.workers,
            checkpoint_interval=cfg.checkpoint_interval,
            on_change=on_change,
            timetable=cfg.timetable,
            now=clock(),
            libraries=[*cfg.library_roots, *(lib.path for lib in cfg.libraries if lib.path not in cfg.library_roots)],
            alerts=alerts,
        )
        ctx = Context(config=cfg, store=store, scheduler=scheduler, farm=farm)
        ctx.libraries = Libraries(ctx)
        server = Server(ctx, router, Access.for_endpoint(cfg.socket))
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)

        background = [
            asyncio.create_task(server.run(), name="server"),
            asyncio.create_task(scheduler.run(), name="scheduler"),
        ]
        if cfg.timetable.windows:
            background.append(asyncio.create_task(scheduler.follow_timetable(), name="schedule"))
        ctx.libraries.start()
        if farm is not None:
            background.append(asyncio.create_task(farm.run(), name="farm"))
        if notifier.watchdog_interval:
            background.append(asyncio.create_task(_watchdog(notifier, notifier.watchdog_interval), name="watchdog"))
        last_status[0] = status_line(store.counts(), scheduler.held) + _schedule_note(scheduler)
        notifier.ready(last_status[0])
        log.info("ltd ready on %s (events %s), state in %s", cfg.socket, cfg.events_socket, cfg.state_dir)

        await stop.wait()
        await ctx.libraries.stop()
        log.info("stopping: %d job(s) to checkpoint", len(scheduler.active))
        notifier.stopping()
        if scheduler.active:
            notifier.extend_timeout(STOP_TIMEOUT + 5)
        await scheduler.shutdown(STOP_TIMEOUT)
        for task in background:
            task.cancel()
        await asyncio.gather(*background, return_exceptions=True)
        if farm is not None:
            await farm.close()
        on_change()
        await asyncio.to_thread(alerts.stop)
    finally:
        router.close(linger=0)
        pub.close(linger=0)
        zctx.term()
        pub_ctx.term()
        store.close()
        for path, inode in bound:
            _unlink_if_ours(path, inode)
    log.info("stopped")


def _schedule_note(scheduler: Scheduler) -> str:
    """What holds the queue besides `pause --all`, for the systemd status."""
    note = "" if scheduler.window_open else f" (outside schedule, next window {scheduler.next_window()})"
    return note + (" (after current)" if scheduler.after_current else "")


def _farm_client(cfg: Config) -> Any:
    """The farm's client when `[farm]` names a scheduler (Dask is imported only then)."""
    if not cfg.farm.enabled:
        return None
    from lazy_transcode.farm.client import FarmClient

    return FarmClient(cfg.farm, cfg.ffmpeg or None, cfg.library_roots)


def _identity(endpoint: str) -> tuple[str, int]:
    path = ipc_path(endpoint)
    assert path is not None
    return str(path), path.stat().st_ino


def _unlink_if_ours(path: str, inode: int) -> None:
    """Remove a socket file we bound, unless another daemon has bound the path since."""
    with contextlib.suppress(OSError):
        if os.stat(path).st_ino == inode:
            os.unlink(path)


async def _watchdog(notifier: Notifier, interval: float) -> None:
    """WATCHDOG=1 from the main loop: if the loop hangs, the pings stop and systemd restarts us."""
    while True:
        notifier.watchdog()
        await asyncio.sleep(interval)


def run(cfg: Config, notifier: Notifier, **kwargs: Any) -> None:
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve(cfg, notifier, **kwargs))
