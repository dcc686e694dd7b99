"""Probing media with PyAV (the bundled ffmpeg has no ffprobe).

`probe()` reads only headers (fast); `scan_video_frames()` demuxes every video packet once, without
decoding, for exact frame timestamps, keyframes and the frame count (the job stores what it needs
from it in its state, so a resume never scans again once a piece is recorded).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any

from lazy_transcode.media.averror import describe
from lazy_transcode.media.encoders import HdrInfo

# AVColorTransferCharacteristic values that mean HDR.
_TRC_PQ, _TRC_HLG = 16, 18
_ATTACHED_PIC = 0x0400  # AV_DISPOSITION_ATTACHED_PIC


class ProbeError(RuntimeError):
    """The file cannot be read as media; the message is one line."""


@dataclass
class StreamInfo:
    index: int
    type: str
    codec: str | None
    language: str | None = None
    title: str | None = None
    default: bool = False
    forced: bool = False


@dataclass
class VideoInfo:
    index: int
    codec: str
    width: int
    height: int
    pix_fmt: str | None
    bit_depth: int
    time_base: Fraction
    avg_fps: float | None
    is_vfr: bool
    frame_count: int | None  # from the header (exact only after scan_video_frames)
    color_primaries: int | None = None
    color_transfer: int | None = None
    color_space: int | None = None
    color_range: int | None = None
    hdr: HdrInfo | None = None
    rotation: int = 0
    bit_rate: int | None = None


@dataclass
class Chapter:
    start: float
    end: float
    title: str | None


@dataclass
class MediaInfo:
    path: str
    format_name: str
    duration: float
    size: int
    bit_rate: int | None
    start_time: float
    video: VideoInfo | None
    audio: list[StreamInfo] = field(default_factory=list)
    subtitles: list[StreamInfo] = field(default_factory=list)
    attachments: list[StreamInfo] = field(default_factory=list)
    data: list[StreamInfo] = field(default_factory=list)
    chapters: list[Chapter] = field(default_factory=list)
    tags: dict[str, str] = field(default_factory=dict)

    @property
    def resolution_label(self) -> str:
        h = self.video.height if self.video else 0
        return "2160p" if h >= 2000 else "1080p" if h >= 1000 else "720p" if h >= 700 else "sd"

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        if self.video is not None:
            data["video"]["time_base"] = str(self.video.time_base)
        return data


def _stream_info(stream: Any) -> StreamInfo:
    meta = dict(stream.metadata or {})
    disposition = int(stream.disposition)
    return StreamInfo(
        index=stream.index,
        type=stream.type,
        codec=getattr(stream.codec_context, "name", None) if stream.codec_context is not None else None,
        language=meta.get("language"),
        title=meta.get("title"),
        default=bool(disposition & 0x1),
        forced=bool(disposition & 0x40),
    )


def probe(path: str | Path) -> MediaInfo:
    """Read the headers of a media file. Raises ProbeError with one line when it cannot."""
    import av

    path = Path(path)
    try:
        size = path.stat().st_size
    except OSError as exc:
        raise ProbeError(f"{path}: {exc.strerror or exc}") from None
    try:
        container = av.open(str(path), metadata_errors="ignore")
    except (av.error.FFmpegError, OSError, UnicodeDecodeError) as exc:
        raise ProbeError(f"{path}: not a readable media file ({_one_line(exc)})") from None
    try:
        return _describe(container, path, size)
    finally:
        container.close()


def _describe(container: Any, path: Path, size: int) -> MediaInfo:
    duration = container.duration / 1e6 if container.duration else 0.0
    start = container.start_time / 1e6 if container.start_time else 0.0
    info = MediaInfo(
        path=str(path),
        format_name=container.format.name,
        duration=duration,
        size=size,
        bit_rate=container.bit_rate or None,
        start_time=start,
        video=None,
        tags={str(k): str(v) for k, v in (container.metadata or {}).items()},
    )
    for stream in container.streams:
        kind = stream.type
        if kind == "video" and int(stream.disposition) & _ATTACHED_PIC:
            info.attachments.append(_stream_info(stream))
        elif kind == "video" and info.video is None:
            info.video = _video_info(stream)
        elif kind == "audio":
            info.audio.append(_stream_info(stream))
        elif kind == "subtitle":
            info.subtitles.append(_stream_info(stream))
        elif kind == "attachment":
            info.attachments.append(_stream_info(stream))
        else:
            info.data.append(_stream_info(stream))
    for ch in container.chapters():
        tb = ch.get("time_base") or Fraction(1, 1)
        title = (ch.get("metadata") or {}).get("title")
        info.chapters.append(Chapter(float(ch["start"] * tb), float(ch["end"] * tb), title))
    if info.video is not None and not duration and info.video.frame_count and info.video.avg_fps:
        info.duration = info.video.frame_count / info.video.avg_fps
    return info


def _video_info(stream: Any) -> VideoInfo:
    import av

    cc = stream.codec_context
    pix_fmt = cc.format.name if cc.format is not None else None
    bit_depth = 8
    if pix_fmt:
        try:
            bit_depth = av.VideoFormat(pix_fmt).components[0].bits
        except (ValueError, IndexError):
            bit_depth = 8
    avg = stream.average_rate
    base = stream.base_rate or stream.guessed_rate
    avg_fps = float(avg) if avg else (float(base) if base else None)
    is_vfr = bool(avg and base and abs(float(avg) - float(base)) > 0.01 * float(base))
    rotation = 0
    raw_rotate = (stream.metadata or {}).get("rotate")
    if raw_rotate:
        try:
            rotation = int(float(raw_rotate)) % 360
        except ValueError:
            rotation = 0
    transfer = _int_or_none(cc.color_trc)
    video = VideoInfo(
        index=stream.index,
        codec=cc.name,
        width=cc.width,
        height=cc.height,
        pix_fmt=pix_fmt,
        bit_depth=bit_depth,
        time_base=stream.time_base or Fraction(1, 1000),
        avg_fps=avg_fps,
        is_vfr=is_vfr,
        frame_count=stream.frames or None,
        color_primaries=_int_or_none(cc.color_primaries),
        color_transfer=transfer,
        color_space=_int_or_none(cc.colorspace),
        color_range=_int_or_none(cc.color_range),
        rotation=rotation,
        bit_rate=cc.bit_rate or None,
    )
    if transfer in (_TRC_PQ, _TRC_HLG):
        video.hdr = HdrInfo()
    return video


def _int_or_none(value: Any) -> int | None:
    try:
        value = int(value)
    except (TypeError, ValueError):
        return None
    return value if value not in (0, 2) else None  # 0 reserved, 2 unspecified


def _one_line(exc: BaseException) -> str:
    """The error's last line, without the `[Errno N]` of FFmpeg's AVERROR codes (meaningless to users)
    and without the file name (the caller names the file)."""
    return describe(exc)


_GENPTS = 0x0001  # AVFMT_FLAG_GENPTS


@dataclass
class FrameScan:
    """Every video frame of a file, from its packets: presentation timestamps, keyframes, seek points.

    A packet without a pts (an AVI stores none; ffmpeg's decoder then makes the frames' timestamps
    from the decode timestamps and its reorder delay) leaves `pts` as the packets' decode order only:
    `untimed_packets` counts them, and `retimed` puts in the timestamps the decoder gives.
    """

    time_base: Fraction
    pts: list[int]  # sorted presentation timestamps, one per frame
    keyframes: list[int]  # presentation timestamps of keyframes, sorted
    keyframe_dts: list[int]  # decode timestamp of each of `keyframes`: where a seek finds it
    key_order: list[int] = field(default_factory=list)  # decode-order index of each of `keyframes`
    corrupt_packets: int = 0
    untimed_packets: int = 0
    sizes: list[int] = field(default_factory=list)  # bytes of each frame's packet, in the order of `pts`

    @property
    def frame_count(self) -> int:
        return len(self.pts)

    def seconds(self, pts: int) -> float:
        return float(pts * self.time_base)

    def retimed(self, time_base: Fraction, times: list[int]) -> FrameScan:
        """This scan with the frames' presentation timestamps as decoded (`times`, in `time_base`).

        A keyframe is the frame presented at its place in decode order: frames after it in decode
        order are presented after it, which holds for the closed GOPs of every keyframe a seek uses.
        """
        if time_base != self.time_base:
            raise ProbeError(f"decoded frames are in time base {time_base}, the stream's is {self.time_base}")
        if len(times) != self.frame_count:
            raise ProbeError(f"decoding gives {len(times)} frames for {self.frame_count} video packets")
        pts = sorted(times)
        return FrameScan(
            time_base=time_base,
            pts=pts,
            keyframes=[pts[i] for i in self.key_order],
            keyframe_dts=self.keyframe_dts,
            key_order=self.key_order,
            corrupt_packets=self.corrupt_packets,
            sizes=self.sizes,  # in the packets' order, not the new pts': near enough for a stretch's bytes
        )


def scan_video_frames(path: str | Path, stream_index: int | None = None) -> FrameScan:
    """Demux (without decoding) every packet of the video stream. Raises ProbeError on unreadable data.

    The packets are read as ffmpeg reads them for the encode: without pts generation (PyAV turns it
    on), which would invent a pts for every packet without one, unlike the decoder ffmpeg runs.
    """
    import av

    try:
        container = av.open(str(path), metadata_errors="ignore")
    except (av.error.FFmpegError, OSError) as exc:
        raise ProbeError(f"{path}: not a readable media file ({_one_line(exc)})") from None
    try:
        container.flags &= ~_GENPTS
        streams = [s for s in container.streams.video if not int(s.disposition) & _ATTACHED_PIC]
        if stream_index is not None:
            streams = [s for s in streams if s.index == stream_index]
        if not streams:
            raise ProbeError(f"{path}: no video stream")
        stream = streams[0]
        pts: list[int] = []
        sizes: list[int] = []
        keys: list[tuple[int, int, int]] = []  # (pts, dts, decode order)
        corrupt = untimed = 0
        last: int | None = None
        try:
            for packet in container.demux(stream):
                if packet.size == 0:
                    continue
                if packet.is_corrupt:
                    corrupt += 1
                if packet.pts is None:
                    untimed += 1
                ts = packet.pts if packet.pts is not None else packet.dts
                if ts is None:
                    ts = (last or 0) + 1
                last = ts
                if packet.is_keyframe:
                    keys.append((ts, packet.dts if packet.dts is not None else ts, len(pts)))
                pts.append(ts)
                sizes.append(packet.size)
        except av.error.FFmpegError as exc:
            raise ProbeError(f"{path}: damaged video data ({_one_line(exc)})") from None
        if not pts:
            raise ProbeError(f"{path}: the video stream has no frames")
        order = sorted(range(len(pts)), key=pts.__getitem__)
        pts = [pts[i] for i in order]
        sizes = [sizes[i] for i in order]
        keys.sort()
        return FrameScan(
            time_base=stream.time_base or Fraction(1, 1000),
            pts=pts,
            keyframes=[k[0] for k in keys],
            keyframe_dts=[k[1] for k in keys],
            key_order=[k[2] for k in keys],
            corrupt_packets=corrupt,
            untimed_packets=untimed,
            sizes=sizes,
        )
    finally:
        container.close()


def read_frame_times(path: Path) -> tuple[Fraction, list[int]]:
    """The time base and the pts of every frame listed in a framecrc file of one stream."""
    time_base: Fraction | None = None
    times: list[int] = []
    try:
        lines = path.read_text().splitlines()
    except OSError as exc:
        raise ProbeError(f"{path}: {exc.strerror or exc}") from None
    for line in lines:
        if line.startswith("#tb 0:"):
            time_base = Fraction(line.split(":", 1)[1].strip())
        elif line and not line.startswith("#"):
            fields = line.split(",")  # stream, dts, pts, duration, size, checksum
            if len(fields) < 3:
                raise ProbeError(f"{path}: not a framecrc line: {line!r}")
            times.append(int(fields[2]))
    if time_base is None:
        raise ProbeError(f"{path}: no time base")
    return time_base, times


def is_close(a: float, b: float, tol: float) -> bool:
    return math.isclose(a, b, abs_tol=tol)
