"""Job options: one declaration, and what comes of it (checks, the program's flags, the state record)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from lazy_transcode.cli import build_parser, options_from_args
from lazy_transcode.jobs.api import JobOptions, OptionError
from lazy_transcode.options import OPTIONS, check_given, operation_fields, options_from_operation
from lazy_transcode.state.operation import TranscodeOperation

FIXTURE_STATE = Path(__file__).parents[2] / "fixtures" / "v0_1_0" / "state"

# A value other than the default for every option (each is valid on its own).
OTHER_VALUES: dict[str, Any] = {
    "mode": "vbr", "vmaf_target": 91.5, "vmaf_tol": 0.5, "encoder": "libsvtav1", "preset": "veryfast", "qp": 28,
    "samples": 4, "output_dir": "/srv/out", "replace": True, "force": True, "container": "mp4",
    "piece_seconds": 4.0, "min_saving": 0.2, "verify": "quick", "piece_workers": 2,
}  # fmt: skip

# Where a recorded operation keeps each option: the state files' format, so spelled out here.
OPERATION_FIELDS = {
    "mode": "operation_type", "vmaf_target": "target_vmaf", "qp": "target_qp", "vmaf_tol": "vmaf_tolerance",
    "encoder": "encoder", "preset": "preset", "samples": "samples", "output_dir": "output_dir",
    "replace": "replace_original", "container": None, "piece_seconds": None, "force": None, "min_saving": None,
    "verify": None, "piece_workers": None,
}  # fmt: skip


def test_the_tables_cover_every_declared_option() -> None:
    assert set(OTHER_VALUES) == set(OPERATION_FIELDS) == {option.name for option in OPTIONS}
    assert {option.name: option.operation_field for option in OPTIONS} == OPERATION_FIELDS
    for option in OPTIONS:
        assert OTHER_VALUES[option.name] != option.default and option.help


def test_verify_defaults_to_full_and_accepts_quick() -> None:
    assert JobOptions().verify == "full"
    assert JobOptions.from_dict({"verify": "quick"}).verify == "quick"


@pytest.mark.parametrize(
    ("value", "message"),
    [("fast", "verify must be one of full, quick, not 'fast'"), (True, "wrong type \\(bool\\)"),
     (1, "wrong type \\(int\\)")],
)  # fmt: skip
def test_a_bad_verify_mode_is_one_clear_error(value: object, message: str) -> None:
    with pytest.raises(OptionError, match=message):
        JobOptions.from_dict({"verify": value})


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"vmaf_target": 0}, "vmaf_target must be in \\(0, 100\\], not 0.0"),
        ({"vmaf_target": 100.5}, "vmaf_target must be in \\(0, 100\\], not 100.5"),
        ({"vmaf_tol": 21}, "vmaf_tol must be in \\[0, 20\\]"),
        ({"qp": 256}, "qp must be in \\[0, 255\\], not 256"),
        ({"qp": 2.5}, "job option 'qp' has the wrong type \\(float\\)"),
        ({"samples": 0}, "samples must be in \\[1, 100\\]"),
        ({"piece_seconds": 0.5}, "piece_seconds must be in \\[1, 600\\]"),
        ({"min_saving": 1}, "min_saving must be in \\[0, 1\\), not 1.0"),
        ({"mode": None}, "job option 'mode' has the wrong type \\(NoneType\\)"),
        ({"container": "avi"}, "container must be one of mkv, mp4, not 'avi'"),
        ({"replace": 1}, "job option 'replace' has the wrong type \\(int\\)"),
        ({"replace": True, "output_dir": "/o"}, "replace and output_dir exclude each other"),
        ({"colour": "red"}, "unknown job option 'colour'"),
    ],
)
def test_every_check_names_the_option(data: dict[str, Any], message: str) -> None:
    with pytest.raises(OptionError, match=message):
        JobOptions.from_dict(data)


def test_given_options_are_checked_one_by_one() -> None:
    assert check_given({"vmaf-target": 90, "qp": None}) == {"vmaf_target": 90.0, "qp": None}
    assert check_given({"replace": True, "output_dir": "/o"}) == {"replace": True, "output_dir": "/o"}  # a pair
    assert JobOptions(vmaf_target=90).validate().vmaf_target == 90  # an int is a float
    with pytest.raises(OptionError, match="wrong type"):
        JobOptions(encoder=5).validate()  # type: ignore[arg-type]


@pytest.mark.parametrize("name", [option.name for option in OPTIONS])
def test_every_option_round_trips_through_a_recorded_operation(name: str) -> None:
    options = JobOptions(**{name: OTHER_VALUES[name]}).validate()
    fields = operation_fields(options)
    assert "input_file" not in fields and "encoder_type" not in fields
    where = OPERATION_FIELDS[name]
    assert (fields[where] if where else fields["extra"][name]) == OTHER_VALUES[name]
    operation = TranscodeOperation(input_file="/m/film.mkv", encoder_type="software", **fields)
    recorded = json.loads(json.dumps(operation.to_dict()))  # as the state file holds it
    assert options_from_operation(recorded) == options
    assert options_from_operation(fields) == options


def test_the_record_holds_every_option() -> None:
    fields = operation_fields(JobOptions())
    assert set(fields["extra"]) == {name for name, where in OPERATION_FIELDS.items() if where is None}
    assert set(fields) - {"extra"} == {where for where in OPERATION_FIELDS.values() if where}


def test_a_record_of_0_1_0_gives_its_options() -> None:
    """0.1.0 recorded no `verify`: it takes the default, which is what 0.1.0 did."""
    recorded = json.loads((FIXTURE_STATE / "film.mp4_qp.state.json").read_text())["operation"]
    assert "verify" not in recorded["extra"]
    options = options_from_operation(recorded)
    assert options == JobOptions(mode="qp", qp=30, encoder="libx265", preset="ultrafast", piece_seconds=2.0)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"colour": "red"}, "operation field 'colour' records no job option"),
        ({"extra": {"qp": 3}}, "extra 'qp' is not a job option kept there"),
        ({"extra": {"speed": 3}}, "extra 'speed' is not a job option kept there"),
        ({"extra": []}, "extra must be a map"),
        ({"target_qp": "30"}, "job option 'qp' has the wrong type \\(str\\)"),
        ({"target_vmaf": None}, "job option 'vmaf_target' has the wrong type \\(NoneType\\)"),
        ({"operation_type": "batch"}, "mode must be one of qp, vbr, auto, not 'batch'"),
        ({"replace_original": True, "output_dir": "/o"}, "replace and output_dir exclude each other"),
    ],
)
def test_a_wrong_record_is_an_option_error(change: dict[str, Any], message: str) -> None:
    fields = {**operation_fields(JobOptions()), **change}
    with pytest.raises(OptionError, match=message):
        options_from_operation(fields)
    with pytest.raises(OptionError, match="must be a map"):
        options_from_operation([])  # type: ignore[arg-type]


def test_the_program_passes_verify_through() -> None:
    args = build_parser().parse_args(["--verify", "quick", "a.mkv"])
    assert options_from_args(args).verify == "quick"
    with pytest.raises(SystemExit):
        build_parser().parse_args(["--verify", "none", "a.mkv"])


def test_the_program_has_a_flag_for_every_option_but_min_saving() -> None:
    for option in OPTIONS:
        if option.flag is None:
            assert option.name == "min_saving"
            continue
        value = OTHER_VALUES[option.name]
        words = [option.flag] if option.type is bool else [option.flag, str(value)]
        got = getattr(options_from_args(build_parser().parse_args([*words, "a.mkv"])), option.name)
        assert got == value, option.name
    assert options_from_args(build_parser().parse_args(["a.mkv"])) == JobOptions()
    with pytest.raises(SystemExit):
        build_parser().parse_args(["--min-saving", "0.1", "a.mkv"])


def test_the_programs_flags_keep_their_help_and_rules(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    text = " ".join(build_parser().format_help().split())
    for option in OPTIONS:
        if option.flag and not option.hidden:
            assert option.flag in text and " ".join(option.help_text.split()) in text, option.name
    assert "--piece-seconds" not in text  # hidden
    assert "--output-dir DIR | --replace" in text
    with pytest.raises(SystemExit):
        build_parser().parse_args(["--replace", "--output-dir", "out", "a.mkv"])
    monkeypatch.chdir(tmp_path)
    args = build_parser().parse_args(["--output-dir", "out", "a.mkv"])
    assert options_from_args(args).output_dir == str(tmp_path / "out")
