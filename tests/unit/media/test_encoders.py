"""Encoder profiles: every command line checked against what the bundled ffmpeg's encoders accept.

No GPU here, so the hardware profiles are checked on the command line they build: each option must
be one the encoder (or the generic codec layer) of the bundled ffmpeg knows, with a value among its
named constants, and the rate-control arguments must be the original's.
"""

from __future__ import annotations

import functools
import re
import subprocess
from pathlib import Path

import pytest

from lazy_transcode.media.binary import ffmpeg_exe
from lazy_transcode.media.commands import encode_video_args
from lazy_transcode.media.encoders import (
    PROFILES,
    EncoderArgs,
    EncodeSettings,
    HdrInfo,
    bitrate_range,
    get_profile,
)

HW = ("hevc_nvenc", "hevc_qsv", "hevc_vaapi", "hevc_amf")
CLI_OPTIONS = {"c", "pix_fmt", "vf", "map"}  # options of the ffmpeg program itself, not AVOptions
HDR = HdrInfo(
    master_display="G(13250,34500)B(7500,3000)R(34000,16000)WP(15635,16450)L(10000000,50)", max_cll="1000,400"
)


def _options(text: str) -> dict[str, set[str]]:
    """Option name -> its named constants, from an AVOptions help listing."""
    out: dict[str, set[str]] = {}
    current: str | None = None
    for line in text.splitlines():
        if m := re.match(r"^  -(\S+)\s+<", line):
            current = m.group(1)
            out.setdefault(current, set())
        elif (m := re.match(r"^     (\S+)\s+\S+\s+[E.]", line)) and current is not None:
            out[current].add(m.group(1))
    return out


def _help(*args: str) -> str:
    return subprocess.run([ffmpeg_exe(), "-hide_banner", *args], capture_output=True, text=True, check=True).stdout


@functools.cache
def generic_options() -> dict[str, set[str]]:
    text = _help("-h", "full")
    section = text.split("AVCodecContext AVOptions:", 1)[1]
    section = re.split(r"\n\S[^\n]*AVOptions:", section, maxsplit=1)[0]
    return _options(section)


@functools.cache
def encoder_options(name: str) -> dict[str, set[str]]:
    return _options(_help("-h", f"encoder={name}"))


def assert_accepted(encoder: str, output: dict[str, object]) -> None:
    private, generic = encoder_options(encoder), generic_options()
    for key, value in output.items():
        name = key.split(":")[0]
        if name in CLI_OPTIONS:
            continue
        known = private.get(name) if name in private else generic.get(name)
        assert known is not None, f"{encoder}: ffmpeg knows no option -{name}"
        if isinstance(value, str) and known and not re.fullmatch(r"-?\d+[kM]?", value):
            assert value in known, f"{encoder}: -{name} {value} is not one of {sorted(known)}"


@pytest.mark.parametrize("name", sorted(PROFILES))
@pytest.mark.parametrize("ten_bit", [False, True])
@pytest.mark.parametrize("mode", ["quality", "bitrate"])
def test_every_option_is_known_to_the_bundled_ffmpeg(name: str, ten_bit: bool, mode: str) -> None:
    profile = get_profile(name)
    settings = (
        EncodeSettings(quality=profile.search_range[0]) if mode == "quality" else EncodeSettings(bitrate_kbps=3000)
    )
    args = profile.build(settings, ten_bit=ten_bit, hdr=HDR if ten_bit else None, animation=True)
    assert args.output["c:v"] == name
    assert_accepted(name, args.output)
    pix = args.output.get("pix_fmt") or args.filters[0].removeprefix("format=")
    assert pix == (profile.pix_fmt_10bit if ten_bit else profile.pix_fmt_8bit)


@pytest.mark.parametrize("name", sorted(PROFILES))
def test_every_preset_is_accepted(name: str) -> None:
    profile = get_profile(name)
    for preset in profile.presets:
        args = profile.build(EncodeSettings(quality=profile.search_range[0]), preset=preset)
        if "preset" in args.output:
            assert str(args.output["preset"]) == preset
            assert_accepted(name, {"preset": preset} if not preset.lstrip("-").isdigit() else {})


def test_nvenc_command_line() -> None:
    p = get_profile("hevc_nvenc")
    q = p.build(EncodeSettings(quality=27)).output
    assert q["rc"] == "constqp" and q["qp"] == 27 and q["preset"] == "p7" and q["pix_fmt"] == "nv12"
    assert q["spatial-aq"] == 1 and q["temporal-aq"] == 1 and q["b_ref_mode"] == "middle"
    assert q["rc-lookahead"] == 32 and q["profile:v"] == "main" and q["g"] == 240
    v = p.build(EncodeSettings(bitrate_kbps=4000), ten_bit=True).output
    assert (v["rc"], v["b:v"], v["maxrate"], v["bufsize"]) == ("vbr", "4000k", "6000k", "8000k")
    assert v["multipass"] == "fullres" and v["pix_fmt"] == "p010le" and v["profile:v"] == "main10"
    assert "qp" not in v


def test_qsv_command_line() -> None:
    p = get_profile("hevc_qsv")
    q = p.build(EncodeSettings(quality=24)).output
    assert q["global_quality"] == 24 and q["preset"] == "veryslow" and q["pix_fmt"] == "nv12"
    assert "b:v" not in q and "look_ahead_depth" not in q
    v = p.build(EncodeSettings(bitrate_kbps=2000), ten_bit=True).output
    assert (v["b:v"], v["maxrate"], v["bufsize"]) == ("2000k", "3000k", "4000k")
    assert v["extbrc"] == 1 and v["look_ahead_depth"] == 40
    assert v["pix_fmt"] == "p010le" and v["profile:v"] == "main10"


def test_vaapi_command_line() -> None:
    p = get_profile("hevc_vaapi")
    args = p.build(EncodeSettings(quality=25))
    assert args.global_args == ["-vaapi_device", "/dev/dri/renderD128"]
    assert args.filters == ["format=nv12", "hwupload"]
    assert "pix_fmt" not in args.output and "preset" not in args.output
    assert args.output["rc_mode"] == "CQP" and args.output["qp"] == 25
    ten = p.build(EncodeSettings(bitrate_kbps=1500), ten_bit=True)
    assert ten.filters == ["format=p010", "hwupload"]
    assert ten.output["rc_mode"] == "VBR" and ten.output["b:v"] == "1500k" and ten.output["maxrate"] == "2250k"
    assert ten.output["profile:v"] == "main10"
    cmd = encode_video_args(ten, "in.mkv", "out.mkv")
    assert cmd[:2] == ["-vaapi_device", "/dev/dri/renderD128"]
    assert cmd[cmd.index("-vf") + 1] == "format=p010,hwupload"


def test_amf_command_line() -> None:
    p = get_profile("hevc_amf")
    q = p.build(EncodeSettings(quality=26)).output
    assert q["rc"] == "cqp" and q["qp_i"] == 26 and q["qp_p"] == 26 and "qp_b" not in q
    assert q["preset"] == "quality"
    v = p.build(EncodeSettings(bitrate_kbps=4000), ten_bit=True).output
    assert v["rc"] == "vbr_peak" and (v["maxrate"], v["bufsize"]) == ("7000k", "10000k")  # 1.75x, 2.5x
    assert v["preanalysis"] == 1 and v["vbaq"] == 1 and v["pix_fmt"] == "p010le" and v["profile:v"] == "main10"


def test_x265_keeps_vbv_and_hdr_in_one_params_string() -> None:
    args = get_profile("libx265").build(EncodeSettings(bitrate_kbps=3000), ten_bit=True, hdr=HDR)
    out = args.output
    assert (out["b:v"], out["maxrate"], out["bufsize"]) == ("3000k", "3000k", "6000k")  # VBV: maxrate 1x, buffer 2x
    params = out["x265-params"]
    assert "hdr10=1" in params and "master-display=G(13250" in params and "repeat-headers=1" in params
    cmd = encode_video_args(args, "in.mkv", "out.mkv")
    assert cmd.count("-x265-params") == 1
    assert cmd[cmd.index("-map") + 1] == "0:v:0"


def test_quality_outside_range_and_unknown_preset_are_refused() -> None:
    with pytest.raises(ValueError, match="outside"):
        get_profile("libx265").build(EncodeSettings(quality=60))
    with pytest.raises(ValueError, match="unknown preset"):
        get_profile("hevc_nvenc").build(EncodeSettings(quality=20), preset="medium7")
    with pytest.raises(ValueError, match="exactly one"):
        get_profile("libx264").build(EncodeSettings())
    with pytest.raises(ValueError, match="unknown encoder"):
        get_profile("h266_magic")


def test_bitrate_ranges_by_resolution() -> None:
    assert bitrate_range(3840, 2160, None) == (3000, 15000)
    assert bitrate_range(1920, 1080, None) == (1000, 8000)
    assert bitrate_range(1920, 800, None) == (1000, 8000)  # a 2.40:1 1080p film is 1080p
    assert bitrate_range(1080, 1920, None) == (1000, 8000)  # portrait
    assert bitrate_range(1280, 720, None) == (500, 4000)
    assert bitrate_range(1920, 1080, 6000) == (1000, 4800)


def test_svtav1_vbr_has_no_maxrate_and_hdr_params_are_one_string() -> None:
    args = get_profile("libsvtav1").build(EncodeSettings(bitrate_kbps=2000), ten_bit=True, hdr=HDR)
    assert args.output["b:v"] == "2000k" and "maxrate" not in args.output  # SVT-AV1 refuses it outside CRF
    params = args.output["svtav1-params"]
    assert "enable-hdr=1" in params and "mastering-display=G(13250" in params
    assert args.output["pix_fmt"] == "yuv420p10le"


def _packets(encoder: str, args_output: dict[str, object], tmp_path: Path) -> bytes:
    """The codec parameters and every packet of a 2 s encode of a lavfi test pattern."""
    import av

    out = tmp_path / f"{encoder}.mp4"
    cmd = encode_video_args(
        EncoderArgs(output=dict(args_output)), "testsrc2=size=320x180:rate=24:duration=2", out,
        input_kwargs={"f": "lavfi"}, stream="v",
    )  # fmt: skip
    subprocess.run([ffmpeg_exe(), "-v", "error", *cmd], check=True)
    with av.open(str(out)) as container:
        stream = container.streams.video[0]
        return bytes(stream.codec_context.extradata or b"") + b"".join(bytes(p) for p in container.demux(stream))


@pytest.mark.parametrize(("name", "preset", "quality"), [("libx265", "medium", 28), ("libsvtav1", "10", 40)])
def test_a_thread_budget_never_changes_the_bytes(name: str, preset: str, quality: int, tmp_path: Path) -> None:
    """Pieces encoded side by side get fewer threads each than a piece encoded alone: same bytes."""
    profile = get_profile(name)
    assert not profile.threads_change_output
    args = profile.build(EncodeSettings(quality=quality), preset=preset)
    encoded = {_packets(name, profile.with_threads(args, n).output, tmp_path) for n in (1, 2, 3)}
    assert len(encoded) == 1


def test_x264_threads_change_the_bytes_so_its_budget_is_recorded(tmp_path: Path) -> None:
    profile = get_profile("libx264")
    args = profile.build(EncodeSettings(quality=23), preset="medium")
    one, four = (_packets("libx264", profile.with_threads(args, n).output, tmp_path) for n in (1, 4))
    assert one != four and profile.threads_change_output
    assert profile.with_threads(args, 4).output["threads"] == 4


def test_x265_pool_is_capped_where_its_output_would_vary() -> None:
    args = get_profile("libx265").build(EncodeSettings(quality=28))
    params = get_profile("libx265").with_threads(args, 16).output["x265-params"]
    assert "pools=3" in params and "frame-threads=1" in params and "info=0" in params
    legacy = get_profile("libx265").build(EncodeSettings(quality=28), args_version=1).output["x265-params"]
    assert "info" not in legacy and "frame-threads" not in legacy  # as 0.1.0 recorded its pieces
