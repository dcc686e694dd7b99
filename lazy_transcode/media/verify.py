"""Verifying an encode before it may replace anything: it has every frame and every stream of the source."""

from __future__ import annotations

import asyncio
from pathlib import Path

from lazy_transcode.media.probe import MediaInfo, ProbeError, probe, scan_video_frames


class VerifyError(RuntimeError):
    """The output is not a faithful replacement of the source; the message is one line."""


async def verify_output(
    path: Path,
    source: MediaInfo,
    *,
    expected_frames: int,
    expected_span: float,
    container: str,
) -> None:
    """Raise VerifyError unless `path` has the source's frames, video span and streams.

    Nothing is decoded here: with `verify = full` each piece of the video was decoded without error
    before it was checksummed and joined by a lossless remux, and every other stream is a bit-exact
    copy of the source's, so decoding it would test the source, not the output.
    """
    try:
        out = await asyncio.to_thread(probe, path)
        scan = await asyncio.to_thread(scan_video_frames, path)
    except ProbeError as exc:
        raise VerifyError(f"output unreadable: {exc}") from None
    if out.video is None:
        raise VerifyError("output has no video stream")
    if scan.frame_count != expected_frames:
        raise VerifyError(f"output has {scan.frame_count} frames, source has {expected_frames}")
    span = scan.seconds(scan.pts[-1]) - scan.seconds(scan.pts[0])
    if abs(span - expected_span) > 0.002 + 1e-9:
        raise VerifyError(f"output video spans {span:.3f} s, source {expected_span:.3f} s")
    if len(out.audio) != len(source.audio):
        raise VerifyError(f"output has {len(out.audio)} audio streams, source has {len(source.audio)}")
    if len(out.subtitles) != len(source.subtitles):
        raise VerifyError(f"output has {len(out.subtitles)} subtitle streams, source has {len(source.subtitles)}")
    if container == "mkv":
        wanted = sum(1 for a in source.attachments if a.type == "attachment")
        have = sum(1 for a in out.attachments if a.type == "attachment")
        if have != wanted:
            raise VerifyError(f"output has {have} attachments, source has {wanted}")
    if len(out.chapters) != len(source.chapters):
        raise VerifyError(f"output has {len(out.chapters)} chapters, source has {len(source.chapters)}")
