"""What a job needs from pieces encoded elsewhere: the interface the daemon's farm implements.

The jobs layer never imports the farm; `Job.remote` is any object with these methods. A remote piece
is written by someone else into the job's work folder as its `.part` file and then checked and
recorded here exactly like a local one, so where a piece was encoded never changes the output.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from lazy_transcode.media.encoders import EncoderArgs
from lazy_transcode.media.pieces import FrameTiming, PiecePlan
from lazy_transcode.media.probe import MediaInfo


class RemoteFailed(Exception):
    """A remote piece did not come back (worker refused or failed, farm unreachable): encode it elsewhere."""


@dataclass(frozen=True)
class RemotePiece:
    """One piece to encode elsewhere, with every path as this machine names it."""

    source: Path
    part: Path
    info: MediaInfo
    time_base: str
    plan: PiecePlan
    args: EncoderArgs
    encoder: str
    timing: FrameTiming | None = None  # the record's: how the frames reach the encoder


class RemotePieces(Protocol):
    """A farm as a job sees it."""

    local_pieces: int | None  # pieces the job still encodes itself while the farm has slots (None: as usual)

    def slots(self) -> int:
        """Pieces the farm can encode at once now (0 when it is unreachable or has no accepted worker)."""
        ...

    async def encode(self, piece: RemotePiece) -> Any:
        """Encode `piece` into `piece.part`; return a receipt for `checked`, or raise RemoteFailed.
        Cancelling the call cancels the remote task (its ffmpeg is ended where it runs)."""
        ...

    def checked(self, receipt: Any, refused: str | None) -> None:
        """The piece of `receipt` was recorded (`refused` None) or refused by the job's checks."""
        ...
