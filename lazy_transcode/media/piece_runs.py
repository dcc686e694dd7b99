"""Encoding a run of consecutive pieces: one decoder for the run, a fresh encoder for every piece.

Every piece is exactly what encoding it alone gives: its encoder sees only its own frames, from the
piece's first frame (the decoder seeks to the source keyframe before it and drops to it, frame-exact).
A run is therefore any stretch of pieces, in any order relative to other runs, on this machine or
another, and a resumed job ends identical to an uninterrupted one. Inside a run the source is read
once, with no seek per piece: the decoder writes each piece's raw frames into that piece's FIFO, and
the next piece's encoder is already waiting on its FIFO when the decoder gets there, so the CPU does not
idle between pieces. That encoder is started once the one before has encoded PRESTART_SHARE of its
frames (by then the decoder is usually still feeding it; if not, the decoder waits at the next FIFO
until that encoder opens it), not earlier: until then the next piece may still go to a lane left idle
at the end of the job. The caller decides, piece by piece, whether the run goes on
(`encoder_for` returns None when another lane took the rest of the run) and what each encoder's
arguments are.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import shutil
import stat
import tempfile
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from fractions import Fraction
from pathlib import Path
from typing import Any

from lazy_transcode.control import JobControl
from lazy_transcode.media.commands import decode_pieces_args, piece_encode_args
from lazy_transcode.media.encoders import EncoderArgs
from lazy_transcode.media.pieces import FrameTiming, PiecePlan
from lazy_transcode.media.probe import MediaInfo
from lazy_transcode.media.process import FfmpegProgress, FFmpegRunError, Priority, run_ffmpeg
from lazy_transcode.media.vmaf import InlineScore, VmafError, VmafScore, parse_log

log = logging.getLogger(__name__)

FIFO_PREFIX = "lazy-transcode-"  # then the pid of the process whose decoder and encoders use the FIFOs
PRESTART_SHARE = 0.75  # of a piece's frames encoded when the next piece's encoder is started


class RunFailed(RuntimeError):
    """The run's decoder or one of its encoders failed; the message is one line."""

    def __init__(self, message: str, piece: int | None = None) -> None:
        super().__init__(message)
        self.piece = piece


def remove_stale_fifo_dirs(pid_alive: Callable[[int], bool]) -> None:
    """Remove the FIFO folders of our dead processes (a kill -9 leaves its `TemporaryDirectory` behind)."""
    base = Path(tempfile.gettempdir())
    try:
        entries = list(os.scandir(base))
    except OSError:
        return
    for entry in entries:
        pid = entry.name.removeprefix(FIFO_PREFIX).split("-", 1)[0]
        if not (entry.name.startswith(FIFO_PREFIX) and pid.isdigit()) or int(pid) == os.getpid():
            continue
        try:
            st = entry.stat(follow_symlinks=False)
            if not stat.S_ISDIR(st.st_mode) or st.st_uid != os.getuid() or pid_alive(int(pid)):
                continue
        except OSError:
            continue
        shutil.rmtree(entry.path, ignore_errors=True)


async def encode_run(
    run: Sequence[PiecePlan],
    *,
    source: Path,
    info: MediaInfo,
    time_base: str,
    ffmpeg: str,
    control: JobControl,
    part_path: Callable[[int], Path],
    encoder_for: Callable[[PiecePlan], EncoderArgs | None],
    on_frames: Callable[[PiecePlan, int], None],
    on_piece: Callable[[PiecePlan], Awaitable[None]],
    name: str = "",
    timing: FrameTiming | None = None,
    score: InlineScore | None = None,
    on_score: Callable[[PiecePlan, VmafScore], None] | None = None,
    decode_threads: int | None = None,
    defer: Callable[[Coroutine[Any, Any, None]], object] | None = None,
) -> int:
    """Encode the pieces of `run` in order into `part_path(index)`; return how many were encoded.

    `encoder_for(plan)` is asked just before a piece's encoder starts (while the piece before it is
    being encoded): its arguments, or None to end the run before that piece. `on_frames(plan, n)` reports the
    frames a piece's encoder has done; `on_piece(plan)` is awaited once a piece's encoder has exited
    (it checks and records the piece; what it raises ends the run). The decoder and every encoder
    still running are stopped when the run ends, however it ends. `name` names the file in the log
    (`source` may be a /proc path to a held descriptor). With the frames' `timing` they go to the
    encoders as YUV4MPEG (cheaper than NUT), and each encoder gives them back their timestamps.
    With `score` too, each encoder also measures its piece's VMAF against the frames it got, and
    `on_score(plan, score)` hears it before `on_piece` (not at all if that failed: the piece is good).
    `decode_threads` caps the run's decoder's threads (None: ffmpeg's choice). `defer(coro)` takes the
    `on_piece` of the run's last piece instead of awaiting it here, so that the lane is free for its next
    run while that piece is checked (the caller must await it; what it raises is then the caller's).
    """
    first = run[0]
    which = f"piece {first.index}" if len(run) == 1 else f"pieces {first.index}-{run[-1].index}"
    with tempfile.TemporaryDirectory(prefix=f"{FIFO_PREFIX}{os.getpid()}-") as fifo_dir:
        fifo = Path(fifo_dir) / ("frames_%05d.nut" if timing is None else "frames_%05d.y4m")
        frame_tb = None if timing is None else str(Fraction(time_base) * timing.step)
        scoring = score if timing is not None and on_score is not None else None

        def log_of(plan: PiecePlan) -> Path:  # in the run's private folder: no one else can place a link there
            return Path(fifo_dir) / f"vmaf_{plan.index:05d}.json"

        def fifo_of(plan: PiecePlan) -> Path:
            return Path(str(fifo).replace("%05d", f"{plan.index:05d}"))

        for plan in run:
            try:
                os.mkfifo(fifo_of(plan), 0o600)
            except OSError as exc:
                raise RunFailed(f"cannot create a FIFO in {fifo_dir}: {exc.strerror}") from None
            part_path(plan.index).unlink(missing_ok=True)
        decoder = asyncio.ensure_future(
            run_ffmpeg(
                decode_pieces_args(source, info, run, fifo, frame_tb, decode_threads),
                ffmpeg=ffmpeg,
                control=control,
                graceful_stop=False,
            )
        )
        encoders: dict[int, asyncio.Future[str]] = {}
        ended_at: int | None = None  # the run stops before this position (the rest went to another lane)
        closing = False  # the run is ending: a late progress report starts nothing

        def decoder_failed() -> bool:
            return decoder.done() and (decoder.cancelled() or decoder.exception() is not None)

        def start_encoder(n: int) -> None:
            nonlocal ended_at
            if closing or n >= len(run) or n in encoders or (ended_at is not None and n >= ended_at):
                return
            plan = run[n]
            enc = encoder_for(plan)
            if enc is None:
                ended_at = n
                return
            log.info("%s: encoding piece %d (%d frames)", name or source.name, plan.index, plan.frame_count)
            graph = None
            if scoring is not None:
                graph = lambda d, r, o, plan=plan: scoring.graph(d, r, log_of(plan), o)  # noqa: E731
            args = piece_encode_args(fifo_of(plan), info, plan, enc, part_path(plan.index), time_base, timing, graph)

            def progress(rec: FfmpegProgress, plan: PiecePlan = plan, n: int = n) -> None:
                on_frames(plan, min(rec.frame, plan.frame_count))
                if rec.frame >= PRESTART_SHARE * plan.frame_count:
                    start_encoder(n + 1)

            encoders[n] = asyncio.ensure_future(
                run_ffmpeg(
                    args, ffmpeg=ffmpeg, control=control, graceful_stop=False, on_progress=progress,
                    priority=Priority.BELOW,
                )
            )  # fmt: skip

        done = 0
        try:
            for n, plan in enumerate(run):
                start_encoder(n)
                if n not in encoders:
                    break
                encoder = encoders[n]  # stays listed until done, so `finally` can stop it
                while not encoder.done() and not decoder_failed():
                    waiters = {encoder} if decoder.done() else {encoder, decoder}
                    await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
                if decoder_failed():  # the encoders still waiting for frames would wait forever
                    if not decoder.cancelled() and isinstance(decoder.exception(), FFmpegRunError):
                        for k, task in encoders.items():  # an encoder that died first broke the decoder's pipe
                            if task.done() and not task.cancelled() and isinstance(task.exception(), FFmpegRunError):
                                part_path(run[k].index).unlink(missing_ok=True)
                                raise RunFailed(f"piece {run[k].index} failed: {task.exception()}", run[k].index)
                    error = decoder.exception()
                    if isinstance(error, FFmpegRunError):
                        raise RunFailed(f"decoding the source for {which} failed: {error}")
                    assert error is not None
                    raise error
                try:
                    encoder.result()
                except FFmpegRunError as exc:
                    part_path(plan.index).unlink(missing_ok=True)
                    raise RunFailed(f"piece {plan.index} failed: {exc}", plan.index) from None
                del encoders[n]
                start_encoder(n + 1)  # unless a progress report did: it waits on its FIFO while this piece is checked
                if scoring is not None and on_score is not None:
                    try:
                        on_score(plan, parse_log(log_of(plan), scoring.model))
                    except VmafError as exc:
                        log.warning("%s: piece %d was not scored (%s)", name or source.name, plan.index, exc)
                    log_of(plan).unlink(missing_ok=True)
                if defer is not None and n + 1 not in encoders:  # the run's last piece
                    defer(on_piece(plan))
                else:
                    await on_piece(plan)
                done += 1
            if ended_at is None:
                await decoder
        finally:
            closing = True
            for task in (decoder, *encoders.values()):
                if not task.done():
                    task.cancel()
                with contextlib.suppress(BaseException):
                    await task
        current = asyncio.current_task()
        if current is not None and current.cancelling():  # cancelled while its ffmpegs were reaped above
            raise asyncio.CancelledError
        return done
