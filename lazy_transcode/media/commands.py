"""ffmpeg command lines, built with ffmpeg-python (never by string concatenation)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import ffmpeg as ffmpeg_python

from lazy_transcode.media.encoders import EncoderArgs
from lazy_transcode.media.pieces import PiecePlan
from lazy_transcode.media.probe import MediaInfo


def _compile(stream: Any) -> list[str]:
    """Arguments after the program name."""
    return ffmpeg_python.compile(stream, cmd="ffmpeg", overwrite_output=True)[1:]


def colour_args(info: MediaInfo) -> dict[str, Any]:
    """Carry the source's colour description into the encode (the encoder writes it into the VUI)."""
    video = info.video
    out: dict[str, Any] = {}
    if video is None:
        return out
    if video.color_primaries is not None:
        out["color_primaries"] = video.color_primaries
    if video.color_transfer is not None:
        out["color_trc"] = video.color_transfer
    if video.color_space is not None:
        out["colorspace"] = video.color_space
    if video.color_range is not None:
        out["color_range"] = video.color_range
    return out


def piece_encode_args(source: Path, info: MediaInfo, plan: PiecePlan, enc: EncoderArgs, out: Path) -> list[str]:
    """Encode one piece: frames [plan.first_frame, +frame_count) with their source timestamps."""
    assert info.video is not None
    input_kwargs: dict[str, Any] = {"copyts": None}
    if plan.seek is not None:
        input_kwargs["ss"] = f"{plan.seek:.6f}"
    if plan.stop is not None:
        input_kwargs["to"] = f"{plan.stop:.6f}"
    stream = ffmpeg_python.input(str(source), **input_kwargs)
    video = stream[f"{info.video.index}"]
    for flt in enc.filters:
        name, _, arg = flt.partition("=")
        video = video.filter(name, arg) if arg else video.filter(name)
    output_kwargs: dict[str, Any] = {
        **enc.output,
        **colour_args(info),
        "fps_mode": "passthrough",
        "enc_time_base": "demux",
        "frames:v": plan.frame_count,
        "an": None,
        "sn": None,
        "dn": None,
        "map_metadata": -1,
        "map_chapters": -1,
        "f": "mp4",
    }
    cmd = _compile(ffmpeg_python.output(video, str(out), **output_kwargs))
    return [*enc.global_args, *cmd]


def assemble_args(video: Path, source: Path, info: MediaInfo, out: Path, container: str) -> list[str]:
    """Mux the joined video with every other stream of the source, its chapters and metadata.

    Both inputs keep their original timestamps (-copyts), so audio stays exactly in sync.
    """
    assert info.video is not None
    joined = ffmpeg_python.input(str(video), copyts=None)
    src = ffmpeg_python.input(str(source), copyts=None)
    streams: list[Any] = [joined["v:0"]]
    kwargs: dict[str, Any] = {
        "c": "copy",
        "map_metadata": 1,
        "map_chapters": 1,
        # one explicit stream mapping turns off ffmpeg's default copy for all: map each stream's own
        "map_metadata:s:0": f"1:s:{info.video.index}",
        "disposition:v:0": "default",
        "max_interleave_delta": 0,
    }
    keep = [*info.audio, *info.subtitles]
    if container == "mkv":
        keep += [a for a in info.attachments if a.type == "attachment"]
        kwargs["f"] = "matroska"
    else:
        kwargs["f"] = "mp4"
        kwargs["movflags"] = "+faststart"
    if not keep:
        # ffmpeg-python only emits inputs that feed the output; chapters and metadata still come from
        # the source, so map an optional selector that matches no stream to keep it as input 1.
        streams.append(src["65535?"])
    out_index = 1
    for stream_info in keep:
        streams.append(src[str(stream_info.index)])
        kwargs[f"map_metadata:s:{out_index}"] = f"1:s:{stream_info.index}"
        if container == "mp4" and stream_info.type == "subtitle":
            kwargs[f"c:{out_index}"] = "mov_text"
        out_index += 1
    return _compile(ffmpeg_python.output(*streams, str(out), **kwargs))


def decode_check_args(path: Path) -> list[str]:
    """Decode every stream to nothing: any decoding error fails the command."""
    return ["-xerror", "-err_detect", "explode", "-i", str(path), "-map", "0:v:0?", "-map", "0:a?", "-f", "null", "-"]
