"""The piece commands: one decode cutting raw frames at the planned frames, one fresh encoder per piece."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import pytest

from lazy_transcode.media.commands import decode_pieces_args, frame_times_args, piece_encode_args
from lazy_transcode.media.encoders import EncodeSettings, get_profile
from lazy_transcode.media.pieces import FrameTiming, PiecePlan
from lazy_transcode.media.probe import MediaInfo, VideoInfo
from lazy_transcode.media.vmaf import InlineScore

VIDEO = VideoInfo(2, "h264", 640, 360, "yuv420p", 8, Fraction(1, 12800), 25.0, False, 300)
INFO = MediaInfo("/m/film.mkv", "matroska", 12.0, 1, None, 0.0, VIDEO)
PLANS = [
    PiecePlan(0, 0, 100, 0, None, 3.98),
    PiecePlan(1, 100, 100, 51200, 3.98, 7.98),
    PiecePlan(2, 200, 100, 102400, 7.98, None),
]


def _option(args: list[str], name: str) -> str:
    return args[args.index(name) + 1]


def test_decode_cuts_exactly_at_the_planned_frames_of_the_run() -> None:
    args = decode_pieces_args(Path("/m/film.mkv"), INFO, PLANS[1:], Path("/tmp/f/frames_%05d.nut"))
    assert args.index("-ss") < args.index("-i") and _option(args, "-ss") == "3.980000"
    assert args.index("-noaccurate_seek") < args.index("-i")  # the trim selects the frames
    assert _option(args, "-vf") == "trim=start_pts=51200"  # the first frame's exact pts
    assert "-to" not in args  # the run goes to the end of the file
    assert _option(args, "-map") == "0:2"
    assert _option(args, "-segment_frames") == "100,200"  # 200 is never reached: no cut by time
    assert _option(args, "-segment_start_number") == "1"
    assert _option(args, "-frames:v") == "200"
    assert _option(args, "-c:v") == "rawvideo" and _option(args, "-segment_format") == "nut"
    assert args[-2:] == ["/tmp/f/frames_%05d.nut", "-y"]


def test_a_single_piece_is_never_cut_by_time() -> None:
    args = decode_pieces_args(Path("/m/film.mkv"), INFO, PLANS[:1], Path("/tmp/f/frames_%05d.nut"))
    assert "-ss" not in args and "-to" not in args
    assert _option(args, "-vf") == "trim=end=3.980000" and _option(args, "-frames:v") == "100"
    assert _option(args, "-segment_frames") == "100"


def test_a_lanes_decoder_is_capped_at_its_share_of_threads_and_one_lane_keeps_ffmpegs_choice() -> None:
    capped = decode_pieces_args(Path("/m/film.mkv"), INFO, PLANS[:1], Path("/f_%d"), threads=1)
    assert _option(capped, "-threads") == "1" and capped.index("-threads") < capped.index("-i")  # the decoder's
    assert "-threads" not in decode_pieces_args(Path("/m/film.mkv"), INFO, PLANS[:1], Path("/f_%d"))


def test_seeks_are_offsets_from_the_start_of_a_file_that_starts_after_zero() -> None:
    """ffmpeg adds the file's start time to -ss: a seek to 5.46 s of a file starting at 1.4 s is 4.06."""
    info = MediaInfo("/m/film.ts", "mpegts", 12.0, 1, None, 1.4, VIDEO)
    plans = [PiecePlan(3, 200, 50, 500000, 5.46, 7.5), PiecePlan(4, 250, 50, 680000, 7.3, 9.5)]
    args = decode_pieces_args(Path("/m/film.ts"), info, plans, Path("/tmp/f/frames_%05d.nut"))
    assert _option(args, "-ss") == "4.060000"
    assert _option(args, "-vf") == "trim=start_pts=500000:end=9.500000"  # source timestamps, as they are


def test_a_seek_point_before_the_start_of_the_file_reads_from_the_start() -> None:
    info = MediaInfo("/m/film.ts", "mpegts", 12.0, 1, None, 1.4, VIDEO)
    args = decode_pieces_args(Path("/m/film.ts"), info, [PiecePlan(1, 50, 50, 311400, 1.38, None)], Path("/f_%d"))
    assert "-ss" not in args and _option(args, "-vf") == "trim=start_pts=311400"


def test_frame_times_decode_as_the_piece_decoder_does() -> None:
    args = frame_times_args(Path("/m/old.avi"), INFO, Path("/w/times.framecrc"))
    assert args[: args.index("-i")] == ["-copyts"]
    assert _option(args, "-map") == "0:2" and _option(args, "-enc_time_base") == "demux"
    assert _option(args, "-fps_mode") == "passthrough" and _option(args, "-c:v") == "wrapped_avframe"
    assert _option(args, "-f") == "framecrc" and args[-2:] == ["/w/times.framecrc", "-y"]


def test_each_piece_has_its_own_encoder_keeping_source_timestamps() -> None:
    enc = get_profile("libx265").build(EncodeSettings(quality=28), preset="ultrafast")
    args = piece_encode_args(Path("/tmp/f/frames_00001.nut"), INFO, PLANS[1], enc, Path("/w/p.mp4"), "1/12800")
    assert args[: args.index("-i")] == ["-f", "nut", "-copyts"]
    assert _option(args, "-enc_time_base") == "1/12800"
    assert _option(args, "-fps_mode") == "passthrough"
    assert _option(args, "-frames:v") == "100"
    assert _option(args, "-c:v") == "libx265" and _option(args, "-crf") == "28"


def test_evenly_spaced_frames_go_as_y4m_and_get_their_timestamps_back() -> None:
    decode = decode_pieces_args(Path("/m/film.mkv"), INFO, PLANS[1:], Path("/tmp/f/frames_%05d.y4m"), "1/25")
    assert _option(decode, "-c:v") == "wrapped_avframe" and _option(decode, "-segment_format") == "yuv4mpegpipe"
    assert _option(decode, "-enc_time_base") == "1/25"  # the Y4M header's rate: one frame's duration
    assert _option(decode, "-segment_format_options") == "strict=-1"
    enc = get_profile("libx265").build(EncodeSettings(quality=28), preset="ultrafast")
    timing = FrameTiming(512, ((150, 512),))  # one frame dropped after frame 149
    args = piece_encode_args(Path("/tmp/f/frames_00001.y4m"), INFO, PLANS[1], enc, Path("/w/p.mp4"), "1/12800", timing)
    assert args[: args.index("-i")] == ["-f", "yuv4mpegpipe"]
    graph = _option(args, "-filter_complex")
    assert (
        "settb=1/12800" in graph
        and "setpts=51200+N*512+(512)*(1+sgn(N-50+0.5))/2" in graph
        and "chroma_location=unspecified" in graph
    )
    assert _option(args, "-enc_time_base") == "1/12800"


def test_a_scored_piece_splits_the_encoders_frames_to_a_loopback_comparison() -> None:
    enc = get_profile("libx265").build(EncodeSettings(quality=28), preset="ultrafast")
    plain = piece_encode_args(Path("/tmp/f/frames_00001.y4m"), INFO, PLANS[1], enc, Path("/w/p.mp4"), "1/12800",
                              FrameTiming(512))  # fmt: skip
    score = InlineScore(model="vmaf_v0.6.1", n_subsample=4)
    args = piece_encode_args(Path("/tmp/f/frames_00001.y4m"), INFO, PLANS[1], enc, Path("/w/p.mp4"), "1/12800",
                             FrameTiming(512), lambda d, r, o: score.graph(d, r, Path("/tmp/f/v.json"), o))  # fmt: skip
    out = args.index("/w/p.mp4")
    encoder_graph = _option(args, "-filter_complex")
    assert encoder_graph.startswith(_option(plain, "-filter_complex") + ";")
    assert encoder_graph.endswith(f"{_option(plain, '-map')}split[lt_enc][lt_src]")
    assert _option(args, "-map") == "[lt_enc]"
    assert [a for a in args[:out] if a not in (encoder_graph, "[lt_enc]")] == [
        a
        for a in plain[: plain.index("/w/p.mp4")]
        if a not in (_option(plain, "-filter_complex"), _option(plain, "-map"))
    ]  # the encoder's own options are untouched
    rest = args[out + 1 :]
    assert rest[rest.index("-dec") + 1] == "0:0" and rest[-3:] == ["-f", "null", "-"]
    scoring = rest[rest.index("-filter_complex") + 1]
    assert scoring.startswith("[dec:0]format=yuv420p,") and "[lt_src]format=yuv420p," in scoring
    assert "n_subsample=5" in scoring  # odd: an even interval lines up with the mini-GOP
    assert rest[rest.index("-map") + 1] == "[lt_scored]" and scoring.endswith("[lt_scored]")
    with pytest.raises(ValueError):  # NUT frames: no scoring beside the encode
        piece_encode_args(Path("/tmp/f/frames_00001.nut"), INFO, PLANS[1], enc, Path("/w/p.mp4"), "1/12800", None,
                          lambda d, r, o: score.graph(d, r, Path("/tmp/f/v.json"), o))  # fmt: skip
