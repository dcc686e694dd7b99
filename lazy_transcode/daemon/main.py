"""`ltd`: the daemon's command line. Exit 0 after a clean stop, 78 on a bad configuration, 1 otherwise."""

from __future__ import annotations

import argparse
import fcntl
import os
import sys
from pathlib import Path
from typing import IO

from lazy_transcode import __version__
from lazy_transcode.daemon.config import EX_CONFIG, Config, ConfigError, load_config

EX_FAIL = 1


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="ltd", description="lazy-transcode daemon (runs in the foreground)")
    parser.add_argument("--config", help="TOML config file (default: $LAZY_TRANSCODE_CONFIG, user, /etc)")
    parser.add_argument("--socket", help="request endpoint, ipc://PATH")
    parser.add_argument("--events-socket", help="events (PUB) endpoint, ipc://PATH")
    parser.add_argument("--state-dir", help="where the queue is kept")
    parser.add_argument("--workers", type=int, help="jobs encoding at once")
    parser.add_argument("--checkpoint-interval", type=float, help="seconds between periodic checkpoints")
    parser.add_argument("--ffmpeg", help="ffmpeg binary (default: the one bundled by imageio-ffmpeg)")
    parser.add_argument("--log-level", default="info", choices=("debug", "info", "warning", "error"))
    parser.add_argument("--version", action="version", version=f"ltd {__version__}")
    return parser.parse_args(argv)


def configure(args: argparse.Namespace) -> Config:
    overrides = {
        "socket": args.socket,
        "events_socket": args.events_socket,
        "state_dir": args.state_dir,
        "workers": args.workers,
        "checkpoint_interval": args.checkpoint_interval,
        "ffmpeg": args.ffmpeg,
    }
    cfg = load_config(args.config, overrides)
    if cfg.ffmpeg:
        from lazy_transcode.media.binary import FFmpegError, ffmpeg_exe

        try:
            cfg.ffmpeg = ffmpeg_exe(cfg.ffmpeg)
        except FFmpegError as exc:
            raise ConfigError(f"ffmpeg: {exc}") from None
    return cfg


class LockError(Exception):
    """Another ltd already owns this state_dir."""


def lock_state_dir(state_dir: Path) -> IO[str]:
    """One daemon per state_dir: an flock held for the process's life (released by the kernel on death)."""
    try:
        state_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        handle = open(state_dir / "ltd.lock", "a+")  # noqa: SIM115 - held open for the process's life
    except OSError as exc:
        raise LockError(f"cannot use state_dir {state_dir}: {exc.strerror}") from None
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.seek(0)
        pid = handle.read().strip() or "?"
        handle.close()
        raise LockError(f"another ltd (pid {pid}) is already running with state_dir {state_dir}") from None
    try:  # unbuffered: a write that fails must fail here, not again when the handle is closed
        os.ftruncate(handle.fileno(), 0)
        os.pwrite(handle.fileno(), f"{os.getpid()}\n".encode(), 0)
    except OSError as exc:  # a full or failing disk: ltd could not keep its queue there either
        handle.close()
        raise LockError(f"cannot write to state_dir {state_dir}: {exc.strerror}") from None
    return handle


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        cfg = configure(args)
    except ConfigError as exc:
        print(f"ltd: {exc}", file=sys.stderr)
        return EX_CONFIG
    try:
        lock = lock_state_dir(cfg.state_dir)
    except LockError as exc:
        print(f"ltd: {exc}", file=sys.stderr)
        return EX_FAIL

    from lazy_transcode.daemon.logs import setup_logging
    from lazy_transcode.daemon.notify import Notifier
    from lazy_transcode.daemon.server import StartupError
    from lazy_transcode.daemon.service import run

    setup_logging(args.log_level)
    try:
        run(cfg, Notifier())
    except StartupError as exc:
        print(f"ltd: {exc}", file=sys.stderr)
        return EX_FAIL
    finally:
        lock.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
