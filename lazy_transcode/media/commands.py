"""Every ffmpeg command line of the project, built here and nowhere else (never by string concatenation).

ffmpeg-python builds the commands whose inputs, streams and outputs it models: encodes, the piece
decoder, assembly, clip extraction. It orders each input's and output's options alphabetically and
emits only inputs that feed an output, which is harmless there. Two commands are written out as
explicit argument lists instead, because its model gets in the way: the decode check (options that
must stand before `-i`, and an optional stream map to the null muxer) and the VMAF measurement (one
`-lavfi` graph over two inputs, which ffmpeg-python would rebuild as a node graph). Every command is
arguments after the program name; `media.process.run_ffmpeg` adds the program and its progress pipe.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import ffmpeg as ffmpeg_python

from lazy_transcode.media.encoders import EncoderArgs
from lazy_transcode.media.pieces import FrameTiming, PiecePlan
from lazy_transcode.media.probe import MediaInfo
from lazy_transcode.media.tags import OUTPUT_TAG


def _compile(stream: Any) -> list[str]:
    """Arguments after the program name."""
    return ffmpeg_python.compile(stream, cmd="ffmpeg", overwrite_output=True)[1:]


def encode_video_args(
    enc: EncoderArgs,
    input_file: str | Path,
    output_file: str | Path,
    *,
    stream: str = "v:0",
    input_kwargs: dict[str, Any] | None = None,
    extra_output: dict[str, Any] | None = None,
) -> list[str]:
    """Encode one video stream (`stream`: a stream specifier) of `input_file` with the encoder's arguments."""
    source = ffmpeg_python.input(str(input_file), **(input_kwargs or {}))
    kwargs = dict(enc.output)
    if enc.filters:
        kwargs["vf"] = ",".join(enc.filters)
    kwargs.update(extra_output or {})
    return [*enc.global_args, *_compile(ffmpeg_python.output(source[stream], str(output_file), **kwargs))]


def clip_args(source: Path, start: float, frames: int, out: Path) -> list[str]:
    """Cut `frames` frames of the first video stream from `start` (seconds), lossless (FFV1, all intra)."""
    stream = ffmpeg_python.input(str(source), ss=f"{start:.6f}")["v:0"]
    return _compile(
        ffmpeg_python.output(
            stream, str(out), **{"frames:v": frames, "an": None, "sn": None, "dn": None, "map_metadata": -1,
                                  "c:v": "ffv1", "level": 3, "g": 1, "slicecrc": 1}
        )
    )  # fmt: skip


def vmaf_args(distorted: Path, reference: Path, graph: str) -> list[str]:
    """Score `distorted` (input 0) against `reference` (input 1) with a libvmaf `graph`, output to nothing."""
    return ["-y", "-i", str(distorted), "-i", str(reference), "-lavfi", graph, "-f", "null", "-"]


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


def decode_pieces_args(
    source: Path,
    info: MediaInfo,
    run: Sequence[PiecePlan],
    pattern: Path,
    frame_tb: str | None = None,
    threads: int | None = None,
) -> list[str]:
    """Decode consecutive pieces once, as raw frames with their source timestamps, one NUT stream each.

    `pattern` names one FIFO per piece (printf-style, numbered by piece index); each piece's encoder
    reads its own. The source is thus read and decoded once, with no seek per piece, while every
    piece is still encoded by a fresh encoder of its own. Raw frames are all keyframes, so the
    segment muxer cuts exactly at the planned frame numbers.

    A run that starts mid-file seeks to the plan's seek point (a keyframe at or before its first
    frame) and a trim filter keeps the frames from the first frame's exact pts on, so whatever frame
    a seek lands on, the run starts at the planned frame. ffmpeg reads an input's `-ss` as an offset
    from the file's start time (the earliest timestamp of any stream), `-copyts` or not, so a file
    that starts after zero (MPEG-TS, MPEG-PS, FLV with its audio first) has it taken off. The run
    ends after its frame count (`-to` would count from where the seek landed, not from the cut).
    With `frame_tb` (one frame's duration, for a file whose frames are evenly spaced) the frames go as
    YUV4MPEG instead: its muxer passes the decoded frames with no copy into a packet, where NUT's costs
    about as much CPU as decoding them (3 ms a 720p frame). Y4M carries no timestamps, only that rate;
    the encoder puts them back (`piece_encode_args`).
    `threads` caps the decoder's threads (None: ffmpeg's own choice, one per core and one more). Beside
    other lanes a decoder's share is enough: each thread of a frame-threaded decoder costs CPU of its own.
    """
    assert info.video is not None and run
    first, last = run[0], run[-1]
    input_kwargs: dict[str, Any] = {"copyts": None}
    if threads is not None:
        input_kwargs["threads"] = max(1, threads)
    if first.seek is not None and first.seek > info.start_time:
        input_kwargs["ss"] = f"{first.seek - info.start_time:.6f}"
        input_kwargs["noaccurate_seek"] = None  # the trim below selects the frames
    trim = []
    if first.first_frame > 0:
        trim.append(f"start_pts={first.start_pts}")  # in the stream's time base: exact
    if last.stop is not None:
        trim.append(f"end={last.stop:.6f}")
    stream = ffmpeg_python.input(str(source), **input_kwargs)
    output_kwargs: dict[str, Any] = {
        "c:v": "wrapped_avframe" if frame_tb else "rawvideo",
        "fps_mode": "passthrough",
        "enc_time_base": frame_tb or "demux",
        "frames:v": sum(p.frame_count for p in run),
        "an": None,
        "sn": None,
        "dn": None,
        "map_metadata": -1,
        "map_chapters": -1,
        "f": "segment",
        "segment_format": "yuv4mpegpipe" if frame_tb else "nut",
        "segment_start_number": first.index,
        "reset_timestamps": 0,
        "avoid_negative_ts": "disabled",
    }
    if frame_tb:
        output_kwargs["segment_format_options"] = "strict=-1"  # 10-bit formats are ffmpeg's extension of Y4M
    if trim:  # a simple filtergraph (-vf), so that the frames keep the stream's time base
        output_kwargs["vf"] = "trim=" + ":".join(trim)
    # Cut before every later piece; the last number (never reached) keeps the muxer from cutting by time.
    cuts = [p.first_frame - first.first_frame for p in run[1:]] + [output_kwargs["frames:v"]]
    output_kwargs["segment_frames"] = ",".join(map(str, cuts))
    return _compile(ffmpeg_python.output(stream[f"{info.video.index}"], str(pattern), **output_kwargs))


def frame_times_args(source: Path, info: MediaInfo, out: Path) -> list[str]:
    """Decode the video stream as the piece decoder does and list every frame's pts (framecrc) in `out`.

    For a source whose packets lack a pts, the decoder is what gives the frames their timestamps.
    Each frame is wrapped, not copied, so this costs the decoding alone.
    """
    assert info.video is not None
    stream = ffmpeg_python.input(str(source), copyts=None)[f"{info.video.index}"]
    output_kwargs: dict[str, Any] = {
        "c:v": "wrapped_avframe",
        "fps_mode": "passthrough",
        "enc_time_base": "demux",
        "an": None,
        "sn": None,
        "dn": None,
        "f": "framecrc",
    }
    return _compile(ffmpeg_python.output(stream, str(out), **output_kwargs))


def piece_encode_args(
    frames: Path,
    info: MediaInfo,
    plan: PiecePlan,
    enc: EncoderArgs,
    out: Path,
    time_base: str,
    timing: FrameTiming | None = None,
    score_graph: Callable[[str, str, str], str] | None = None,
) -> list[str]:
    """Encode one piece from its raw frames, keeping their timestamps in `time_base`.

    The frames come as NUT, with their timestamps, or (with their `timing`) as YUV4MPEG, whose frames
    get them back here, exactly. Y4M also
    states a chroma siting that NUT leaves unset; it is unset again, so that the encoder writes the
    same stream either way.

    `score_graph(distorted, reference, output)` (Y4M only) adds a second output: the encoded stream,
    decoded again by a loopback decoder, is compared with the frames the encoder got (split off before
    it), in that graph, into a null output; the encoder's own input and output do not change.
    """
    if timing is None:
        stream: Any = ffmpeg_python.input(str(frames), f="nut", copyts=None)["v:0"]
    else:
        stream = ffmpeg_python.input(str(frames), f="yuv4mpegpipe")["v:0"]
        stream = stream.filter("settb", time_base).filter("setpts", timing.setpts(plan))
        stream = stream.filter("setparams", chroma_location="unspecified")
    for flt in enc.filters:
        name, _, arg = flt.partition("=")
        stream = stream.filter(name, arg) if arg else stream.filter(name)
    output_kwargs: dict[str, Any] = {
        **enc.output,
        **colour_args(info),
        "fps_mode": "passthrough",
        "enc_time_base": time_base,
        "frames:v": plan.frame_count,
        "map_metadata": -1,
        "f": "mp4",
    }
    cmd = _compile(ffmpeg_python.output(stream, str(out), **output_kwargs))
    if score_graph is not None:
        if timing is None:
            raise ValueError("a piece is scored beside its encode only from YUV4MPEG frames")
        cmd = _with_score(cmd, score_graph)
    return [*enc.global_args, *cmd]


def _with_score(cmd: list[str], score_graph: Callable[[str, str, str], str]) -> list[str]:
    """`cmd` (one filter graph, one output) with the encoder's frames split off to a scoring output."""
    if cmd.count("-filter_complex") != 1 or cmd.count("-map") != 1:
        raise ValueError("a scored piece's encoder has one filter graph and one output")
    graph, mapped = cmd.index("-filter_complex") + 1, cmd.index("-map") + 1
    out = list(cmd)
    out[graph] = f"{cmd[graph]};{cmd[mapped]}split[lt_enc][lt_src]"
    out[mapped] = "[lt_enc]"
    scoring = score_graph("dec:0", "lt_src", "lt_scored")
    # One thread for the decoder: the encoder has its lane's share of the cores.
    return [*out, "-threads", "1", "-dec", "0:0", "-filter_complex", scoring, "-map", "[lt_scored]", "-f", "null", "-"]


def assemble_args(
    video: Path, source: Path, info: MediaInfo, out: Path, container: str, source_id: str | None = None
) -> list[str]:
    """Mux the joined video with every other stream of the source, its chapters and metadata.

    Both inputs keep their original timestamps (-copyts), so audio stays exactly in sync. The output is
    tagged `LAZY_TRANSCODE_SOURCE=<source_id>`: it is never taken for a source, and a later job of the
    same source knows it for its own.
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
        kwargs["movflags"] = "+faststart+use_metadata_tags"
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
    if source_id is not None:
        kwargs["metadata"] = f"{OUTPUT_TAG}={source_id}"
    return _compile(ffmpeg_python.output(*streams, str(out), **kwargs))


def decode_check_args(path: Path, threads: int = 1) -> list[str]:
    """Decode the first video stream to nothing: any decoding error fails.

    One thread spends the least CPU in all, beside an encode; a check with nothing beside it (the job's
    last) is given every core, since it is all that stands between the last piece and the output.
    """
    return ["-xerror", "-err_detect", "explode", "-threads", str(max(1, threads)), "-i", str(path),
            "-map", "0:v:0?", "-f", "null", "-"]  # fmt: skip
