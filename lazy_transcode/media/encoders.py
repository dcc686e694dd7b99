"""Encoder profiles: how each encoder is driven (quality knob, range, presets, rate control, pixels).

Every profile builds its arguments as ffmpeg-python output keyword arguments; encoder-private
parameter strings (`-x265-params`, `-svtav1-params`) are built once per command from a dict, so a
second option can never silently replace the first (a bug of the original lazy-transcode).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

KEYINT_DEFAULT = 240
# The set of arguments pieces are encoded with. 1: as 0.1.0 built them (pieces recorded then are
# finished with them). 2: an encoder's output no longer depends on its thread budget (x265 without its
# settings SEI, which names the thread pool, and with one frame thread), so pieces encoded side by side
# with any budget are the same bytes as pieces encoded one at a time.
ARGS_VERSION = 2
X265_MAX_POOL = 3  # from 4 pool threads on, x265 decides slice types in a worker thread: output varies


@dataclass(frozen=True)
class HdrInfo:
    """HDR10 static metadata of a source, when present."""

    master_display: str | None = None  # x265 syntax: G(x,y)B(x,y)R(x,y)WP(x,y)L(max,min)
    max_cll: str | None = None  # "maxcll,maxfall"


@dataclass(frozen=True)
class EncodeSettings:
    """One encoder setting to try or to use: a quality value or a bitrate (kbps), never both."""

    quality: int | None = None
    bitrate_kbps: int | None = None

    def label(self) -> str:
        return f"q{self.quality}" if self.quality is not None else f"{self.bitrate_kbps}k"


@dataclass
class EncoderArgs:
    """What an encode needs beyond input/output: ffmpeg-python output kwargs, global args, filters."""

    output: dict[str, Any]
    global_args: list[str] = field(default_factory=list)
    filters: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class EncoderProfile:
    name: str
    codec: str  # hevc | av1 | h264
    hardware: bool
    quality_option: str  # the ffmpeg option that carries the quality value
    quality_range: tuple[int, int]  # full valid range
    search_range: tuple[int, int]  # where a VMAF search looks (higher = smaller file)
    default_preset: str
    presets: tuple[str, ...]
    pix_fmt_8bit: str = "yuv420p"
    pix_fmt_10bit: str = "yuv420p10le"
    vbr_maxrate: float = 1.0  # maxrate = factor x target bitrate
    vbr_bufsize: float = 2.0  # bufsize = factor x target bitrate
    threads_change_output: bool = False  # the bytes depend on the thread budget (x264's frame threads)

    def build(
        self,
        settings: EncodeSettings,
        *,
        preset: str | None = None,
        ten_bit: bool = False,
        hdr: HdrInfo | None = None,
        keyint: int = KEYINT_DEFAULT,
        animation: bool = False,
        quiet: bool = True,
        args_version: int = ARGS_VERSION,
    ) -> EncoderArgs:
        if (settings.quality is None) == (settings.bitrate_kbps is None):
            raise ValueError("give exactly one of quality and bitrate")
        if settings.quality is not None:
            lo, hi = self.quality_range
            if not lo <= settings.quality <= hi:
                raise ValueError(f"{self.name}: quality {settings.quality} outside {lo}..{hi}")
        preset = preset or self.default_preset
        if preset not in self.presets:
            raise ValueError(f"{self.name}: unknown preset {preset!r} (one of {', '.join(self.presets)})")
        out: dict[str, Any] = {"c:v": self.name, "preset": preset, "g": keyint}
        out["pix_fmt"] = self.pix_fmt_10bit if ten_bit else self.pix_fmt_8bit
        builder = _BUILDERS[self.name]
        args = EncoderArgs(output=out)
        builder(
            self, args, settings, ten_bit=ten_bit, hdr=hdr, keyint=keyint, animation=animation, quiet=quiet,
            version=args_version,
        )  # fmt: skip
        return args

    def with_threads(self, args: EncoderArgs, threads: int) -> EncoderArgs:
        """A copy of `args` that uses at most about `threads` threads (hardware encoders: unchanged).

        x265 gets a thread pool of that size (at most X265_MAX_POOL), SVT-AV1 its level of parallelism,
        x264 its thread count. Only x264's bytes depend on it (`threads_change_output`)."""
        threads = max(1, threads)
        out = dict(args.output)
        if self.name == "libx265":
            pool = f"pools={min(threads, X265_MAX_POOL)}"
            out["x265-params"] = f"{out['x265-params']}:{pool}" if out.get("x265-params") else pool
        elif self.name == "libsvtav1":
            lp = f"lp={threads}"
            out["svtav1-params"] = f"{out['svtav1-params']}:{lp}" if out.get("svtav1-params") else lp
        elif self.name == "libx264":
            out["threads"] = threads
        else:
            return args
        return EncoderArgs(output=out, global_args=list(args.global_args), filters=list(args.filters))

    def threads_one_encoder_fills(self, width: int, height: int) -> int:
        """About how many cores one encoder of a piece keeps busy: chooses how many run side by side.

        Measured on 2 cores: one x265 (one frame thread, wavefront rows) fills 1.6 cores at 640x360
        ultrafast and 1.85 at 1280x720 medium, and two encoders side by side are 8-9 % faster than one;
        SVT-AV1 and x264 likewise scale better across pieces than inside one at these sizes.
        """
        if self.hardware:
            return 1 << 10  # one session at a time: the device, not the cores, is the limit
        pixels = width * height
        if pixels <= 1280 * 720:
            return 1
        if pixels <= 1920 * 1088:
            return 2
        return 3

    def vbr_rates(self, bitrate_kbps: int) -> dict[str, str]:
        return {
            "b:v": f"{bitrate_kbps}k",
            "maxrate": f"{round(bitrate_kbps * self.vbr_maxrate)}k",
            "bufsize": f"{round(bitrate_kbps * self.vbr_bufsize)}k",
        }


def _params(pairs: dict[str, Any]) -> str:
    return ":".join(f"{k}={v}" if v is not None else k for k, v in pairs.items())


def _x265(p: EncoderProfile, a: EncoderArgs, s: EncodeSettings, **kw: Any) -> None:
    params: dict[str, Any] = {}
    if kw["quiet"]:
        params["log-level"] = "error"
    if kw["version"] >= 2:
        params["info"] = 0  # its settings SEI names the thread pool: pieces made with others would differ
        params["frame-threads"] = 1  # frame threads change the bytes; x265 picks 1 on 2 cores by itself
    params["keyint"] = kw["keyint"]
    params["min-keyint"] = min(25, kw["keyint"])
    hdr: HdrInfo | None = kw["hdr"]
    if hdr is not None:
        params["hdr10"] = 1
        params["hdr10-opt"] = 1
        params["repeat-headers"] = 1
        if hdr.master_display:
            params["master-display"] = hdr.master_display
        if hdr.max_cll:
            params["max-cll"] = hdr.max_cll.replace(",", "\\,")
    if kw["animation"]:
        a.output["tune"] = "animation"
    if s.quality is not None:
        a.output["crf"] = s.quality
    else:
        a.output.update(p.vbr_rates(s.bitrate_kbps or 0))
    a.output["profile:v"] = "main10" if kw["ten_bit"] else "main"
    a.output["x265-params"] = _params(params)


def _svtav1(p: EncoderProfile, a: EncoderArgs, s: EncodeSettings, **kw: Any) -> None:
    params: dict[str, Any] = {}
    if kw["animation"]:
        params["tune"] = 0
    if kw["hdr"] is not None:
        hdr: HdrInfo = kw["hdr"]
        params["enable-hdr"] = 1
        if hdr.master_display:
            params["mastering-display"] = hdr.master_display
        if hdr.max_cll:
            params["content-light"] = hdr.max_cll.replace(",", "\\,")
    if s.quality is not None:
        a.output["crf"] = s.quality
    else:
        # SVT-AV1 (v2+) refuses a maximum bitrate outside CRF mode: plain VBR on the target bitrate.
        a.output["b:v"] = f"{s.bitrate_kbps}k"
    if params:
        a.output["svtav1-params"] = _params(params)


def _x264(p: EncoderProfile, a: EncoderArgs, s: EncodeSettings, **kw: Any) -> None:
    if kw["animation"]:
        a.output["tune"] = "animation"
    if s.quality is not None:
        a.output["crf"] = s.quality
    else:
        a.output.update(p.vbr_rates(s.bitrate_kbps or 0))
    a.output["profile:v"] = "high10" if kw["ten_bit"] else "high"


def _nvenc(p: EncoderProfile, a: EncoderArgs, s: EncodeSettings, **kw: Any) -> None:
    # Option names as this ffmpeg's hevc_nvenc spells them (`spatial-aq`, not `spatial_aq`).
    a.output.update({"tune": "hq", "rc-lookahead": 32, "spatial-aq": 1, "temporal-aq": 1, "b_ref_mode": "middle"})
    if s.quality is not None:
        a.output.update({"rc": "constqp", "qp": s.quality})
    else:
        a.output.update({"rc": "vbr", "multipass": "fullres", **p.vbr_rates(s.bitrate_kbps or 0)})
    a.output["profile:v"] = "main10" if kw["ten_bit"] else "main"


def _qsv(p: EncoderProfile, a: EncoderArgs, s: EncodeSettings, **kw: Any) -> None:
    if s.quality is not None:
        a.output["global_quality"] = s.quality  # ICQ: constant quality, 1 (best) .. 51
    else:
        # hevc_qsv's look-ahead works only through the external bitrate control.
        a.output.update({"extbrc": 1, "look_ahead_depth": 40, **p.vbr_rates(s.bitrate_kbps or 0)})
    a.output["profile:v"] = "main10" if kw["ten_bit"] else "main"


def _vaapi(p: EncoderProfile, a: EncoderArgs, s: EncodeSettings, **kw: Any) -> None:
    a.global_args += ["-vaapi_device", "/dev/dri/renderD128"]
    a.filters += [f"format={a.output.pop('pix_fmt')}", "hwupload"]
    a.output.pop("preset", None)
    if s.quality is not None:
        a.output.update({"rc_mode": "CQP", "qp": s.quality})
    else:
        a.output.update({"rc_mode": "VBR", **p.vbr_rates(s.bitrate_kbps or 0)})
    a.output["profile:v"] = "main10" if kw["ten_bit"] else "main"


def _amf(p: EncoderProfile, a: EncoderArgs, s: EncodeSettings, **kw: Any) -> None:
    # hevc_amf's `-preset` (speed .. high_quality) is the original's `-quality quality`; it has no B-frame QP.
    if s.quality is not None:
        a.output.update({"rc": "cqp", "qp_i": s.quality, "qp_p": s.quality})
    else:
        a.output.update({"rc": "vbr_peak", "preanalysis": 1, "vbaq": 1, **p.vbr_rates(s.bitrate_kbps or 0)})
    a.output["profile:v"] = "main10" if kw["ten_bit"] else "main"


_BUILDERS = {
    "libx265": _x265,
    "libsvtav1": _svtav1,
    "libx264": _x264,
    "hevc_nvenc": _nvenc,
    "hevc_qsv": _qsv,
    "hevc_vaapi": _vaapi,
    "hevc_amf": _amf,
}

_X26X_PRESETS = (
    "ultrafast", "superfast", "veryfast", "faster", "fast", "medium", "slow", "slower", "veryslow", "placebo",
)  # fmt: skip

PROFILES: dict[str, EncoderProfile] = {
    p.name: p
    for p in (
        EncoderProfile("libx265", "hevc", False, "crf", (0, 51), (10, 40), "medium", _X26X_PRESETS),
        EncoderProfile(
            "libsvtav1",
            "av1",
            False,
            "crf",
            (1, 63),
            (15, 60),
            "8",
            tuple(str(i) for i in range(-1, 14)),
        ),
        EncoderProfile(
            "libx264", "h264", False, "crf", (0, 51), (10, 38), "medium", _X26X_PRESETS, threads_change_output=True
        ),
        EncoderProfile(
            "hevc_nvenc",
            "hevc",
            True,
            "qp",
            (0, 51),
            (12, 45),
            "p7",
            tuple(f"p{i}" for i in range(1, 8)),
            pix_fmt_8bit="nv12",
            pix_fmt_10bit="p010le",
            vbr_maxrate=1.5,
            vbr_bufsize=2.0,
        ),
        EncoderProfile(
            "hevc_qsv",
            "hevc",
            True,
            "global_quality",
            (1, 51),
            (12, 45),
            "veryslow",
            ("veryfast", "faster", "fast", "medium", "slow", "slower", "veryslow"),
            pix_fmt_8bit="nv12",
            pix_fmt_10bit="p010le",
            vbr_maxrate=1.5,
            vbr_bufsize=2.0,
        ),
        EncoderProfile(
            "hevc_vaapi",
            "hevc",
            True,
            "qp",
            (0, 51),
            (12, 45),
            "default",
            ("default",),
            pix_fmt_8bit="nv12",
            pix_fmt_10bit="p010",
            vbr_maxrate=1.5,
            vbr_bufsize=2.0,
        ),
        EncoderProfile(
            "hevc_amf",
            "hevc",
            True,
            "qp_i",
            (0, 51),
            (12, 45),
            "quality",
            ("speed", "balanced", "quality", "high_quality"),
            pix_fmt_8bit="nv12",
            pix_fmt_10bit="p010le",
            vbr_maxrate=1.75,
            vbr_bufsize=2.5,
        ),
    )
}

# Hardware first, as the original detected them; libx265 is the portable fallback.
DETECTION_ORDER = ("hevc_amf", "hevc_nvenc", "hevc_qsv", "hevc_vaapi", "libx265")


# Starting VBR ranges of the original by resolution (short side), in kbps.
BITRATE_RANGES: tuple[tuple[int, tuple[int, int]], ...] = (
    (2160, (3000, 15000)),
    (1080, (1000, 8000)),
    (720, (500, 4000)),
    (0, (300, 2000)),
)
SOURCE_BITRATE_CAP = 0.8  # never aim above 0.8x the source bitrate


def bitrate_range(width: int, height: int, source_kbps: float | None) -> tuple[int, int]:
    """The kbps range a VBR search looks in: the original's range for the resolution, capped at 0.8x the source.

    Below 720p the range also shrinks with the pixel count (relative to 640x360), so a tiny file gets a
    range it can use; a low-bitrate source keeps a range of 4x below its cap.
    """
    # The class of a frame: its short side, or its long side's 16:9 height (a 1920x800 scope film is 1080p).
    size_class = max(min(width, height), max(width, height) * 9 / 16)
    lo, hi = next(r for floor, r in BITRATE_RANGES if size_class >= floor * 0.9)
    if size_class < 650:
        scale = min(max(width * height, 1) / (640 * 360), 1.0)
        lo, hi = max(30, round(lo * scale)), max(200, round(hi * scale))
    if source_kbps:
        hi = max(min(hi, int(source_kbps * SOURCE_BITRATE_CAP)), 1)
        if lo > hi / 2:
            lo = max(hi // 4, 1)
    return lo, hi


def get_profile(encoder: str) -> EncoderProfile:
    try:
        return PROFILES[encoder]
    except KeyError:
        raise ValueError(f"unknown encoder {encoder!r} (one of {', '.join(PROFILES)})") from None
