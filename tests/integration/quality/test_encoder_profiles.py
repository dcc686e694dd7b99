"""The software profiles' command lines really encode (8-bit, 10-bit with HDR10 metadata, CRF and VBR)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from lazy_transcode.media.commands import encode_video_args
from lazy_transcode.media.encoders import EncodeSettings, HdrInfo, get_profile
from lazy_transcode.media.probe import probe
from lazy_transcode.media.process import run_ffmpeg
from tests.helpers import run_ffmpeg as make_media

HDR = HdrInfo(
    master_display="G(13250,34500)B(7500,3000)R(34000,16000)WP(15635,16450)L(10000000,50)", max_cll="1000,400"
)
FAST = {"libx265": "ultrafast", "libx264": "ultrafast", "libsvtav1": "12"}


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("profiles") / "tiny.mkv"
    make_media("-f", "lavfi", "-i", "testsrc2=s=128x72:r=25:d=0.4", "-c:v", "ffv1", str(out))
    return out


@pytest.mark.parametrize("name", ["libx265", "libx264", "libsvtav1"])
@pytest.mark.parametrize("ten_bit", [False, True])
@pytest.mark.parametrize("settings", [EncodeSettings(quality=30), EncodeSettings(bitrate_kbps=300)], ids=["crf", "vbr"])
def test_profile_command_encodes(
    name: str, ten_bit: bool, settings: EncodeSettings, tiny: Path, tmp_path: Path, ffmpeg: str
) -> None:
    profile = get_profile(name)
    args = profile.build(settings, preset=FAST[name], ten_bit=ten_bit, hdr=HDR if ten_bit else None, animation=True)
    out = tmp_path / "out.mkv"
    asyncio.run(run_ffmpeg(["-y", *encode_video_args(args, tiny, out)], ffmpeg=ffmpeg))
    info = probe(out)
    assert info.video is not None
    # PyAV names the AV1 stream by its decoder (libdav1d).
    assert info.video.codec in {"libx265": {"hevc"}, "libx264": {"h264"}, "libsvtav1": {"av1", "libdav1d"}}[name]
    assert info.video.bit_depth == (10 if ten_bit else 8)
    assert info.video.frame_count in (None, 10)
