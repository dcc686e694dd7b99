"""The typed job record: everything a job keeps beside the media, validated whenever it is read.

The state file is the spec's JSON (`operation`, `current_step`, `steps_completed`, `progress_percent`,
`clips_extracted`, `optimization_results`, `best_result`, `completed`, `start_time`, ...). A job gives
four of its keys a typed shape:

- `checkpoint` (`Checkpoint`): the source's fingerprint, the chosen setting (or why the file is
  skipped), the piece plan and the recorded pieces, the verified output, its placement and the result;
- `optimization_results` (`SearchRecord`): the quality search's probes and the probe in flight;
- `best_result` (`BestSetting`): the setting the search chose and what it predicted;
- `clips_extracted` (`false` or a list of `ExtractedClip`): the search's sample clips.

The shapes are msgspec Structs: `msgspec.convert(..., strict=True)` checks every nested type of an
untrusted file in one call and names the bad field (`$.encode.pieces[...].frames`), where hand-written
checks of some sixty keys would miss some. A value of a wrong type anywhere makes the whole record
damaged: the state manager quarantines the file (`*.corrupt`) with one warning and the job starts over.

The record carries no path that decides anything: outputs, pieces and clips are found from the source's
path, the options and `state.layout`.
"""

from __future__ import annotations

import copy
import re
import shutil
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Annotated, Any

import msgspec

from lazy_transcode.jobs.api import JobOptions, JobResult, OptionError
from lazy_transcode.media.encoders import ARGS_VERSION, EncodeSettings
from lazy_transcode.media.fingerprint import FileIdentity
from lazy_transcode.media.pieces import FrameTiming, PiecePlan
from lazy_transcode.media.samples import ExtractedClip
from lazy_transcode.options import options_from_operation
from lazy_transcode.state import layout
from lazy_transcode.state.errors import StateCorruptError
from lazy_transcode.state.manager import UniversalStateManager
from lazy_transcode.state.schema import TranscodeState


class _Record(msgspec.Struct, forbid_unknown_fields=True, omit_defaults=False):
    """Base of the record's parts: unknown fields are damage, not data to carry along."""


class Fingerprint(_Record):
    """What identifies the source that was encoded (0.1.0 recorded only its size and mtime)."""

    size: int
    mtime_ns: int
    inode: int | None = None
    device: int | None = None
    sample: str | None = None  # hash of sampled blocks (`media.fingerprint`)

    @classmethod
    def of(cls, identity: FileIdentity) -> Fingerprint:
        return cls(identity.size, identity.mtime_ns, identity.inode, identity.device, identity.sample)

    def differs(self, now: FileIdentity) -> str | None:
        """How the file `now` is not the one recorded (None when it is the same file, unchanged)."""
        if self.size != now.size:
            return f"its size changed ({self.size} -> {now.size} bytes)"
        if self.sample is not None and self.sample != now.sample:
            return "its content changed"
        if self.mtime_ns != now.mtime_ns:
            return "its modification time changed"
        if self.inode is not None and (self.inode, self.device) != (now.inode, now.device):
            return "it was replaced by another file"
        return None

    @property
    def id(self) -> str | None:
        """The content's short name (see `FileIdentity.id`); None for a record of 0.1.0."""
        return None if self.sample is None else FileIdentity(self.size, 0, 0, 0, self.sample).id


class Setting(_Record, omit_defaults=True):
    """An encoder setting: a quality value (CRF/QP) or a bitrate in kbps, exactly one (the other is left out)."""

    quality: int | None = None
    bitrate_kbps: int | None = None

    def __post_init__(self) -> None:
        if (self.quality is None) == (self.bitrate_kbps is None):
            raise ValueError("a setting has exactly one of quality and bitrate_kbps")

    @classmethod
    def of(cls, settings: EncodeSettings) -> Setting:
        return cls(quality=settings.quality, bitrate_kbps=settings.bitrate_kbps)

    def settings(self) -> EncodeSettings:
        return EncodeSettings(quality=self.quality, bitrate_kbps=self.bitrate_kbps)

    def to_dict(self) -> dict[str, int]:
        return {k: v for k, v in (("quality", self.quality), ("bitrate_kbps", self.bitrate_kbps)) if v is not None}


_TIME_BASE = re.compile(r"[1-9][0-9]{0,9}/[1-9][0-9]{0,9}")

# first frame, frame count, pts of the first frame, input seek (s), input stop (s)
PlanRow = tuple[int, int, int, float | None, float | None]


class PieceScore(_Record):
    """A probe piece's VMAF, measured by its encoder's process: the mean and low percentile of the frames
    scored (every `subsample`-th), with `model`. It only steers the search (never a path)."""

    mean: Annotated[float, msgspec.Meta(ge=0.0, le=100.0)]
    low: Annotated[float, msgspec.Meta(ge=0.0, le=100.0)]
    scored: Annotated[int, msgspec.Meta(ge=1)]
    model: str
    subsample: Annotated[int, msgspec.Meta(ge=1)]


class PieceRecord(_Record):
    """A finished piece: what it must still be when the join reads it."""

    frames: int
    bytes: int
    sha256: str
    params: str | None = None  # key of the codec parameters (pieces of one output must agree)
    at: float = 0.0  # when it was recorded (the newest piece tells which encoder build is installed)
    score: PieceScore | None = None  # a probe's piece: its VMAF, scored as it was encoded


class PiecesRecord(_Record):
    """The piece plan of an encode and the pieces recorded so far."""

    key: str  # what the pieces' bytes depend on (encoder arguments, piece length, container)
    frames: int
    time_base: str
    span: float
    plan: list[PlanRow]
    pieces: dict[int, PieceRecord] = msgspec.field(default_factory=dict)
    args: int = 1  # the version of the encoder's argument set (media.encoders.ARGS_VERSION); 1: before it had one
    threads: int | None = None  # a fixed thread budget, for encoders whose bytes depend on it (x264)
    # The frames' timing (`media.pieces.FrameTiming`): each follows the one before by `frame_step`
    # time-base units, plus the extra of `frame_gaps` (frame, extra). The frames then reach the encoders
    # as YUV4MPEG; with no step (older records too) as NUT. Fixed at plan time: every piece is made alike.
    frame_step: int | None = None
    frame_gaps: list[tuple[int, int]] = msgspec.field(default_factory=list)

    def __post_init__(self) -> None:
        if self.frames <= 0 or not self.plan or any(row[1] <= 0 for row in self.plan):
            raise ValueError("a piece plan needs pieces of at least one frame")
        if not _TIME_BASE.fullmatch(self.time_base) or Fraction(self.time_base) <= 0:
            raise ValueError("time_base must be a positive fraction such as 1/12800")  # it goes into ffmpeg's argv
        if any(not 0 <= n < len(self.plan) for n in self.pieces):
            raise ValueError("a recorded piece is not in the plan")
        if not 1 <= self.args <= ARGS_VERSION or (self.threads is not None and not 1 <= self.threads <= 1024):
            raise ValueError("unknown argument set or thread budget")
        if self.frame_step is not None and not 1 <= self.frame_step <= 2**31:
            raise ValueError("frame_step must be a positive number of time-base units")
        frames = [k for k, _ in self.frame_gaps]
        if frames != sorted(set(frames)) or any(not 0 < k < self.frames or abs(e) >= 2**40 for k, e in self.frame_gaps):
            raise ValueError("frame_gaps must name frames of the plan, in order, each once")

    def plans(self) -> list[PiecePlan]:
        return [PiecePlan.from_list(i, list(row)) for i, row in enumerate(self.plan)]

    def timing(self) -> FrameTiming | None:
        if self.frame_step is None:
            return None
        return FrameTiming(self.frame_step, tuple((k, e) for k, e in self.frame_gaps))


class OutputRecord(_Record):
    """The assembled and verified output, waiting in the work folder (or already placed)."""

    bytes: int
    sha256: str


class Placement(_Record):
    """The output was placed at its destination (and with `--replace` the source removed)."""

    bytes: int


class Checkpoint(_Record):
    """The job's own resume data (the state's `checkpoint`)."""

    source: Fingerprint | None = None
    settings: Setting | None = None
    skip: str | None = None  # decided not to encode this file (the reason)
    encode: PiecesRecord | None = None
    output: OutputRecord | None = None
    kept_source: str | None = None  # the verified output was not worth placing (the reason)
    placed: Placement | None = None
    result: JobResult | None = None  # how it ended: a finished record answers with it


class Probe(_Record):
    """One measured setting of the quality search."""

    setting: Setting
    vmaf: float
    size: int
    seconds: float
    vmaf_low: float | None = None
    pid: int | None = None
    time: float | None = None
    estimate: bool = False  # measured on some pieces of a whole-file candidate (`jobs.candidates`)
    confirmed: bool = False  # an estimate measured again, whole: the search estimates no more settings


class ClipScore(_Record):
    vmaf: float
    vmaf_low: float
    frames: int
    size: int
    scored: int


class PartialProbe(_Record):
    """The probe in flight: the clips measured so far."""

    setting: Setting
    clips: list[ClipScore] = msgspec.field(default_factory=list)
    estimate: bool = False


class SearchRecord(_Record):
    """The quality search so far (the state's `optimization_results`)."""

    key: str  # what the probes' numbers depend on (encoder, preset, clips)
    kind: str  # "quality" or "bitrate"
    encoder: str
    preset: str
    probes: list[Probe] = msgspec.field(default_factory=list)
    partial: PartialProbe | None = None
    video_bytes: int | None = None  # the source's video stream size, counted once
    # Whole-file probes made as the job's own pieces, per setting label (`jobs.candidates`).
    candidates: dict[str, PiecesRecord] = msgspec.field(default_factory=dict)
    prior: tuple[float, float] | None = None  # (x95, slope) the search began with; None: the encoder's


class TaughtRecord(_Record):
    """The class of a finished search and the (setting value, VMAF) points it measured."""

    encoder: str
    preset: str
    kind: str
    size_class: int
    points: list[tuple[float, float]] = msgspec.field(default_factory=list)


class BestSetting(_Record):
    """The search's answer (the state's `best_result`)."""

    setting: Setting
    probes: int
    vmaf: float | None = None
    predicted_size_ratio: float | None = None
    reached: bool = True
    reason: str = ""
    skip_reason: str | None = None
    search_key: str | None = None
    # What the library learns from this file (`media.priors.Taught`); None in records made before.
    taught: TaughtRecord | None = None


@dataclass
class JobRecord:
    """The typed view of one job's state file."""

    checkpoint: Checkpoint = field(default_factory=Checkpoint)
    search: SearchRecord | None = None
    best: BestSetting | None = None
    clips: list[ExtractedClip] | None = None

    @classmethod
    def from_state(cls, state: TranscodeState) -> JobRecord:
        """Validate the job's keys of a loaded state (migrated from its version); StateCorruptError if bad."""
        data = {
            "checkpoint": state.checkpoint,
            "optimization_results": state.optimization_results,
            "best_result": state.best_result,
            "clips_extracted": state.clips_extracted,
        }
        if state.loaded_version < 2:
            data = migrate_v1(data)
        try:
            checkpoint = msgspec.convert(data["checkpoint"], Checkpoint, strict=True, str_keys=True)
            results = data["optimization_results"]
            search = None if results in ({}, []) else msgspec.convert(results, SearchRecord, strict=True, str_keys=True)
            best = msgspec.convert(data["best_result"], BestSetting | None, strict=True)
            clips = msgspec.convert(data["clips_extracted"], bool | list[ExtractedClip], strict=True)
        except msgspec.ValidationError as exc:
            raise StateCorruptError(f"damaged job record: {exc}") from None
        return cls(checkpoint, search, best, None if isinstance(clips, bool) else clips)

    def store_into(self, state: TranscodeState) -> None:
        """Write the record into the state's keys (the state manager then saves the whole file)."""
        state.checkpoint = msgspec.to_builtins(self.checkpoint)
        state.optimization_results = {} if self.search is None else msgspec.to_builtins(self.search)
        state.best_result = None if self.best is None else msgspec.to_builtins(self.best)
        state.clips_extracted = False if self.clips is None else [c.to_dict() for c in self.clips]


# Fields of 0.1.0's record that today's shape no longer keeps: they must still have their type (a
# damaged record is refused whole, whatever part of it is damaged).
_V1_DROPPED = {
    ("encode", "version"): int,
    ("output", "dest"): str,
    ("placed", "path"): str,
    ("results", "version"): int,
}


def _check_dropped(where: str, container: Any, key: str) -> None:
    if isinstance(container, dict) and key in container:
        wanted = _V1_DROPPED[(where, key)]
        value = container[key]
        if not isinstance(value, wanted) or isinstance(value, bool):
            raise StateCorruptError(f"damaged job record: {where}.{key} must be {wanted.__name__}")


def _without(value: Any, key: str) -> Any:
    """A map without `key` (a path 0.1.0 recorded, never trusted); anything else as it is, to be refused."""
    return {k: v for k, v in value.items() if k != key} if isinstance(value, dict) else value


def migrate_v1(data: dict[str, Any]) -> dict[str, Any]:
    """0.1.0's job keys (state schema 1) in today's shape; what does not fit is left for the check to refuse."""
    data = copy.deepcopy(data)
    old = data["checkpoint"]
    if isinstance(data["optimization_results"], dict):
        _check_dropped("results", data["optimization_results"], "version")
    if not isinstance(old, dict):
        return data
    encode = old.get("encode")
    if "encode" in old and not isinstance(encode, dict):
        raise StateCorruptError("damaged job record: checkpoint.encode must be an object")
    if isinstance(encode, dict):
        _check_dropped("encode", encode, "version")
        _check_dropped("output", encode.get("output"), "dest")
        _check_dropped("placed", encode.get("placed"), "path")
    checkpoint: dict[str, Any] = {k: v for k, v in old.items() if k != "encode"}  # "settings"; others refused
    if isinstance(encode, dict) and encode:
        moved = ("source", "kept_source", "output", "placed")  # out of "encode", to the checkpoint itself
        for key in moved:
            if key in encode:
                checkpoint[key] = _without(encode[key], "dest" if key == "output" else "path")
        pieces = {k: v for k, v in encode.items() if k not in moved and k != "version"}  # unknown keys stay
        if pieces:
            checkpoint["encode"] = pieces
    best = data["best_result"]
    if isinstance(best, dict) and "status" in best:  # 0.1.0 kept the job's result here once completed
        checkpoint["result"] = best
        data["best_result"] = None
    data["checkpoint"] = checkpoint
    results = data["optimization_results"]
    if isinstance(results, dict):
        results.pop("version", None)
    return data


class JobStateManager(UniversalStateManager):
    """The state manager of a job: the spec's manager whose job keys are the typed `record`.

    A file whose job keys are damaged is quarantined on load like any unreadable state. Saving writes
    the record into the state first, so the file always holds what the record says.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.record = JobRecord()

    def validate_state(self, state: TranscodeState) -> None:
        try:
            options_from_operation(state.operation.to_dict())
        except OptionError as exc:
            raise StateCorruptError(f"damaged job record: {exc}") from None
        self._loaded = JobRecord.from_state(state)

    def recorded_options(self) -> JobOptions:
        """The options the loaded state's operation was recorded with (it was validated on load)."""
        return options_from_operation(self.state.operation.to_dict())

    def load_state(self) -> bool:
        self._loaded = JobRecord()
        loaded = super().load_state()
        self.record = self._loaded if loaded else JobRecord()
        return loaded

    def start_over(self) -> None:
        """A fresh state and record for this manager's operation (nothing on disk is touched)."""
        self.state = TranscodeState(operation=self.operation)
        self.record = JobRecord()

    def save_state(self) -> None:
        with self.lock:
            self.record.store_into(self.state)
            super().save_state()

    def remove_partial_files(self) -> None:
        """Remove the job's partial files (work folder, clips); never the source, an output or the state.

        Only through the held state folder, which must be ours (`UnsafeFolderError` otherwise); rmtree
        removes no link's target (it refuses a work or clips folder that is a link)."""
        held = self.open_folder(create=False)
        if held is None:
            return
        shutil.rmtree(layout.work_dir(held / self.state_file.name), ignore_errors=True)
        shutil.rmtree(layout.clips_dir(held, self.operation.input_file), ignore_errors=True)

    def cleanup_state(self) -> None:
        """A job's state goes with its partial files."""
        self.remove_partial_files()
        super().cleanup_state()

    def finish_completed(self) -> None:
        """A finished job keeps a small record (its source's fingerprint, setting, output, result) until
        `cleanup_completed_states` removes it: a file done before is not done again. Its partial files,
        the piece plan and the search's probes go."""
        self.remove_partial_files()
        checkpoint = self.record.checkpoint
        checkpoint.encode = None
        self.record = JobRecord(checkpoint=checkpoint, best=self.record.best)
        self.save_state()

    def holds_work(self) -> bool:
        """Whether the record holds anything worth resuming (a setting, pieces, probes, an output)."""
        record = self.record
        cp = record.checkpoint
        return any(x is not None for x in (cp.settings, cp.encode, cp.output, record.search, record.clips))
