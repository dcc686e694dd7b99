"""Media for the resumable-encode tests: generated once per session with the real ffmpeg."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import pytest

from tests.helpers import run_ffmpeg

# keep every 2nd frame of 50 fps, then all (6-9 s), every 2nd again, then every 5th (after 14 s)
VFR_SELECT = (
    "select='if(lt(t\\,6)\\,not(mod(n\\,2))\\,if(lt(t\\,9)\\,1\\,if(lt(t\\,14)\\,not(mod(n\\,2))\\,not(mod(n\\,5)))))'"
)


@pytest.fixture(scope="session")
def vfr_source(media_dir: Path) -> Path:
    """20 s of variable frame rate video (frame intervals of 40, 20 and 100 ms) with audio, in Matroska."""
    out = media_dir / "vfr.mkv"
    if not out.exists():
        run_ffmpeg(
            "-f", "lavfi", "-i", "testsrc2=s=320x180:r=50:d=20", "-f", "lavfi", "-i", "sine=f=440:d=20",
            "-vf", VFR_SELECT,
            "-fps_mode", "vfr", "-c:v", "libx264", "-preset", "ultrafast", "-bf", "2",
            "-c:a", "aac", "-b:a", "64k", str(out),
        )  # fmt: skip
    return out


@pytest.fixture(scope="session")
def multistream_source(media_dir: Path) -> Path:
    """Video + two audio tracks (eng, fra), two subtitle tracks (eng, ger), chapters, an attachment."""
    out = media_dir / "multi stream ü.mkv"
    if not out.exists():
        srt = media_dir / "subs.srt"
        srt.write_text("1\n00:00:01,000 --> 00:00:03,000\nHello\n\n2\n00:00:05,000 --> 00:00:07,000\nWorld\n")
        chapters = media_dir / "chapters.txt"
        chapters.write_text(
            ";FFMETADATA1\ntitle=Multi\n"
            "[CHAPTER]\nTIMEBASE=1/1000\nSTART=0\nEND=6000\ntitle=Opening\n"
            "[CHAPTER]\nTIMEBASE=1/1000\nSTART=6000\nEND=12000\ntitle=Part 2\n"
        )
        font = media_dir / "notes.txt"
        font.write_text("an attachment\n")
        run_ffmpeg(
            "-f", "lavfi", "-i", "testsrc2=s=320x180:r=25:d=12",
            "-f", "lavfi", "-i", "sine=f=440:d=12", "-f", "lavfi", "-i", "sine=f=880:d=12",
            "-i", str(srt), "-i", str(srt), "-i", str(chapters),
            "-map", "0:v", "-map", "1:a", "-map", "2:a", "-map", "3:s", "-map", "4:s",
            "-map_metadata", "5", "-map_chapters", "5",
            "-attach", str(font), "-metadata:s:t:0", "mimetype=text/plain",
            "-c:v", "libx264", "-preset", "ultrafast", "-c:a", "aac", "-b:a", "64k", "-c:s", "srt",
            "-metadata:s:a:0", "language=eng", "-metadata:s:a:1", "language=fra",
            "-metadata:s:a:1", "title=Commentary",
            "-metadata:s:s:0", "language=eng", "-metadata:s:s:1", "language=ger",
            "-disposition:a:1", "0", "-disposition:s:1", "forced",
            str(out),
        )  # fmt: skip
    return out


@pytest.fixture(scope="session")
def hevc_source(media_dir: Path) -> Path:
    out = media_dir / "already_hevc.mkv"
    if not out.exists():
        run_ffmpeg(
            "-f", "lavfi", "-i", "testsrc2=s=320x180:r=25:d=4", "-c:v", "libx265", "-preset", "ultrafast",
            "-x265-params", "log-level=error", str(out),
        )  # fmt: skip
    return out


# Sources whose presentation timestamps are not their packets' order: B-frames (dts < pts), and in an
# AVI no pts at all (ffmpeg's decoder makes them up from the dts and its reorder delay). MPEG-TS,
# MPEG-PS and FLV also start after zero (the transport's clock, or the audio before the video); at
# NTSC's 30000/1001 fps the frames of an MPEG-TS fall between the milliseconds.
X264_BFRAMES = ["-c:v", "libx264", "-preset", "ultrafast"]  # ultrafast has no B-frames unless asked
BFRAME_SOURCES = {  # kind: (file name, frame rate, codec arguments)
    "avi": ("h264_bframes.avi", "25", [*X264_BFRAMES, "-bf", "2", "-c:a", "libmp3lame", "-b:a", "64k"]),
    "mpegts": ("h264_bframes.ts", "25", [*X264_BFRAMES, "-bf", "3", "-c:a", "aac", "-b:a", "64k"]),
    "mpegts-ntsc": ("h264_bframes_ntsc.ts", "30000/1001", [*X264_BFRAMES, "-bf", "2", "-c:a", "aac"]),
    "mpegps": ("mpeg2_bframes.mpg", "25", ["-c:v", "mpeg2video", "-bf", "2", "-g", "12", "-q:v", "5", "-c:a", "mp2"]),
    "flv": ("h264_bframes.flv", "25", [*X264_BFRAMES, "-bf", "2", "-c:a", "aac", "-b:a", "64k"]),
}
SOURCE_SECONDS = 8


def _bframe_source(media_dir: Path, kind: str) -> tuple[Path, int]:
    """8 s of 320x180 video with B-frames and audio, in the container of `kind`, and its number of frames."""
    name, rate, codec_args = BFRAME_SOURCES[kind]
    out = media_dir / name
    if not out.exists():
        run_ffmpeg(
            "-f", "lavfi", "-i", f"testsrc2=s=320x180:r={rate}:d={SOURCE_SECONDS}",
            "-f", "lavfi", "-i", f"sine=f=440:d={SOURCE_SECONDS}", *codec_args, str(out),
        )  # fmt: skip
    return out, round(SOURCE_SECONDS * Fraction(rate))


@pytest.fixture(scope="session", params=sorted(BFRAME_SOURCES))
def bframe_source(request: pytest.FixtureRequest, media_dir: Path) -> tuple[Path, int]:
    """Each kind of BFRAME_SOURCES in turn."""
    return _bframe_source(media_dir, request.param)


@pytest.fixture(scope="session")
def bframe_avi(media_dir: Path) -> tuple[Path, int]:
    """The H.264 AVI with B-frames of BFRAME_SOURCES."""
    return _bframe_source(media_dir, "avi")
