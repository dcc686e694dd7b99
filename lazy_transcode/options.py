"""Job options, declared once: the fields of `JobOptions` carry everything else that is known about them.

Each field's declaration holds its default, help text, metavar, choices, range, whether it has a
command-line flag (and whether that flag is hidden), and which `TranscodeOperation` field records it.
`OPTIONS` gathers those declarations; from it come the flags of `lazy-transcode` and of `ltctl add`,
the checks of `[defaults]`, of requests and of state records, and the mapping to and from a recorded
operation. Stdlib only: ltctl imports this at start.
"""

from __future__ import annotations

import types
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, fields
from typing import Any, get_args, get_type_hints

MAX_SAMPLES = 100  # the --samples option's bound, and the sample times a job record may hold

MODES = ("qp", "vbr", "auto")
CONTAINERS = ("mkv", "mp4")
# full: every frame of the output is decoded before it may replace anything; quick: frames, timestamps
# and streams are checked without decoding the frames the encoder just wrote (about 5 % less CPU).
VERIFY_MODES = ("full", "quick")

# Fields of a recorded operation that are not options: the file, and what the encoder's profile implies.
NOT_OPTION_FIELDS = ("input_file", "encoder_type")
# Options that change where the output goes, how it is checked or how fast it is made, never the bytes
# of an encode: a recorded job takes new values of these and keeps its finished work; any other option
# is the encode's.
PLACEMENT_OPTIONS = ("output_dir", "replace", "container", "verify", "piece_workers")


class OptionError(ValueError):
    """A job option has a wrong name, type or value."""


@dataclass(frozen=True)
class Range:
    """An interval of allowed numbers, written as the error messages show it: `(0, 100]`."""

    low: float
    high: float
    low_open: bool = False
    high_open: bool = False

    def __contains__(self, value: float) -> bool:
        above = value > self.low if self.low_open else value >= self.low
        below = value < self.high if self.high_open else value <= self.high
        return above and below

    def __str__(self) -> str:
        return f"{'(' if self.low_open else '['}{self.low:g}, {self.high:g}{')' if self.high_open else ']'}"


@dataclass(frozen=True)
class JobOption:
    """What the front ends, the checks and the state record know about one option."""

    name: str
    type: type  # of a value that is set: str, int, float or bool
    nullable: bool  # None is a value too: the encoder's, the search's or the place's own choice
    default: Any
    help: str
    metavar: str | None
    choices: tuple[str, ...] | None
    bounds: Range | None
    flag: str | None  # its spelling on a command line; None: only in [defaults] and requests
    hidden: bool  # a flag left out of --help
    operation_field: str | None  # the TranscodeOperation field that records it; None: the operation's extra
    excludes: str | None  # the option it cannot be given with
    path: bool  # a folder: made absolute where the user typed it

    @property
    def help_text(self) -> str:
        """The help with the default appended, when the default is a value (None's meaning is in the help)."""
        if self.default is None or self.type is bool:
            return self.help
        shown = f"{self.default:g}" if isinstance(self.default, float) else str(self.default)
        return f"{self.help} (default {shown})"

    def check(self, value: Any) -> Any:
        """The value, checked: its type (bool is never a number; an int is a float), choices and range."""
        if value is None and self.nullable:
            return None
        if isinstance(value, bool) and self.type is not bool:
            raise OptionError(f"job option {self.name!r} has the wrong type (bool)")
        allowed = (float, int) if self.type is float else (self.type,)
        if not isinstance(value, allowed):
            raise OptionError(f"job option {self.name!r} has the wrong type ({type(value).__name__})")
        if self.type is float:
            value = float(value)
        if self.choices is not None and value not in self.choices:
            raise OptionError(f"{self.name} must be one of {', '.join(self.choices)}, not {value!r}")
        if self.bounds is not None and value not in self.bounds:
            raise OptionError(f"{self.name} must be in {self.bounds}, not {value}")
        return value


def _declare(
    default: Any,
    help: str,
    *,
    metavar: str | None = None,
    choices: tuple[str, ...] | None = None,
    bounds: Range | None = None,
    command_line: bool = True,
    hidden: bool = False,
    operation_field: str | None = None,
    excludes: str | None = None,
    path: bool = False,
) -> Any:
    """A JobOptions field with its declaration in the metadata (gathered into `OPTIONS` below)."""
    declared = {
        "help": help, "metavar": metavar, "choices": choices, "bounds": bounds, "command_line": command_line,
        "hidden": hidden, "operation_field": operation_field, "excludes": excludes, "path": path,
    }  # fmt: skip
    return field(default=default, metadata={"job_option": declared})


@dataclass
class JobOptions:
    """Options of one job: from `ltctl add`, `lazy-transcode`, `[defaults]`, a request or a state record."""

    mode: str = _declare(
        "qp",
        "qp: the highest CRF/QP whose VMAF reaches the target; vbr: the lowest bitrate that does; auto: vbr"
        " for hardware encoders, qp for software ones",
        choices=MODES,
        operation_field="operation_type",
    )
    vmaf_target: float = _declare(
        95.0, "target VMAF", metavar="F", bounds=Range(0, 100, low_open=True), operation_field="target_vmaf"
    )
    vmaf_tol: float = _declare(
        1.0, "VMAF tolerance", metavar="F", bounds=Range(0, 20), operation_field="vmaf_tolerance"
    )
    encoder: str = _declare(
        "libx265", "libx265, libsvtav1, libx264, hevc_nvenc, ...", metavar="NAME", operation_field="encoder"
    )
    preset: str | None = _declare(
        None,
        "encoder preset (default: the encoder's own, medium for libx265)",
        metavar="NAME",
        operation_field="preset",
    )
    qp: int | None = _declare(
        None, "fixed quality: no VMAF search", metavar="N", bounds=Range(0, 255), operation_field="target_qp"
    )
    samples: int | None = _declare(
        None,
        "sample clips for the quality search",
        metavar="N",
        bounds=Range(1, MAX_SAMPLES),
        operation_field="samples",
    )
    output_dir: str | None = _declare(
        None, "where outputs go (default: beside the source)", metavar="DIR", path=True, operation_field="output_dir"
    )
    replace: bool = _declare(
        False,
        "replace the source once the output is verified",
        excludes="output_dir",
        operation_field="replace_original",
    )
    force: bool = _declare(False, "transcode even an already efficient file")
    container: str = _declare("mkv", "output container", choices=CONTAINERS)
    piece_seconds: float = _declare(
        10.0, "seconds of source per encoded piece, the most a kill can lose", metavar="S", bounds=Range(1, 600),
        hidden=True,
    )  # fmt: skip
    piece_workers: int | None = _declare(
        None, "pieces encoded at once (default: auto, from the cores and the encoder; ltd: its piece_workers)",
        metavar="N", bounds=Range(1, 64),
    )  # fmt: skip
    min_saving: float = _declare(
        0.05, "the fraction of its source's size an output must save, else the source is kept",
        bounds=Range(0, 1, high_open=True), command_line=False,
    )  # fmt: skip
    verify: str = _declare(
        "full",
        "full: decode every frame of the output before placing it; quick: check frames, timestamps and streams"
        " only, about 5 % less CPU",
        choices=VERIFY_MODES,
    )

    def validate(self) -> JobOptions:
        """Every option's type, choices and range, and the pairs that exclude each other."""
        for option in OPTIONS:
            option.check(getattr(self, option.name))
        for option in OPTIONS:
            if option.excludes and getattr(self, option.name) and getattr(self, option.excludes):
                raise OptionError(f"{option.name} and {option.excludes} exclude each other")
        return self

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> JobOptions:
        """Build from untrusted data (a msgpack request, a TOML table, a state file): checks every type."""
        return cls(**check_given(data)).validate()


def _option_of(spec: Any, hint: Any) -> JobOption:
    nullable = isinstance(hint, types.UnionType) and type(None) in get_args(hint)
    kind = next(t for t in get_args(hint) if t is not type(None)) if nullable else hint
    declared = dict(spec.metadata["job_option"])
    command_line = declared.pop("command_line")
    flag = "--" + spec.name.replace("_", "-") if command_line else None
    return JobOption(name=spec.name, type=kind, nullable=nullable, default=spec.default, flag=flag, **declared)


_HINTS = get_type_hints(JobOptions)
OPTIONS: tuple[JobOption, ...] = tuple(_option_of(spec, _HINTS[spec.name]) for spec in fields(JobOptions))
BY_NAME: dict[str, JobOption] = {option.name: option for option in OPTIONS}
_BY_OPERATION_FIELD = {option.operation_field: option for option in OPTIONS if option.operation_field}


def check_given(data: Mapping[str, Any]) -> dict[str, Any]:
    """Some options (a request's, a `[defaults]` table's), each checked; names may use `-` for `_`."""
    if not isinstance(data, Mapping):
        raise OptionError(f"job options must be a map, not {type(data).__name__}")
    checked: dict[str, Any] = {}
    for key, value in data.items():
        name = key.replace("-", "_") if isinstance(key, str) else key
        if name not in BY_NAME:
            raise OptionError(f"unknown job option {key!r}")
        checked[name] = BY_NAME[name].check(value)
    return checked


def operation_fields(options: JobOptions) -> dict[str, Any]:
    """The keyword arguments of the `TranscodeOperation` recording these options (all but NOT_OPTION_FIELDS)."""
    recorded: dict[str, Any] = {}
    extra: dict[str, Any] = {}
    for option in OPTIONS:
        value = getattr(options, option.name)
        if option.operation_field:
            recorded[option.operation_field] = value
        else:
            extra[option.name] = value
    return {**recorded, "extra": extra}


def options_from_operation(recorded: Mapping[str, Any]) -> JobOptions:
    """The options a recorded operation (`TranscodeOperation.to_dict()`) was made with.

    An option the record lacks takes its default: records of 0.1.0 hold no `verify`. A field or an
    extra that is no option, or a value an option cannot have, is an OptionError.
    """
    if not isinstance(recorded, Mapping):
        raise OptionError(f"a recorded operation must be a map, not {type(recorded).__name__}")
    extra = recorded.get("extra", {})
    if not isinstance(extra, Mapping):
        raise OptionError(f"the operation's extra must be a map, not {type(extra).__name__}")
    data: dict[str, Any] = {}
    for key, value in recorded.items():
        if key in NOT_OPTION_FIELDS or key == "extra":
            continue
        if key not in _BY_OPERATION_FIELD:
            raise OptionError(f"operation field {key!r} records no job option")
        data[_BY_OPERATION_FIELD[key].name] = value
    for key, value in extra.items():
        option = BY_NAME.get(key)
        if option is None or option.operation_field:
            raise OptionError(f"the operation's extra {key!r} is not a job option kept there")
        data[key] = value
    return JobOptions.from_dict(data)
