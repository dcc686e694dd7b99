"""Joining encoded pieces into one video stream, keeping every packet's original timestamps.

Pieces are independent closed-GOP encodes of consecutive frames, so joining is a packet remux. The
only repair ever needed is at a piece boundary: with B-frames, a piece's first decode timestamps may
lie before the previous piece's last one; they are raised just enough to be strictly increasing,
which is always possible because the new piece's presentation times all follow the previous piece's.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from fractions import Fraction
from pathlib import Path
from typing import Any

from lazy_transcode.media.averror import describe


class JoinError(RuntimeError):
    """The pieces cannot be joined (missing, unreadable or inconsistent)."""


def join_pieces(
    pieces: Sequence[Path], out: Path, *, container: str = "mp4", on_piece: Callable[[int], None] | None = None
) -> int:
    """Remux the video packets of `pieces`, in order, into `out`. Returns the number of packets."""
    import av

    packets = 0
    last_dts: Fraction | None = None  # seconds, exact
    output: Any = None  # opened with the first piece, whose time base it needs
    try:
        out_stream: Any = None
        first_params = b""
        for n, piece in enumerate(pieces):
            try:
                source = av.open(str(piece))
            except (av.error.FFmpegError, OSError) as exc:
                raise JoinError(f"cannot read piece {piece.name}: {describe(exc)}") from None
            try:
                if not source.streams.video:
                    raise JoinError(f"piece {piece.name} has no video")
                in_stream = source.streams.video[0]
                # The joined stream carries the first piece's codec parameters (SPS/PPS); a piece made
                # with others (say, by another ffmpeg build after an upgrade) would not decode in it.
                params = bytes(in_stream.codec_context.extradata or b"")
                if out_stream is None:
                    output = _open_output(out, container, in_stream.time_base)
                    # opaque: a remux needs no encoder (none is named like the decoder of AV1, libdav1d)
                    out_stream = output.add_stream_from_template(in_stream, opaque=True)
                    first_params = params
                elif params != first_params:
                    raise JoinError(f"piece {piece.name} was encoded with other codec parameters")
                for packet in source.demux(in_stream):
                    if packet.size == 0:
                        continue
                    if packet.dts is not None and packet.time_base is not None:
                        tb = packet.time_base
                        if last_dts is not None and packet.dts * tb <= last_dts:
                            packet.dts = math.floor(last_dts / tb) + 1
                        last_dts = packet.dts * tb
                    packet.stream = out_stream
                    output.mux(packet)
                    packets += 1
            finally:
                source.close()
            if on_piece is not None:
                on_piece(n)
    finally:
        if output is not None:
            output.close()
    if output is None:
        raise JoinError("no pieces to join")
    return packets


def _open_output(out: Path, container: str, time_base: Fraction | None) -> Any:
    """The joined file. MP4 writes the video's start (its edit list) in the movie time scale, 1/1000 s
    unless told; in the video's own time base, a start like 1.46673 s (NTSC frames on a 90 kHz clock)
    stays exact instead of moving every frame by up to a millisecond."""
    import av

    options = {"movie_timescale": str(time_base.denominator)} if container == "mp4" and time_base else {}
    return av.open(str(out), "w", format=container, options=options)


def codec_parameters(piece: Path) -> str:
    """A digest of a piece's video codec parameters (its extradata): pieces joined together must agree."""
    import hashlib

    import av

    try:
        with av.open(str(piece)) as container:
            if not container.streams.video:
                raise JoinError(f"piece {piece.name} has no video")
            return hashlib.sha256(bytes(container.streams.video[0].codec_context.extradata or b"")).hexdigest()[:16]
    except (av.error.FFmpegError, OSError) as exc:
        raise JoinError(f"cannot read piece {piece.name}: {describe(exc)}") from None
