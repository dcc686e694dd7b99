"""Frame-exact clip extraction into the state folder, and the resume check of recorded clips."""

from __future__ import annotations

import asyncio
from pathlib import Path

import av
import pytest

from lazy_transcode.media.probe import probe
from lazy_transcode.media.samples import Clip, clip_files, clips_usable, extract_clips, plan_samples
from lazy_transcode.state.layout import clips_dir
from tests.helpers import run_ffmpeg


@pytest.fixture(scope="module")
def counter_video(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """90 s at 25 fps, every frame different (testsrc2 draws a frame counter), B-frames, GOP 100."""
    out = tmp_path_factory.mktemp("samples") / "counter.mp4"
    run_ffmpeg("-f", "lavfi", "-i", "testsrc2=s=96x64:r=25:d=90", "-c:v", "libx264", "-preset", "ultrafast",
               "-crf", "0", "-bf", "2", "-g", "100", str(out))  # fmt: skip
    return out


def frame_bytes(path: Path, indices: set[int]) -> dict[int, bytes]:
    out: dict[int, bytes] = {}
    with av.open(str(path)) as container:
        for n, frame in enumerate(container.decode(video=0)):
            if n in indices:
                out[n] = frame.to_ndarray(format="yuv420p").tobytes()
            if n >= max(indices):
                break
    return out


def test_clips_are_frame_exact_and_live_in_the_state_folder(counter_video: Path, tmp_path: Path, ffmpeg: str) -> None:
    info = probe(counter_video)
    plan = plan_samples(info.duration, count=2, clip_seconds=4.0)
    assert len(plan) == 2 and not plan[0].whole
    dest = clips_dir(tmp_path / ".lazy_transcode_state", counter_video)
    assert dest.name == "counter.mp4.clips"
    dest.mkdir(parents=True)
    clips = asyncio.run(extract_clips(counter_video, info, plan, dest, ffmpeg=ffmpeg))
    for planned, clip in zip(plan, clips, strict=True):
        assert Path(clip.path).parent == dest
        assert clip.frames == 100  # 4 s at 25 fps
        first = round(planned.start * 25)
        assert clip.start == pytest.approx(first / 25)
        want = frame_bytes(counter_video, {first, first + 99})
        got = frame_bytes(Path(clip.path), {0, 99})
        assert got[0] == want[first] and got[99] == want[first + 99]  # lossless and frame-exact
    assert clips_usable(clips, clip_files(clips, dest, counter_video, 25.0))
    assert sorted(p.name for p in dest.iterdir()) == sorted(Path(c.path).name for c in clips)  # no .part left


def test_damaged_or_missing_clip_is_not_reused(counter_video: Path, tmp_path: Path, ffmpeg: str) -> None:
    info = probe(counter_video)
    clips = asyncio.run(extract_clips(counter_video, info, [Clip(30.0, 2.0)], tmp_path, ffmpeg=ffmpeg))
    files = clip_files(clips, tmp_path, counter_video, 25.0)
    assert clips_usable(clips, files)
    path = files[0]
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])  # a crash mid-write, a disk error
    assert not clips_usable(clips, files)
    path.unlink()
    assert not clips_usable(clips, files)
    path.symlink_to(counter_video)  # a link is never a clip of ours
    assert not clips_usable(clips, files)


def test_short_file_is_its_own_clip(bbb_40s: Path, tmp_path: Path, ffmpeg: str) -> None:
    info = probe(bbb_40s)
    plan = plan_samples(info.duration, count=3)
    clips = asyncio.run(extract_clips(bbb_40s, info, plan, tmp_path, ffmpeg=ffmpeg))
    assert len(clips) == 1 and clips[0].whole and clips[0].path == str(bbb_40s)
    assert clips[0].frames > 1000
    assert not list(tmp_path.iterdir())  # nothing cut
