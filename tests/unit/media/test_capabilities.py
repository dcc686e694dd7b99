"""Which ffmpeg builds score a piece beside its encode (libvmaf, loopback decoders, chained filter graphs)."""

from __future__ import annotations

import pytest

from lazy_transcode.media.binary import Capabilities, capabilities


@pytest.mark.parametrize(
    ("version", "filters", "expected"),
    [
        ("n9.0.2-17-g2a571b6068-20260930", {"libvmaf"}, True),  # the bundled build
        ("7.1.1-1+b1", {"libvmaf"}, True),
        ("7.0.2", {"libvmaf"}, False),  # older than the 7.1 it needs
        ("6.1.1-3ubuntu5", {"libvmaf"}, False),
        ("5.1.6-0+deb12u1", {"libvmaf"}, False),  # Debian 12
        ("N-113029-g1a2b3c4d5e", {"libvmaf"}, False),  # a git build: its age is unknown
        ("n9.0.2", {"scale"}, False),  # no libvmaf
        ("?", {"libvmaf"}, False),
    ],
)
def test_only_a_known_recent_release_with_libvmaf(version: str, filters: set[str], expected: bool) -> None:
    caps = Capabilities(exe="/x/ffmpeg", version=version, encoders=frozenset({"libx265"}), filters=frozenset(filters))
    assert caps.scores_beside_encode is expected


def test_the_bundled_ffmpeg_scores_beside_its_encode(ffmpeg: str) -> None:
    assert capabilities(ffmpeg).scores_beside_encode
